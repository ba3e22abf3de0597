/**
 * The `asynctask` CLI as users run it: `node bin/asynctask.js ...` processes against a fake
 * TaskApi endpoint. Every process is started up front, a few at a time, in beforeAll; the tests
 * then check each one's stdout, stderr and exit code. Bad input goes to a second endpoint that
 * must receive no call at all.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ListRequest, SubmitRequest, TaskApiRequest, TaskRecord } from '../../lambda/model';
import {
  API_ID,
  type FakeCall,
  type FakeTaskApi,
  FUNCTIONS,
  IAM_DENIAL,
  LEGACY_STACK,
  STACK_WITHOUT_OUTPUT,
  startFakeTaskApi,
  TASK_API,
} from './fake-task-api';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'asynctask.js');
const CONCURRENCY = 4;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface Case {
  readonly args: readonly string[];
  /** Endpoint: the answering fake (default), the must-not-be-called one, or none (`env` gives it). */
  readonly target?: 'api' | 'guard' | 'none';
  readonly env?: Record<string, string>;
  readonly stdin?: string;
}

let api: FakeTaskApi;
let guard: FakeTaskApi;
let dir: string;
const results = new Map<string, Run>();

function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('AWS_') && !k.startsWith('ASYNCTASK_') && k !== 'NO_COLOR' && k !== 'FORCE_COLOR') env[k] = v;
  }
  return {
    ...env,
    AWS_CONFIG_FILE: path.join(dir, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-credentials'),
    AWS_MAX_ATTEMPTS: '1',
    ASYNCTASK_POLL_INTERVAL_MS: '10',
  };
}

function runCli(c: Case): Promise<Run> {
  const endpoint = c.target === 'none' ? [] : ['--endpoint', (c.target === 'guard' ? guard : api).url];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...endpoint, ...c.args], {
      cwd: ROOT,
      env: { ...baseEnv(), ...c.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(c.stdin ?? '');
  });
}

const payload = { bucket: 'my-bucket', object: '480P.mp4', output_dir: 'a', dst_format: 'mov' };

/** Bad input: each must exit 2 with one stderr line naming `shows`, and call nothing. */
const BAD_INPUT: Record<string, { args: string[]; shows: RegExp }> = {
  'malformed JSON payload': {
    args: ['invoke', 'transcode', '--payload', '{"bucket":'],
    shows: /--payload is not valid JSON.*given '\{"bucket":'/,
  },
  'unreadable payload file': {
    args: ['invoke', 'transcode', '--payload-file', '/nonexistent/p.json'],
    shows: /cannot read --payload-file '\/nonexistent\/p.json' \(ENOENT\)/,
  },
  'payload file that is not JSON': {
    args: ['invoke', 'transcode', '--payload-file', 'BAD_JSON_FILE'],
    shows: /--payload-file '.*bad.json' is not valid JSON/,
  },
  'payload over 128 KiB': {
    args: ['invoke', 'transcode', '--payload-file', 'BIG_FILE'],
    shows: /is \d+ bytes; the limit is 131072 bytes \(128 KiB\)/,
  },
  'invalid task id on invoke': {
    args: ['invoke', 'transcode', '--task-id', '1-480P-mp4'],
    shows: /invalid task id '1-480P-mp4': it starts with '1'; a task id must be 1-128 characters/,
  },
  'a trigger’s task id on invoke': {
    args: ['invoke', 'transcode', '--task-id', 'k_videos_0_0000000000000000007'],
    shows: /task id 'k_videos_0_0000000000000000007' is reserved: ids starting with 'k_' are made by the Kafka trigger/,
  },
  'invalid task id on get': { args: ['get', 'transcode', 'my task'], shows: /invalid task id 'my task': it contains ' '/ },
  'invalid task id on stop': { args: ['stop', 'transcode', 'a'.repeat(129)], shows: /it is 129 characters long/ },
  'invalid task id on retry': { args: ['retry', 'transcode', 'x.y'], shows: /invalid task id 'x.y': it contains '.'/ },
  'invalid task id on logs': { args: ['logs', 'transcode', '-'], shows: /invalid task id '-'/ },
  'logs --attempt 0': {
    args: ['logs', 'transcode', 'retried', '--attempt', '0'],
    shows: /--attempt must be an integer of 1 or more, up to the task's attempts so far \(given '0'\)/,
  },
  'logs --attempt x': {
    args: ['logs', 'transcode', 'retried', '--attempt', 'x'],
    shows: /--attempt must be an integer of 1 or more.*\(given 'x'\)/,
  },
  'invalid task id on exec': { args: ['exec', 'transcode', 'x.y', '--', 'pwd'], shows: /invalid task id 'x.y'/ },
  'unknown status name': {
    args: ['list', 'transcode', '--status', 'Running,Sleeping'],
    shows:
      /unknown status 'Sleeping'; allowed: Enqueued, Dequeued, Running, Retrying, Succeeded, Failed, Stopping, Stopped, Expired, Invalid/,
  },
  '--limit 0': {
    args: ['list', 'transcode', '--limit', '0'],
    shows: /--limit must be an integer between 1 and 100 inclusive \(given '0'\)/,
  },
  '--limit 101': { args: ['list', 'transcode', '--limit', '101'], shows: /between 1 and 100 inclusive \(given '101'\)/ },
  '--limit abc': { args: ['list', 'transcode', '--limit', 'abc'], shows: /\(given 'abc'\)/ },
  'bad --since': {
    args: ['list', 'transcode', '--since', 'yesterday'],
    shows: /--since 'yesterday' is not a time expression; use an ISO-8601 time .* or a duration before now \(30s, 15m, 2h, 7d\)/,
  },
  'bad --until': { args: ['list', 'transcode', '--until', '2026-13-45'], shows: /--until '2026-13-45' is not a time expression/ },
  '--since after --until': { args: ['list', 'transcode', '--since', '1h', '--until', '2d'], shows: /since \(.*\) is after until/ },
  'a prefix no id can have': { args: ['list', 'transcode', '--prefix', '9x'], shows: /prefix '9x' can match no task id/ },
  '--payload with --payload-file': {
    args: ['invoke', 'transcode', '--payload', '{}', '--payload-file', 'p.json'],
    shows: /option '--payload <json>' cannot be used with option '--payload-file <file>'/,
  },
  'bad --order': { args: ['list', 'transcode', '--order', 'up'], shows: /argument 'up' is invalid. Allowed choices are asc, desc/ },
  'missing argument': { args: ['get', 'transcode'], shows: /missing required argument 'task-id' \(see asynctask get --help\)/ },
  'unknown option': { args: ['list', 'transcode', '--colour'], shows: /unknown option '--colour'/ },
  'unknown command': { args: ['lst', 'transcode'], shows: /unknown command 'lst'.*list/ },
  'too many arguments': { args: ['stop', 'transcode', 'a', 'b'], shows: /too many arguments/ },
  'no command': { args: [], shows: /a command is required: invoke, get, list, stop, retry, logs, exec, functions, produce, dev/ },
  'bad --port': { args: ['dev', '--port', '70000'], shows: /--port must be an integer between 1 and 65535 inclusive \(given '70000'\)/ },
  'bad --kafka-brokers': {
    args: ['dev', '--kafka-brokers', 'localhost:9092,kafka'],
    shows: /--kafka-brokers must be host:port\[,host:port...\] with ports from 1 to 65535 \(given 'localhost:9092,kafka'; 'kafka' is not\)/,
  },
  'bad --kafka-partitions': {
    args: ['dev', '--kafka-partitions', '0'],
    shows: /--kafka-partitions must be an integer between 1 and 1000 inclusive \(given '0'\)/,
  },
  'produce without a value': { args: ['produce', 'orders'], shows: /produce needs --value V or --file records.jsonl/ },
  'produce with a bad --header': {
    args: ['produce', 'orders', '--value', 'v', '--header', 'x'],
    shows: /--header must be name=value with a non-empty name \(given 'x'\)/,
  },
  'produce with a bad --partition': {
    args: ['produce', 'orders', '--value', 'v', '--partition', '-1'],
    shows: /--partition must be an integer from 0 to 9999 \(given '-1'\)/,
  },
  'produce with --file and --value': {
    args: ['produce', 'orders', '--file', 'r.jsonl', '--value', 'v'],
    shows: /--file takes the records from the file/,
  },
  'produce with a bad --file line': { args: ['produce', 'orders', '--file', 'BAD_JSONL_FILE'], shows: /line 2 is not JSON/ },
};

const HELP: Record<string, string[]> = {
  '': [
    '--endpoint',
    'ASYNCTASK_ENDPOINT',
    '--stack',
    'AsyncTaskDemo',
    '--region',
    'invoke',
    'get',
    'list',
    'stop',
    'retry',
    'logs',
    'exec',
    'functions',
    'produce',
    'dev',
    'console',
    'Exit codes',
  ],
  invoke: ['<function>', '--payload <json>', '--payload-file <file>', '--task-id <id>', '--wait', '--json'],
  get: ['<function>', '<task-id>', '--json'],
  list: [
    '<function>',
    '--status',
    '--since',
    '--until',
    '--prefix',
    '--limit',
    '--order',
    'asc',
    'desc',
    '--next-token',
    '--all',
    '--json',
    '30s, 15m, 2h, 7d',
  ],
  stop: ['<function>', '<task-id>', '--json'],
  retry: ['<function>', '<task-id>', '--json'],
  logs: ['<function>', '<task-id>', '--follow', '--attempt <n>'],
  exec: ['<function>', '<task-id>', '[command...]'],
  functions: ['--json'],
  dev: [
    '--port <n>',
    '4566',
    '--data-dir <dir>',
    '--synth',
    '--kafka-brokers',
    '--kafka-partitions',
    '--demo',
    '--no-demo',
    '--console-port <n>',
    '4567',
    '--no-console',
  ],
  console: ['--port <n>', '4567', '--host <address>', '127.0.0.1'],
  produce: ['<topic>', '--value', '--key', '--partition', '--header', '--file', '--json'],
};

function cases(): Record<string, Case> {
  const all: Record<string, Case> = {
    invoke: { args: ['invoke', 'transcode', '--task-id', 'my1-480P-mp4', '--payload', JSON.stringify(payload)] },
    'invoke --json': { args: ['invoke', 'transcode', '--task-id', 'my2-480P-mp4', '--payload', JSON.stringify(payload), '--json'] },
    'invoke --payload-file': { args: ['invoke', 'transcode', '--task-id', 'fromfile', '--payload-file', path.join(dir, 'payload.json')] },
    'invoke --payload-file -': {
      args: ['invoke', 'transcode', '--task-id', 'fromstdin', '--payload-file', '-'],
      stdin: '{"from":"stdin"}',
    },
    'invoke via ASYNCTASK_ENDPOINT': { args: ['invoke', 'transcode'], target: 'none', env: { ASYNCTASK_ENDPOINT: api.url } },
    'invoke duplicate': { args: ['invoke', 'transcode', '--task-id', 'dup'] },
    'invoke unknown function': { args: ['invoke', 'nofn', '--task-id', 'x1'] },
    'invoke crash': { args: ['invoke', 'transcode', '--task-id', 'crash'] },
    'invoke service error': { args: ['invoke', 'transcode', '--task-id', 'svc'] },
    'invoke unknown error name': { args: ['invoke', 'transcode', '--task-id', 'weird'] },
    'invoke --wait': { args: ['invoke', 'transcode', '--task-id', 'waitok1', '--wait'] },
    'invoke --wait --json': { args: ['invoke', 'transcode', '--task-id', 'waitok2', '--wait', '--json'] },
    'invoke --wait failed': { args: ['invoke', 'transcode', '--task-id', 'waitfail1', '--wait'] },
    'invoke --wait --json failed': { args: ['invoke', 'transcode', '--task-id', 'waitfail2', '--wait', '--json'] },
    get: { args: ['get', 'transcode', 'my1-480P-mp4'] },
    'get --json': { args: ['get', 'transcode', 'my1-480P-mp4', '--json'] },
    'get running': { args: ['get', 'transcode', 'running'] },
    'get missing': { args: ['get', 'transcode', 'missing', '--json'] },
    list: { args: ['list', 'transcode'] },
    'list --all': { args: ['list', 'transcode', '--all'] },
    'list --json': { args: ['list', 'transcode', '--json'] },
    'list --all --json': { args: ['list', 'transcode', '--all', '--json'] },
    'list --next-token': { args: ['list', 'transcode', '--next-token', 'page-2'] },
    'list bad token': { args: ['list', 'transcode', '--next-token', 'forged'] },
    'list filters': {
      args: [
        'list',
        'transcode',
        '--status',
        'Running,Failed',
        '--since',
        '2h',
        '--until',
        '2030-01-01T00:00:00Z',
        '--prefix',
        'filtered',
        '--limit',
        '5',
        '--order',
        'asc',
        '--json',
      ],
    },
    stop: { args: ['stop', 'transcode', 'my3-480P-mp4'] },
    'stop --json': { args: ['stop', 'transcode', 'my3-480P-mp4', '--json'] },
    'stop finished': { args: ['stop', 'transcode', 'done'] },
    retry: { args: ['retry', 'transcode', 'my4-480P-mp4'] },
    'retry --json': { args: ['retry', 'transcode', 'my4-480P-mp4', '--json'] },
    logs: { args: ['logs', 'transcode', 'my1-480P-mp4'] },
    'logs --follow': { args: ['logs', 'transcode', 'follow1', '--follow'] },
    'logs retried': { args: ['logs', 'transcode', 'retried'] },
    'logs --attempt 2': { args: ['logs', 'transcode', 'retried', '--attempt', '2'] },
    'logs --attempt 3': { args: ['logs', 'transcode', 'retried', '--attempt', '3'] },
    'exec finished': { args: ['exec', 'transcode', 'done', '--', 'pwd'] },
    'stop forbidden': { args: ['stop', 'forbidden', 'my1'] },
    'invoke forbidden typed': { args: ['invoke', 'forbidden-typed', '--task-id', 'my1', '--json'] },
    'list forbidden --all': { args: ['list', 'forbidden', '--all'] },
    'legacy stack: functions': { args: ['--stack', LEGACY_STACK, 'functions', '--json'] },
    'legacy stack: invoke crash': { args: ['--stack', LEGACY_STACK, 'invoke', 'transcode', '--task-id', 'crash'] },
    functions: { args: ['functions'] },
    'functions --json': { args: ['functions', '--json'] },
    'missing stack': { args: ['--stack', 'Nope', '--region', 'eu-west-1', 'functions'] },
    'stack without output': { args: ['--stack', STACK_WITHOUT_OUTPUT, 'functions'] },
    'unreachable endpoint': { args: ['functions'], target: 'none', env: { ASYNCTASK_ENDPOINT: 'http://127.0.0.1:1' } },
    dev: {
      args: ['dev', '--port', '4600', '--data-dir', 'state', '--synth'],
      target: 'none',
      env: { ASYNCTASK_DEV_MODULE: path.join(ROOT, 'test', 'cli', 'fake-dev') },
    },
    'dev --kafka-brokers': {
      args: ['dev', '--kafka-brokers', '127.0.0.1:9092, 127.0.0.1:9093', '--kafka-partitions', '6'],
      target: 'none',
      env: { ASYNCTASK_DEV_MODULE: path.join(ROOT, 'test', 'cli', 'fake-dev') },
    },
    'dev --stack': {
      args: ['--stack', 'AsyncTaskService', 'dev'],
      target: 'none',
      env: { ASYNCTASK_DEV_MODULE: path.join(ROOT, 'test', 'cli', 'fake-dev') },
    },
    'dev --demo': { args: ['dev', '--demo'], target: 'none', env: { ASYNCTASK_DEV_MODULE: path.join(ROOT, 'test', 'cli', 'fake-dev') } },
    'dev --no-demo': {
      args: ['dev', '--no-demo'],
      target: 'none',
      env: { ASYNCTASK_DEV_MODULE: path.join(ROOT, 'test', 'cli', 'fake-dev') },
    },
    'dev without a local runtime': { args: ['dev'], target: 'none', env: { ASYNCTASK_DEV_MODULE: path.join(dir, 'no-such-dev') } },
  };
  for (const [name, bad] of Object.entries(BAD_INPUT)) {
    const args = bad.args.map((a) =>
      a === 'BAD_JSON_FILE'
        ? path.join(dir, 'bad.json')
        : a === 'BIG_FILE'
          ? path.join(dir, 'big.json')
          : a === 'BAD_JSONL_FILE'
            ? path.join(dir, 'bad.jsonl')
            : a,
    );
    all[`bad: ${name}`] = { args, target: 'guard' };
  }
  for (const command of Object.keys(HELP)) {
    all[`help: ${command}`] = { args: command ? [command, '--help'] : ['--help'], target: 'none' };
  }
  return all;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'asynctask-cli-'));
  writeFileSync(path.join(dir, 'payload.json'), JSON.stringify({ from: 'file' }));
  writeFileSync(path.join(dir, 'bad.json'), '{"bucket": my-bucket}');
  writeFileSync(path.join(dir, 'bad.jsonl'), '{"value": "a"}\n{value: b}\n');
  writeFileSync(path.join(dir, 'big.json'), JSON.stringify({ data: 'x'.repeat(130 * 1024) }));
  [api, guard] = await Promise.all([startFakeTaskApi(), startFakeTaskApi()]);
  const queue = Object.entries(cases());
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      results.set(next[0], await runCli(next[1]));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}, 120_000);

afterAll(async () => {
  await Promise.all([api?.close(), guard?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function result(name: string): Run {
  const run = results.get(name);
  if (!run) throw new Error(`no run named '${name}'`);
  return run;
}

/** Exit code, empty stdout, and exactly one stderr line matching `message`. */
function expectError(name: string, code: number, message: RegExp): void {
  const run = result(name);
  expect({ code: run.code, stdout: run.stdout }).toEqual({ code, stdout: '' });
  expect(run.stderr).toMatch(/^asynctask: [^\n]+\n$/);
  expect(run.stderr).toMatch(message);
}

function expectOk(name: string): Run {
  const run = result(name);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  return run;
}

/** The TaskApi requests the fake received, over the REST API or the Lambda path. */
function requests(calls: readonly FakeCall[] = api.calls): TaskApiRequest[] {
  return calls.flatMap((c) => (c.service !== 'cloudformation' && c.request ? [c.request] : []));
}

function submitted(taskId: string): SubmitRequest | undefined {
  return requests().find((r): r is SubmitRequest => r.op === 'submit' && r.taskId === taskId);
}

describe('invoke', () => {
  it('prints the task id and request id', () => {
    expect(expectOk('invoke').stdout).toBe(
      'transcode/my1-480P-mp4 async invoke success.\ntask id: my1-480P-mp4\nrequest id: req-my1-480P-mp4\n',
    );
    expect(submitted('my1-480P-mp4')).toEqual({ op: 'submit', functionName: 'transcode', taskId: 'my1-480P-mp4', payload });
  });

  it('--json prints only the task record', () => {
    const record = JSON.parse(expectOk('invoke --json').stdout) as TaskRecord;
    expect(record).toMatchObject({
      taskId: 'my2-480P-mp4',
      functionName: 'transcode',
      status: 'Enqueued',
      requestId: 'req-my2-480P-mp4',
      taskPayload: payload,
    });
  });

  it('reads the payload from --payload-file, and from stdin with -', () => {
    expectOk('invoke --payload-file');
    expectOk('invoke --payload-file -');
    expect(submitted('fromfile')?.payload).toEqual({ from: 'file' });
    expect(submitted('fromstdin')?.payload).toEqual({ from: 'stdin' });
  });

  it('takes the endpoint from ASYNCTASK_ENDPOINT and lets the service generate the id', () => {
    expect(expectOk('invoke via ASYNCTASK_ENDPOINT').stdout).toContain('task id: generated_1\n');
  });

  it('finds the REST API through the stack output TaskApiUrl and signs every call with SigV4 (test/test locally)', () => {
    expect(api.calls).toContainEqual({ service: 'cloudformation', action: 'DescribeStacks', stackName: 'AsyncTaskDemo' });
    const http = api.calls.filter((c) => c.service === 'http');
    expect(http.length).toBeGreaterThan(20);
    for (const call of http) {
      expect(call.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=test\/\d{8}\/us-east-1\/execute-api\/aws4_request, SignedHeaders=\S*host\S*, Signature=[0-9a-f]{64}$/,
      );
    }
    // The stack has both outputs: only the legacy stack's calls go to the function (the CLI
    // cases run as concurrent processes, so in either order).
    expect(
      api.calls
        .filter((c) => c.service === 'lambda')
        .map((c) => c.request.op)
        .sort(),
    ).toEqual(['functions', 'submit']);
  });

  it('fails with exit 4 on a duplicate task id', () => {
    expectError('invoke duplicate', 4, /task 'dup' of function 'transcode' already exists/);
  });

  it('fails with exit 3 on an unknown function', () => {
    expectError('invoke unknown function', 3, /task function 'nofn' does not exist/);
  });

  it('fails with exit 1 when the TaskApi crashes, reports a ServiceError or an unknown error', () => {
    expectError(
      'invoke crash',
      1,
      new RegExp(
        `the TaskApi at http://127\\.0\\.0\\.1:\\d+/restapis/${API_ID}/v1/_user_request_/ answered POST /functions/transcode/tasks with HTTP 502 and no TaskApi response: Internal server error`,
      ),
    );
    expectError('invoke service error', 1, /StartExecution failed: throttled/);
    expectError('invoke unknown error name', 1, /SomethingNew: an error this client does not know/);
  });

  it('--wait waits for Succeeded and prints the record', () => {
    const { stdout } = expectOk('invoke --wait');
    expect(stdout).toMatch(/^transcode\/waitok1 async invoke success\.\ntask id: waitok1\nrequest id: req-waitok1\n/);
    expect(stdout).toMatch(/status: +Succeeded\n/);
    expect(stdout).toContain('result:     {"output":"s3://my-bucket/a/480P.mov"}');
  });

  it('--wait --json prints only the final record', () => {
    expect(JSON.parse(expectOk('invoke --wait --json').stdout)).toMatchObject({ taskId: 'waitok2', status: 'Succeeded' });
  });

  it('--wait exits 5 when the task ends other than Succeeded', () => {
    const run = result('invoke --wait failed');
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/status: +Failed\n/);
    expect(run.stderr).toBe("asynctask: task 'waitfail1' of function 'transcode' ended Failed: ffmpeg exited 1\n");
    const json = result('invoke --wait --json failed');
    expect(json.code).toBe(5);
    expect(JSON.parse(json.stdout)).toMatchObject({ taskId: 'waitfail2', status: 'Failed', alreadyRetriedTimes: 2 });
  });
});

describe('get', () => {
  it('prints the record', () => {
    const { stdout } = expectOk('get');
    expect(stdout).toMatch(/^task id: +my1-480P-mp4\nfunction: +transcode\nstatus: +Succeeded\nrequest id: +req-my1-480P-mp4\n/);
    expect(stdout).toContain('duration:   1.5s');
  });

  it('prints the cost block: the total, orchestration and compute with their counts, the notes', () => {
    const { stdout } = expectOk('get');
    expect(stdout).toMatch(
      /^cost: +\$0\.\d+ \(estimate, us-east-1, list prices \d{4}-\d{2} \(us-east-1 unless the region has its own row\)\)$/m,
    );
    // A container task's success path: Run, LoadResult, MarkSucceeded; the helper's write and read; S3 put + get.
    expect(stdout).toMatch(/^ {2}orchestration +\$0\.\d+ +3 transitions, 3 writes \(11 WRU\), 0\.5 RRU, 1 Lambda request, 2 S3$/m);
    // 1.4 s of run time is billed Fargate's one-minute minimum, at 2 vCPU and 4 GB.
    expect(stdout).toMatch(/^ {2}compute +\$0\.\d+ +fargate, 1 attempt, 60 s, 120 vCPU-s, 240 GB-s$/m);
    expect(stdout).toMatch(/^ {2}note: Fargate run time from the record's events/m);
    expect(JSON.parse(expectOk('get --json').stdout).cost).toMatchObject({ currency: 'USD', orchestration: { transitions: 3 } });
  });

  it('--json prints only the record', () => {
    expect(JSON.parse(expectOk('get --json').stdout)).toMatchObject({
      taskId: 'my1-480P-mp4',
      status: 'Succeeded',
      returnPayload: { ok: true },
    });
  });

  it("shows a running task's progress (a bar only on a terminal)", () => {
    expect(expectOk('get running').stdout).toContain('progress:   40% pass 1\n');
  });

  it('fails with exit 3 on an unknown task, with nothing on stdout even with --json', () => {
    expectError('get missing', 3, /task 'missing' of function 'transcode' does not exist/);
  });
});

describe('list', () => {
  it('prints an aligned table and the next token', () => {
    const lines = expectOk('list').stdout.split('\n');
    expect(lines[0]).toMatch(/^TASK ID +STATUS +STARTED +DURATION +ATTEMPTS +COST$/);
    expect(lines[1]).toMatch(/^my2-480P-mp4 +Running +2026-11-25T12:00:00Z +1\.5s +2 +\$0\.0000\d+$/);
    expect(lines[2]).toMatch(/^my1-480P-mp4 +Succeeded +2026-11-25T12:00:00Z +1m05s +1 +\$0\.0000\d+$/);
    expect(lines[3]).toBe('next page: --next-token page-2');
    for (const column of ['STATUS', 'STARTED', 'DURATION', 'ATTEMPTS', 'COST']) {
      const at = lines[0].indexOf(column);
      expect(lines[1][at - 1]).toBe(' ');
      expect(lines[1][at]).not.toBe(' ');
    }
    // Not a terminal: no colour codes.
    expect(lines.join('\n')).not.toContain('\u001b[');
  });

  it('--all follows the next tokens', () => {
    const { stdout } = expectOk('list --all');
    expect(stdout.match(/^my\d-480P-mp4/gm)).toEqual(['my2-480P-mp4', 'my1-480P-mp4', 'my0-480P-mp4']);
    expect(stdout).not.toContain('next page');
  });

  it("--json prints { tasks, nextToken, totalCostUsd }: the sum of the tasks' estimates", () => {
    type Page = { tasks: TaskRecord[]; nextToken: string | null; totalCostUsd: number };
    const page = JSON.parse(expectOk('list --json').stdout) as Page;
    expect(page.tasks.map((t) => t.taskId)).toEqual(['my2-480P-mp4', 'my1-480P-mp4']);
    expect(page.nextToken).toBe('page-2');
    expect(page.tasks.every((t) => t.cost?.estimate === true)).toBe(true);
    const sum = (tasks: TaskRecord[]) => tasks.reduce((total, t) => total + (t.cost?.totalUsd ?? 0), 0);
    expect(page.totalCostUsd).toBeGreaterThan(0);
    expect(page.totalCostUsd).toBeCloseTo(sum(page.tasks), 12);
    const all = JSON.parse(expectOk('list --all --json').stdout) as Page;
    expect(all.tasks).toHaveLength(3);
    expect(all.nextToken).toBeNull();
    expect(all.totalCostUsd).toBeCloseTo(sum(all.tasks), 12);
    expect(all.totalCostUsd).toBeGreaterThan(page.totalCostUsd);
  });

  it('--next-token asks for that page', () => {
    expect(expectOk('list --next-token').stdout).toMatch(/^TASK ID.*\nmy0-480P-mp4 +Failed .* 3 +\$0\.\d+\n$/);
    expectError('list bad token', 2, /nextToken 'forged' is not a token this service gave/);
  });

  it('sends every filter, times resolved to epoch milliseconds', () => {
    expectOk('list filters');
    const request = requests().find((r): r is ListRequest => r.op === 'list' && r.prefix === 'filtered') as ListRequest;
    expect(request).toEqual({
      op: 'list',
      functionName: 'transcode',
      status: ['Running', 'Failed'],
      since: expect.any(Number),
      until: Date.parse('2030-01-01T00:00:00Z'),
      prefix: 'filtered',
      limit: 5,
      order: 'asc',
    });
    expect(Math.abs(Date.now() - 2 * 3_600_000 - (request.since ?? 0))).toBeLessThan(120_000);
  });
});

describe('stop and retry', () => {
  it('stop prints the new status; --json the record', () => {
    expect(expectOk('stop').stdout).toBe('task my3-480P-mp4: Stopping\n');
    expect(JSON.parse(expectOk('stop --json').stdout)).toMatchObject({ taskId: 'my3-480P-mp4', status: 'Stopping' });
  });

  it('stop of a finished task exits 1 naming its status', () => {
    expectError('stop finished', 1, /task 'done' is Succeeded; only Enqueued, Dequeued, Running or Retrying/);
  });

  it('retry prints the new attempt; --json the record', () => {
    expect(expectOk('retry').stdout).toBe('task my4-480P-mp4: Enqueued\nrequest id: req-my4-480P-mp4-retry\n');
    expect(JSON.parse(expectOk('retry --json').stdout)).toMatchObject({ taskId: 'my4-480P-mp4', status: 'Enqueued' });
  });
});

describe('logs and functions', () => {
  it('logs prints timestamped lines', () => {
    expect(expectOk('logs').stdout).toBe('2026-11-25T12:00:01Z hello\n2026-11-25T12:00:02Z bye\n');
  });

  it('logs --follow streams until the task ends', () => {
    expect(expectOk('logs --follow').stdout).toBe(
      '2026-11-25T12:00:01Z frame=1\n2026-11-25T12:00:02Z frame=2\n2026-11-25T12:00:03Z done\n',
    );
  });

  it('logs prints every attempt in order, each under a header; --attempt one', () => {
    expect(expectOk('logs retried').stdout).toBe('── attempt 1 ──\n2026-11-25T12:00:01Z boom\n── attempt 2 ──\n2026-11-25T12:00:05Z ok\n');
    expect(expectOk('logs --attempt 2').stdout).toBe('── attempt 2 ──\n2026-11-25T12:00:05Z ok\n');
  });

  it('fails if --attempt is beyond the attempts so far', () => {
    expectError(
      'logs --attempt 3',
      2,
      /attempt must be an integer between 1 and 2 inclusive: task 'retried' has had 2 attempt\(s\) \(given 3\)/,
    );
  });

  it('fails if exec names a finished task', () => {
    expectError('exec finished', 1, /task 'done' is Succeeded; exec needs a Running container task/);
  });

  it('functions prints a table; --json an array', () => {
    const lines = expectOk('functions').stdout.split('\n');
    expect(lines[0]).toMatch(/^NAME +KIND +ORCHESTRATION +RETRIES +MAX EVENT AGE +TIMEOUT +CONCURRENCY +DESCRIPTION$/);
    expect(lines[1]).toMatch(/^transcode +container +standard +2 +5h00m +2h00m +- +FFmpeg transcoding$/);
    expect(JSON.parse(expectOk('functions --json').stdout)).toEqual(FUNCTIONS);
  });
});

describe('locating the TaskApi', () => {
  it('fails if the stack does not exist, naming stack and region', () => {
    expectError('missing stack', 1, /stack 'Nope' does not exist in region eu-west-1 at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('fails if the stack has neither a TaskApiUrl nor a TaskApiFunctionName output', () => {
    expectError(
      'stack without output',
      1,
      /stack 'NotAsyncTask' in region us-east-1 .* has no output 'TaskApiUrl' nor 'TaskApiFunctionName' \(its outputs: BucketName\)/,
    );
  });

  it('invokes the TaskApi function of a stack without TaskApiUrl (deployed before the REST API)', () => {
    expect(JSON.parse(expectOk('legacy stack: functions').stdout)).toEqual(FUNCTIONS);
    expectError('legacy stack: invoke crash', 1, /the TaskApi function '.*' failed \(Unhandled\): TypeError: x is undefined/);
    expect(api.calls.filter((c) => c.service === 'lambda' && c.functionName !== TASK_API)).toEqual([]);
  });
});

describe('access denied', () => {
  it("exits 6 on API Gateway's IAM 403, naming the function, the action and IAM's message", () => {
    expectError(
      'stop forbidden',
      6,
      new RegExp(
        `^asynctask: AccessDenied: not allowed to stop tasks of function 'forbidden' \\(POST /functions/forbidden/tasks/my1/stop\\): ${escapeRegExp(IAM_DENIAL('POST', '/functions/forbidden/tasks/my1/stop'))}\n$`,
      ),
    );
  });

  it('exits 6 on a typed AccessDenied body too, with nothing on stdout even with --json', () => {
    expectError(
      'invoke forbidden typed',
      6,
      /^asynctask: AccessDenied: not allowed to submit tasks to function 'forbidden-typed' \(POST \/functions\/forbidden-typed\/tasks\): User: arn:aws:iam::123456789012:user\/alice is not authorized/,
    );
    expectError(
      'list forbidden --all',
      6,
      /AccessDenied: not allowed to list the tasks of function 'forbidden' \(GET \/functions\/forbidden\/tasks\)/,
    );
  });

  it('fails with exit 1 when the endpoint cannot be reached', () => {
    expectError(
      'unreachable endpoint',
      1,
      /cannot describe stack 'AsyncTaskDemo' in region us-east-1 at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/,
    );
  });
});

describe('dev', () => {
  it('calls runDev of the local runtime with port, data dir, synth and cwd, and exits with its code', () => {
    const run = result('dev');
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 7, stderr: '' });
    expect(JSON.parse(run.stdout)).toEqual({ port: 4600, dataDir: path.join(ROOT, 'state'), synth: true, cwd: ROOT });
  });

  it('passes --kafka-brokers as a list and --kafka-partitions as a number', () => {
    expect(JSON.parse(result('dev --kafka-brokers').stdout)).toMatchObject({
      kafkaBrokers: ['127.0.0.1:9092', '127.0.0.1:9093'],
      kafkaPartitions: 6,
    });
  });

  it('runs only the stack named with --stack (and what it depends on); every stack when none is named', () => {
    const run = result('dev --stack');
    expect(JSON.parse(run.stdout)).toMatchObject({ stackName: 'AsyncTaskService' });
    expect(JSON.parse(result('dev').stdout)).not.toHaveProperty('stackName');
  });

  it('passes --demo as demo: true, --no-demo as demo: false, and no demo option without either (a first start decides)', () => {
    expect(JSON.parse(result('dev --demo').stdout)).toMatchObject({ demo: true });
    expect(JSON.parse(result('dev --no-demo').stdout)).toMatchObject({ demo: false });
    expect(JSON.parse(result('dev').stdout)).not.toHaveProperty('demo');
  });

  it('says so and exits 1 when the local runtime is not available', () => {
    expectError('dev without a local runtime', 1, /the local runtime is not available/);
  });
});

describe('bad input', () => {
  it.each(Object.entries(BAD_INPUT))('fails if given %s: exit 2, one line', (name, { shows }) => {
    expectError(`bad: ${name}`, 2, shows);
  });

  it('makes no call at all', () => {
    expect(guard.calls).toEqual([]);
  });
});

describe('--help', () => {
  it.each(Object.entries(HELP))("'asynctask %s --help' documents every option", (command, words) => {
    const { stdout } = expectOk(`help: ${command}`);
    expect(stdout).toMatch(new RegExp(`^Usage: asynctask ${command}`));
    for (const word of words) expect(stdout).toContain(word);
    if (command !== '') {
      for (const global of ['--endpoint <url>', '--stack <name>', '--region <region>']) expect(stdout).toContain(global);
    }
  });
});
