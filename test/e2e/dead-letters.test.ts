/**
 * End to end on the local runtime (fauxqs serves SQS): dead letters through the SDK. `flaky`
 * tasks fail while their flag file exists and their failure records land on the function's
 * failure queue; `deadLetters` decodes them without hiding them (ChangeMessageVisibility to 0
 * right after the read), a `retry` redrive after the flag file is gone makes the task succeed and
 * removes the message, a `resubmit` runs an edited payload under a new id, a refused redrive
 * leaves its message on the queue, and a message already redriven is not found.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type DeadLetter, DeadLetterNotFoundError, InvalidTaskStateError } from '../../client';
import { tempDir, useRuntime, waitUntil, watchTask } from './harness';

const rt = useRuntime();
const scratch = tempDir('dead-letters');
const flag = (name: string) => path.join(scratch, `${name}.flag`);
const FAILING = ['dl-retry', 'dl-resubmit', 'dl-refused'];
/** The message the retry redrive removed. */
let redriven = '';

async function letters(): Promise<DeadLetter[]> {
  return (await rt().client.deadLetters('flaky', { max: 100 })).letters;
}

async function letterOf(taskId: string): Promise<DeadLetter> {
  const letter = (await letters()).find((l) => l.taskId === taskId);
  if (!letter) throw new Error(`no dead letter of task '${taskId}'`);
  return letter;
}

beforeAll(async () => {
  const { client } = rt();
  for (const taskId of FAILING) {
    fs.writeFileSync(flag(taskId), 'fail');
    await client.submit({ functionName: 'flaky', taskId, payload: { flagFile: flag(taskId), order: taskId } });
  }
  for (const taskId of FAILING) {
    const { task } = await watchTask(client, 'flaky', taskId, { timeoutMs: 40_000, intervalMs: 250 });
    expect(task.status).toBe('Failed');
  }
  await waitUntil(async () => ((await client.deadLetterQueue('flaky'))?.depth ?? 0) >= FAILING.length, {
    timeoutMs: 20_000,
    what: 'the three failure records on the flaky failure queue',
  });
}, 120_000);

afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('dead letters on the local runtime', () => {
  test("the function's failure queue, with its depth", async () => {
    const queue = await rt().client.deadLetterQueue('flaky');
    expect(queue).toEqual({
      functionName: 'flaky',
      queueUrl: rt().output('FlakyFailureQueueUrl'),
      queueArn: expect.stringMatching(/^arn:aws:sqs:us-east-1:\d{12}:/),
      depth: 3,
      inFlight: 0,
    });
  });

  test('reading decodes the records and hides nothing: the queue holds them all, visible, right after', async () => {
    const read = await letters();
    expect(read.map((l) => l.taskId).sort()).toEqual([...FAILING].sort());
    const letter = read.find((l) => l.taskId === 'dl-retry');
    expect(letter).toMatchObject({
      messageId: expect.any(String),
      sentTime: expect.any(Number),
      receiveCount: expect.any(Number),
      condition: 'RetriesExhausted',
      taskId: 'dl-retry',
      functionName: 'flaky',
      errorMessage: expect.stringContaining(`flag file ${flag('dl-retry')} exists`),
      requestPayload: { flagFile: flag('dl-retry'), order: 'dl-retry' },
      record: { version: '1.0', requestContext: { taskId: 'dl-retry', condition: 'RetriesExhausted' } },
    });
    // Released at once (not after the visibility timeout): the depth is back, nothing in flight.
    expect(await rt().client.deadLetterQueue('flaky')).toMatchObject({ depth: 3, inFlight: 0 });
    const again = await letters();
    expect(again.map((l) => l.messageId).sort()).toEqual(read.map((l) => l.messageId).sort());
    expect(again.find((l) => l.taskId === 'dl-retry')?.receiveCount).toBeGreaterThan(letter?.receiveCount ?? 0);
  });

  test('redrive retry after the cause is fixed: the task succeeds under its id and the message is gone', async () => {
    const letter = await letterOf('dl-retry');
    fs.rmSync(flag('dl-retry'));

    const result = await rt().client.redriveDeadLetter('flaky', letter.messageId, { action: 'retry' });
    redriven = letter.messageId;

    expect(result).toMatchObject({ messageId: letter.messageId, deleted: true, task: { taskId: 'dl-retry', status: 'Enqueued' } });
    const { task } = await watchTask(rt().client, 'flaky', 'dl-retry', { timeoutMs: 20_000 });
    expect(task.status).toBe('Succeeded');
    expect((await letters()).map((l) => l.taskId)).not.toContain('dl-retry');
  });

  test('redrive resubmit: the edited payload runs under a new id; the old task stays Failed', async () => {
    const letter = await letterOf('dl-resubmit');
    const payload = { ...(letter.requestPayload as object), flagFile: undefined, order: 'dl-resubmit', fixed: true };

    const result = await rt().client.redriveDeadLetter('flaky', letter.messageId, {
      action: 'resubmit',
      payload,
      taskId: 'dl-resubmit-fixed',
    });

    expect(result).toMatchObject({
      deleted: true,
      task: { taskId: 'dl-resubmit-fixed', taskPayload: { order: 'dl-resubmit', fixed: true } },
    });
    const { task } = await watchTask(rt().client, 'flaky', 'dl-resubmit-fixed', { timeoutMs: 20_000 });
    expect(task.status).toBe('Succeeded');
    expect((await rt().client.get('flaky', 'dl-resubmit')).status).toBe('Failed');
    expect((await letters()).map((l) => l.taskId)).not.toContain('dl-resubmit');
  });

  test('a refused redrive (the task already succeeded) leaves the message on the queue, visible', async () => {
    const letter = await letterOf('dl-refused');
    fs.rmSync(flag('dl-refused'));
    await rt().client.retry('flaky', 'dl-refused');
    await watchTask(rt().client, 'flaky', 'dl-refused', { timeoutMs: 20_000 });

    const error = await rt()
      .client.redriveDeadLetter('flaky', letter.messageId, { action: 'retry' })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(InvalidTaskStateError);
    expect((error as Error).message).toMatch(/task 'dl-refused' is Succeeded; only Failed, Stopped or Expired tasks can be retried/);
    expect(await rt().client.deadLetterQueue('flaky')).toMatchObject({ depth: 1, inFlight: 0 });
    expect((await letters()).map((l) => l.messageId)).toEqual([letter.messageId]);
  });

  test('a message already redriven is not found', async () => {
    const gone = (await rt().client.deadLetters('flaky')).letters.map((l) => l.messageId);
    expect(redriven).not.toBe('');
    const error = await rt()
      .client.redriveDeadLetter('flaky', redriven, { action: 'retry' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadLetterNotFoundError);
    expect((error as Error).message).toBe(
      `message ${redriven} is not on queue ${rt().output('FlakyFailureQueueUrl')} (already redriven or deleted?)`,
    );
    expect((await rt().client.deadLetters('flaky')).letters.map((l) => l.messageId)).toEqual(gone);
  });
});
