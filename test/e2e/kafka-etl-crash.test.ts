/**
 * Issue 8, a crash between task creation and the offset commit: the demo app's local runtime runs
 * in its own process group with a data dir; Kafka records of `connector-demo` large enough that
 * one batch of a partition becomes several `etl` tasks (the 128 KiB payload limit), so a trigger
 * invocation creates tasks one after another before it returns and the poller commits. The group
 * is killed with SIGKILL as soon as the first task shows up — tasks created, offsets not yet
 * committed — and restarted on the same data dir, with more records produced meanwhile, so the
 * redelivery starts at the committed offset and is batched differently. Every record must be in
 * exactly one task, and the trigger must have counted exactly the records it saw again as
 * duplicates.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { produce } from '../../client/produce';
import { PROJECT_ROOT, spawnRuntimeProcess, tempDir, waitUntil } from './harness';
import {
  type EdgeClients,
  edgeClients,
  expectEachRecordInOneTask,
  FUNCTION,
  type KafkaTask,
  kafkaTasks,
  type ProducedRecord,
  STACK,
  TOPIC,
  triggerSummaries,
  waitForTasks,
} from './kafka-etl-checks';
import { synthesize } from './synth';

const PARTITIONS = 3;
/** Per partition before the kill: one batch (the mapping's BatchSize is 100). */
const BEFORE = 100;
/** Per partition after the restart. */
const AFTER = 40;
/** ~10 KB values: a batch of 100 records is 8 or 9 tasks. */
const PAD = 'x'.repeat(10_000);

const dataDir = tempDir('kafka-crash-data');
const workDir = tempDir('kafka-crash-work');

interface GroupRuntime extends EdgeClients {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly triggerFunction: string;
}
let current: GroupRuntime | undefined;

/** Starts runtime-process.ts as the leader of a new process group (its Lambda workers and fauxqs join it). */
async function startGroup(cdkOut: string): Promise<GroupRuntime> {
  const options = {
    cdkOut,
    stackName: STACK,
    port: 0,
    workDir,
    dataDir,
    projectRoot: PROJECT_ROOT,
    kafkaPoller: { retryBaseMs: 100, retryMaxMs: 500 },
  };
  const { child, exited, ready } = await spawnRuntimeProcess(options, { detached: true });
  const clients = edgeClients(ready.endpoint);
  // The trigger's physical name, from the template (the runtime's Lambda names are the logical ids').
  const template = JSON.parse(fs.readFileSync(path.join(cdkOut, `${STACK}.template.json`), 'utf8')) as {
    Resources: Record<string, { Type: string }>;
  };
  const logicalId = Object.keys(template.Resources).find(
    (id) => id.startsWith('EtlKafkaTriggerFunction') && template.Resources[id].Type === 'AWS::Lambda::Function',
  );
  return { ...clients, child, exited, triggerFunction: `${STACK}-${logicalId}` };
}

async function killGroup(rt: GroupRuntime, signal: NodeJS.Signals): Promise<void> {
  try {
    process.kill(-(rt.child.pid as number), signal);
  } catch {
    // already gone
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([rt.exited, new Promise((resolve) => (timer = setTimeout(resolve, 20_000)))]);
  clearTimeout(timer);
  rt.destroy();
}

afterAll(async () => {
  if (current) await killGroup(current, 'SIGTERM');
  if (current && current.child.exitCode === null && current.child.signalCode === null) await killGroup(current, 'SIGKILL');
  if (process.env.ASYNCTASK_E2E_KEEP === '1') return;
  for (const dir of [dataDir, workDir]) fs.rmSync(dir, { recursive: true, force: true });
}, 40_000);

async function produceLarge(endpoint: string, first: number, perPartition: number): Promise<ProducedRecord[]> {
  const input = Array.from({ length: perPartition * PARTITIONS }, (_, i) => ({
    key: `c-${first + i}`,
    partition: (first + i) % PARTITIONS,
    value: JSON.stringify({ n: first + i, pad: PAD }),
  }));
  const out = await produce(endpoint, TOPIC, input);
  return out.offsets.map(({ partition, offset }, i) => ({ partition, offset, key: input[i].key, value: JSON.parse(input[i].value) }));
}

/** One entry per task id: an id listed more than once is read with `get` (the stored item). */
async function dedupe(client: EdgeClients['client'], tasks: readonly KafkaTask[]): Promise<{ tasks: KafkaTask[]; ghosts: number }> {
  const byId = new Map<string, KafkaTask[]>();
  for (const t of tasks) byId.set(t.taskId, [...(byId.get(t.taskId) ?? []), t]);
  const out: KafkaTask[] = [];
  let ghosts = 0;
  for (const [id, entries] of byId) {
    if (entries.length === 1) out.push(entries[0]);
    else {
      ghosts += entries.length - 1;
      out.push((await client.get(FUNCTION, id)) as KafkaTask);
    }
  }
  return { tasks: out, ghosts };
}

/** The committed offsets of the demo mapping's group, from the data dir's commit log (last line per partition wins). */
function committedOffsets(): Map<number, number> {
  const file = path.join(dataDir, 'kafka', 'commits.log');
  const committed = new Map<number, number>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const c = JSON.parse(line) as { t: string; p: number; o: number };
      if (c.t === TOPIC) committed.set(c.p, c.o);
    } catch {
      // a line the kill cut
    }
  }
  return committed;
}

test('a kill -9 after task creation and before the offset commit, then a restart: no record in two tasks, none in zero', async () => {
  const started = Date.now();
  const cdkOut = await synthesize('demo');
  current = await startGroup(cdkOut);
  const first = await produceLarge(current.endpoint, 0, BEFORE);
  // Kill as soon as a task exists: the invocation that made it is still creating the rest of its batch.
  const rt1 = current;
  await waitUntil(async () => (await kafkaTasks(rt1.client, TOPIC)).length > 0, {
    timeoutMs: 30_000,
    intervalMs: 10,
    what: 'the first etl task of the Kafka trigger',
  });
  const killedAt = Date.now();
  await killGroup(current, 'SIGKILL');
  current = undefined;
  const committed = committedOffsets();

  current = await startGroup(cdkOut);
  const second = await produceLarge(current.endpoint, first.length, AFTER);
  const produced = [...first, ...second];
  const tasks = await waitForTasks(current.client, TOPIC, produced, { timeoutMs: 60_000 });
  // A put the kill cut can leave its ByTime index entry without the item (the local DynamoDB,
  // dynalite, writes them separately), so `list` may show an id twice: the item is what `get` reads.
  const listed = await dedupe(current.client, tasks);
  const mine = expectEachRecordInOneTask(listed.tasks, TOPIC, produced);

  // What the kill left: tasks made before it whose records were not committed; the restarted
  // poller delivered those records again, and the trigger counted each once as a duplicate.
  const before = mine.filter((t) => t.startedTime < killedAt);
  let redelivered = 0;
  const perPartition: string[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const end = Math.max(-1, ...before.filter((t) => t.source.partition === p).map((t) => t.source.lastOffset));
    const c = committed.get(p) ?? 0;
    redelivered += Math.max(0, end + 1 - c);
    perPartition.push(`p${p}: tasks to ${end}, committed ${c}`);
  }
  expect(redelivered).toBeGreaterThan(0);
  const duplicates = await waitUntil(
    async () => {
      const lines = await triggerSummaries(current?.logs ?? rt1.logs, current?.triggerFunction ?? '', killedAt);
      const total = lines.reduce((n, l) => n + l.duplicates, 0);
      return total >= redelivered ? total : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 250, what: `${redelivered} duplicates in the trigger's summary lines` },
  );
  expect(duplicates).toBe(redelivered);
  process.stdout.write(
    `kafka-etl (crash): ${produced.length} records (${first.length} before the kill, ${second.length} after) → ${mine.length} tasks, ` +
      `${before.length} made before the kill; ${redelivered} records redelivered and deduplicated (${perPartition.join('; ')}); ` +
      `${listed.ghosts} stale list entr${listed.ghosts === 1 ? 'y' : 'ies'}; in ${Date.now() - started} ms\n`,
  );
}, 120_000);
