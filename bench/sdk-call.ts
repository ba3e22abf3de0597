/**
 * What one AWS SDK call costs a local Lambda worker, and how that falls as V8 warms its code:
 *
 *     npx tsx bench/sdk-call.ts [--calls N] [--block N] [--runs N]
 *
 * Starts the local runtime with the e2e fixture stack, writes one `Running` task item, then
 * forks a client process (bench/sdk-call-client.cjs) with a Lambda worker's Node flags and
 * environment (`WORKER_EXEC_ARGV`, `AWS_ENDPOINT_URL` = the edge) that makes N conditional
 * `UpdateItem`s through the document client, one after another — the economy wrapper's kind of
 * call. Per block of calls it prints the client's CPU per call, the runtime process's (edge and
 * dynalite, all threads) and the wall time per call; then the same with the workers' previous
 * flags (`--always-sparkplug --interrupt-budget=270336`, used while a function ran a process per
 * concurrent invocation) and the ratio of the two. The runs alternate, each set first in turn
 * (defaults: 4,000 calls, blocks of 500, two runs each). One client at a time on an otherwise
 * idle runtime: the figures are the SDK's and the edge's own, without bench/local.ts's
 * contention of a dozen processes.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_CREDENTIALS as CREDENTIALS, LOCAL_REGION as REGION } from '../client/defaults';
import { tableKey } from '../lambda/model/table';
import { marshall } from '@aws-sdk/util-dynamodb';
import { WORKER_EXEC_ARGV } from '../local/lambda';
import { startRuntime } from '../local/runtime';
import { PROJECT_ROOT, synthesize } from '../test/e2e/synth';
import { tableName } from './local';
import { parseWholeNumberOptions, runBench } from './cli';

const PREVIOUS_FLAGS = [...WORKER_EXEC_ARGV, '--always-sparkplug', '--interrupt-budget=270336'];

interface Options {
  calls: number;
  block: number;
  runs: number;
}

function parseOptions(argv: readonly string[]): Options {
  const options = parseWholeNumberOptions('bench/sdk-call.ts', argv, { calls: 4000, block: 500, runs: 2 });
  if (options.calls % options.block !== 0) {
    throw new Error(`--calls ${options.calls} is not a multiple of --block ${options.block}`);
  }
  return options;
}

interface Block {
  readonly calls: number;
  /** The client's CPU per call (ms). */
  readonly clientMs: number;
  /** The runtime process's CPU per call (ms), all its threads. */
  readonly runtimeMs: number;
  readonly wallMs: number;
}

async function clientRun(inputs: {
  endpoint: string;
  table: string;
  taskId: string;
  flags: readonly string[];
  options: Options;
}): Promise<Block[]> {
  const { endpoint, table, taskId, flags, options } = inputs;
  const child = fork(
    path.join(__dirname, 'sdk-call-client.cjs'),
    [table, JSON.stringify(tableKey('bench', taskId)), String(options.calls), String(options.block)],
    {
      cwd: PROJECT_ROOT,
      execArgv: [...flags],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        NODE_PATH: path.join(PROJECT_ROOT, 'node_modules'),
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: REGION,
        AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        // As the other benchmarks do: the SDK's multi-line Node-version notice would interleave with the figures.
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const blocks: Block[] = [];
  let runtimeCpu = process.cpuUsage();
  child.on('message', (m: { calls: number; cpuMs: number; wallMs: number }) => {
    const used = process.cpuUsage(runtimeCpu);
    runtimeCpu = process.cpuUsage();
    blocks.push({ calls: m.calls, clientMs: m.cpuMs, runtimeMs: (used.user + used.system) / 1000 / options.block, wallMs: m.wallMs });
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0 || blocks.length !== options.calls / options.block) {
    throw new Error(`the client process (${flags.join(' ')}) exited with ${code} after ${blocks.length} blocks`);
  }
  return blocks;
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);
const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const log = (line = '') => process.stdout.write(`${line}\n`);
  log(`asynctask SDK call benchmark — ${new Date().toISOString()}`);
  log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}; options: ${JSON.stringify(options)}`);
  const cdkOut = await synthesize('fixture');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'asynctask-sdk-call-'));
  const runtime = await startRuntime({
    cdkOut,
    stackName: 'AsyncTaskE2E',
    port: 0,
    workDir,
    projectRoot: PROJECT_ROOT,
    log: () => undefined,
  });
  const ddb = new DynamoDBClient({ endpoint: runtime.endpoint, region: REGION, credentials: CREDENTIALS });
  try {
    const table = await tableName(ddb);
    const sets = [
      { name: 'the workers’ flags', flags: WORKER_EXEC_ARGV },
      { name: 'previous flags', flags: PREVIOUS_FLAGS },
    ];
    const results = sets.map(() => [] as Block[][]);
    for (let run = 0; run < options.runs; run++) {
      // Alternating which set goes first, so neither always meets a colder runtime.
      const order = run % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        const set = sets[i];
        const taskId = `sdk-call-${run}-${i}`;
        await ddb.send(
          new PutItemCommand({
            TableName: table,
            Item: marshall({ ...tableKey('bench', taskId), status: 'Running' }),
          }),
        );
        process.stdout.write(`run ${run + 1}, ${set.name} (${set.flags.join(' ')}): ${options.calls} calls… `);
        results[i].push(await clientRun({ endpoint: runtime.endpoint, table, taskId, flags: set.flags, options }));
        log('done');
      }
    }
    log();
    log(`CPU per UpdateItem call (ms), mean of ${options.runs} run(s); client = the worker-like process, runtime = edge + dynalite`);
    log(`| calls | ${sets.map((s) => `${s.name}: client | runtime | wall`).join(' | ')} | client ratio |`);
    log(`|---|${sets.map(() => '---|---|---').join('|')}|---|`);
    const blockCount = options.calls / options.block;
    const at = (i: number, b: number, f: (x: Block) => number) => mean(results[i].map((runBlocks) => f(runBlocks[b])));
    for (let b = 0; b < blockCount; b++) {
      const cells = sets.map(
        (_, i) => `${fmt(at(i, b, (x) => x.clientMs))} | ${fmt(at(i, b, (x) => x.runtimeMs))} | ${fmt(at(i, b, (x) => x.wallMs))}`,
      );
      const ratio = at(0, b, (x) => x.clientMs) / at(1, b, (x) => x.clientMs);
      log(`| ${(b + 1) * options.block} | ${cells.join(' | ')} | ${fmt(ratio)} |`);
    }
    const total = (i: number) => mean(results[i].map((runBlocks) => mean(runBlocks.map((x) => x.clientMs))));
    log();
    log(
      `client CPU per call over all ${options.calls} calls: ${sets.map((s, i) => `${s.name} ${fmt(total(i), 3)} ms`).join(', ')}; ratio ${fmt(total(0) / total(1))}`,
    );
  } finally {
    ddb.destroy();
    await runtime.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

if (require.main === module) runBench(main);
