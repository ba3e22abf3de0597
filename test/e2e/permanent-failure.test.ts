/**
 * End to end on the local runtime, issue 9's "retried only where a retry can help": a task whose
 * input is wrong fails after one attempt with the worker's message, while any other failure still
 * uses its retries. Container: the demo's `transcode` (2 retries) exits with
 * CONTAINER_EXIT_CODE.invalidInput for an unknown `dst_format`, which the state machine reads
 * from the emulated runTask.sync Cause. Lambda: the fixture's `flaky` (2 retries) throws a
 * PayloadError, or a plain Error while its flag file exists.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { CONTAINER_EXIT_CODE, ExecutionError } from '../../lambda/model/execution';
import { queueOutputs } from './fixture/app';
import { tempDir, useRuntime, watchTask } from './harness';

const demo = useRuntime({ app: 'demo' });
const fixture = useRuntime();
const scratch = tempDir('permanent');

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('container (transcode)', () => {
  test('an unknown dst_format → Failed after exactly 1 attempt, with the PayloadError message and no output', async () => {
    const { client, destinations } = demo();
    const bucket = demo().output('DataBucketName');
    const payload = { bucket, object: 'clips/any.mp4', output_dir: 'out/mkv', dst_format: 'mkv' };
    await client.submit({ functionName: 'transcode', taskId: 'bad-format', payload });
    const { task, seen } = await watchTask(client, 'transcode', 'bad-format', { timeoutMs: 60_000, intervalMs: 200 });
    expect(task.status).toBe('Failed');
    expect(seen).not.toContain('Retrying');
    expect(task.alreadyRetriedTimes ?? 0).toBe(0);
    expect(task.events?.filter((e) => e.status === 'Running')).toHaveLength(1);
    expect(task.taskErrorMessage).toBe(
      "PayloadError: invalid transcode payload: dst_format 'mkv' is not supported; allowed: mov, mp4, flv, avi, webm, m3u8",
    );
    expect(task.taskErrorMessage).not.toMatch(/Traceback/);
    expect(task.returnPayload).toBeUndefined();

    const records = await destinations.waitFor(demo().output('TranscodeFailureQueueUrl'), 'bad-format');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      requestContext: { approximateInvokeCount: 1, taskId: 'bad-format' },
      requestPayload: payload,
      responsePayload: { errorType: ExecutionError.PermanentFailure, errorMessage: task.taskErrorMessage },
    });
    expect(await destinations.recordsFor(demo().output('TranscodeSuccessQueueUrl'), 'bad-format')).toEqual([]);

    // The emulated runTask.sync failed as on AWS: States.TaskFailed, the ECS task description as
    // the Cause, the worker's exit code in it; and the execution ended at PermanentFailure.
    const executionArn = task.executionArn ?? '';
    const described = await demo().sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described).toMatchObject({ status: 'FAILED', error: ExecutionError.PermanentFailure });
    const cause = JSON.parse(described.cause ?? '{}') as { StopCode?: string; Containers?: { ExitCode?: number }[] };
    expect(cause.StopCode).toBe('EssentialContainerExited');
    expect(cause.Containers?.map((c) => c.ExitCode)).toEqual([CONTAINER_EXIT_CODE.invalidInput]);
  }, 90_000);
});

describe('Lambda (flaky)', () => {
  test('a PayloadError → Failed after exactly 1 attempt with its message', async () => {
    const { client, destinations } = fixture();
    const countFile = path.join(scratch, 'invalid.count');
    const payload = { countFile, invalid: 'no such mode' };
    await client.submit({ functionName: 'flaky', taskId: 'invalid-1', payload });
    const { task, seen } = await watchTask(client, 'flaky', 'invalid-1', { timeoutMs: 30_000, intervalMs: 100 });
    expect(task.status).toBe('Failed');
    expect(seen).not.toContain('Retrying');
    expect(fs.readFileSync(countFile, 'utf8').trim().split('\n')).toHaveLength(1);

    const records = await destinations.waitFor(fixture().output(queueOutputs('Flaky').failure), 'invalid-1');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      requestContext: { approximateInvokeCount: 1, taskId: 'invalid-1' },
      responsePayload: { errorType: 'PayloadError', errorMessage: 'invalid flaky payload: no such mode' },
    });
  }, 60_000);

  test('any other error is still retried: 3 attempts, then Failed', async () => {
    const { client } = fixture();
    const flagFile = path.join(scratch, 'transient.flag');
    const countFile = path.join(scratch, 'transient.count');
    fs.writeFileSync(flagFile, 'fail');
    await client.submit({ functionName: 'flaky', taskId: 'transient-1', payload: { flagFile, countFile } });
    const { task, seen } = await watchTask(client, 'flaky', 'transient-1', { timeoutMs: 30_000, intervalMs: 100 });
    expect(seen).toContain('Retrying');
    expect(task).toMatchObject({ status: 'Failed', alreadyRetriedTimes: 2 });
    expect(fs.readFileSync(countFile, 'utf8').trim().split('\n')).toHaveLength(3);
  }, 60_000);
});

describe('container (sleeper), a failure that is not permanent', () => {
  test('exit code 1 goes through the retry choice: TaskRetriesExhausted, not TaskPermanentFailure', async () => {
    const { client, destinations } = fixture();
    // `sleep -1` exits non-zero: the worker raises RuntimeError, the helper exits with 1.
    await client.submit({ functionName: 'sleeper', taskId: 'bad-sleep', payload: { seconds: -1 } });
    const { task } = await watchTask(client, 'sleeper', 'bad-sleep', { timeoutMs: 30_000, intervalMs: 200 });
    expect(task.status).toBe('Failed');
    expect(task.taskErrorMessage).toMatch(/^RuntimeError: sleep exited/);
    const records = await destinations.waitFor(fixture().output(queueOutputs('Sleeper').failure), 'bad-sleep');
    expect(records[0]).toMatchObject({ responsePayload: { errorType: ExecutionError.RetriesExhausted } });
  }, 60_000);
});
