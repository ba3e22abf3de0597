/** The SQS trigger on the fake table: ids from the message, redelivery, quarantine, partial batch responses, configuration. */
import 'aws-sdk-client-mock-jest';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { handler } from '../../../lambda/handlers/trigger';
import type { SqsRecord } from '../../../lambda/lib/trigger-sqs';
import { type QuarantineRecord, sqsTaskId, TRIGGER_ENV, type TaskItem } from '../../../lambda/model';
import { FakeTable } from './fake-table';
import { awsError, ETL, mocks, setServiceEnv, useHandlerTestEnv } from './fixtures';

const NOW = Date.parse('2026-11-25T12:00:00.000Z');
const QUEUE = 'arn:aws:sqs:us-east-1:123456789012:orders-in';
const QUARANTINE_QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/etl-quarantine';

useHandlerTestEnv(NOW);

let table: FakeTable;

function setTriggerEnv(env: { mode?: string; valueFormat?: string; taskIdSource?: string } = {}): void {
  process.env[TRIGGER_ENV.functionName] = 'etl';
  process.env[TRIGGER_ENV.mode] = env.mode ?? 'record';
  process.env[TRIGGER_ENV.valueFormat] = env.valueFormat ?? 'json';
  process.env[TRIGGER_ENV.taskIdSource] = env.taskIdSource ?? 'messageId';
  process.env[TRIGGER_ENV.failureDestination] = JSON.stringify({
    type: 'sqs',
    arn: 'arn:aws:sqs:us-east-1:123456789012:etl-quarantine',
    url: QUARANTINE_QUEUE,
  });
}

beforeEach(() => {
  setServiceEnv([ETL]);
  setTriggerEnv();
  table = new FakeTable();
  mocks.sfn.on(StartExecutionCommand).resolves({});
  mocks.sqs.on(SendMessageCommand).resolves({ MessageId: 'q' });
});

afterAll(() => {
  for (const name of Object.values(TRIGGER_ENV)) delete process.env[name];
});

function message(id: string, body: unknown, attributes: Record<string, string> = {}): SqsRecord {
  return {
    messageId: id,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    eventSource: 'aws:sqs',
    eventSourceARN: QUEUE,
    attributes: { ApproximateReceiveCount: '1' },
    messageAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { stringValue: v, dataType: 'String' }])),
  };
}

const sqsEvent = (...records: SqsRecord[]) => ({ Records: records });

function tasks(): TaskItem[] {
  return table.all() as unknown as TaskItem[];
}

function quarantined(): QuarantineRecord[] {
  return mocks.sqs
    .commandCalls(SendMessageCommand, { QueueUrl: QUARANTINE_QUEUE })
    .map((c) => JSON.parse(c.args[0].input.MessageBody ?? '') as QuarantineRecord);
}

describe('SQS record mode', () => {
  test('task id from the message id, payload the parsed body, lineage queue and message id; a redelivery is no second task', async () => {
    const event = sqsEvent(message('m-1', { orderId: 1 }), message('m-2', { orderId: 2 }));

    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    expect(await handler(event)).toEqual({ batchItemFailures: [] });

    expect(tasks().map((t) => [t.taskId, JSON.parse(t.taskPayload), t.source])).toEqual([
      [sqsTaskId('m-1'), { orderId: 1 }, { type: 'sqs', queue: QUEUE, messageIds: ['m-1'] }],
      [sqsTaskId('m-2'), { orderId: 2 }, { type: 'sqs', queue: QUEUE, messageIds: ['m-2'] }],
    ]);
    // The audit trail: the queue created each task (its first and only event).
    expect(tasks().map((t) => t.events)).toEqual([
      [{ status: 'Enqueued', at: '2026-11-25T12:00:00.000Z', detail: 'created by a sqs trigger', caller: `sqs:${QUEUE}` }],
      [{ status: 'Enqueued', at: '2026-11-25T12:00:00.000Z', detail: 'created by a sqs trigger', caller: `sqs:${QUEUE}` }],
    ]);
    expect(mocks.sfn.commandCalls(StartExecutionCommand)).toHaveLength(2);
  });

  test('task id from a message attribute: the same attribute value in another message is a duplicate', async () => {
    setTriggerEnv({ taskIdSource: 'attribute:orderId' });

    await handler(sqsEvent(message('m-1', { n: 1 }, { orderId: 'o-42' })));
    await handler(sqsEvent(message('m-9', { n: 1 }, { orderId: 'o-42' })));

    expect(tasks().map((t) => t.taskId)).toEqual([sqsTaskId('o-42')]);
  });

  test('task id from a field of the JSON body; a message without it is quarantined with the reason', async () => {
    setTriggerEnv({ taskIdSource: 'field:orderId' });
    const without = message('m-2', { total: 3 });

    const response = await handler(sqsEvent(message('m-1', { orderId: 'o/7 x', total: 1 }), without));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(tasks().map((t) => t.taskId)).toEqual([sqsTaskId('o/7 x')]);
    expect(sqsTaskId('o/7 x')).toMatch(/^s_[0-9a-f]{64}$/);
    expect(quarantined()).toEqual([
      {
        version: '1.0',
        timestamp: '2026-11-25T12:00:00.000Z',
        trigger: { functionName: 'etl', source: { type: 'sqs', queue: QUEUE, messageIds: ['m-2'] } },
        reason:
          "the body of message m-2 has no top-level field 'orderId' that is a non-empty string or a number (given nothing); the trigger takes task ids from field:orderId, so the body must be a JSON object with it",
        record: without,
      },
    ]);
  });

  test('a body that is not JSON is quarantined and deleted; with valueFormat text it is the payload', async () => {
    const event = sqsEvent(message('m-1', 'plain words'));

    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    expect(quarantined()[0].reason).toMatch(/^the body of message m-1 is not JSON \(.*\); given 'plain words'; with valueFormat 'json'/);
    expect(tasks()).toEqual([]);

    setTriggerEnv({ valueFormat: 'text' });
    await handler(event);
    expect(tasks().map((t) => JSON.parse(t.taskPayload))).toEqual(['plain words']);
  });

  test('a transient failure reports only that message', async () => {
    mocks.sfn.on(StartExecutionCommand).resolvesOnce({}).rejectsOnce(awsError('ThrottlingException', 'Rate exceeded')).resolves({});

    const response = await handler(sqsEvent(message('m-1', { n: 1 }), message('m-2', { n: 2 }), message('m-3', { n: 3 })));

    expect(response.batchItemFailures).toHaveLength(1);
    const failedId = response.batchItemFailures[0].itemIdentifier as string;
    expect(
      tasks()
        .map((t) => t.taskId)
        .sort(),
    ).toEqual(['m-1', 'm-2', 'm-3'].filter((id) => id !== failedId).map(sqsTaskId));
  });

  test('a FIFO queue: the messages after a failed one are failures too, so the order holds', async () => {
    const fifo = (id: string): SqsRecord => ({ ...message(id, { id }), eventSourceARN: `${QUEUE}.fifo` });
    mocks.sfn.on(StartExecutionCommand).resolvesOnce({}).rejectsOnce(awsError('ThrottlingException')).resolves({});

    const response = await handler(sqsEvent(fifo('m-1'), fifo('m-2'), fifo('m-3')));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-2' }, { itemIdentifier: 'm-3' }] });
    expect(tasks().map((t) => t.taskId)).toEqual([sqsTaskId('m-1')]);
  });
});

describe('SQS batch mode', () => {
  test('one task of the bodies, id from the sorted message ids; the same batch redelivered is a duplicate', async () => {
    setTriggerEnv({ mode: 'batch' });
    const event = sqsEvent(message('m-2', { n: 2 }), message('m-1', { n: 1 }));

    await handler(event);
    await handler(event);

    expect(tasks().map((t) => [t.taskId, JSON.parse(t.taskPayload), t.source])).toEqual([
      [sqsTaskId('m-1,m-2'), [{ n: 2 }, { n: 1 }], { type: 'sqs', queue: QUEUE, messageIds: ['m-2', 'm-1'] }],
    ]);
  });
});

describe('trigger configuration', () => {
  test('fails if the mode is not batch or record, naming the variable and the value', async () => {
    process.env[TRIGGER_ENV.mode] = 'stream';

    await expect(handler(sqsEvent(message('m-1', {})))).rejects.toThrow(
      `the trigger is misconfigured: environment variable ASYNCTASK_TRIGGER_MODE must be 'batch' or 'record' (given "stream")`,
    );
  });

  test('fails if the task id source is not messageId, attribute:<name> or field:<name>', async () => {
    process.env[TRIGGER_ENV.taskIdSource] = 'header:x';

    await expect(handler(sqsEvent(message('m-1', {})))).rejects.toThrow(
      `environment variable ASYNCTASK_TRIGGER_TASK_ID_SOURCE must be 'messageId', 'attribute:<name>' or 'field:<name>' (given "header:x")`,
    );
  });

  test('fails if the event is neither Kafka nor SQS, naming what it handles', async () => {
    await expect(handler({ Records: [{ eventSource: 'aws:kinesis' }] })).rejects.toThrow(
      /^the trigger handles Lambda's Kafka events \(eventSource 'aws:kafka' or 'SelfManagedKafka'\) and SQS events \(Records with eventSource 'aws:sqs'\); given \{"Records"/,
    );
  });
});
