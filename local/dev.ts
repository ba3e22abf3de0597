/**
 * `asynctask dev [--port N] [--data-dir DIR] [--synth] [--demo | --no-demo] [--console-port N |
 * --no-console]`: (optionally synthesizes the app, then) runs the stacks of cdk.out on this
 * machine, serves the task console (../console) on a port of its own against the runtime's
 * endpoint, prints the endpoint, the console's address, the stacks, the task functions and an
 * example command, runs the demo on a first start (./demo.ts), and stays up until SIGINT/SIGTERM.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { AsyncTaskClient } from '../client/client';
import { DEFAULT_STACK, LOCAL_CREDENTIALS } from '../client/defaults';
import { DEFAULT_CONSOLE_PORT, type RunningConsole, startConsole } from '../console/server';
import { DEMO_BUCKET_OUTPUT, DEMO_TOPIC, demoDecision, runDemo, writeDemoMarker } from './demo';
import { type LocalRuntime, startRuntime } from './runtime';
import { KafkaInputError, KafkaUnavailableError } from './kafka/topics';
import { TemplateError } from './template';
import { LOCAL_REGION } from './types';

export interface RunDevOptions {
  readonly port: number;
  readonly dataDir?: string;
  readonly synth: boolean;
  readonly cwd: string;
  /** Run only this stack and the stacks it depends on (default: every stack of the assembly). */
  readonly stackName?: string;
  /** A real Kafka cluster for the Kafka mappings and `produce` (default: the embedded topics). */
  readonly kafkaBrokers?: readonly string[];
  /** Partitions of an embedded topic the runtime creates (default 3). */
  readonly kafkaPartitions?: number;
  /**
   * `--demo` (true) runs the demo, `--no-demo` (false) does not.
   * @default - on a first start: always without a data dir, once per data dir with one
   */
  readonly demo?: boolean;
  /** Port of the task console on 127.0.0.1 (0: any free port). @default 4567 */
  readonly consolePort?: number;
  /** `--no-console` (false) serves no console. @default true */
  readonly console?: boolean;
}

const isTty = Boolean(process.stderr.isTTY);

/** `npx cdk synth --quiet` in `cwd`, with an elapsed-time line on stderr. Resolves to its exit code. */
export function synthesize(cwd: string): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now();
    const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let i = 0;
    let output = '';
    const line = () => `${frames[i++ % frames.length]} synthesizing the app (cdk synth) … ${((Date.now() - started) / 1000).toFixed(0)} s`;
    const timer = setInterval(
      () => {
        if (isTty) process.stderr.write(`\r${line()}`);
        else process.stderr.write(`  still synthesizing … ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      },
      isTty ? 100 : 10_000,
    );
    process.stderr.write(isTty ? line() : 'synthesizing the app (cdk synth) …\n');
    const child = spawn('npx', ['cdk', 'synth', '--quiet'], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const done = (code: number) => {
      clearInterval(timer);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (isTty) process.stderr.write('\r\x1b[K');
      if (code === 0) process.stderr.write(`synthesized in ${secs} s\n`);
      else process.stderr.write(`cdk synth failed (exit ${code}) after ${secs} s:\n${output.trim()}\n`);
      resolve(code);
    };
    child.on('error', (error) => {
      output += `\n${error.message}`;
      done(127);
    });
    child.on('exit', (code) => done(code ?? 1));
  });
}

/** What `dev` prints once the runtime is up: endpoint, stacks, task functions, an example command. */
export function banner(
  rt: Pick<LocalRuntime, 'endpoint' | 'stacks' | 'services' | 'notes'> & {
    /** The Kafka mappings' topics give the `produce` example. */
    readonly model?: { readonly eventSourceMappings: ReadonlyArray<{ readonly topics?: readonly string[] }> };
    /** The REST APIs and where they are served. */
    readonly apiGateway?: Pick<LocalRuntime['apiGateway'], 'urls'>;
  },
  dataDir?: string,
  /** The task console's address, or why it is not served. */
  consoleLine?: string,
): string {
  const names = rt.stacks.map((s) => s.stackName);
  const lines = [
    '',
    `asynctask local runtime — ${names.length === 1 ? `stack ${names[0]}` : `${names.length} stacks`}`,
    `  endpoint   ${rt.endpoint}`,
    `  state      ${dataDir ? `kept in ${dataDir}` : 'in memory (use --data-dir DIR to keep it)'}`,
  ];
  if (names.length > 1) lines.push(`  stacks     ${names.join(', ')} (in deployment order)`);
  for (const { api, url } of rt.apiGateway?.urls(rt.endpoint) ?? []) {
    lines.push(`  REST API   ${url} (${api.stackName}/${api.logicalId}; any signed request is accepted, IAM is not evaluated locally)`);
  }
  lines.push('');
  if (rt.services.length === 0) lines.push('  task functions: none found (no TaskApi with ASYNCTASK_REGISTRY_PATH in the stacks)');
  for (const service of rt.services) {
    if (service.functions.length === 0) {
      lines.push(`  task functions of stack ${service.stackName}: none (no registry parameters under ${service.registryPath})`);
      continue;
    }
    lines.push(`  task functions of stack ${service.stackName}:`);
    const width = Math.max(...service.functions.map((f) => f.name.length));
    for (const f of service.functions) {
      lines.push(
        `    ${f.name.padEnd(width)}  ${f.kind.padEnd(9)}  retries ${f.maxRetryAttempts}, timeout ${f.timeoutSeconds} s${
          f.maxConcurrency ? `, maxConcurrency ${f.maxConcurrency}` : ''
        }${f.description ? `  — ${f.description}` : ''}`,
      );
    }
  }
  for (const n of rt.notes) lines.push(`  note: ${n}`);
  const service = rt.services.find((s) => s.functions.length > 0) ?? rt.services[0];
  const example = service?.functions.find((f) => f.name === 'etl') ?? service?.functions[0];
  const payload =
    example?.name === 'etl'
      ? `'[{"topic":"orders","partition":0,"offset":1,"timestamp":1764072000000,"key":"o-1","value":"hello"}]'`
      : `'{}'`;
  // The CLI finds the TaskApi through a stack's outputs; its default stack is DEFAULT_STACK.
  const stack = service && service.stackName !== DEFAULT_STACK ? ` --stack ${service.stackName}` : '';
  // A Kafka mapping's topic: producing to it is the trigger's own way in.
  const topic = rt.model?.eventSourceMappings.find((m) => m.topics?.length)?.topics?.[0];
  if (consoleLine) lines.push('', `console: ${consoleLine}`);
  lines.push(
    '',
    'try:',
    `  ASYNCTASK_ENDPOINT=${rt.endpoint} npx asynctask${stack} invoke ${example?.name ?? '<function>'} --payload ${payload} --wait`,
    ...(topic
      ? [`  ASYNCTASK_ENDPOINT=${rt.endpoint} npx asynctask produce ${topic} --key o-1 --value '{"orderId": 1, "total": 25.5}'`]
      : []),
    '',
    'Ctrl-C stops it.',
    '',
  );
  return lines.join('\n');
}

export async function runDev(options: RunDevOptions): Promise<number> {
  if (options.synth) {
    const code = await synthesize(options.cwd);
    if (code !== 0) return code === 127 ? 1 : code;
  }
  const cdkOut = path.join(options.cwd, 'cdk.out');
  let rt: LocalRuntime;
  try {
    rt = await startRuntime({
      cdkOut,
      port: options.port,
      projectRoot: options.cwd,
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      ...(options.stackName ? { stackName: options.stackName } : {}),
      ...(options.kafkaBrokers?.length ? { kafkaBrokers: options.kafkaBrokers } : {}),
      ...(options.kafkaPartitions ? { kafkaPartitions: options.kafkaPartitions } : {}),
    });
  } catch (error) {
    const e = error as Error;
    const known =
      e instanceof TemplateError ||
      e instanceof KafkaInputError ||
      e instanceof KafkaUnavailableError ||
      e.message.includes('already in use');
    process.stderr.write(`asynctask dev: ${known ? e.message : (e.stack ?? e.message)}\n`);
    return 1;
  }
  const served = options.console === false ? undefined : await serveConsole(rt, options.consolePort ?? DEFAULT_CONSOLE_PORT);
  process.stdout.write(banner(rt, options.dataDir, served?.line));
  let stopping = false;
  startDemo(rt, options, () => stopping);
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      if (stopping) {
        process.stderr.write('asynctask dev: stopping is in progress (a second signal does not hurry it)\n');
        return;
      }
      stopping = true;
      process.stderr.write(`\nasynctask dev: ${signal}, stopping …\n`);
      (served?.console?.close() ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => rt.stop())
        .then(
          () => {
            process.stderr.write('asynctask dev: stopped\n');
            resolve(0);
          },
          (error: Error) => {
            process.stderr.write(`asynctask dev: stop failed: ${error.message}\n`);
            resolve(1);
          },
        );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

/**
 * Serves the task console against the runtime's own endpoint and the stack whose TaskApi the CLI
 * would use (DEFAULT_STACK when it is loaded, else the first with task functions), with the local
 * credentials whatever the environment holds. A console that cannot start (its port taken) is
 * reported in the banner; the runtime keeps serving.
 */
async function serveConsole(rt: LocalRuntime, port: number): Promise<{ line: string; console?: RunningConsole }> {
  const service =
    rt.services.find((s) => s.stackName === DEFAULT_STACK) ?? rt.services.find((s) => s.functions.length > 0) ?? rt.services[0];
  if (!service) return { line: 'not served (no stack of the assembly has a TaskApi)' };
  const config = { endpoint: rt.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const client = new AsyncTaskClient({
    endpoint: rt.endpoint,
    region: LOCAL_REGION,
    stack: service.stackName,
    credentials: LOCAL_CREDENTIALS,
    lambdaClient: new LambdaClient(config),
    cloudFormationClient: new CloudFormationClient(config),
    sqsClient: new SQSClient(config),
  });
  try {
    const running = await startConsole({ client, port, label: `local runtime at ${rt.endpoint}, stack ${service.stackName}` });
    return { line: running.url, console: running };
  } catch (error) {
    return { line: `not served: ${(error as Error).message}` };
  }
}

/** The topics the runtime's Kafka mappings read. */
function kafkaTopics(rt: Pick<LocalRuntime, 'model'>): string[] {
  return rt.model.eventSourceMappings.flatMap((m) => m.topics ?? []);
}

/**
 * Runs the demo in the background when `demoDecision` says so. Unasked (no flag), a stack that is
 * not the demo's (no data bucket output, no `connector-demo` topic) is left alone. Nothing the demo
 * does can stop the runtime: a failure is printed and the runtime keeps serving.
 */
function startDemo(rt: LocalRuntime, options: RunDevOptions, stopping: () => boolean): void {
  const decision = demoDecision(options.demo, options.dataDir);
  const topics = kafkaTopics(rt);
  if (!decision.run) {
    if (options.demo === undefined) process.stdout.write(`demo: not run: ${decision.reason}\n`);
    return;
  }
  if (options.demo === undefined && rt.outputs[DEMO_BUCKET_OUTPUT] === undefined && !topics.includes(DEMO_TOPIC)) return;
  process.stdout.write(`demo: running (${decision.reason}; --no-demo skips it) …\n`);
  const service = rt.services.find((s) => s.functions.length > 0);
  runDemo({
    endpoint: rt.endpoint,
    outputs: rt.outputs,
    functions: rt.functions.map((f) => f.name),
    topics,
    ...(service ? { stackName: service.stackName } : {}),
    print: (line) => {
      if (!stopping()) process.stdout.write(`${line}\n`);
    },
  }).then(
    (result) => {
      // Tasks that exist are the demo's too: a restart over the same data dir need not redo it.
      if (options.dataDir && result.submitted.length + result.existing.length > 0) {
        try {
          writeDemoMarker(options.dataDir);
        } catch (error) {
          process.stdout.write(
            `demo: cannot write its marker in ${options.dataDir} (${(error as Error).message}); a restart runs it again\n`,
          );
        }
      }
      if (result.failures.length > 0 && !stopping()) {
        process.stdout.write(`demo: ${result.failures.length} step(s) failed (above); the runtime keeps serving\n`);
      }
    },
    (error: Error) => {
      if (!stopping()) process.stdout.write(`demo: failed: ${error.message}; the runtime keeps serving\n`);
    },
  );
}
