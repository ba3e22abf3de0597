import {
  attemptsOf,
  colorStatus,
  formatDuration,
  formatTime,
  renderFunctionTable,
  renderLogEvent,
  renderTask,
  renderTaskTable,
} from '../../../client/format';
import type { TaskRecord, TaskStatus } from '../../../lambda/model';

const STARTED = Date.parse('2026-11-25T12:00:00.000Z');

function task(taskId: string, status: TaskStatus, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId,
    functionName: 'transcode',
    requestId: `req-${taskId}`,
    status,
    taskPayload: { dst_format: 'mov' },
    alreadyRetriedTimes: 0,
    startedTime: STARTED,
    durationMs: 1500,
    events: [],
    ...extra,
  };
}

describe('formatDuration', () => {
  it.each([
    [undefined, '-'],
    [-1, '-'],
    [0, '0ms'],
    [850, '850ms'],
    [1500, '1.5s'],
    [59_999, '59.9s'],
    [65_000, '1m05s'],
    [3_600_000 + 3 * 60_000, '1h03m'],
    [3 * 86_400_000 + 4 * 3_600_000, '3d04h'],
  ])('%p → %p', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatTime', () => {
  it('prints UTC ISO-8601 to the second', () => {
    expect(formatTime(STARTED + 999)).toBe('2026-11-25T12:00:00Z');
    expect(formatTime(undefined)).toBe('-');
  });
});

describe('attemptsOf', () => {
  it.each([
    ['Enqueued', 0, undefined, 0],
    ['Running', 0, undefined, 1],
    ['Retrying', 1, undefined, 1],
    ['Running', 1, undefined, 2],
    ['Failed', 2, undefined, 3],
    ['Succeeded', 0, undefined, 1],
    ['Stopped', 0, undefined, 0],
    ['Stopped', 0, 'arn:ecs-task', 1],
  ] as const)('%s after %d retries (runner %p) → %d', (status, retried, runnerId, attempts) => {
    expect(attemptsOf(task('t', status, { alreadyRetriedTimes: retried, ...(runnerId ? { runnerId } : {}) }))).toBe(attempts);
  });
});

describe('renderTaskTable', () => {
  const tasks = [task('my1-480P-mp4', 'Succeeded', { durationMs: 65_000 }), task('a', 'Failed', { alreadyRetriedTimes: 2 })];

  it('aligns the columns without colour', () => {
    expect(renderTaskTable(tasks, { color: false })).toBe(
      [
        'TASK ID       STATUS     STARTED               DURATION  ATTEMPTS',
        'my1-480P-mp4  Succeeded  2026-11-25T12:00:00Z  1m05s     1',
        'a             Failed     2026-11-25T12:00:00Z  1.5s      3',
        '',
      ].join('\n'),
    );
  });

  it('adds a SOURCE column with topic, partition and offsets when a task came from a trigger', () => {
    const fromKafka = task('k_orders_0_0000000000000000000', 'Succeeded', {
      durationMs: 40,
      source: { type: 'kafka', topic: 'orders', partition: 0, firstOffset: 0, lastOffset: 99 },
    });
    expect(renderTaskTable([fromKafka, tasks[1]], { color: false })).toBe(
      [
        'TASK ID                         STATUS     STARTED               DURATION  ATTEMPTS  SOURCE',
        'k_orders_0_0000000000000000000  Succeeded  2026-11-25T12:00:00Z  40ms      1         kafka orders/0 offsets 0–99',
        'a                               Failed     2026-11-25T12:00:00Z  1.5s      3         -',
        '',
      ].join('\n'),
    );
  });

  it('colours statuses when asked, keeping the alignment', () => {
    const text = renderTaskTable(tasks, { color: true });
    expect(text).toContain('\u001b[32mSucceeded\u001b[39m');
    expect(text).toContain('\u001b[31mFailed\u001b[39m');
    expect(text.replace(new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, 'g'), '')).toBe(renderTaskTable(tasks, { color: false }));
  });
});

describe('colorStatus', () => {
  it('returns the plain name without colour', () => {
    expect(colorStatus('Running', false)).toBe('Running');
  });
});

describe('renderTask', () => {
  it('prints every field that is set', () => {
    const text = renderTask(
      task('t1', 'Running', {
        progress: { percent: 40, message: 'pass 1' },
        runnerId: 'arn:ecs',
        logStream: 'transcode/ffmpeg/abc',
        events: [{ status: 'Enqueued', timestamp: STARTED, detail: 'submitted' }],
      }),
      { color: false },
    );
    expect(text).toBe(
      [
        'task id:    t1',
        'function:   transcode',
        'status:     Running',
        'request id: req-t1',
        'started:    2026-11-25T12:00:00Z',
        'duration:   1.5s',
        'attempts:   1',
        'progress:   40% pass 1',
        'payload:    {"dst_format":"mov"}',
        'runner:     arn:ecs',
        'log stream: transcode/ffmpeg/abc',
        'events:',
        '  2026-11-25T12:00:00Z  Enqueued  submitted',
        '',
      ].join('\n'),
    );
  });

  it('prints end, error, destination and result of a finished task', () => {
    const text = renderTask(
      task('t2', 'Failed', {
        endTime: STARTED + 1500,
        taskErrorMessage: 'ffmpeg exited 1',
        destinationStatus: 'Succeeded',
        returnPayload: null,
      }),
      { color: false },
    );
    expect(text).toContain('ended:       2026-11-25T12:00:01Z\n');
    expect(text).toContain('error:       ffmpeg exited 1\n');
    expect(text).toContain('destination: Succeeded\n');
    expect(text).toContain('result:      null\n');
  });

  it("prints a trigger's task lineage in one line", () => {
    const kafka = renderTask(
      task('k_connector-demo_0_0000000000000000000', 'Enqueued', {
        source: { type: 'kafka', topic: 'connector-demo', partition: 0, firstOffset: 0, lastOffset: 99, cluster: 'arn:aws:kafka:x' },
      }),
      { color: false },
    );
    expect(kafka).toContain('attempts:   0\nsource:     kafka connector-demo/0 offsets 0–99\npayload:');
    const sqs = renderTask(
      task('s_m-1', 'Enqueued', { source: { type: 'sqs', queue: 'arn:aws:sqs:us-east-1:1:orders-in', messageIds: ['m-1', 'm-2', 'm-3'] } }),
      { color: false },
    );
    expect(sqs).toContain('source:     sqs orders-in message m-1 (+2 more)\n');
    expect(renderTask(task('t', 'Enqueued'), { color: false })).not.toContain('source:');
  });

  it('prints who caused each event that a caller caused (the audit trail)', () => {
    const text = renderTask(
      task('t3', 'Enqueued', {
        events: [
          { status: 'Enqueued', timestamp: STARTED, detail: 'submitted', caller: 'arn:aws:iam::123456789012:user/alice' },
          { status: 'Stopping', timestamp: STARTED + 1000, detail: 'stop requested', caller: 'lambda:Invoke' },
          { status: 'Stopped', timestamp: STARTED + 2000 },
          { status: 'Enqueued', timestamp: STARTED + 3000, caller: 'sqs:arn:aws:sqs:us-east-1:1:orders-in' },
        ],
      }),
      { color: false },
    );
    expect(text).toContain(
      [
        'events:',
        '  2026-11-25T12:00:00Z  Enqueued  submitted  by arn:aws:iam::123456789012:user/alice',
        '  2026-11-25T12:00:01Z  Stopping  stop requested  by lambda:Invoke',
        '  2026-11-25T12:00:02Z  Stopped',
        '  2026-11-25T12:00:03Z  Enqueued  by sqs:arn:aws:sqs:us-east-1:1:orders-in',
        '',
      ].join('\n'),
    );
  });
});

describe('renderFunctionTable and renderLogEvent', () => {
  it('prints the functions', () => {
    expect(
      renderFunctionTable([
        {
          name: 'etl',
          kind: 'lambda',
          maxRetryAttempts: 2,
          maxEventAgeSeconds: 86_400,
          timeoutSeconds: 900,
          maxConcurrency: 5,
          stateMachineArn: 'arn',
          runnerArn: 'arn:aws:lambda:us-east-1:000000000000:function:etl',
        },
      ]),
    ).toBe(
      'NAME  KIND    ORCHESTRATION  RETRIES  MAX EVENT AGE  TIMEOUT  CONCURRENCY  DESCRIPTION\n' +
        'etl   lambda  standard       2        1d00h          15m00s   5\n',
    );
  });

  it('names the economy orchestration', () => {
    const eco = { name: 'eco', kind: 'lambda' as const, maxRetryAttempts: 2, maxEventAgeSeconds: 3600, timeoutSeconds: 60 };
    const table = renderFunctionTable([{ ...eco, orchestration: 'economy', stateMachineArn: 'arn', runnerArn: 'arn:fn' }]);
    expect(table.split('\n')[1]).toMatch(/^eco\s+lambda\s+economy\s+2\s/);
  });

  it('prints a log event on one line with its time', () => {
    expect(renderLogEvent({ timestamp: STARTED, message: 'frame=1\n' })).toBe('2026-11-25T12:00:00Z frame=1\n');
  });
});
