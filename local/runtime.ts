/**
 * The local runtime: runs the stacks of a synthesized app (cdk.out) on this machine behind one
 * endpoint. Creates the stacks' tables, queues, topics, buckets and log groups in the local
 * backends (idempotently: a restart with the same data dir finds them), wires the Lambda runner,
 * the Step Functions emulation, EventBridge rules, SSM parameters, the REST APIs (API Gateway), TTL
 * expiry and the edge, and returns when ready.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CreateTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { SNSClient, PublishCommand } from '@aws-sdk/client-sns';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { TASK_API_OUTPUT } from '../client/defaults';
import { parseDescriptor, SERVICE_ENV, type TaskFunctionDescriptor } from '../lambda/model/registry';
import { LocalApiGateway } from './apigateway';
import { startDynaliteThread } from './dynalite';
import { type EcsExecTarget, Edge, type EcsTaskMetadata } from './edge';
import { queueUrlOf, SqsPollers } from './event-sources';
import { ClusterKafkaSource } from './kafka/cluster';
import { isKafkaMapping, KafkaPollers, type KafkaPollerOptions } from './kafka/poller';
import { EmbeddedKafkaSource, type KafkaSource } from './kafka/source';
import { EmbeddedTopics } from './kafka/topics';
import { LocalEvents } from './events';
import { LocalLambda } from './lambda';
import { LocalLogs } from './logs';
import { LocalSsm } from './ssm';
import { type AssemblyModel, type LocalFunction, type LocalResources, loadAssembly, type StackModel, unsupportedNote } from './template';
import { TtlSweeper } from './ttl';
import { type JsonService, LOCAL_ACCOUNT, LOCAL_REGION } from './types';

export const DEFAULT_PORT = 4566;
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

export interface RuntimeOptions {
  /** The cloud assembly directory. */
  readonly cdkOut: string;
  /** Run only this stack (name or artifact id) and the stacks it depends on. Default: every stack of the assembly. */
  readonly stackName?: string;
  /** Edge port; 0 picks a free one (read `endpoint`). Default 4566. */
  readonly port?: number;
  readonly host?: string;
  /** Persistent state (DynamoDB, executions, logs); default: in memory / a temporary work dir. */
  readonly dataDir?: string;
  /** Scratch files (inline Lambda code; logs without a data dir). Default: a temporary directory, removed on stop. */
  readonly workDir?: string;
  /** Where relative ECS `asynctask:local` cwd's resolve (default: the directory holding cdk.out). */
  readonly projectRoot?: string;
  /** TTL sweep interval (default 10 s). */
  readonly ttlIntervalMs?: number;
  /** At most this many warm Lambda processes per function (default 8; a pool grows by need, `shouldStartWorker` in lambda.ts). */
  readonly lambdaWorkers?: number;
  /** Delays before the retries of a failed asynchronous Lambda invocation (default 1 s, 2 s; Lambda's are ~1 and 2 min). */
  readonly asyncRetryDelaysMs?: readonly number[];
  /** Schedule rules' rate multiplier (tests: 0.001 runs `rate(5 minutes)` every 300 ms). Default 1. */
  readonly scheduleScale?: number;
  /** Start-up notes and delivery warnings (default: stderr). */
  readonly log?: (message: string) => void;
  /** A real Kafka cluster (`host:port` each) the Kafka mappings consume and `produce` writes to; default: the embedded topics. */
  readonly kafkaBrokers?: readonly string[];
  /** Partitions of an embedded topic created by the runtime (default 3). */
  readonly kafkaPartitions?: number;
  /** Kafka pollers' redelivery backoff (tests shorten it). */
  readonly kafkaPoller?: KafkaPollerOptions;
}

/** An asynctask service of the loaded stacks: its TaskApi and the task functions of its registry. */
export interface LocalTaskService {
  /** The stack whose `TaskApiFunctionName` output names the TaskApi (what the SDK's and CLI's `stack` names). */
  readonly stackName: string;
  readonly taskApiFunctionName: string;
  /** SSM path of its registry (`ASYNCTASK_REGISTRY_PATH` of the TaskApi). */
  readonly registryPath: string;
  /** The registry parameters under that path, from whichever stack defines them, by name. */
  readonly functions: TaskFunctionDescriptor[];
}

/** A loaded stack, as DescribeStacks shows it. */
export interface LocalStack {
  readonly stackName: string;
  readonly stackId: string;
  readonly dependencies: readonly string[];
  readonly outputs: Readonly<Record<string, string>>;
}

export interface LocalRuntime {
  readonly endpoint: string;
  readonly port: number;
  /** The loaded stacks, in deployment order (each after the stacks it depends on). */
  readonly stacks: readonly LocalStack[];
  /**
   * The outputs of every loaded stack by key. A key that several stacks output is left out
   * (read it from `stacks`), except that the stack named by `stackName` keeps its own.
   */
  readonly outputs: Record<string, string>;
  /** The asynctask services found in the stacks. */
  readonly services: readonly LocalTaskService[];
  /** The task functions of every service, by name. */
  readonly functions: TaskFunctionDescriptor[];
  /** Lambda functions of all stacks. */
  readonly lambdaFunctions: readonly LocalFunction[];
  readonly model: AssemblyModel;
  /** Start-up notes: unsupported resources, schedules not run, missing parts. */
  readonly notes: string[];
  readonly lambda: LocalLambda;
  readonly events: LocalEvents;
  readonly logs: LocalLogs;
  readonly ttl: TtlSweeper;
  /** Where the Kafka mappings read and `asynctask produce` writes: the embedded topics or the `kafkaBrokers` cluster. */
  readonly kafka: KafkaSource;
  /** The Step Functions emulation, when local/sfn is available. */
  readonly stepFunctions?: JsonService & { close?(): Promise<void> };
  /** The stacks' REST APIs, served on the edge at `/restapis/{apiId}/{stage}/_user_request_/`. */
  readonly apiGateway: LocalApiGateway;
  stop(): Promise<void>;
}

interface SfnModule {
  StepFunctionsService: new (
    deps: Record<string, unknown>,
  ) => JsonService & {
    start(): Promise<unknown>;
    close(): Promise<void>;
    liveEcsTasks(): {
      taskArn: string;
      localTaskId: string;
      clusterArn: string;
      taskDefinitionArn: string;
      family: string;
      createdAt: number;
      containers: readonly { name: string; pid?: number }[];
    }[];
    readonly ecs: { execTarget(taskArn: string, container?: string): EcsExecTarget | undefined };
  };
}

function startFauxqs(dataDir?: string): Promise<{ child: ChildProcess; port: number }> {
  const script = path.join(__dirname, 'fauxqs-server.mjs');
  const child = spawn(process.execPath, [script, ...(dataDir ? [dataDir] : [])], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: path.resolve(__dirname, '..'),
    env: { ...process.env, FAUXQS_LOGGER: 'false' },
  });
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fauxqs did not start within 20 s${stderr ? `: ${stderr.trim()}` : ''}`));
    }, 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fauxqs exited with code ${code} at start-up${stderr ? `: ${stderr.trim()}` : ''}`));
    });
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        const { port } = JSON.parse(line) as { port: number };
        child.removeAllListeners('exit');
        resolve({ child, port });
      } catch {
        reject(new Error(`fauxqs printed an unexpected line at start-up: ${line}`));
      }
    });
  });
}

/** A raw request to fauxqs with the edge as Host (queue URLs come out as edge URLs). */
function fauxqsRequest(
  port: number,
  host: string,
  method: string,
  urlPath: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: urlPath, headers: { ...headers, host, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function createResources(
  model: LocalResources,
  ddb: DynamoDBClient,
  fauxqsPort: number,
  edgeHost: string,
  notes: string[],
): Promise<void> {
  for (const t of model.tables) {
    const input: CreateTableCommandInput = {
      TableName: t.name,
      KeySchema: t.keySchema as CreateTableCommandInput['KeySchema'],
      AttributeDefinitions: t.attributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
      BillingMode: 'PAY_PER_REQUEST',
      ...(t.globalSecondaryIndexes.length > 0
        ? {
            GlobalSecondaryIndexes: t.globalSecondaryIndexes.map((g) => ({
              IndexName: g.IndexName as string,
              KeySchema: g.KeySchema as never,
              Projection: g.Projection as never,
            })),
          }
        : {}),
      ...(t.localSecondaryIndexes.length > 0
        ? {
            LocalSecondaryIndexes: t.localSecondaryIndexes.map((g) => ({
              IndexName: g.IndexName as string,
              KeySchema: g.KeySchema as never,
              Projection: g.Projection as never,
            })),
          }
        : {}),
    };
    try {
      await ddb.send(new CreateTableCommand(input));
    } catch (error) {
      if ((error as Error).name !== 'ResourceInUseException') {
        throw new Error(`could not create table ${t.name} (${t.logicalId}): ${(error as Error).name}: ${(error as Error).message}`);
      }
    }
  }

  // Dead-letter queues first: a redrive policy names an existing queue.
  const queues = [...model.queues];
  const created = new Set<string>();
  const sqs = (target: string, body: object) =>
    fauxqsRequest(
      fauxqsPort,
      edgeHost,
      'POST',
      '/',
      { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AmazonSQS.${target}` },
      JSON.stringify(body),
    );
  while (queues.length > 0) {
    const i = queues.findIndex(
      (q) => !q.deadLetterQueue || created.has(q.deadLetterQueue) || !model.queues.some((o) => o.name === q.deadLetterQueue),
    );
    const q = queues.splice(Math.max(i, 0), 1)[0];
    const r = await sqs('CreateQueue', { QueueName: q.name, Attributes: q.attributes });
    if (r.status !== 200) throw new Error(`could not create queue ${q.name} (${q.logicalId}): ${r.body}`);
    created.add(q.name);
  }

  const sns = (params: Record<string, string>) =>
    fauxqsRequest(
      fauxqsPort,
      edgeHost,
      'POST',
      '/',
      { 'content-type': 'application/x-www-form-urlencoded' },
      new URLSearchParams({ ...params, Version: '2010-03-31' }).toString(),
    );
  for (const t of model.topics) {
    const attrs: Record<string, string> = {};
    Object.entries(t.attributes).forEach(([k, v], i) => {
      attrs[`Attributes.entry.${i + 1}.key`] = k;
      attrs[`Attributes.entry.${i + 1}.value`] = v;
    });
    const r = await sns({ Action: 'CreateTopic', Name: t.name, ...attrs });
    if (r.status !== 200) throw new Error(`could not create topic ${t.name} (${t.logicalId}): ${r.body}`);
  }
  for (const s of model.subscriptions) {
    if (s.protocol !== 'sqs') {
      notes.push(`subscription ${s.logicalId}: protocol '${s.protocol}' is not delivered locally (only sqs subscriptions are)`);
      continue;
    }
    const attrs: Record<string, string> = {};
    Object.entries(s.attributes).forEach(([k, v], i) => {
      attrs[`Attributes.entry.${i + 1}.key`] = k;
      attrs[`Attributes.entry.${i + 1}.value`] = v;
    });
    // Subscribe is idempotent for the same topic, protocol and endpoint.
    const r = await sns({ Action: 'Subscribe', TopicArn: s.topicArn, Protocol: s.protocol, Endpoint: s.endpoint, ...attrs });
    if (r.status !== 200) throw new Error(`could not subscribe ${s.endpoint} to ${s.topicArn} (${s.logicalId}): ${r.body}`);
  }
  for (const b of model.buckets) {
    const r = await fauxqsRequest(fauxqsPort, edgeHost, 'PUT', `/${b.name}`, {}, '');
    if (r.status !== 200 && !r.body.includes('BucketAlreadyOwnedByYou') && !r.body.includes('BucketAlreadyExists')) {
      throw new Error(`could not create bucket ${b.name} (${b.logicalId}): ${r.status} ${r.body}`);
    }
  }
}

function loadSfn(notes: string[]): SfnModule | undefined {
  try {
    return require('./sfn/service') as SfnModule;
  } catch (error) {
    notes.push(`Step Functions is not available (${(error as Error).message.split('\n')[0]}); AWSStepFunctions.* requests fail`);
    return undefined;
  }
}

/**
 * The asynctask services of the stacks: each TaskApi (the function a stack's
 * `TaskApiFunctionName` output names, else a function that reads a registry) with the registry
 * parameters under its `ASYNCTASK_REGISTRY_PATH`, wherever they are defined: a team stack
 * registers its task functions with a service in another stack. A damaged parameter is an error
 * naming it, not a missing function.
 */
export function servicesOf(model: AssemblyModel): LocalTaskService[] {
  const services = new Map<string, LocalTaskService>();
  for (const stack of model.stacks) {
    const apiName = stack.outputs.find((o) => o.key === TASK_API_OUTPUT)?.value;
    // The finalizer and reconciler read the registry too: the TaskApi is the one the output names.
    const readers = stack.functions
      .filter((f) => f.environment[SERVICE_ENV.registryPath])
      .sort((a, b) => Number(b.name === apiName) - Number(a.name === apiName));
    for (const api of readers) {
      const registryPath = api.environment[SERVICE_ENV.registryPath];
      if (services.has(registryPath)) continue;
      const functions = model.parameters
        .filter((p) => p.name.startsWith(registryPath) && !p.name.slice(registryPath.length).includes('/'))
        .map((p) => parseDescriptor(p.value, p.name))
        .sort((a, b) => a.name.localeCompare(b.name));
      services.set(registryPath, { stackName: stack.stackName, taskApiFunctionName: api.name, registryPath, functions });
    }
  }
  return [...services.values()];
}

/**
 * The outputs of `stacks` by key; a key several stacks output is ambiguous and left out, unless
 * one of them is `preferred`, whose value it keeps.
 */
export function flatOutputs(stacks: readonly Pick<StackModel, 'stackName' | 'outputs'>[], preferred?: string): Record<string, string> {
  const count = new Map<string, number>();
  for (const s of stacks) for (const o of s.outputs) count.set(o.key, (count.get(o.key) ?? 0) + 1);
  const out: Record<string, string> = {};
  for (const s of stacks) {
    for (const o of s.outputs) {
      if (count.get(o.key) === 1 || s.stackName === preferred) out[o.key] = o.value;
    }
  }
  return out;
}

export async function startRuntime(options: RuntimeOptions): Promise<LocalRuntime> {
  const log = options.log ?? ((m: string) => process.stderr.write(`asynctask dev: ${m}\n`));
  const edge = new Edge();
  const endpoint = await edge.listen(options.port ?? DEFAULT_PORT, options.host ?? '127.0.0.1');
  const port = Number(new URL(endpoint).port);
  const cleanups: (() => Promise<unknown> | unknown)[] = [() => edge.close()];
  const runCleanups = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // keep closing the rest
      }
    }
  };

  try {
    const model = loadAssembly(options.cdkOut, {
      endpoint,
      ...(options.stackName ? { stackName: options.stackName } : {}),
      ...(options.projectRoot ? { projectRoot: options.projectRoot } : {}),
    });
    // Before any backend starts: a damaged registry parameter fails the start, naming it.
    const services = servicesOf(model);
    const notes: string[] = [...model.notes];
    const unsupported = unsupportedNote(model);
    if (unsupported) notes.push(unsupported);

    let workDir = options.workDir;
    if (!workDir) {
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'asynctask-dev-'));
      workDir = tmp;
      cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
    }
    mkdirSync(workDir, { recursive: true });
    const dataDir = options.dataDir ? path.resolve(options.dataDir) : undefined;
    if (dataDir) mkdirSync(dataDir, { recursive: true });

    const logs = new LocalLogs(path.join(dataDir ?? workDir, 'logs'));
    cleanups.push(() => logs.close());
    for (const g of model.logGroups) logs.createGroup(g.name);
    for (const f of model.functions) logs.createGroup(f.logGroupName);
    for (const td of model.taskDefinitions) for (const c of td.containers) if (c.logGroupName) logs.createGroup(c.logGroupName);

    const dyn = await startDynaliteThread(dataDir ? path.join(dataDir, 'dynamodb') : undefined);
    cleanups.push(() => dyn.close());
    const fauxqs = await startFauxqs(dataDir ? path.join(dataDir, 'fauxqs') : undefined);
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          if (fauxqs.child.exitCode !== null) return r();
          const t = setTimeout(() => fauxqs.child.kill('SIGKILL'), 3000);
          fauxqs.child.once('exit', () => {
            clearTimeout(t);
            r();
          });
          fauxqs.child.kill('SIGTERM');
        }),
    );

    const ddb = new DynamoDBClient({ endpoint: `http://127.0.0.1:${dyn.port}`, region: LOCAL_REGION, credentials: CREDENTIALS });
    const dynamodb = dyn.direct;
    cleanups.push(() => ddb.destroy());
    await createResources(model, ddb, fauxqs.port, new URL(endpoint).host, notes);

    const edgeClients = { endpoint, region: LOCAL_REGION, credentials: CREDENTIALS };
    const sqs = new SQSClient(edgeClients);
    const sns = new SNSClient(edgeClients);
    let events: LocalEvents | undefined;
    // Deliveries by ARN (asynchronous invocation records, EventBridge targets) through the edge.
    const sendToQueue = async (queueArn: string, body: string): Promise<void> => {
      const name = queueArn.split(':').pop() ?? '';
      await sqs.send(new SendMessageCommand({ QueueUrl: `${endpoint}/${LOCAL_ACCOUNT}/${name}`, MessageBody: body }));
    };
    const publishToTopic = async (topicArn: string, body: string): Promise<void> => {
      await sns.send(new PublishCommand({ TopicArn: topicArn, Message: body }));
    };
    const lambda = new LocalLambda({
      endpoint,
      functions: model.functions,
      logs,
      workDir,
      ...(options.lambdaWorkers ? { maxWorkers: options.lambdaWorkers } : {}),
      // Lambda's asynchronous invocation: EventInvokeConfig retries, event age and destinations;
      // the journal of events not yet done lives with the data, so a restart runs them again.
      eventInvokeConfigs: model.eventInvokeConfigs,
      asyncJournal: path.join(dataDir ?? workDir, 'lambda-async.journal'),
      ...(options.asyncRetryDelaysMs ? { asyncRetryDelaysMs: options.asyncRetryDelaysMs } : {}),
      deliver: async (arn, record) => {
        const body = JSON.stringify(record);
        if (arn.startsWith('arn:aws:sqs:')) {
          await sendToQueue(arn, body);
        } else if (arn.startsWith('arn:aws:sns:')) {
          await publishToTopic(arn, body);
        } else if (arn.startsWith('arn:aws:events:') && arn.includes(':event-bus/') && events) {
          // Lambda's event for a destination bus: the record as detail, the function as resource.
          const { requestContext } = record as { requestContext: { condition: string; functionArn: string } };
          await events.publish(
            {
              source: 'lambda',
              'detail-type': `Lambda Function Invocation Result - ${requestContext.condition === 'Success' ? 'Success' : 'Failure'}`,
              detail: record as Record<string, unknown>,
              resources: [requestContext.functionArn],
            },
            arn,
          );
        } else {
          throw new Error(
            `the local runtime delivers asynchronous invocation records to SQS, SNS, EventBridge buses and Lambda only (given ${arn})`,
          );
        }
      },
      warn: log,
    });
    cleanups.push(() => lambda.close());

    cleanups.push(() => {
      sqs.destroy();
      sns.destroy();
    });
    events = new LocalEvents({
      rules: model.rules,
      lambda,
      sendToQueue,
      publishToTopic,
      warn: log,
    });
    cleanups.push(() => events.close());

    const sfnModule = loadSfn(notes);
    let sfn: InstanceType<SfnModule['StepFunctionsService']> | undefined;
    if (sfnModule) {
      sfn = new sfnModule.StepFunctionsService({
        endpoint,
        region: LOCAL_REGION,
        accountId: LOCAL_ACCOUNT,
        stateMachines: new Map(model.stateMachines.map((m) => [m.arn, { name: m.name, arn: m.arn, definition: m.definition }])),
        taskDefinitions: new Map(model.taskDefinitions.map((t) => [t.arn, t])),
        lambda,
        events,
        logs,
        workDir,
        dynamodb,
        sqs: (operation: string, input: unknown, headers: Record<string, string>) => edge.sqs(operation, input, headers),
        ...(dataDir ? { dataDir: path.join(dataDir, 'stepfunctions') } : {}),
        ecsMetadataUri: (task: { localTaskId: string }, containerName: string) =>
          `${endpoint}/_ecs/metadata/${task.localTaskId}/${encodeURIComponent(containerName)}`,
      });
      const s = sfn;
      cleanups.push(() => s.close());
    }
    const kafka: KafkaSource = options.kafkaBrokers?.length
      ? await ClusterKafkaSource.connect(options.kafkaBrokers)
      : new EmbeddedKafkaSource(
          new EmbeddedTopics({
            ...(dataDir ? { dir: path.join(dataDir, 'kafka') } : {}),
            ...(options.kafkaPartitions ? { partitions: options.kafkaPartitions } : {}),
          }),
        );
    cleanups.push(() => kafka.close());
    const kafkaMappings = model.eventSourceMappings.filter((m) => m.enabled && isKafkaMapping(m));
    const readers = new Map<string, string[]>();
    for (const m of kafkaMappings) {
      for (const t of m.topics ?? []) readers.set(t, [...(readers.get(t) ?? []), `${m.logicalId} → ${m.functionName}`]);
    }

    const ecsTask = (id: string): EcsTaskMetadata | undefined => sfn?.liveEcsTasks().find((t) => t.localTaskId === id);
    const apiGateway = new LocalApiGateway({ apis: model.restApis, lambda, warn: log });

    edge.setBackends({
      dynamodbPort: dyn.port,
      dynamodb,
      fauxqsPort: fauxqs.port,
      ...(sfn ? { stepFunctions: sfn } : {}),
      logs,
      events,
      ssm: new LocalSsm(model.parameters),
      lambda,
      stacks: model.stacks.map((s) => ({
        stackName: s.stackName,
        stackId: s.stackId,
        ...(s.description ? { description: s.description } : {}),
        outputs: s.outputs,
      })),
      ecsTask,
      ecsExec: (taskArn: string, container?: string) => sfn?.ecs.execTarget(taskArn, container),
      kafka: { source: kafka, readers },
      ...(model.restApis.length > 0 ? { apiGateway } : {}),
    });

    const ttl = new TtlSweeper(ddb, model.tables, options.ttlIntervalMs ?? 10_000);
    ttl.start();
    cleanups.push(() => ttl.close());
    notes.push(...events.startSchedules({ scale: options.scheduleScale ?? 1 }));
    const pollers = new SqsPollers({
      mappings: model.eventSourceMappings,
      sqs,
      lambda,
      queueUrl: (arn) => queueUrlOf(endpoint, arn),
      warn: log,
    });
    pollers.start();
    cleanups.push(() => pollers.close());
    // A missing topic or an unreachable cluster fails the start here, naming it.
    const kafkaPollers = new KafkaPollers({
      mappings: kafkaMappings,
      source: kafka,
      lambda,
      warn: log,
      ...(options.kafkaPoller ? { options: options.kafkaPoller } : {}),
    });
    cleanups.push(() => kafkaPollers.close());
    await kafkaPollers.start();
    for (const m of kafkaMappings) {
      notes.push(
        `Kafka event source ${m.logicalId} → ${m.functionName}: topics ${(m.topics ?? []).join(', ')} from ${kafka.description}, group ${m.consumerGroupId}, batch ${m.batchSize}, window ${m.maximumBatchingWindowInSeconds} s, from ${m.startingPosition}`,
      );
    }
    // Executions a killed runtime left RUNNING end now (FAILED), and their status-change events reach the finalizer.
    if (sfn) await sfn.start();
    // Asynchronous invocations a killed runtime left queued or running run again (Lambda's queue is durable).
    const resumed = lambda.resumeAsync();
    if (resumed > 0) notes.push(`${resumed} asynchronous Lambda invocation(s) left by the previous run queued again`);

    // With a stack named, it comes last: the stacks loaded with it are those it depends on.
    const named = options.stackName !== undefined ? model.stacks[model.stacks.length - 1]?.stackName : undefined;
    let stopped: Promise<void> | undefined;
    return {
      endpoint,
      port,
      stacks: model.stacks.map((s) => ({
        stackName: s.stackName,
        stackId: s.stackId,
        dependencies: s.dependencies,
        outputs: Object.fromEntries(s.outputs.map((o) => [o.key, o.value])),
      })),
      outputs: flatOutputs(model.stacks, named),
      services,
      functions: services.flatMap((s) => s.functions).sort((a, b) => a.name.localeCompare(b.name)),
      lambdaFunctions: model.functions,
      model,
      notes,
      lambda,
      events,
      logs,
      ttl,
      kafka,
      ...(sfn ? { stepFunctions: sfn } : {}),
      apiGateway,
      stop: () => {
        stopped ??= runCleanups();
        return stopped;
      },
    };
  } catch (error) {
    edge.fail(error as Error);
    await runCleanups();
    throw error;
  }
}
