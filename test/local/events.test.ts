import { cronMatcher, LocalEvents, matchPattern, rateMs } from '../../local/events';
import { matchesFilterPattern } from '../../local/logs';
import type { LocalRule } from '../../local/template';
import type { LambdaInvokeResult, LambdaInvoker } from '../../local/types';

const statusChange = (status: string, arn = 'arn:aws:states:us-east-1:000000000000:stateMachine:A') => ({
  source: 'aws.states',
  'detail-type': 'Step Functions Execution Status Change',
  detail: { status, stateMachineArn: arn, executionArn: `${arn}:x` },
});

describe('EventPattern matching', () => {
  const finalizer = {
    source: ['aws.states'],
    'detail-type': ['Step Functions Execution Status Change'],
    detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: ['arn:aws:states:us-east-1:000000000000:stateMachine:A'] },
  };
  test.each([
    ['FAILED', true],
    ['ABORTED', true],
    ['SUCCEEDED', false],
  ])('finalizer rule, status %s → %s', (status, expected) => {
    expect(matchPattern(finalizer, statusChange(status))).toBe(expected);
  });
  test('another state machine does not match', () => {
    expect(matchPattern(finalizer, statusChange('FAILED', 'arn:aws:states:us-east-1:000000000000:stateMachine:B'))).toBe(false);
  });
  test('prefix, anything-but, exists, numeric and array values', () => {
    const e = { source: 'x', detail: { name: 'order-1', tags: ['a', 'b'], n: 5 } };
    expect(matchPattern({ detail: { name: [{ prefix: 'order-' }] } }, e)).toBe(true);
    expect(matchPattern({ detail: { name: [{ 'anything-but': ['order-1'] }] } }, e)).toBe(false);
    expect(matchPattern({ detail: { name: [{ 'anything-but': { prefix: 'inv-' } }] } }, e)).toBe(true);
    expect(matchPattern({ detail: { missing: [{ exists: false }] } }, e)).toBe(true);
    expect(matchPattern({ detail: { name: [{ exists: false }] } }, e)).toBe(false);
    expect(matchPattern({ detail: { tags: ['b'] } }, e)).toBe(true);
    expect(matchPattern({ detail: { n: [{ numeric: ['>', 1, '<=', 5] }] } }, e)).toBe(true);
    expect(matchPattern({ detail: { n: [{ numeric: ['>', 5] }] } }, e)).toBe(false);
  });
  test('rate expressions', () => {
    expect(rateMs('rate(5 minutes)')).toBe(300_000);
    expect(rateMs('rate(1 hour)')).toBe(3_600_000);
    expect(rateMs('cron(0 12 * * ? *)')).toBeUndefined();
  });
  test('cron expressions (UTC)', () => {
    const noonWeekdays = cronMatcher('cron(0 12 ? * MON-FRI *)');
    expect(noonWeekdays?.(new Date('2026-11-25T12:00:00Z'))).toBe(true); // a Wednesday
    expect(noonWeekdays?.(new Date('2026-11-28T12:00:00Z'))).toBe(false); // a Saturday
    expect(noonWeekdays?.(new Date('2026-11-25T12:01:00Z'))).toBe(false);
    const every15 = cronMatcher('cron(0/15 * * * ? *)');
    expect(every15?.(new Date('2026-01-01T03:45:00Z'))).toBe(true);
    expect(every15?.(new Date('2026-01-01T03:44:00Z'))).toBe(false);
    expect(cronMatcher('cron(0 12 L * ? *)')).toBeUndefined();
    expect(cronMatcher('cron(0 12 * *)')).toBeUndefined();
  });

  test('CloudWatch Logs filter patterns (terms)', () => {
    expect(matchesFilterPattern('"abc-123"', 'START RequestId: abc-123 Version')).toBe(true);
    expect(matchesFilterPattern('ERROR -timeout', 'ERROR something')).toBe(true);
    expect(matchesFilterPattern('ERROR -timeout', 'ERROR timeout')).toBe(false);
    expect(matchesFilterPattern('?a ?b', 'only b')).toBe(true);
  });
});

class RecordingLambda implements LambdaInvoker {
  public readonly calls: { ref: string; payload: unknown }[] = [];
  public failuresLeft = 0;
  public async invoke(ref: string, payload: unknown): Promise<LambdaInvokeResult> {
    this.calls.push({ ref, payload });
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      return { requestId: 'r', functionError: 'Unhandled', payload: { errorType: 'Error', errorMessage: 'x' } };
    }
    return { requestId: 'r', payload: null };
  }
}

const FN = 'arn:aws:lambda:us-east-1:000000000000:function:Fin';
const rule = (over: Partial<LocalRule>): LocalRule => ({
  logicalId: 'R',
  name: 'R',
  arn: 'arn:aws:events:us-east-1:000000000000:rule/R',
  eventBusName: 'default',
  enabled: true,
  targets: [{ id: 'T', arn: FN, maximumRetryAttempts: 2 }],
  ...over,
});

describe('LocalEvents', () => {
  test('publish delivers the full envelope to matching rules only, retrying function errors', async () => {
    const lambda = new RecordingLambda();
    lambda.failuresLeft = 1;
    const ev = new LocalEvents({
      lambda,
      retryDelaysMs: [1, 1, 1],
      rules: [rule({ eventPattern: { source: ['aws.states'], detail: { status: ['FAILED'] } } })],
    });
    await ev.publish(statusChange('SUCCEEDED'));
    await ev.publish(statusChange('FAILED'));
    await ev.idle();
    expect(lambda.calls).toHaveLength(2); // one failure, one retry
    expect(lambda.calls[1].payload).toMatchObject({
      version: '0',
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      account: '000000000000',
      region: 'us-east-1',
      detail: { status: 'FAILED' },
    });
    expect((lambda.calls[1].payload as { id: string }).id).toEqual(expect.any(String));
    await ev.close();
  });

  test('rate schedules run their targets; an unsupported cron is reported, not run', async () => {
    const lambda = new RecordingLambda();
    const ev = new LocalEvents({
      lambda,
      rules: [rule({ scheduleExpression: 'rate(1 minute)' }), rule({ name: 'C', scheduleExpression: 'cron(0 12 L * ? *)' })],
    });
    const notes = ev.startSchedules({ scale: 0.001 }); // every 60 ms
    expect(notes).toEqual([expect.stringContaining("schedule 'cron(0 12 L * ? *)' is not run locally")]);
    await new Promise((r) => setTimeout(r, 300));
    await ev.close();
    await ev.idle();
    expect(lambda.calls.length).toBeGreaterThanOrEqual(2);
    expect(lambda.calls[0].payload).toMatchObject({ source: 'aws.events', 'detail-type': 'Scheduled Event', resources: [rule({}).arn] });
  });
});
