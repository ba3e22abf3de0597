/**
 * The `asynctask` CLI (commander). Its commands, options, outputs and exit codes are a contract
 * (docs/cli.md): 0 success, 2 invalid input found before any call, 3 task or function
 * not found, 4 duplicate task id, 5 `--wait` ended other than Succeeded, 6 access denied (IAM
 * refused the REST API call), 1 anything else: each typed error carries its `exitCode`.
 * Errors are one stderr line; `--json` puts nothing but JSON on stdout.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import { Command, CommanderError, Option } from 'commander';
import {
  AsyncTaskError,
  InvalidArgumentError,
  InvalidPayloadError,
  isTerminal,
  LIST_LIMIT,
  type ListResult,
  parsePayloadText,
  parseStatuses,
  TASK_ID_RULE,
  TaskDidNotSucceedError,
  type TaskRecord,
  totalCostUsd,
  validateListRequest,
  validateNewTaskId,
  validateTaskId,
} from '../lambda/model';
import type { AsyncTaskClient, ListOptions } from './client';
import { DEFAULT_STACK, ENDPOINT_ENV } from './defaults';
import { renderFunctionTable, renderLogEvent, renderTask, renderTaskTable } from './format';
import { parseTimeExpression, TIME_EXPRESSION_RULE } from './time';
import { DEFAULT_CONSOLE_HOST, DEFAULT_CONSOLE_PORT } from '../console/defaults';

/** Exit code of usage errors (commander's own included): invalid input, nothing called. */
export const USAGE_EXIT_CODE = 2;
export const DEFAULT_DEV_PORT = 4566;
/** Poll interval of `invoke --wait` and `logs --follow`, overridable for tests and slow links. */
export const POLL_INTERVAL_ENV = 'ASYNCTASK_POLL_INTERVAL_MS';

/** What `local/dev` exports (the local runtime); `dev` loads it lazily. */
export interface RunDevOptions {
  readonly port: number;
  /** Absolute directory for persistent state, or undefined for in-memory. */
  readonly dataDir?: string;
  /** Synthesize the app (`cdk synth`) before starting. */
  readonly synth: boolean;
  /** The project directory (where `cdk.json` and `cdk.out` are). */
  readonly cwd: string;
  /** Run only this stack and the stacks it depends on (the global `--stack`, when given); default every stack. */
  readonly stackName?: string;
  /** `--kafka-brokers`: a real Kafka cluster for the Kafka mappings and `produce`; default the embedded topics. */
  readonly kafkaBrokers?: string[];
  /** `--kafka-partitions`: partitions of an embedded topic the runtime creates (default 3). */
  readonly kafkaPartitions?: number;
  /** `--demo` (true) / `--no-demo` (false); default: the demo runs on a first start. */
  readonly demo?: boolean;
  /** `--console-port`: port of the task console; default 4567. */
  readonly consolePort?: number;
  /** `--no-console` (false): serve no task console; default true. */
  readonly console?: boolean;
}
/** What commander parses of `dev`'s flags (`demo` stays undefined unless --demo or --no-demo is given). */
interface DevFlags {
  readonly port: string;
  readonly dataDir?: string;
  readonly synth?: boolean;
  readonly kafkaBrokers?: string;
  readonly kafkaPartitions?: string;
  readonly demo?: boolean;
  readonly consolePort?: string;
  /** False with --no-console (commander's default for a negated option is true). */
  readonly console?: boolean;
}
export interface LocalRuntimeModule {
  runDev(options: RunDevOptions): Promise<number>;
}

interface GlobalOptions {
  readonly endpoint?: string;
  readonly stack: string;
  readonly region?: string;
}

const COMMANDS = ['invoke', 'get', 'list', 'stop', 'retry', 'logs', 'exec', 'functions', 'produce', 'dev', 'console'] as const;

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function colorOnStdout(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
}

function pollInterval(fallback: number): number {
  const value = Number(process.env[POLL_INTERVAL_ENV]);
  return Number.isFinite(value) && value >= 0 && process.env[POLL_INTERVAL_ENV] !== '' ? value : fallback;
}

function clientFor(command: Command): AsyncTaskClient {
  const globals = command.optsWithGlobals() as GlobalOptions;
  // Loaded on first use: help and bad input never pay for the AWS SDK.
  const { AsyncTaskClient } = require('./client') as typeof import('./client');
  return new AsyncTaskClient({
    ...(globals.endpoint ? { endpoint: globals.endpoint } : {}),
    stack: globals.stack,
    ...(globals.region ? { region: globals.region } : {}),
  });
}

/** The payload of `invoke` from `--payload` or `--payload-file` (`-` is stdin), checked before any call. */
export function readPayload(options: { payload?: string; payloadFile?: string }): unknown {
  if (options.payload !== undefined) return parsePayloadText(options.payload, '--payload');
  if (options.payloadFile === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(options.payloadFile === '-' ? 0 : options.payloadFile, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new InvalidPayloadError(
      `cannot read --payload-file '${options.payloadFile}' (${reason}); give a readable file of JSON, or - for stdin`,
      { cause: error },
    );
  }
  return parsePayloadText(text, `--payload-file '${options.payloadFile}'`);
}

/** The line `logs` prints before each attempt's lines. */
export const ATTEMPT_HEADER = (n: number): string => `── attempt ${n} ──`;

export function parseAttempt(text: string): number {
  const attempt = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new InvalidArgumentError(`--attempt must be an integer of 1 or more, up to the task's attempts so far (given '${text}')`);
  }
  return attempt;
}

export function parseLimit(text: string): number {
  const limit = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(limit) || limit < LIST_LIMIT.min || limit > LIST_LIMIT.max) {
    throw new InvalidArgumentError(
      `--limit must be an integer between ${LIST_LIMIT.min} and ${LIST_LIMIT.max} inclusive (given '${text}')`,
    );
  }
  return limit;
}

export function parsePort(text: string, what = '--port'): number {
  const port = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new InvalidArgumentError(`${what} must be an integer between 1 and 65535 inclusive (given '${text}')`);
  }
  return port;
}

/** `--kafka-brokers host:port[,host:port...]`. */
export function parseBrokerList(text: string): string[] {
  const brokers = text
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  const bad = brokers.find((b) => {
    const m = /^(\[[^\]]+\]|[^:\s]+):(\d+)$/.exec(b);
    return !m || Number(m[2]) < 1 || Number(m[2]) > 65_535;
  });
  if (brokers.length === 0 || bad !== undefined) {
    throw new InvalidArgumentError(
      `--kafka-brokers must be host:port[,host:port...] with ports from 1 to 65535 (given '${text}'${bad !== undefined ? `; '${bad}' is not` : ''})`,
    );
  }
  return brokers;
}

export function parseKafkaPartitions(text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new InvalidArgumentError(`--kafka-partitions must be an integer between 1 and 1000 inclusive (given '${text}')`);
  }
  return n;
}

interface ListCliOptions {
  status?: string;
  since?: string;
  until?: string;
  prefix?: string;
  limit?: string;
  order?: 'asc' | 'desc';
  nextToken?: string;
  all?: boolean;
  json?: boolean;
}

/** `list` options → the SDK's request, every value checked (exit 2) before any call. */
export function listOptionsFrom(functionName: string, options: ListCliOptions, now: number = Date.now()): ListOptions {
  const status = options.status !== undefined ? parseStatuses(options.status) : undefined;
  const request = {
    functionName,
    ...(status !== undefined ? { status } : {}),
    ...(options.since !== undefined ? { since: parseTimeExpression(options.since, '--since', now) } : {}),
    ...(options.until !== undefined ? { until: parseTimeExpression(options.until, '--until', now) } : {}),
    ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
    ...(options.limit !== undefined ? { limit: parseLimit(options.limit) } : {}),
    ...(options.order !== undefined ? { order: options.order } : {}),
    ...(options.nextToken !== undefined ? { nextToken: options.nextToken } : {}),
  };
  validateListRequest(request);
  return request;
}

/** A progress bar on stderr, only when stderr is a terminal. */
function progressBar(): SingleBar | undefined {
  if (!process.stderr.isTTY) return undefined;
  return new SingleBar(
    {
      stream: process.stderr,
      format: '{bar} {percentage}% | {status} {message}',
      hideCursor: false,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  );
}

function progressPayload(task: TaskRecord): { status: string; message: string } {
  return { status: task.status, message: task.progress?.message ?? '' };
}

function printTask(task: TaskRecord, json: boolean | undefined): void {
  if (json) writeJson(task);
  else process.stdout.write(renderTask(task, { color: colorOnStdout() }));
}

/** `state.exitCode`: an exit code an action returns instead of 0 (`dev` returns the runtime's). */
function buildProgram(state: { exitCode?: number }): Command {
  const program = new Command('asynctask');
  program
    .description(
      "Submit, watch, stop and retry asynchronous tasks (Function Compute's stateful async invocation) on AWS or on the local runtime",
    )
    .addOption(
      new Option('--endpoint <url>', 'endpoint of every AWS call, e.g. a local runtime at http://127.0.0.1:4566').env(ENDPOINT_ENV),
    )
    .option(
      '--stack <name>',
      'CloudFormation stack whose outputs locate the TaskApi: TaskApiUrl (its REST API, signed with SigV4), else TaskApiFunctionName',
      DEFAULT_STACK,
    )
    .option('--region <region>', 'AWS region (default: AWS_REGION or the AWS configuration; us-east-1 with --endpoint)')
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      // Commander's errors are reported by run() as one line; a help it prints *as* an error
      // (no command given) is replaced by that line too.
      writeErr: () => undefined,
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText(
      'after',
      `
Exit codes: 0 success; 2 invalid input (nothing was called); 3 task or function not found;
4 duplicate task id; 5 with --wait, the task ended other than Succeeded; 6 access denied
(IAM does not allow the call); 1 anything else.`,
    );

  program
    .command('invoke')
    .description('submit a task: an asynchronous invocation of a task function')
    .argument('<function>', 'task function name')
    .addOption(new Option('--payload <json>', 'task payload as JSON text (at most 128 KiB)').conflicts('payloadFile'))
    .addOption(new Option('--payload-file <file>', 'read the JSON payload from a file (- for stdin)').conflicts('payload'))
    .option('--task-id <id>', `task id, ${TASK_ID_RULE} (default: generated); a live id is rejected as a duplicate (exit 4)`)
    .option('--wait', 'wait until the task ends, with a progress bar; exit 5 unless it Succeeded')
    .option('--json', 'print the task record as JSON')
    .action(
      async (
        functionName: string,
        options: { payload?: string; payloadFile?: string; taskId?: string; wait?: boolean; json?: boolean },
        command: Command,
      ) => {
        if (options.taskId !== undefined) validateNewTaskId(options.taskId);
        const payload = readPayload(options);
        const client = clientFor(command);
        const submitted = await client.submit({
          functionName,
          ...(options.taskId !== undefined ? { taskId: options.taskId } : {}),
          ...(payload !== undefined ? { payload } : {}),
        });
        if (!options.json) {
          process.stdout.write(`${functionName}/${submitted.taskId} async invoke success.\n`);
          process.stdout.write(`task id: ${submitted.taskId}\nrequest id: ${submitted.requestId}\n`);
        }
        if (!options.wait) {
          if (options.json) writeJson(submitted);
          return;
        }
        const bar = progressBar();
        bar?.start(100, submitted.progress?.percent ?? 0, progressPayload(submitted));
        let task: TaskRecord;
        try {
          task = await client.waitFor(functionName, submitted.taskId, {
            pollIntervalMs: pollInterval(1000),
            onProgress: (t) => bar?.update(t.status === 'Succeeded' ? 100 : (t.progress?.percent ?? 0), progressPayload(t)),
          });
        } finally {
          bar?.stop();
        }
        if (options.json) writeJson(task);
        else process.stdout.write(renderTask(task, { color: colorOnStdout() }));
        if (task.status !== 'Succeeded') throw new TaskDidNotSucceedError(task);
      },
    );

  program
    .command('get')
    .description("show a task's record (a progress bar on a terminal while it runs)")
    .argument('<function>', 'task function name')
    .argument('<task-id>', 'task id')
    .option('--json', 'print the task record as JSON')
    .action(async (functionName: string, taskId: string, options: { json?: boolean }, command: Command) => {
      validateTaskId(taskId);
      const task = await clientFor(command).get(functionName, taskId);
      printTask(task, options.json);
      if (!options.json && !isTerminal(task.status) && task.progress?.percent !== undefined) {
        const bar = progressBar();
        bar?.start(100, task.progress.percent, progressPayload(task));
        bar?.stop();
      }
    });

  program
    .command('list')
    .description('list tasks of a function, newest first, with FC filters')
    .argument('<function>', 'task function name')
    .option(
      '--status <statuses>',
      'only these statuses, comma-separated (Enqueued, Dequeued, Running, Retrying, Succeeded, Failed, Stopping, Stopped, Expired, Invalid)',
    )
    .option('--since <time>', `started at or after this time: ${TIME_EXPRESSION_RULE}`)
    .option('--until <time>', `started at or before this time: ${TIME_EXPRESSION_RULE}`)
    .option('--prefix <prefix>', 'only task ids starting with this prefix')
    .option('--limit <n>', `tasks per page, ${LIST_LIMIT.min}-${LIST_LIMIT.max} (default: ${LIST_LIMIT.default})`)
    .addOption(new Option('--order <order>', 'by start time').choices(['asc', 'desc']).default('desc'))
    .option('--next-token <token>', 'continue after a previous page')
    .option('--all', 'follow next tokens and list every page')
    .option('--json', 'print { "tasks": [...], "nextToken": ..., "totalCostUsd": ... } as JSON')
    .action(async (functionName: string, options: ListCliOptions, command: Command) => {
      const request = listOptionsFrom(functionName, options);
      const client = clientFor(command);
      let result: ListResult;
      if (options.all) {
        const tasks: TaskRecord[] = [];
        for await (const task of client.listAll(request)) tasks.push(task);
        result = { tasks };
      } else {
        result = await client.list(request);
      }
      if (options.json) {
        // totalCostUsd: the sum of the page's (or, with --all, every page's) task estimates.
        writeJson({ tasks: result.tasks, nextToken: result.nextToken ?? null, totalCostUsd: totalCostUsd(result.tasks) });
        return;
      }
      if (result.tasks.length === 0) process.stdout.write(`no tasks of function '${functionName}' match\n`);
      else process.stdout.write(renderTaskTable(result.tasks, { color: colorOnStdout() }));
      if (result.nextToken !== undefined) process.stdout.write(`next page: --next-token ${result.nextToken}\n`);
    });

  program
    .command('stop')
    .description('stop a live task (Enqueued, Dequeued, Running or Retrying); it ends Stopped')
    .argument('<function>', 'task function name')
    .argument('<task-id>', 'task id')
    .option('--json', 'print the task record as JSON')
    .action(async (functionName: string, taskId: string, options: { json?: boolean }, command: Command) => {
      validateTaskId(taskId);
      const task = await clientFor(command).stop(functionName, taskId);
      if (options.json) writeJson(task);
      else process.stdout.write(`task ${task.taskId}: ${task.status}\n`);
    });

  program
    .command('retry')
    .description('run a Failed, Stopped or Expired task again under the same id')
    .argument('<function>', 'task function name')
    .argument('<task-id>', 'task id')
    .option('--json', 'print the task record as JSON')
    .action(async (functionName: string, taskId: string, options: { json?: boolean }, command: Command) => {
      validateTaskId(taskId);
      const task = await clientFor(command).retry(functionName, taskId);
      if (options.json) writeJson(task);
      else process.stdout.write(`task ${task.taskId}: ${task.status}\nrequest id: ${task.requestId}\n`);
    });

  program
    .command('logs')
    .description("print a task's log lines")
    .argument('<function>', 'task function name')
    .argument('<task-id>', 'task id')
    .option('--follow', 'keep printing new lines until the task ends')
    .option('--attempt <n>', 'only this attempt (1 = the first); default every attempt, each under a header')
    .action(async (functionName: string, taskId: string, options: { follow?: boolean; attempt?: string }, command: Command) => {
      validateTaskId(taskId);
      const attempt = options.attempt !== undefined ? parseAttempt(options.attempt) : undefined;
      const events = clientFor(command).logs({
        functionName,
        taskId,
        follow: Boolean(options.follow),
        pollIntervalMs: pollInterval(1000),
        ...(attempt !== undefined ? { attempt } : {}),
        onAttempt: (n) => process.stdout.write(`${ATTEMPT_HEADER(n)}\n`),
      });
      for await (const event of events) process.stdout.write(renderLogEvent(event));
    });

  program
    .command('exec')
    .description(
      "open a shell (or run a command) inside a running container task: ECS Exec on AWS, the task's directory and environment locally",
    )
    .argument('<function>', 'task function name')
    .argument('<task-id>', 'task id')
    .argument('[command...]', 'the command to run, after -- (default: an interactive sh)')
    .action(async (functionName: string, taskId: string, commandArgs: string[], _options: unknown, command: Command) => {
      validateTaskId(taskId);
      const client = clientFor(command);
      const target = await client.exec(functionName, taskId);
      const { runExec } = require('./exec') as typeof import('./exec');
      const globals = command.optsWithGlobals() as GlobalOptions;
      state.exitCode = await runExec(client, target, commandArgs, { ...(globals.region ? { region: globals.region } : {}) });
    });

  program
    .command('functions')
    .description('list the task functions of the service')
    .option('--json', 'print the functions as a JSON array')
    .action(async (options: { json?: boolean }, command: Command) => {
      const functions = await clientFor(command).functions();
      if (options.json) writeJson(functions);
      else if (functions.length === 0) process.stdout.write('no task functions\n');
      else process.stdout.write(renderFunctionTable(functions));
    });

  program
    .command('produce')
    .description("write records to a Kafka topic of the local runtime (its embedded topics, or dev's --kafka-brokers cluster)")
    .argument('<topic>', 'topic name')
    .option('--value <v>', 'the record value (text)')
    .option('--key <k>', 'the record key: its murmur2 hash picks the partition, as Kafka does')
    .option('--partition <p>', 'the partition (default: by key, else round robin)')
    .option('--header <k=v>', 'a record header (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--file <records.jsonl>', 'records, one JSON object a line: {"key"?, "partition"?, "headers"?, "value"} (- for stdin)')
    .option('--json', 'print the response as JSON')
    .action(
      async (
        topic: string,
        options: { value?: string; key?: string; partition?: string; header: string[]; file?: string; json?: boolean },
        command: Command,
      ) => {
        const { produce, produceInput } = require('./produce') as typeof import('./produce');
        const records = produceInput(options);
        const globals = command.optsWithGlobals() as GlobalOptions;
        const endpoint = globals.endpoint ?? `http://127.0.0.1:${DEFAULT_DEV_PORT}`;
        const result = await produce(endpoint, topic, records);
        if (options.json) {
          writeJson(result);
          return;
        }
        for (const o of result.offsets) process.stdout.write(`${topic}/${o.partition}@${o.offset}\n`);
        // Kafka creates a topic on first produce; a typo would otherwise go unnoticed.
        if (result.created && result.readers.length === 0) {
          process.stderr.write(`asynctask: note: created topic '${topic}'; no event source mapping reads it (check the name)\n`);
        }
      },
    );

  program
    .command('dev')
    .description('run the synthesized stack (cdk.out) locally behind one AWS endpoint')
    .option('--port <n>', 'port of the local endpoint', String(DEFAULT_DEV_PORT))
    .option('--data-dir <dir>', 'keep tasks and queues in this directory across restarts (default: in memory)')
    .option('--synth', 'synthesize the app (cdk synth) first; npm start does this')
    .option('--kafka-brokers <host:port,...>', "consume the Kafka mappings' topics from this cluster (default: embedded topics)")
    .option('--kafka-partitions <n>', 'partitions of an embedded topic the runtime creates (default 3)')
    .option(
      '--demo',
      'upload a test video and slow logs, submit the five transcodes and an analysis, produce Kafka records (default: on a first start)',
    )
    .option('--no-demo', 'do not run the demo, even on a first start')
    .option('--console-port <n>', `port of the task console on 127.0.0.1 (default: ${DEFAULT_CONSOLE_PORT})`)
    .option('--no-console', 'do not serve the task console')
    .action(async (options: DevFlags) => {
      const port = parsePort(options.port);
      const consolePort = options.consolePort !== undefined ? parsePort(options.consolePort, '--console-port') : undefined;
      const kafkaBrokers = options.kafkaBrokers !== undefined ? parseBrokerList(options.kafkaBrokers) : undefined;
      const kafkaPartitions = options.kafkaPartitions !== undefined ? parseKafkaPartitions(options.kafkaPartitions) : undefined;
      const runtime = loadLocalRuntime();
      // The global --stack defaults to the demo's; only a stack the user named restricts what runs.
      const stackGiven = program.getOptionValueSource('stack') === 'cli';
      const code = await runtime.runDev({
        port,
        ...(options.dataDir !== undefined ? { dataDir: path.resolve(options.dataDir) } : {}),
        ...(stackGiven ? { stackName: String(program.opts().stack) } : {}),
        synth: Boolean(options.synth),
        cwd: process.cwd(),
        ...(kafkaBrokers ? { kafkaBrokers } : {}),
        ...(kafkaPartitions !== undefined ? { kafkaPartitions } : {}),
        ...(options.demo !== undefined ? { demo: options.demo } : {}),
        ...(consolePort !== undefined ? { consolePort } : {}),
        ...(options.console === false ? { console: false } : {}),
      });
      state.exitCode = code;
    });

  program
    .command('console')
    .description(
      'serve the task console (functions, tasks, stop, retry, bulk actions, dead letters in a browser) against the stack, with your AWS credentials',
    )
    .option('--port <n>', `port to listen on`, String(DEFAULT_CONSOLE_PORT))
    .option(
      '--host <address>',
      `address to listen on (another address lets anyone who reaches it act on your tasks with your credentials)`,
      DEFAULT_CONSOLE_HOST,
    )
    .action(async (options: { port: string; host: string }, command: Command) => {
      const port = parsePort(options.port);
      const host = options.host.trim();
      if (host === '')
        throw new InvalidArgumentError(`--host must be an address to listen on, such as 127.0.0.1 (given '${options.host}')`);
      const client = clientFor(command);
      // Loaded on first use, like dev's runtime: the other commands never load the web server.
      const { startConsole } = require('../console/server') as typeof import('../console/server');
      const region = await client.lambda.config.region().catch(() => undefined);
      const label = client.endpoint
        ? `stack ${client.stack} at ${client.endpoint}`
        : `stack ${client.stack} in ${region ?? 'no region (pass --region)'}`;
      const running = await startConsole({ client, host, port, label });
      process.stdout.write(`console: ${running.url}\n  serving ${label}; Ctrl-C stops it.\n`);
      if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
        process.stderr.write(
          `asynctask console: listening on ${host}: anyone who can reach it can see and act on the tasks with your AWS credentials\n`,
        );
      }
      // Said once at start-up too, so a wrong stack or missing credentials show before a page is opened.
      client.taskApi().catch((error: Error) => {
        process.stderr.write(`asynctask console: note: ${oneLine(error.message)} (the pages say how to fix it)\n`);
      });
      await new Promise<void>((resolve) => {
        const stop = () => {
          running.close().then(resolve, resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  return program;
}

/** Where `dev` loads the local runtime from; the CLI tests point it at a stand-in. */
export const DEV_MODULE_ENV = 'ASYNCTASK_DEV_MODULE';

/** `local/dev`; a clear error when that module does not exist (a missing module *inside* it throws as is). */
function loadLocalRuntime(): LocalRuntimeModule {
  const modulePath = process.env[DEV_MODULE_ENV] || path.join(__dirname, '..', 'local', 'dev');
  let loaded: Partial<LocalRuntimeModule>;
  try {
    loaded = require(modulePath) as Partial<LocalRuntimeModule>;
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND' && e.message.includes(modulePath)) {
      throw new AsyncTaskError(`the local runtime is not available in this build (${modulePath} does not exist)`);
    }
    throw error;
  }
  if (typeof loaded.runDev !== 'function') {
    throw new AsyncTaskError(`${modulePath} does not export runDev(options): Promise<number>`);
  }
  return loaded as LocalRuntimeModule;
}

/** The subcommand named in argv, for pointing a usage error at the right `--help`. */
function commandIn(argv: readonly string[]): string | undefined {
  return argv.slice(2).find((a): a is (typeof COMMANDS)[number] => (COMMANDS as readonly string[]).includes(a));
}

function usageError(message: string, argv: readonly string[]): number {
  const command = commandIn(argv);
  const help = command ? `asynctask ${command} --help` : 'asynctask --help';
  process.stderr.write(`asynctask: ${oneLine(message.replace(/^error:\s*/, ''))} (see ${help})\n`);
  return USAGE_EXIT_CODE;
}

/** Runs the CLI on `argv` (as process.argv: node, script, args...) and returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  // The SDK's multi-line Node-version notice would break the one-line stderr contract.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // `asynctask list ... | head`: a reader that went away is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const state: { exitCode?: number } = {};
  const program = buildProgram(state);
  try {
    await program.parseAsync(argv);
    return state.exitCode ?? 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      if (error.code === 'commander.help' || error.code === 'commander.executeSubCommandAsync') {
        return usageError(`a command is required: ${COMMANDS.join(', ')}`, argv);
      }
      return usageError(error.message, argv);
    }
    if (error instanceof AsyncTaskError) {
      process.stderr.write(`asynctask: ${oneLine(error.message)}\n`);
      return error.exitCode;
    }
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    process.stderr.write(`asynctask: ${oneLine(message)}\n`);
    return 1;
  }
}
