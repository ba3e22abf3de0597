/**
 * The console's Hono app without a browser: `app.request()` against a real AsyncTaskClient whose
 * Lambda, CloudFormation and SQS clients are mocked (aws-sdk-client-mock), answering TaskApi calls
 * from a small fake. Escaping, the CSP, CSRF (token and origin), GETs that change nothing, filters
 * from the URL, bad input, the problem pages of a wrong stack, missing credentials and an
 * unreachable endpoint, typed refusals, bulk plans run once, dead letters and the server's port.
 */
import 'aws-sdk-client-mock-jest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, type InvokeCommandInput, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { AsyncTaskClient } from '../../client/client';
import { createConsoleApp } from '../../console/app';
import { suggestTaskId } from '../../console/pages/dead-letters';
import { startConsole } from '../../console/server';
import {
  ALL_STATUSES,
  buildDestinationRecord,
  estimateTaskCost,
  formatUsd,
  type TaskCost,
  type TaskApiRequest,
  type TaskFunctionSummary,
  type TaskRecord,
  type TaskStats,
  type TaskStatus,
  validateNewTaskId,
} from '../../lambda/model';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const lambda = mockClient(LambdaClient);
const cloudFormation = mockClient(CloudFormationClient);
const sqs = mockClient(SQSClient);

const NOW = Date.parse('2026-11-25T12:00:00.000Z');
const TOKEN = 'a'.repeat(64);
const ORIGIN = 'http://localhost';
const QUEUE_URL = 'http://127.0.0.1:4566/000000000000/transcode-failed';
const QUEUE_ARN = 'arn:aws:sqs:us-east-1:000000000000:transcode-failed';
const RUNNER_ARN = 'arn:aws:ecs:us-east-1:000000000000:task-definition/transcode:1';
const HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(1)>';

const FUNCTIONS: TaskFunctionSummary[] = [
  {
    name: 'transcode',
    kind: 'container',
    maxRetryAttempts: 2,
    maxEventAgeSeconds: 18_000,
    timeoutSeconds: 7_200,
    maxConcurrency: 3,
    stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:transcode',
    runnerArn: RUNNER_ARN,
    onFailure: QUEUE_ARN,
    onFailureDestination: { type: 'sqs', arn: QUEUE_ARN, url: QUEUE_URL },
    triggers: [{ type: 'kafka', topics: ['videos'], cluster: 'b-1:9092', batchSize: 10, mode: 'record' }],
  },
  {
    name: 'notify',
    kind: 'lambda',
    maxRetryAttempts: 0,
    maxEventAgeSeconds: 3600,
    timeoutSeconds: 60,
    stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:notify',
    runnerArn: 'arn:aws:lambda:us-east-1:000000000000:function:notify',
    onFailure: 'arn:aws:sns:us-east-1:000000000000:alarms',
    onFailureDestination: { type: 'sns', arn: 'arn:aws:sns:us-east-1:000000000000:alarms' },
  },
];

function task(taskId: string, status: TaskStatus, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId,
    functionName: 'transcode',
    requestId: `req-${taskId}`,
    status,
    taskPayload: { object: '480P.mp4' },
    alreadyRetriedTimes: 0,
    startedTime: NOW - 60_000,
    durationMs: 60_000,
    events: [{ status: 'Enqueued', timestamp: NOW - 60_000 }],
    ...extra,
  };
}

function stats(functionName: string, counts: Partial<Record<TaskStatus, number>> = {}): TaskStats {
  const all = Object.fromEntries(ALL_STATUSES.map((s) => [s, counts[s] ?? 0])) as Record<TaskStatus, number>;
  return {
    functionName,
    since: NOW - 86_400_000,
    until: NOW,
    counts: all,
    total: Object.values(all).reduce((a, b) => a + b, 0),
    runningNow: all.Running,
    activeNow: all.Running + all.Enqueued,
    successRate: 0.75,
    durationMs: { p50: 1500, p95: 65_000, samples: 4, sampled: false },
  };
}

type Handler = (request: TaskApiRequest) => unknown;
/** The fake TaskApi's answers by op; a `wire(name, message)` value answers with that typed error. */
let handlers: Partial<Record<TaskApiRequest['op'], Handler>>;

class Wire {
  public constructor(
    public readonly name: string,
    public readonly message: string,
  ) {}
}
const wire = (name: string, message: string) => new Wire(name, message);

function bytes(value: unknown): InvokeCommandOutput['Payload'] {
  return new TextEncoder().encode(JSON.stringify(value)) as InvokeCommandOutput['Payload'];
}

function serveTaskApi(): void {
  lambda.on(InvokeCommand).callsFake((input: InvokeCommandInput) => {
    const request = JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array)) as TaskApiRequest;
    const handler = handlers[request.op];
    if (!handler) throw new Error(`the fake TaskApi has no answer for '${request.op}'`);
    const answer = handler(request);
    if (answer instanceof Wire)
      return { StatusCode: 200, Payload: bytes({ ok: false, error: { name: answer.name, message: answer.message } }) };
    return { StatusCode: 200, Payload: bytes({ ok: true, result: answer }) };
  });
}

/** Every TaskApi request made, in order. */
function requests(): TaskApiRequest[] {
  return lambda.commandCalls(InvokeCommand).map((c) => JSON.parse(new TextDecoder().decode(c.args[0].input.Payload as Uint8Array)));
}

function ops(): string[] {
  return requests().map((r) => r.op);
}

function newClient(options: { functionName?: string } = { functionName: 'AsyncTaskDemo-TaskApi' }): AsyncTaskClient {
  return new AsyncTaskClient({
    region: 'us-east-1',
    ...(options.functionName ? { functionName: options.functionName } : {}),
    stack: 'AsyncTaskDemo',
    lambdaClient: new LambdaClient({ region: 'us-east-1' }),
    cloudFormationClient: new CloudFormationClient({ region: 'us-east-1' }),
    sqsClient: new SQSClient({ region: 'us-east-1' }),
  });
}

function app(client: AsyncTaskClient = newClient(), extra: Partial<Parameters<typeof createConsoleApp>[0]> = {}) {
  return createConsoleApp({ client, label: 'local runtime at http://127.0.0.1:4566', now: () => NOW, csrfToken: TOKEN, ...extra });
}

function form(fields: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
  return params.toString();
}

function post(path: string, fields: Record<string, string | string[]>, headers: Record<string, string> = { origin: ORIGIN }) {
  return [
    path,
    { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form(fields) },
  ] as const;
}

beforeEach(() => {
  lambda.reset();
  cloudFormation.reset();
  sqs.reset();
  handlers = {
    functions: () => FUNCTIONS,
    stats: (r) => stats((r as { functionName: string }).functionName, { Succeeded: 3, Failed: 1, Running: 2 }),
    list: () => ({
      tasks: [task('my1-480P-mp4', 'Succeeded'), task('my2-480P-mp4', 'Running', { progress: { percent: 40, message: 'encoding' } })],
    }),
    get: (r) => task((r as { taskId: string }).taskId, 'Running', { progress: { percent: 40 } }),
    logs: () => ({ events: [{ timestamp: NOW - 1000, message: 'frame 10', attempt: 1 }], status: 'Running', attempt: 1, attempts: 1 }),
  };
  serveTaskApi();
  sqs
    .on(GetQueueAttributesCommand)
    .resolves({ Attributes: { QueueArn: QUEUE_ARN, ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' } });
  sqs.on(ReceiveMessageCommand).resolves({ Messages: [] });
});

describe('pages are safe to show user data', () => {
  it('sends a strict Content-Security-Policy and no-store with pages, error pages and JSON', async () => {
    const a = app();
    for (const path of ['/', '/no/such/page', '/functions/transcode?status=Bogus', '/api/functions/transcode/tasks/my1']) {
      const res = await a.request(path);
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
      );
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('escapes payload, result, error, progress, events and logs on the task page', async () => {
    handlers.get = (r) =>
      task((r as { taskId: string }).taskId, 'Failed', {
        taskPayload: { note: HOSTILE },
        returnPayload: HOSTILE,
        taskErrorMessage: HOSTILE,
        progress: { percent: 50, message: HOSTILE },
        events: [{ status: 'Failed', timestamp: NOW, detail: HOSTILE, caller: HOSTILE }],
        runnerId: HOSTILE,
        source: { type: 'sqs', queue: HOSTILE, messageIds: [HOSTILE] },
        destinationStatus: 'Succeeded',
        alreadyRetriedTimes: 0,
      });
    handlers.logs = () => ({ events: [{ timestamp: NOW, message: HOSTILE, attempt: 1 }], status: 'Failed', attempt: 1, attempts: 1 });
    const res = await app().request('/functions/transcode/tasks/xss1');
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(body).not.toContain('<script>alert(1)');
    expect(body).not.toContain('<img src=x');
    expect(body).not.toContain('onerror=alert(1)>');
    expect(body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;');
    // The only script is the console's own.
    expect(body.match(/<script/g)).toEqual(['<script']);
    expect(body).toContain('<script src="/assets/console.js" defer></script>');
    // The destination record is rebuilt with the model's builder and shown (escaped) too.
    expect(body).toMatch(/id="destination-record"[^>]*>[^<]*&quot;condition&quot;: &quot;RetriesExhausted&quot;/);
  });

  it('shows who caused each event that a caller caused in #events', async () => {
    const alice = 'arn:aws:iam::123456789012:user/alice';
    handlers.get = (r) =>
      task((r as { taskId: string }).taskId, 'Stopped', {
        events: [
          { status: 'Enqueued', timestamp: NOW - 2000, detail: 'submitted', caller: alice },
          { status: 'Stopping', timestamp: NOW - 1000, detail: 'stop requested', caller: 'lambda:Invoke' },
          { status: 'Stopped', timestamp: NOW },
        ],
      });
    const body = await (await app().request('/functions/transcode/tasks/audit1')).text();
    const events = body.slice(body.indexOf('<ol id="events"'), body.indexOf('</ol>', body.indexOf('<ol id="events"')));
    const items = events.split('<li').slice(1);
    expect(items).toHaveLength(3);
    expect(items[0]).toContain(`<span class="caller">by <code>${alice}</code></span>`);
    expect(items[1]).toContain('<span class="caller">by <code>lambda:Invoke</code></span>');
    expect(items[2]).not.toContain('class="caller"');
  });

  it('escapes the live rows fragment', async () => {
    handlers.list = () => ({
      tasks: [
        task('xss2', 'Running', {
          progress: { percent: 10, message: HOSTILE },
          source: { type: 'kafka', topic: HOSTILE, partition: 0, firstOffset: 1, lastOffset: 2 },
        }),
      ],
    });
    const res = await app().request('/functions/transcode?fragment=rows');
    const body = await res.text();
    expect(body).toMatch(/^<tbody id="task-rows" data-live="true"/);
    expect(body).not.toContain('<script');
    expect(body).not.toContain('<img');
    expect(body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('serves its CSS and JS from the package, and nothing else from /assets', async () => {
    const a = app();
    const css = await a.request('/assets/console.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toContain('prefers-color-scheme: dark');
    const js = await a.request('/assets/console.js');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).not.toMatch(/innerHTML/);
    expect((await a.request('/assets/..%2Fapp.ts')).status).toBe(404);
  });
});

describe('state-changing requests', () => {
  const stopPath = '/functions/transcode/tasks/my2-480P-mp4/stop';

  beforeEach(() => {
    handlers.stop = (r) => task((r as { taskId: string }).taskId, 'Stopping');
  });

  it('fails if the CSRF token is missing: 403 saying why, and nothing called', async () => {
    const res = await app().request(...post(stopPath, {}));
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('InvalidCsrfToken');
    expect(ops()).toEqual([]);
  });

  it('fails if the CSRF token is wrong: 403, nothing called', async () => {
    const res = await app().request(...post(stopPath, { _csrf: 'b'.repeat(64) }));
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('the request’s CSRF token is not this console’s');
    expect(ops()).toEqual([]);
  });

  it('fails if the request comes from another origin, even with the token: 403, nothing called', async () => {
    const res = await app().request(...post(stopPath, { _csrf: TOKEN }, { origin: 'http://evil.example' }));
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('another origin (http://evil.example)');
    expect(ops()).toEqual([]);
  });

  it('fails if a page without an Origin posts a form: 403', async () => {
    const res = await app().request(...post(stopPath, { _csrf: TOKEN }, {}));
    expect(res.status).toBe(403);
    expect(ops()).toEqual([]);
  });

  it('fails if the Host is not the console’s (DNS rebinding): 403, nothing called', async () => {
    const a = app(newClient(), { allowedHosts: () => ['127.0.0.1:4567'] });
    const res = await a.request('http://rebound.example:4567/', { headers: { host: 'rebound.example:4567' } });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('UnknownHost');
    expect(ops()).toEqual([]);
    expect((await a.request('http://127.0.0.1:4567/', { headers: { host: '127.0.0.1:4567' } })).status).toBe(200);
  });

  it('stops with the page’s own token and origin: 303 to the task page with a notice', async () => {
    const a = app(newClient(), { csrfToken: undefined });
    const page = await (await a.request('/functions/transcode/tasks/my2-480P-mp4')).text();
    const token = /name="_csrf" value="([0-9a-f]{64})"/.exec(page)?.[1];
    expect(token).toBeDefined();
    lambda.resetHistory();
    const res = await a.request(...post(stopPath, { _csrf: token as string }));
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/functions/transcode/tasks/my2-480P-mp4?done=stop');
    expect(requests()).toEqual([{ op: 'stop', functionName: 'transcode', taskId: 'my2-480P-mp4' }]);
    const after = await (await a.request('/functions/transcode/tasks/my2-480P-mp4?done=stop')).text();
    expect(after).toContain('<div class="notice" role="status" id="notice">Stop requested');
  });

  it('accepts the token as an x-csrf-token header (fetch POSTs)', async () => {
    const res = await app().request(stopPath, { method: 'POST', headers: { origin: ORIGIN, 'x-csrf-token': TOKEN } });
    expect(res.status).toBe(303);
    expect(ops()).toEqual(['stop']);
  });

  it('shows a typed refusal in #action-error with its name and message (409)', async () => {
    handlers.stop = () => wire('InvalidTaskState', "task 'my2-480P-mp4' is Succeeded; stop needs Enqueued, Dequeued, Running or Retrying");
    const res = await app().request(...post(stopPath, { _csrf: TOKEN }));
    expect(res.status).toBe(409);
    const body = await res.text();
    expect(body).toContain(
      '<div class="alert" role="alert" id="action-error"><strong class="error-name">InvalidTaskState</strong>: <span class="error-message">task &#39;my2-480P-mp4&#39; is Succeeded;',
    );
  });

  it('never changes anything on a GET, and POST-only routes do not answer GETs', async () => {
    handlers.stop = () => {
      throw new Error('a GET stopped a task');
    };
    const a = app();
    for (const path of [
      '/',
      '/?window=7d',
      '/functions/transcode',
      '/functions/transcode?fragment=rows',
      '/functions/transcode/submit',
      '/functions/transcode/tasks/my2-480P-mp4',
      '/functions/transcode/dead-letters',
      '/api/functions/transcode/tasks/my2-480P-mp4',
      '/api/functions/transcode/tasks/my2-480P-mp4/logs',
    ]) {
      expect([path, (await a.request(path)).status]).toEqual([path, 200]);
    }
    for (const path of [
      '/functions/transcode/tasks/my2-480P-mp4/stop',
      '/functions/transcode/tasks/my2-480P-mp4/retry',
      '/functions/transcode/bulk',
    ]) {
      expect([path, (await a.request(path)).status]).toEqual([path, 404]);
    }
    expect(new Set(ops())).toEqual(new Set(['functions', 'stats', 'list', 'get', 'logs']));
    expect(sqs).not.toHaveReceivedCommand(DeleteMessageCommand);
    expect(sqs).not.toHaveReceivedCommand(SendMessageCommand);
  });
});

/** A container task that succeeded after 10 minutes, with the estimate the TaskApi adds. */
function costed(taskId: string, extraNotes: readonly string[] = []): TaskRecord {
  const record = task(taskId, 'Succeeded', {
    endTime: NOW,
    events: [
      { status: 'Enqueued', timestamp: NOW - 660_000 },
      { status: 'Running', timestamp: NOW - 600_000 },
      { status: 'Succeeded', timestamp: NOW },
    ],
  });
  const cost = estimateTaskCost(record, { kind: 'container', compute: { cpu: 2048, memoryMiB: 4096 } }, 'us-east-1');
  return { ...record, cost: { ...cost, notes: [...cost.notes, ...extraNotes] } };
}

describe('functions page', () => {
  it('shows each function’s orchestration: standard (its state machine) or economy', async () => {
    handlers.functions = () => [FUNCTIONS[0], { ...FUNCTIONS[1], orchestration: 'economy' }];
    const body = await (await app().request('/')).text();
    const rows = body.split('<tr data-function=').slice(1);
    const shown = Object.fromEntries(
      rows.map((row) => [/^"([^"]+)"/.exec(row)?.[1], /data-config="orchestration">([a-z]+)</.exec(row)?.[1]]),
    );
    expect(shown).toEqual({ transcode: 'standard', notify: 'economy' });
  });

  it('says “at least” before a total that is a lower bound (economy tasks beyond what stats reads)', async () => {
    handlers.stats = (r) => ({ ...stats((r as { functionName: string }).functionName, { Succeeded: 3 }), countsAreLowerBounds: true });
    const body = await (await app().request('/')).text();
    expect(body).toMatch(/total <span data-stat="lowerBound"[^>]*>at least<\/span> <span data-stat="total">3<\/span>/);
    handlers.stats = (r) => stats((r as { functionName: string }).functionName, { Succeeded: 3 });
    expect(await (await app().request('/')).text()).not.toContain('at least');
  });
});

describe('cost', () => {
  it('shows the estimate on the task page in #cost: orchestration and compute with their counts, the total, escaped notes', async () => {
    const record = costed('cost1', [HOSTILE]);
    handlers.get = () => record;
    const body = await (await app().request('/functions/transcode/tasks/cost1')).text();
    const start = body.indexOf('<table id="cost"');
    expect(start).toBeGreaterThan(0);
    const table = body.slice(start, body.indexOf('</table>', start));
    const cost = record.cost as TaskCost;
    expect(table).toContain(`data-total-usd="${cost.totalUsd}"`);
    expect(table).toContain(`<td class="num" id="cost-total">${formatUsd(cost.totalUsd)}</td>`);
    expect(table).toContain(`<td class="num" id="cost-orchestration">${formatUsd(cost.orchestration.usd)}</td>`);
    expect(table).toContain(`<td class="num" id="cost-compute">${formatUsd(cost.compute.usd)}</td>`);
    expect(table).toContain('3 state transitions, 3 DynamoDB writes (11 WRU, 0.5 RRU), 1 Lambda request, 2 S3');
    expect(table).toContain('fargate, 1 attempt, 600 s, 1200 vCPU-s, 2400 GB-s');
    expect(table).toContain('region us-east-1');
    const notes = body.slice(body.indexOf('<ul class="hint" id="cost-notes">'), body.indexOf('</ul>', body.indexOf('id="cost-notes"')));
    expect(notes).toContain('one-minute minimum');
    expect(notes).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(body).not.toContain('<script>alert(1)');
  });

  it('says when a record carries no estimate', async () => {
    handlers.get = (r) => task((r as { taskId: string }).taskId, 'Running');
    const body = await (await app().request('/functions/transcode/tasks/old1')).text();
    expect(body).toContain('<p class="none" id="cost" data-empty="true">no estimate</p>');
  });

  it('the tasks page has a cost column and the page total', async () => {
    const tasks = [costed('my1-480P-mp4'), { ...costed('my2-480P-mp4'), taskId: 'my2-480P-mp4' }];
    handlers.list = () => ({ tasks });
    const body = await (await app().request('/functions/transcode')).text();
    expect(body).toContain('<th scope="col" class="num">Cost (USD, estimate)</th>');
    const each = formatUsd(tasks[0].cost?.totalUsd);
    expect(body.match(new RegExp(`<td class="num cost">${each.replace('$', '\\$')}</td>`, 'g'))).toHaveLength(2);
    const total = (tasks[0].cost?.totalUsd ?? 0) + (tasks[1].cost?.totalUsd ?? 0);
    expect(body).toContain(`<td class="num" id="cost-page-total">${formatUsd(total)}</td>`);
  });

  it('the tasks page has no cost column when no record carries an estimate', async () => {
    const body = await (await app().request('/functions/transcode')).text();
    expect(body).not.toContain('Cost (USD, estimate)');
    expect(body).not.toContain('cost-page-total');
  });
});

describe('the tasks page', () => {
  it('passes every filter of the URL to list exactly', async () => {
    const res = await app().request('/functions/transcode?status=Failed&status=Stopped&window=1h&prefix=my&order=asc&limit=50&next=tok-2');
    expect(res.status).toBe(200);
    expect(requests()).toEqual([
      {
        op: 'list',
        functionName: 'transcode',
        status: ['Failed', 'Stopped'],
        since: NOW - 3_600_000,
        prefix: 'my',
        order: 'asc',
        limit: 50,
        nextToken: 'tok-2',
      },
    ]);
  });

  it('reads since and until as ISO-8601, datetime-local values (UTC) or durations, and defaults to 20 newest first', async () => {
    await app().request('/functions/transcode?since=2026-11-25T10:30&until=2026-11-25T11:00:00Z&prefix=&status=');
    await app().request('/functions/transcode?since=2h');
    expect(requests()).toEqual([
      {
        op: 'list',
        functionName: 'transcode',
        since: Date.parse('2026-11-25T10:30:00Z'),
        until: Date.parse('2026-11-25T11:00:00Z'),
        order: 'desc',
        limit: 20,
      },
      { op: 'list', functionName: 'transcode', since: NOW - 7_200_000, order: 'desc', limit: 20 },
    ]);
  });

  it('shows the rows, keeps the filters in the form and links the next and first pages with the same filters', async () => {
    handlers.list = () => ({ tasks: [task('my1-480P-mp4', 'Failed')], nextToken: 'tok-3' });
    const body = await (await app().request('/functions/transcode?status=Failed&prefix=my&next=tok-2')).text();
    expect(body).toContain('<tr data-task-id="my1-480P-mp4" data-status="Failed">');
    expect(body).toContain('<a href="/functions/transcode/tasks/my1-480P-mp4" data-link="task">my1-480P-mp4</a>');
    expect(body).toMatch(/<input type="checkbox" name="status" value="Failed" checked>/);
    expect(body).toMatch(/<input type="checkbox" name="status" value="Running">/);
    expect(body).toContain('name="prefix" value="my"');
    expect(body).toContain('<a id="next-page" rel="next" href="/functions/transcode?status=Failed&amp;prefix=my&amp;next=tok-3">');
    expect(body).toContain('<a id="first-page" href="/functions/transcode?status=Failed&amp;prefix=my">');
    // The bulk form carries the same filters.
    expect(body).toMatch(
      /<form id="bulk" method="post" action="\/functions\/transcode\/bulk">[\s\S]*name="status" value="Failed"[\s\S]*name="prefix" value="my"/,
    );
  });

  it.each([
    [
      'status=Bogus',
      /unknown status &#39;Bogus&#39;; allowed: Enqueued, Dequeued, Running, Retrying, Succeeded, Failed, Stopping, Stopped, Expired, Invalid/,
    ],
    ['limit=500', /limit must be an integer between 1 and 100 inclusive \(given &#39;500&#39;\)/],
    ['limit=0', /limit must be an integer between 1 and 100 inclusive \(given &#39;0&#39;\)/],
    ['since=yesterday', /since &#39;yesterday&#39; is not a time; use an ISO-8601 time/],
    ['since=1h&until=2h', /since \(.*\) is after until/],
    ['prefix=9x', /prefix &#39;9x&#39; can match no task id/],
    ['order=up', /order must be &#39;asc&#39; or &#39;desc&#39; \(given &#39;up&#39;\)/],
    ['window=2w', /window &#39;2w&#39; is not one of 1h, 24h, 7d/],
  ])('fails if given %s: 400 naming the value, nothing listed', async (query, shows) => {
    const res = await app().request(`/functions/transcode?${query}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(shows);
    expect(ops()).toEqual([]);
  });

  it('fails if the function does not exist: the service’s TaskFunctionNotFound as a 404 page', async () => {
    handlers.list = () => wire('TaskFunctionNotFound', "task function 'nope' not found; known functions: transcode, notify");
    const res = await app().request('/functions/nope');
    expect(res.status).toBe(404);
    expect(await res.text()).toContain(
      '<strong id="error-name">TaskFunctionNotFound</strong>: <span id="error-message">task function &#39;nope&#39; not found',
    );
  });

  it('fails if a task id in the URL breaks the id rule: 400, nothing called', async () => {
    const res = await app().request('/functions/transcode/tasks/9-bad');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('invalid task id &#39;9-bad&#39;: it starts with &#39;9&#39;');
    expect(ops()).toEqual([]);
  });
});

describe('the functions page', () => {
  it('shows config, counts in the window, running now, success rate, p50/p95 and the failure queue depth', async () => {
    sqs
      .on(GetQueueAttributesCommand)
      .resolves({ Attributes: { QueueArn: QUEUE_ARN, ApproximateNumberOfMessages: '7', ApproximateNumberOfMessagesNotVisible: '0' } });
    const res = await app().request('/?window=1h');
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(requests().filter((r) => r.op === 'stats')).toEqual([
      { op: 'stats', functionName: 'notify', since: NOW - 3_600_000, until: NOW },
      { op: 'stats', functionName: 'transcode', since: NOW - 3_600_000, until: NOW },
    ]);
    const row = body.slice(body.indexOf('<tr data-function="transcode">'));
    expect(row).toContain('<a href="/functions/transcode" data-link="tasks">transcode</a>');
    for (const status of ALL_STATUSES) expect(row).toContain(`data-stat="${status}"`);
    expect(row).toContain('<span class="num" data-stat="Succeeded">3</span>');
    expect(row).toContain('<span data-stat="runningNow">2</span>');
    expect(row).toContain('data-stat="successRate">75.0%</td>');
    expect(row).toContain('data-stat="p50">1.5s</td>');
    expect(row).toContain('data-stat="p95">1m05s</td>');
    expect(row).toContain('<span class="num" data-stat="dlqDepth">7</span>');
    expect(row).toContain('<a href="/functions/transcode/dead-letters" data-link="dead-letters">');
    expect(row).toContain('kafka videos');
    const notify = body.slice(body.indexOf('<tr data-function="notify">'), body.indexOf('<tr data-function="transcode">'));
    expect(notify).not.toContain('data-link="dead-letters"');
    expect(notify).toContain('sns, not a queue');
  });
});

describe('problems with where the console points', () => {
  it('fails if the stack does not exist: the wrong-stack page (502) naming it and the fix', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(Object.assign(new Error('Stack with id NoSuchStack does not exist'), { name: 'ValidationError' }));
    const client = new AsyncTaskClient({
      region: 'us-east-1',
      stack: 'NoSuchStack',
      lambdaClient: new LambdaClient({ region: 'us-east-1' }),
      cloudFormationClient: new CloudFormationClient({ region: 'us-east-1' }),
    });
    const res = await app(client).request('/');
    expect(res.status).toBe(502);
    const body = await res.text();
    expect(body).toContain('data-kind="wrong-stack"');
    expect(body).toContain('stack &#39;NoSuchStack&#39; does not exist');
    expect(body).toContain('asynctask console --stack &lt;name&gt; --region &lt;region&gt;');
    expect(body).toContain('npx cdk deploy');
    expect(body).not.toMatch(/ at [\w.]+ \(/); // no stack trace
  });

  it('fails if there are no credentials: the credentials page (503) with AWS_PROFILE and aws configure', async () => {
    lambda
      .on(InvokeCommand)
      .rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
    const res = await app().request('/');
    expect(res.status).toBe(503);
    const body = await res.text();
    expect(body).toContain('data-kind="credentials"');
    expect(body).toContain('CredentialsProviderError: Could not load credentials from any providers');
    expect(body).toContain('AWS_PROFILE=&lt;profile&gt;');
    expect(body).toContain('aws configure');
  });

  it('fails if the endpoint cannot be reached: the unreachable page (503) saying to start asynctask dev or fix --endpoint', async () => {
    lambda.on(InvokeCommand).rejects(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), { code: 'ECONNREFUSED' }));
    const res = await app().request('/functions/transcode/tasks/my1');
    expect(res.status).toBe(503);
    const body = await res.text();
    expect(body).toContain('data-kind="unreachable"');
    expect(body).toContain('ECONNREFUSED');
    expect(body).toContain('asynctask dev');
    expect(body).toContain('--endpoint');
  });

  it("answers a task's live refresh with its record and its duration as the page shows it", async () => {
    // The TaskApi computes a running task's duration when it reads it (now − started): 65 s here.
    handlers.get = (r) => task((r as { taskId: string }).taskId, 'Running', { durationMs: 65_400 });
    const res = await app().request('/api/functions/transcode/tasks/my1');
    expect(res.status).toBe(200);
    const body = (await res.json()) as TaskRecord & { display: { duration: string } };
    expect(body).toMatchObject({ taskId: 'my1', status: 'Running' });
    expect(body.display.duration).toBe('1m05s');
  });

  it('answers the JSON endpoints with {error: {name, message}} and the status', async () => {
    handlers.get = () => wire('TaskNotFound', "task 'gone' of function 'transcode' not found");
    const res = await app().request('/api/functions/transcode/tasks/gone');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { name: 'TaskNotFound', message: "task 'gone' of function 'transcode' not found" } });
    const missing = await app().request('/api/nothing');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { name: 'NotFound', message: 'no page at GET /api/nothing' } });
  });

  it('answers an unknown route with a 404 page', async () => {
    const res = await app().request('/functions/transcode/nothing/here');
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('no page at GET /functions/transcode/nothing/here');
  });
});

describe('submitting a task', () => {
  it('fails if the payload is not JSON: the form again with what was entered and the error, nothing submitted', async () => {
    const res = await app().request(...post('/functions/transcode/tasks', { _csrf: TOKEN, payload: '{"object": ', taskId: 'mine-1' }));
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(body).toContain('<strong class="error-name">InvalidPayload</strong>');
    expect(body).toContain('>{&quot;object&quot;: </textarea>');
    expect(body).toContain('id="task-id-input" name="taskId" value="mine-1"');
    expect(ops()).toEqual([]);
  });

  it('fails if the id is taken: TaskAlreadyExists (409) with the values kept', async () => {
    handlers.submit = () => wire('TaskAlreadyExists', "task 'mine-1' of function 'transcode' already exists (Running)");
    const res = await app().request(...post('/functions/transcode/tasks', { _csrf: TOKEN, payload: '{"a": 1}', taskId: 'mine-1' }));
    expect(res.status).toBe(409);
    const body = await res.text();
    expect(body).toContain('<strong class="error-name">TaskAlreadyExists</strong>');
    expect(body).toContain('value="mine-1"');
  });

  it('submits the payload and id, then sends the browser to the new task', async () => {
    handlers.submit = (r) => task((r as { taskId: string }).taskId, 'Enqueued');
    const res = await app().request(
      ...post('/functions/transcode/tasks', { _csrf: TOKEN, payload: '{"a": [1, "<b>"]}', taskId: 'mine-2' }),
    );
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/functions/transcode/tasks/mine-2?done=submit');
    expect(requests()).toEqual([{ op: 'submit', functionName: 'transcode', taskId: 'mine-2', payload: { a: [1, '<b>'] } }]);
  });
});

describe('the live log tail', () => {
  it('passes the token back and skips the lines already shown while the token stays put', async () => {
    handlers.logs = (r) => {
      const token = (r as { nextToken?: string }).nextToken;
      if (token === undefined) return { events: [{ timestamp: 1, message: 'a' }], nextToken: 't1', status: 'Running', attempt: 1 };
      return {
        events: [
          { timestamp: 2, message: 'b' },
          { timestamp: 3, message: 'c' },
        ],
        status: 'Running',
        attempt: 1,
      };
    };
    const a = app();
    const first = await (await a.request('/api/functions/transcode/tasks/my2/logs?attempt=1')).json();
    expect(first).toMatchObject({ events: [{ message: 'a' }], next: 't1', skip: 0, more: true });
    const second = await (await a.request('/api/functions/transcode/tasks/my2/logs?attempt=1&next=t1&skip=1')).json();
    expect(second).toMatchObject({ events: [{ message: 'c' }], next: 't1', skip: 2, more: false, status: 'Running' });
    expect(requests()).toEqual([
      { op: 'logs', functionName: 'transcode', taskId: 'my2', attempt: 1 },
      { op: 'logs', functionName: 'transcode', taskId: 'my2', nextToken: 't1', attempt: 1 },
    ]);
  });
});

describe('bulk actions', () => {
  it('shows a dry run that changes nothing, runs it once, and refuses a second run (409)', async () => {
    handlers.list = (r) => {
      expect(r).toMatchObject({ status: ['Failed'], prefix: 'blk' });
      return { tasks: [task('blk-1', 'Failed'), task('blk-2', 'Failed'), task('blk-3', 'Succeeded')] };
    };
    handlers.retry = (r) =>
      (r as { taskId: string }).taskId === 'blk-2'
        ? wire('InvalidTaskState', 'blk-2 is Running')
        : task((r as { taskId: string }).taskId, 'Enqueued');
    const a = app();
    const plan = await a.request(
      ...post('/functions/transcode/bulk', { _csrf: TOKEN, action: 'retry', status: 'Failed', prefix: 'blk', order: 'desc' }),
    );
    expect(plan.status).toBe(200);
    const planPage = await plan.text();
    expect(planPage).toContain('<span data-count="2">2</span>');
    expect(planPage).toContain('<span data-ineligible="1">1</span>');
    expect(planPage).toMatch(/<ol id="bulk-ids"><li><a [^>]*>blk-1<\/a><\/li><li><a [^>]*>blk-2<\/a><\/li><\/ol>/);
    expect(ops()).not.toContain('retry');
    const action = /<form method="post" action="(\/bulk\/[^/]+\/run)"/.exec(planPage)?.[1] as string;

    const run = await a.request(...post(action, { _csrf: TOKEN }));
    expect(run.status).toBe(303);
    const jobPath = run.headers.get('location') as string;
    let state: { done: boolean; summary?: { succeeded: string[]; refused: { taskId: string }[] } } = { done: false };
    for (let i = 0; i < 50 && !state.done; i++) {
      state = (await (await a.request(`/api${jobPath}`)).json()) as typeof state;
      if (!state.done) await new Promise((r) => setTimeout(r, 10));
    }
    expect(state.summary).toMatchObject({ succeeded: ['blk-1'], refused: [{ taskId: 'blk-2', error: { name: 'InvalidTaskState' } }] });
    const summary = await (await a.request(jobPath)).text();
    expect(summary).toContain('<span data-succeeded="1">1</span>');
    expect(summary).toContain('<span data-refused="1">1</span>');
    expect(summary).toContain('<strong class="error-name">InvalidTaskState</strong>');

    const again = await a.request(...post(action, { _csrf: TOKEN }));
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('BulkPlanAlreadyRun');
    expect(ops().filter((op) => op === 'retry')).toHaveLength(2);
  });

  it('fails if the bulk action is not stop or retry: 400, nothing listed', async () => {
    const res = await app().request(...post('/functions/transcode/bulk', { _csrf: TOKEN, action: 'delete' }));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('action must be one of stop, retry (given &#39;delete&#39;)');
    expect(ops()).toEqual([]);
  });
});

describe('dead letters', () => {
  const body = JSON.stringify(
    buildDestinationRecord({
      condition: 'RetriesExhausted',
      taskId: 'dl-1',
      requestId: 'r-1',
      functionArn: RUNNER_ARN,
      approximateInvokeCount: 3,
      requestPayload: { object: HOSTILE },
      responsePayload: { errorType: 'FfmpegError', errorMessage: HOSTILE },
      functionError: 'Unhandled',
      timestamp: '2026-11-25T11:00:00.000Z',
    }),
  );

  beforeEach(() => {
    sqs
      .on(GetQueueAttributesCommand)
      .resolves({ Attributes: { QueueArn: QUEUE_ARN, ApproximateNumberOfMessages: '1', ApproximateNumberOfMessagesNotVisible: '0' } });
    sqs.on(ReceiveMessageCommand).resolves({
      Messages: [
        {
          MessageId: 'm-1',
          ReceiptHandle: 'h-1',
          Body: body,
          Attributes: { SentTimestamp: String(NOW - 3_600_000), ApproximateReceiveCount: '1' },
        },
      ],
    });
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({});
    sqs.on(ChangeMessageVisibilityCommand).resolves({});
    sqs.on(DeleteMessageCommand).resolves({});
  });

  it('suggests a resubmit id: -r1, -r2 …; r_ before a trigger’s id (k_, s_), which a new task may not use', () => {
    expect(suggestTaskId('dl-1')).toBe('dl-1-r1');
    expect(suggestTaskId('dl-1-r1')).toBe('dl-1-r2');
    expect(suggestTaskId('k_orders_0_0000000000000000005')).toBe('r_k_orders_0_0000000000000000005');
    expect(suggestTaskId('s_m-1')).toBe('r_s_m-1');
    expect(validateNewTaskId(suggestTaskId('s_m-1'))).toBe('r_s_m-1');
  });

  it('lists the decoded records, escaped, each with retry and resubmit forms', async () => {
    const res = await app().request('/functions/transcode/dead-letters');
    const page = await res.text();
    expect(res.status).toBe(200);
    expect(page).toContain(`<code id="queue-url">${QUEUE_URL}</code>`);
    expect(page).toContain('<tr data-message-id="m-1">');
    expect(page).toContain('<td data-col="condition">RetriesExhausted</td>');
    expect(page).toContain('<td data-col="task-id"><a href="/functions/transcode/tasks/dl-1">dl-1</a></td>');
    expect(page).toContain('<button type="submit" data-action="retry">');
    expect(page).toContain('name="taskId" required value="dl-1-r1"');
    expect(page).not.toContain('<script>alert');
    expect(page).not.toContain('<img src=x');
    expect(page).toContain('<strong>FfmpegError</strong>: <span class="error-message">&lt;script&gt;alert(1)');
  });

  it('retries the task of a letter, deleting the message only then, and goes to the task', async () => {
    handlers.retry = (r) => task((r as { taskId: string }).taskId, 'Enqueued');
    const res = await app().request(...post('/functions/transcode/dead-letters/m-1/retry', { _csrf: TOKEN }));
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/functions/transcode/tasks/dl-1?done=redrive');
    expect(requests().filter((r) => r.op === 'retry')).toEqual([{ op: 'retry', functionName: 'transcode', taskId: 'dl-1' }]);
    expect(sqs).toHaveReceivedCommandWith(DeleteMessageCommand, { QueueUrl: QUEUE_URL, ReceiptHandle: 'h-1' });
  });

  it('shows a refused resubmit in #action-error with the entered payload and id kept, and keeps the message', async () => {
    handlers.submit = () => wire('TaskAlreadyExists', "task 'dl-1-r1' of function 'transcode' already exists (Running)");
    const res = await app().request(
      ...post('/functions/transcode/dead-letters/m-1/resubmit', { _csrf: TOKEN, payload: '{"edited": true}', taskId: 'dl-1-r1' }),
    );
    expect(res.status).toBe(409);
    const page = await res.text();
    expect(page).toContain('<strong class="error-name">TaskAlreadyExists</strong>');
    expect(page).toContain('{&quot;edited&quot;: true}</textarea>');
    expect(sqs).not.toHaveReceivedCommand(DeleteMessageCommand);
  });

  it('says so for a function whose failure destination is not a queue', async () => {
    const res = await app().request('/functions/notify/dead-letters');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('The failure destination of notify is sns, not an SQS queue');
    expect(sqs).not.toHaveReceivedCommand(ReceiveMessageCommand);
  });
});

describe('startConsole', () => {
  it('serves on 127.0.0.1 and closes', async () => {
    const running = await startConsole({ client: newClient(), port: 0, label: 'test' });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const res = await fetch(new URL('/assets/console.css', running.url));
      expect(res.status).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('fails if the port is in use, naming the port', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      await expect(startConsole({ client: newClient(), port, label: 'test' })).rejects.toThrow(
        `port ${port} on 127.0.0.1 is already in use`,
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
