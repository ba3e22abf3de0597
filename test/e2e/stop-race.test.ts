/**
 * One ending per task, end to end: submit many short `etl` tasks, stop each at a
 * moment spread over its life — before it runs, while it runs, and densely around its end, where
 * the state machine writes Succeeded and sends the Success record — wait for all to end, drain
 * both destination queues, and check every task: one terminal status, exactly one record, whose
 * condition matches the status (Succeeded → Success on the success queue, Stopped → Stopped on
 * the failure queue); an accepted stop always ends Stopped and a refused one says the task has
 * ended. Prints the counts.
 */
import { InvalidTaskStateError, type DestinationRecord, type TaskRecord } from '../../lambda/model';
import { queueOutputs } from './fixture/app';
import { sleep, useRuntime, waitUntil, watchTask } from './harness';

const rt = useRuntime();

/** How long the function waits: the task's life is this plus the states around it. */
const WORK_MS = 150;
const TASKS = 48;
/** Tasks submitted (and stopped) at once: enough to race, few enough not to stretch lives. */
const BATCH = 8;

interface Outcome {
  readonly taskId: string;
  readonly stopAfterMs: number;
  readonly stop: 'accepted' | 'refused';
  readonly refusal?: string;
}

/** A task's life on this runtime: submit to Succeeded, as the record's own times say. */
async function measureLife(): Promise<number> {
  const lives: number[] = [];
  for (let i = 0; i < 3; i++) {
    const taskId = `calibrate-${i}`;
    await rt().client.submit({ functionName: 'etl', taskId, payload: { ms: WORK_MS } });
    const { task } = await watchTask(rt().client, 'etl', taskId, { intervalMs: 50 });
    if (task.status !== 'Succeeded' || task.endTime === undefined) {
      throw new Error(`calibration task ${taskId} ended ${task.status}, not Succeeded`);
    }
    lives.push(task.endTime - task.startedTime);
  }
  return lives.sort((a, b) => a - b)[1];
}

/**
 * When to stop task i (ms after its submit returned): a third spread over the whole life and
 * after it, two thirds packed around `end`, the estimated moment the ending is decided.
 */
function stopDelay(i: number, end: number): number {
  if (i % 3 === 0) return Math.round((i / TASKS) * end * 1.6);
  const around = ((i % 16) - 8) / 8; // -1 .. +0.875
  return Math.max(0, Math.round(end + around * Math.max(60, end * 0.35)));
}

/**
 * The next batch's estimate of the end as seen by the client (lives stretch under load and a
 * stop takes a while to land): between the latest accepted and the earliest refused stop of
 * this batch, or moved out or in when all stops fell on one side.
 */
function nextEnd(end: number, batch: readonly Outcome[]): number {
  const accepted = batch.filter((o) => o.stop === 'accepted').map((o) => o.stopAfterMs);
  const refused = batch.filter((o) => o.stop === 'refused').map((o) => o.stopAfterMs);
  if (refused.length === 0) return end * 1.3;
  if (accepted.length === 0) return end * 0.7;
  return (Math.max(...accepted) + Math.min(...refused)) / 2;
}

async function stopAfter(taskId: string, ms: number): Promise<Outcome> {
  await sleep(ms);
  try {
    await rt().client.stop('etl', taskId);
    return { taskId, stopAfterMs: ms, stop: 'accepted' };
  } catch (error) {
    if (error instanceof InvalidTaskStateError) return { taskId, stopAfterMs: ms, stop: 'refused', refusal: error.message };
    throw error;
  }
}

/** Reads both queues until every task has a record and nothing new came for `settleMs`. */
async function drainAll(
  taskIds: readonly string[],
  settleMs = 2000,
): Promise<{ success: DestinationRecord[]; failure: DestinationRecord[] }> {
  const queues = queueOutputs('Etl');
  const successUrl = rt().output(queues.success);
  const failureUrl = rt().output(queues.failure);
  const ours = (records: DestinationRecord[]) => records.filter((r) => taskIds.includes(r.requestContext?.taskId));
  let seen = -1;
  let stableSince = Date.now();
  return waitUntil(
    async () => {
      const success = ours(await rt().destinations.drain(successUrl));
      const failure = ours(await rt().destinations.drain(failureUrl));
      const count = success.length + failure.length;
      if (count !== seen) {
        seen = count;
        stableSince = Date.now();
      }
      const covered = new Set([...success, ...failure].map((r) => r.requestContext.taskId));
      return covered.size === taskIds.length && Date.now() - stableSince >= settleMs ? { success, failure } : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `a destination record for each of ${taskIds.length} tasks` },
  );
}

test('stops raced against task ends: every task has one ending and exactly one matching record', async () => {
  const life = await measureLife();
  const outcomes: Outcome[] = [];
  let end = life;
  for (let start = 0; start < TASKS; start += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, TASKS - start) }, (_, k) => start + k);
    const done = await Promise.all(
      batch.map(async (i) => {
        const taskId = `race-${String(i).padStart(3, '0')}`;
        await rt().client.submit({ functionName: 'etl', taskId, payload: { ms: WORK_MS, rows: i } });
        return stopAfter(taskId, stopDelay(i, end));
      }),
    );
    outcomes.push(...done);
    end = nextEnd(end, done);
  }
  const taskIds = outcomes.map((o) => o.taskId);
  const tasks = new Map<string, TaskRecord>();
  for (const taskId of taskIds)
    tasks.set(taskId, (await watchTask(rt().client, 'etl', taskId, { timeoutMs: 60_000, intervalMs: 100 })).task);
  const { success, failure } = await drainAll(taskIds);

  const problems: string[] = [];
  for (const o of outcomes) {
    const task = tasks.get(o.taskId);
    const mine = (records: DestinationRecord[]) => records.filter((r) => r.requestContext.taskId === o.taskId);
    const records = [
      ...mine(success).map((r) => `success:${r.requestContext.condition}`),
      ...mine(failure).map((r) => `failure:${r.requestContext.condition}`),
    ];
    const expected = task?.status === 'Succeeded' ? 'success:Success' : task?.status === 'Stopped' ? 'failure:Stopped' : undefined;
    const where = `${o.taskId} (stop ${o.stop} after ${o.stopAfterMs} ms, ${task?.status})`;
    if (expected === undefined) problems.push(`${where}: ended ${task?.status}; only Succeeded or Stopped are possible`);
    if (records.length !== 1 || records[0] !== expected) {
      problems.push(`${where}: records [${records.join(', ')}]; expected exactly [${expected}]`);
    }
    if (o.stop === 'accepted' && task?.status !== 'Stopped')
      problems.push(`${where}: the stop was accepted but the task ended ${task?.status}`);
    if (o.stop === 'refused' && !(task?.status === 'Succeeded' && /has ended \(Succeeded\)/.test(o.refusal ?? ''))) {
      problems.push(`${where}: the stop was refused with "${o.refusal}"`);
    }
    if (task?.destinationStatus !== 'Succeeded') problems.push(`${where}: destinationStatus ${task?.destinationStatus}`);
  }

  const count = (status: string) => [...tasks.values()].filter((t) => t.status === status).length;
  const counts = {
    lifeMs: life,
    tasks: TASKS,
    stopsAccepted: outcomes.filter((o) => o.stop === 'accepted').length,
    stopsRefused: outcomes.filter((o) => o.stop === 'refused').length,
    Succeeded: count('Succeeded'),
    Stopped: count('Stopped'),
    successRecords: success.length,
    failureRecords: failure.length,
    latestAcceptedStopMs: Math.max(-1, ...outcomes.filter((o) => o.stop === 'accepted').map((o) => o.stopAfterMs)),
    earliestRefusedStopMs: Math.min(Number.MAX_SAFE_INTEGER, ...outcomes.filter((o) => o.stop === 'refused').map((o) => o.stopAfterMs)),
    tasksWithTwoOrMoreRecords: taskIds.filter((id) => [...success, ...failure].filter((r) => r.requestContext.taskId === id).length > 1)
      .length,
  };
  process.stdout.write(`stop race: ${JSON.stringify(counts)}\n`);
  expect(problems).toEqual([]);
  expect(counts.successRecords + counts.failureRecords).toBe(TASKS);
  // The spread must really have raced: some stops won, some came too late.
  expect(counts.Stopped).toBeGreaterThan(0);
  expect(counts.Succeeded).toBeGreaterThan(0);
}, 240_000);
