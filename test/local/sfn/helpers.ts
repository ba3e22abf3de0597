/** Fakes and a dynalite server for the Step Functions emulation tests (no edge, no other parts). */
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { StepFunctionsService, type LocalStateMachine } from '../../../local/sfn/service';
import {
  AwsError,
  type EventPublisher,
  type LambdaInvokeResult,
  type LambdaInvoker,
  type LocalEvent,
  type LocalTaskDefinition,
  type LogSink,
} from '../../../local/types';

// dynalite has no type declarations
const dynalite = require('dynalite') as (opts: Record<string, unknown>) => import('node:http').Server;

export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';
export const TABLE = 'Tasks';

export async function startDynalite(): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  const ddb = ddbClient(endpoint);
  await ddb.send(
    new CreateTableCommand({
      TableName: TABLE,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'functionName', KeyType: 'HASH' },
        { AttributeName: 'taskId', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'functionName', AttributeType: 'S' },
        { AttributeName: 'taskId', AttributeType: 'S' },
      ],
    }),
  );
  ddb.destroy();
  return {
    endpoint,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

export function ddbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
}

type Fn = (payload: unknown) => unknown | Promise<unknown>;

/** Lambda runner fake: functions by name; a thrown error becomes an Unhandled function error. */
export class FakeLambda implements LambdaInvoker {
  public readonly calls: { name: string; payload: unknown; type?: string }[] = [];
  private n = 0;
  public constructor(private readonly fns: Record<string, Fn>) {}
  public async invoke(ref: string, payload: unknown, type?: 'RequestResponse' | 'Event'): Promise<LambdaInvokeResult> {
    const name = ref.includes(':function:') ? ref.split(':function:')[1].split(':')[0] : ref;
    const fn = this.fns[name];
    if (!fn) throw new AwsError('ResourceNotFoundException', `Function not found: ${ref}`, 404);
    this.calls.push({ name, payload, type });
    const requestId = `req-${++this.n}`;
    try {
      return { payload: await fn(payload), requestId };
    } catch (e) {
      const err = e as Error;
      return { payload: { errorType: err.name, errorMessage: err.message, trace: [] }, functionError: 'Unhandled', requestId };
    }
  }
}

export class FakeEvents implements EventPublisher {
  public readonly events: { event: LocalEvent; bus?: string }[] = [];
  public async publish(event: LocalEvent, bus?: string): Promise<void> {
    this.events.push({ event, bus });
  }
  public statusChanges(executionArn?: string): LocalEvent[] {
    return this.events
      .map((e) => e.event)
      .filter((e) => e['detail-type'] === 'Step Functions Execution Status Change')
      .filter((e) => !executionArn || e.detail.executionArn === executionArn);
  }
}

export class FakeLogs implements LogSink {
  public readonly lines: { group: string; stream: string; line: string }[] = [];
  public append(group: string, stream: string, lines: readonly string[]): void {
    for (const line of lines) this.lines.push({ group, stream, line });
  }
}

export function machineArn(name: string): string {
  return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
}

export function makeService(opts: {
  endpoint: string;
  machines: Record<string, object>;
  taskDefinitions?: LocalTaskDefinition[];
  lambda?: LambdaInvoker;
  events?: FakeEvents;
  logs?: FakeLogs;
  dataDir?: string;
  killGraceMs?: number;
}): { svc: StepFunctionsService; events: FakeEvents; logs: FakeLogs } {
  const events = opts.events ?? new FakeEvents();
  const logs = opts.logs ?? new FakeLogs();
  const stateMachines = new Map<string, LocalStateMachine>();
  for (const [name, definition] of Object.entries(opts.machines)) {
    stateMachines.set(machineArn(name), { name, arn: machineArn(name), definition });
  }
  const svc = new StepFunctionsService({
    endpoint: opts.endpoint,
    region: REGION,
    accountId: ACCOUNT,
    stateMachines,
    taskDefinitions: new Map((opts.taskDefinitions ?? []).map((t) => [t.arn, t])),
    lambda: opts.lambda ?? new FakeLambda({}),
    events,
    logs,
    dataDir: opts.dataDir,
    workDir: process.cwd(),
    killGraceMs: opts.killGraceMs,
  });
  return { svc, events, logs };
}

export interface Described {
  executionArn: string;
  status: string;
  output?: string;
  error?: string;
  cause?: string;
  input: string;
  startDate: number;
  stopDate?: number;
}

export async function startAndWait(svc: StepFunctionsService, machine: string, input: unknown, name?: string): Promise<Described> {
  const { executionArn } = (await svc.handle('StartExecution', {
    stateMachineArn: machineArn(machine),
    input: JSON.stringify(input),
    ...(name ? { name } : {}),
  })) as { executionArn: string };
  await svc.waitForExecution(executionArn, 30_000);
  return (await svc.handle('DescribeExecution', { executionArn })) as Described;
}

export async function history(svc: StepFunctionsService, executionArn: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let nextToken: string | undefined;
  do {
    const page = (await svc.handle('GetExecutionHistory', { executionArn, maxResults: 1000, nextToken })) as {
      events: Record<string, unknown>[];
      nextToken?: string;
    };
    out.push(...page.events);
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
