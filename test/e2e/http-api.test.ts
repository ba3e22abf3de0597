/**
 * End to end on the local runtime, the task API over HTTP: the stack's REST API (its resources,
 * methods, stage and gateway responses read from the synthesized template by local/apigateway.ts)
 * behind the edge at LocalStack's path. The SDK finds it through the `TaskApiUrl` output and signs
 * every request with SigV4; the local API Gateway accepts any well-formed signature (no IAM
 * locally) and hands the TaskApi the caller, which lands on the task's events. Unsigned, malformed
 * and misrouted requests get a typed 4xx body and change nothing.
 */
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { AsyncTaskClient, HttpTaskApi, localApiUrl, parseExecuteApiUrl } from '../../client/client';
import { InvalidTaskIdError, type TaskRecord } from '../../lambda/model';
import { TASK_API_GATEWAY_RESPONSES, TASK_API_URL_OUTPUT } from '../../lib/task-http-api';
import { REGION, useRuntime, waitUntil, watchTask } from './harness';

const rt = useRuntime();
const ALICE = { accessKeyId: 'AKIDE2EALICE', secretAccessKey: 'alice-secret' };
const ALICE_ARN = `arn:aws:iam::000000000000:user/${ALICE.accessKeyId}`;

let client: AsyncTaskClient;
beforeAll(() => {
  client = new AsyncTaskClient({ endpoint: rt().endpoint, stack: rt().stackName, region: REGION, credentials: ALICE });
});
afterAll(() => {
  client?.cloudFormation.destroy();
  client?.lambda.destroy();
  client?.sqs.destroy();
});

/** The stage URL on the edge: `<endpoint>/restapis/<apiId>/v1/_user_request_`. */
function stageUrl(): string {
  return localApiUrl(rt().output(TASK_API_URL_OUTPUT), rt().endpoint).replace(/\/$/, '');
}

/** A request signed like the SDK's (or not at all), with any method, path and body. */
async function send(
  method: string,
  path: string,
  options: { body?: string; signed?: boolean } = {},
): Promise<{ status: number; body: unknown }> {
  const url = new URL(`${stageUrl()}${path}`);
  let headers: Record<string, string> = { host: url.host, 'content-type': 'application/json' };
  if (options.signed !== false) {
    const signer = new SignatureV4({ service: 'execute-api', region: REGION, credentials: ALICE, sha256: Hash.bind(null, 'sha256') });
    const query: Record<string, string> = Object.fromEntries(url.searchParams);
    const request = new HttpRequest({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query,
      headers,
      ...(options.body !== undefined ? { body: options.body } : {}),
    });
    headers = (await signer.sign(request)).headers;
  }
  const response = await fetch(url, { method, headers, ...(options.body !== undefined ? { body: options.body } : {}) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // kept as text
  }
  return { status: response.status, body };
}

async function taskIds(functionName: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const t of client.listAll({ functionName })) ids.push(t.taskId);
  return ids.sort();
}

describe('the SDK over the REST API, signed', () => {
  test('the stack output TaskApiUrl names the REST API, which the SDK calls at the local path', async () => {
    const url = rt().output(TASK_API_URL_OUTPUT);
    expect(parseExecuteApiUrl(url)).toMatchObject({ region: REGION, stage: 'v1' });
    const transport = await client.taskApi();
    expect(transport).toBeInstanceOf(HttpTaskApi);
    expect((transport as HttpTaskApi).baseUrl).toBe(stageUrl());
    expect(stageUrl()).toMatch(new RegExp(`^${rt().endpoint}/restapis/[a-z0-9]{10}/v1/_user_request_$`));
  });

  test('functions, submit, get, list, logs and stats; the caller ARN is on the submit event', async () => {
    const functions = await client.functions();
    expect(functions.map((f) => f.name)).toEqual(expect.arrayContaining(['echo', 'etl', 'sleeper']));

    const submitted = await client.submit({ functionName: 'echo', taskId: 'http-1', payload: { via: 'http' } });
    expect(submitted).toMatchObject({ taskId: 'http-1', functionName: 'echo', status: 'Enqueued', taskPayload: { via: 'http' } });
    const { task } = await watchTask(client, 'echo', 'http-1');
    expect(task).toMatchObject({ status: 'Succeeded', returnPayload: { echo: { via: 'http' } } });
    // Added by the TaskApi (lambda/model/audit.ts): who submitted, as API Gateway tells it.
    expect(task.events[0]).toMatchObject({ status: 'Enqueued', caller: ALICE_ARN });

    const page = await client.list({ functionName: 'echo', prefix: 'http-', status: ['Succeeded'], limit: 10 });
    expect(page.tasks.map((t) => t.taskId)).toEqual(['http-1']);

    const lines = await waitUntil(
      async () => {
        const events = [];
        for await (const e of client.logs({ functionName: 'echo', taskId: 'http-1' })) events.push(e);
        return events.length > 0 ? events : undefined;
      },
      { what: "log lines of task 'echo/http-1'" },
    );
    expect(lines.length).toBeGreaterThan(0);

    const stats = await client.stats('echo');
    expect(stats).toMatchObject({ functionName: 'echo' });
    expect(stats.counts.Succeeded).toBeGreaterThanOrEqual(1);
  });

  test('stop and retry over HTTP, each event naming the caller', async () => {
    await client.submit({ functionName: 'etl', taskId: 'http-stop', payload: { ms: 10_000 } });
    const stopping = await client.stop('etl', 'http-stop');
    expect(['Stopping', 'Stopped']).toContain(stopping.status);
    const { task: stopped } = await watchTask(client, 'etl', 'http-stop');
    expect(stopped.status).toBe('Stopped');

    const retried = await client.retry('etl', 'http-stop');
    expect(retried.status).toBe('Enqueued');
    await client.stop('etl', 'http-stop').catch(() => undefined);
    const { task } = await watchTask(client, 'etl', 'http-stop');
    const byStatus = (status: TaskRecord['events'][number]['status']) => task.events.filter((e) => e.status === status);
    expect(byStatus('Enqueued').map((e) => e.caller)).toEqual([ALICE_ARN, ALICE_ARN]);
    expect(byStatus('Stopping')[0]?.caller).toBe(ALICE_ARN);
  });

  test('a typed refusal comes back as the same typed error as before', async () => {
    await expect(client.get('echo', 'never-submitted')).rejects.toMatchObject({ name: 'TaskNotFound', exitCode: 3 });
    await expect(client.submit({ functionName: 'no-such-function' })).rejects.toMatchObject({ name: 'TaskFunctionNotFound' });
  });
});

describe('requests the API refuses change nothing', () => {
  let before: string[];
  beforeAll(async () => {
    before = await taskIds('echo');
  });

  test("an unsigned request: the stack's MISSING_AUTHENTICATION_TOKEN gateway response, a typed body", async () => {
    const own = TASK_API_GATEWAY_RESPONSES.find((r) => r.type === 'MISSING_AUTHENTICATION_TOKEN');
    for (const [method, path, body] of [
      ['GET', '/functions', undefined],
      ['POST', '/functions/echo/tasks', '{"taskId":"unsigned-1"}'],
    ] as const) {
      const response = await send(method, path, { signed: false, ...(body ? { body } : {}) });
      expect(response.status).toBe(Number(own?.statusCode ?? 403));
      expect(response.body).toMatchObject({ ok: false, error: { name: own?.name ?? 'AccessDenied', message: expect.any(String) } });
    }
  });

  test('a malformed signature: INVALID_SIGNATURE, 403 AccessDenied', async () => {
    const response = await fetch(`${stageUrl()}/functions`, {
      headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/execute-api, SignedHeaders=host, Signature=00' },
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ ok: false, error: { name: 'AccessDenied' } });
  });

  test.each([
    ['a task id that breaks the rules', 'GET', '/functions/echo/tasks/1-bad', undefined, 'InvalidTaskId'],
    ['a function name that breaks the rules', 'POST', '/functions/no%20such!/tasks', '{}', undefined],
    ['a body that is not JSON', 'POST', '/functions/echo/tasks', '{"taskId": "x1", payload', 'InvalidArgument'],
    ['a body with unknown fields', 'POST', '/functions/echo/tasks', '{"taskId":"x2","colour":"red"}', 'InvalidArgument'],
    ['a query parameter the route does not take', 'GET', '/functions/echo/tasks?colour=red', undefined, 'InvalidArgument'],
    ['an unknown route', 'GET', '/functions/echo/everything', undefined, undefined],
    ['a method the route does not take', 'DELETE', '/functions/echo/tasks', undefined, undefined],
  ])('%s: a 4xx typed body', async (_what, method, path, body, name) => {
    const response = await send(method, path, body !== undefined ? { body } : {});
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.body).toMatchObject({ ok: false, error: { name: name ?? expect.any(String), message: expect.any(String) } });
  });

  test('a bad task id the transport sends as is comes back InvalidTaskId', async () => {
    const transport = (await client.taskApi()) as HttpTaskApi;
    const answer = await transport.call({ op: 'get', functionName: 'echo', taskId: '1-bad' });
    expect(answer).toMatchObject({ ok: false, error: { name: new InvalidTaskIdError('').name } });
  });

  test('nothing changed: the task list is as before, no refused submit made a task', async () => {
    expect(await taskIds('echo')).toEqual(before);
    for (const taskId of ['unsigned-1', 'x1', 'x2']) {
      await expect(client.get('echo', taskId)).rejects.toMatchObject({ name: 'TaskNotFound' });
    }
  });
});
