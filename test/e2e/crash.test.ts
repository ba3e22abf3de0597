/**
 * Durability of the local runtime under load: the runtime runs in its own process group with a
 * data dir, a steady stream of `flaky` tasks is submitted (most succeed, some fail every
 * attempt), the whole group is killed with SIGKILL mid-load — twice, at two different moments —
 * and restarted on the same data dir. Every task whose submit returned a record must end with
 * one terminal status and exactly one destination record matching it (Succeeded → `Success` on
 * the success queue, Failed → `RetriesExhausted` on the failure queue); no record may name a
 * task that was never submitted. A task whose submit the kill cut (no answer) may exist without
 * an execution (the TaskApi died between its write and StartExecution: the reconciler's case);
 * it is held to the same rules only if it ended.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AsyncTaskClient } from '../../client/client';
import { type DestinationRecord, isTerminal, type TaskRecord, TaskNotFoundError } from '../../lambda/model';
import { queueOutputs } from './fixture/app';
import { LOCAL_CREDENTIALS, PROJECT_ROOT, REGION, sleep, spawnRuntimeProcess, tempDir, waitUntil } from './harness';
import { APPS, synthesize } from './synth';

const FUNCTION = 'flaky';
/** One task in this many fails every attempt (its flag file exists). */
const FAILING_EVERY = 4;
const SUBMIT_INTERVAL_MS = 80;

const dataDir = tempDir('crash-data');
const workDir = tempDir('crash-work');
const scratch = tempDir('crash-scratch');
const flagFile = path.join(scratch, 'always-fail');
fs.writeFileSync(flagFile, 'tasks naming this file fail every attempt\n');

interface Runtime {
  readonly child: ChildProcess;
  readonly client: AsyncTaskClient;
  readonly sqs: SQSClient;
  readonly outputs: Record<string, string>;
  readonly exited: Promise<void>;
}
let current: Runtime | undefined;

/** Starts runtime-process.ts as the leader of a new process group (its workers join it). */
async function startGroup(cdkOut: string): Promise<Runtime> {
  const options = { cdkOut, stackName: APPS.fixture.stackName, port: 0, workDir, dataDir, projectRoot: PROJECT_ROOT };
  const { child, exited, ready } = await spawnRuntimeProcess(options, { detached: true });
  const client = new AsyncTaskClient({ endpoint: ready.endpoint, stack: APPS.fixture.stackName, region: REGION });
  const sqs = new SQSClient({ endpoint: ready.endpoint, region: REGION, credentials: LOCAL_CREDENTIALS });
  return { child, client, sqs, outputs: ready.outputs, exited };
}

async function killGroup(rt: Runtime): Promise<void> {
  try {
    process.kill(-(rt.child.pid as number), 'SIGKILL');
  } catch {
    // already gone
  }
  await rt.exited;
  rt.client.lambda.destroy();
  rt.client.cloudFormation.destroy();
  rt.sqs.destroy();
}

afterAll(async () => {
  if (current) await killGroup(current);
  if (process.env.ASYNCTASK_E2E_KEEP === '1') return;
  for (const dir of [dataDir, workDir, scratch]) fs.rmSync(dir, { recursive: true, force: true });
}, 30_000);

/** Task ids by what the submit said: a record (accepted), or an error (maybe created, maybe not). */
const accepted = new Set<string>();
const uncertain = new Set<string>();
const submitted = new Set<string>();
const failing = new Set<string>();
let counter = 0;

/** Submits a task every SUBMIT_INTERVAL_MS until `stop()` resolves; never awaits a submit before the next. */
async function load(rt: Runtime, round: string, stop: Promise<void>): Promise<void> {
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  const inFlight: Promise<void>[] = [];
  while (!stopped) {
    const taskId = `${round}-${String(++counter).padStart(4, '0')}`;
    const fails = counter % FAILING_EVERY === 0;
    if (fails) failing.add(taskId);
    submitted.add(taskId);
    inFlight.push(
      rt.client.submit({ functionName: FUNCTION, taskId, payload: fails ? { flagFile } : { n: counter } }).then(
        (task: TaskRecord) => {
          accepted.add(task.taskId);
        },
        () => {
          uncertain.add(taskId);
        },
      ),
    );
    await sleep(SUBMIT_INTERVAL_MS);
  }
  await Promise.all(inFlight);
}

/** Receives and deletes every visible message of a queue. */
async function drain(sqs: SQSClient, queueUrl: string, into: DestinationRecord[]): Promise<void> {
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 60 }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return;
    for (const m of messages) into.push(JSON.parse(m.Body ?? 'null') as DestinationRecord);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
}

test('a kill -9 under load loses nothing acknowledged: one terminal status and exactly one destination record per task', async () => {
  const cdkOut = await synthesize('fixture');
  const kills = [3500, 2000]; // ms into each round's load: two different moments
  for (const [round, killAfter] of kills.entries()) {
    current = await startGroup(cdkOut);
    const rt = current;
    // Warm the TaskApi and the function's workers first, so the load runs at full speed.
    await rt.client.submit({ functionName: FUNCTION, taskId: `warm-${round}`, payload: {} });
    await waitUntil(async () => isTerminal((await rt.client.get(FUNCTION, `warm-${round}`)).status), {
      timeoutMs: 20_000,
      what: `warm-up task warm-${round} to end`,
    });
    accepted.add(`warm-${round}`);
    const loaded = load(rt, `r${round}`, sleep(killAfter));
    await sleep(killAfter);
    await killGroup(rt);
    current = undefined;
    await loaded;
  }
  current = await startGroup(cdkOut);
  const { client, sqs, outputs } = current;

  const statuses = new Map<string, string>();
  await waitUntil(
    async () => {
      for (const taskId of accepted) {
        if (statuses.has(taskId)) continue;
        const task = await client.get(FUNCTION, taskId);
        if (isTerminal(task.status)) statuses.set(taskId, task.status);
      }
      return statuses.size === accepted.size;
    },
    { timeoutMs: 30_000, intervalMs: 250, what: `every accepted task to be terminal (${accepted.size} accepted)` },
  ).catch(async (error: Error) => {
    const open = await Promise.all(
      [...accepted]
        .filter((id) => !statuses.has(id))
        .map(async (id) => {
          const t = await client.get(FUNCTION, id);
          return `${id} (${t.status}, events ${JSON.stringify(t.events)})`;
        }),
    );
    throw new Error(`${error.message}; not terminal: ${open.join('; ')}`);
  });

  const success: DestinationRecord[] = [];
  const failure: DestinationRecord[] = [];
  const successUrl = outputs[queueOutputs('Flaky').success];
  const failureUrl = outputs[queueOutputs('Flaky').failure];
  const expected = (status: string) => (status === 'Succeeded' ? 'success' : 'failure');
  // Records follow the terminal status (success delivery after MarkSucceeded, failure records
  // from the finalizer): drain until every task has one, then once more after a pause.
  await waitUntil(
    async () => {
      await drain(sqs, successUrl, success);
      await drain(sqs, failureUrl, failure);
      const got = new Set([...success, ...failure].map((r) => r.requestContext?.taskId));
      return [...accepted].every((id) => got.has(id));
    },
    { timeoutMs: 20_000, intervalMs: 300, what: 'a destination record of every accepted task' },
  ).catch(() => undefined); // the assertions below name what is missing
  await sleep(1500);
  await drain(sqs, successUrl, success);
  await drain(sqs, failureUrl, failure);

  // A task whose submit the kill cut: checked like an accepted one if it exists and has ended.
  let cutEnded = 0;
  let cutOpen = 0;
  for (const taskId of uncertain) {
    let task: TaskRecord;
    try {
      task = await client.get(FUNCTION, taskId);
    } catch (error) {
      if (error instanceof TaskNotFoundError) continue;
      throw error;
    }
    if (isTerminal(task.status)) {
      cutEnded++;
      accepted.add(taskId);
      statuses.set(taskId, task.status);
    } else cutOpen++;
  }

  const problems: string[] = [];
  const byTask = new Map<string, { queue: string; condition: string }[]>();
  for (const [queue, records] of [
    ['success', success],
    ['failure', failure],
  ] as const) {
    for (const r of records) {
      const id = r.requestContext?.taskId;
      if (!accepted.has(id)) {
        problems.push(
          submitted.has(id)
            ? `a ${queue} record names task '${id}', whose submit got no answer and which has not ended`
            : `a ${queue} record names task '${id}', which was never submitted`,
        );
      }
      byTask.set(id, [...(byTask.get(id) ?? []), { queue, condition: r.requestContext?.condition }]);
    }
  }
  const counts: Record<string, number> = {};
  for (const taskId of accepted) {
    const status = statuses.get(taskId) ?? 'unknown';
    counts[status] = (counts[status] ?? 0) + 1;
    const records = byTask.get(taskId) ?? [];
    const want = status === 'Succeeded' ? { queue: 'success', condition: 'Success' } : { queue: 'failure', condition: 'RetriesExhausted' };
    if (status !== 'Succeeded' && status !== 'Failed') problems.push(`task '${taskId}' ended ${status} (allowed: Succeeded, Failed)`);
    if (failing.has(taskId) && status !== 'Failed') problems.push(`task '${taskId}' fails every attempt but ended ${status}`);
    if (records.length !== 1 || records[0].queue !== want.queue || records[0].condition !== want.condition) {
      problems.push(
        `task '${taskId}' (${status}) has ${records.length} destination record(s) ${JSON.stringify(records)}; ` +
          `expected exactly one ${want.condition} record on the ${expected(status)} queue`,
      );
    }
  }
  process.stdout.write(
    `crash test: ${submitted.size} submitted, ${accepted.size - cutEnded} accepted, ${uncertain.size} submits cut by a kill ` +
      `(${cutEnded} of them ended, ${cutOpen} exist but never started), statuses ${JSON.stringify(counts)}, ` +
      `${success.length} success and ${failure.length} failure records, ${problems.length} problem(s)\n`,
  );
  expect(problems).toEqual([]);
}, 120_000);
