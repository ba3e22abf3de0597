import {
  ACTIVE_STATUSES,
  ALL_STATUSES,
  canTransition,
  isTaskStatus,
  isTerminal,
  RETRYABLE_STATUSES,
  STOPPABLE_STATUSES,
  TERMINAL_STATUSES,
  TRANSITIONS,
  type TaskStatus,
} from '../../../lambda/model';

describe('statuses', () => {
  test("are Function Compute's ten names", () => {
    expect(ALL_STATUSES).toEqual([
      'Enqueued',
      'Dequeued',
      'Running',
      'Retrying',
      'Succeeded',
      'Failed',
      'Stopping',
      'Stopped',
      'Expired',
      'Invalid',
    ]);
    expect(isTaskStatus('Running')).toBe(true);
    expect(isTaskStatus('running')).toBe(false);
    expect(isTaskStatus(3)).toBe(false);
  });

  test('terminal, stoppable, retryable and active sets', () => {
    expect(TERMINAL_STATUSES).toEqual(['Succeeded', 'Failed', 'Stopped', 'Expired', 'Invalid']);
    expect(STOPPABLE_STATUSES).toEqual(['Enqueued', 'Dequeued', 'Running', 'Retrying']);
    expect(RETRYABLE_STATUSES).toEqual(['Failed', 'Stopped', 'Expired']);
    expect(ACTIVE_STATUSES).toEqual(['Enqueued', 'Dequeued', 'Running', 'Retrying', 'Stopping']);
    expect(ALL_STATUSES.filter((s) => isTerminal(s))).toEqual(TERMINAL_STATUSES);
    // Every status is either terminal or active, never both.
    for (const status of ALL_STATUSES) {
      expect(TERMINAL_STATUSES.includes(status)).toBe(!ACTIVE_STATUSES.includes(status));
    }
  });

  // Each edge of DESIGN §1 plus the documented shortcuts (no slot: Enqueued/Retrying → Running).
  test.each([
    ['Enqueued', 'Dequeued'],
    ['Dequeued', 'Expired'],
    ['Dequeued', 'Invalid'],
    ['Dequeued', 'Running'],
    ['Enqueued', 'Running'],
    ['Running', 'Retrying'],
    ['Retrying', 'Running'],
    ['Running', 'Succeeded'],
    ['Running', 'Failed'],
    ['Enqueued', 'Stopping'],
    ['Dequeued', 'Stopping'],
    ['Running', 'Stopping'],
    ['Retrying', 'Stopping'],
    ['Stopping', 'Stopped'],
    ['Failed', 'Enqueued'],
    ['Stopped', 'Enqueued'],
    ['Expired', 'Enqueued'],
  ] as const)('%s → %s is allowed', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  test.each([
    ['Succeeded', 'Enqueued'],
    ['Succeeded', 'Stopping'],
    ['Invalid', 'Enqueued'],
    ['Running', 'Expired'],
    ['Stopping', 'Running'],
    ['Stopping', 'Stopping'],
    ['Failed', 'Running'],
    ['Enqueued', 'Succeeded'],
    ['Stopped', 'Stopping'],
  ] as const)('%s → %s is refused', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });

  test('stop and retry accept exactly the statuses their transitions allow', () => {
    expect([...TRANSITIONS.Stopping].sort()).toEqual([...STOPPABLE_STATUSES].sort());
    expect([...TRANSITIONS.Enqueued].sort()).toEqual([...RETRYABLE_STATUSES].sort());
  });

  test('no transition leaves a terminal status except retry back to Enqueued', () => {
    for (const to of ALL_STATUSES) {
      for (const from of TERMINAL_STATUSES) {
        if (canTransition(from, to)) expect(to).toBe<TaskStatus>('Enqueued');
      }
    }
  });
});
