/**
 * Dead letters in the SDK, over a mocked TaskApi (Lambda) and an in-memory SQS queue with real
 * visibility semantics (aws-sdk-client-mock): reading decodes the records and leaves every
 * message visible again, a redrive deletes its message only after the TaskApi accepted and
 * releases it on every failure, and input is checked before the queue is touched.
 */
import 'aws-sdk-client-mock-jest';
import { InvokeCommand, type InvokeCommandInput, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityBatchCommand,
  type ChangeMessageVisibilityBatchCommandInput,
  ChangeMessageVisibilityCommand,
  type ChangeMessageVisibilityCommandInput,
  DeleteMessageCommand,
  type DeleteMessageCommandInput,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  type ReceiveMessageCommandInput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { minimalTask } from './fixtures';
import {
  AsyncTaskClient,
  buildDestinationRecord,
  DEAD_LETTER_PEEK_VISIBILITY_SECONDS,
  DEAD_LETTER_REDRIVE_HOLD_SECONDS,
  DeadLetterNotFoundError,
  InvalidArgumentError,
  InvalidPayloadError,
  InvalidTaskIdError,
  InvalidTaskStateError,
  ServiceError,
  type TaskApiRequest,
  TaskFunctionNotFoundError,
  type TaskFunctionSummary,
  type TaskRecord,
} from '../../../client';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const lambda = mockClient(LambdaClient);
const sqs = mockClient(SQSClient);
const TASK_API = 'AsyncTaskDemo-TaskApi-1A2B3C';
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/etl-dlq';
const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:etl-dlq';
const ETL_RUNNER = 'arn:aws:lambda:eu-west-1:123456789012:function:etl-worker';
const OTHER_RUNNER = 'arn:aws:lambda:eu-west-1:123456789012:function:other-worker';

const summary = (name: string, runnerArn: string, extra: Partial<TaskFunctionSummary> = {}): TaskFunctionSummary => ({
  name,
  kind: 'lambda',
  maxRetryAttempts: 2,
  maxEventAgeSeconds: 3600,
  timeoutSeconds: 60,
  stateMachineArn: `arn:aws:states:eu-west-1:123456789012:stateMachine:${name}`,
  runnerArn,
  ...extra,
});

const FUNCTIONS: TaskFunctionSummary[] = [
  summary('etl', ETL_RUNNER, { onFailure: QUEUE_ARN, onFailureDestination: { type: 'sqs', arn: QUEUE_ARN, url: QUEUE_URL } }),
  summary('other', OTHER_RUNNER, { onFailure: QUEUE_ARN, onFailureDestination: { type: 'sqs', arn: QUEUE_ARN, url: QUEUE_URL } }),
  summary('plain', 'arn:aws:lambda:eu-west-1:123456789012:function:plain'),
  summary('notify', 'arn:aws:lambda:eu-west-1:123456789012:function:notify', {
    onFailure: 'arn:aws:sns:eu-west-1:123456789012:failures',
    onFailureDestination: { type: 'sns', arn: 'arn:aws:sns:eu-west-1:123456789012:failures' },
  }),
  // A service from before the destinations were summarised: the ARN only.
  summary('legacy', 'arn:aws:lambda:eu-west-1:123456789012:function:legacy', { onFailure: QUEUE_ARN }),
];

/** An SQS queue in memory: visibility timeouts, receipt handles that change on each receive. */
class FakeQueue {
  public readonly messages: Array<{ id: string; body: string; sent: number; received: number; visibleAt: number; handle?: string }> = [];
  private handles = 0;

  public add(id: string, body: string, sent = Date.now()): void {
    this.messages.push({ id, body, sent, received: 0, visibleAt: 0 });
  }

  public visible(): string[] {
    return this.messages.filter((m) => m.visibleAt <= Date.now()).map((m) => m.id);
  }

  public receive(input: ReceiveMessageCommandInput): { Messages?: Message[] } {
    const now = Date.now();
    const taken = this.messages.filter((m) => m.visibleAt <= now).slice(0, input.MaxNumberOfMessages ?? 1);
    for (const m of taken) {
      m.received++;
      m.visibleAt = now + (input.VisibilityTimeout ?? 30) * 1000;
      m.handle = `${m.id}-h${++this.handles}`;
    }
    const messages = taken.map((m) => ({
      MessageId: m.id,
      ReceiptHandle: m.handle,
      Body: m.body,
      Attributes: { SentTimestamp: String(m.sent), ApproximateReceiveCount: String(m.received) },
    }));
    return messages.length > 0 ? { Messages: messages } : {};
  }

  public changeVisibility(handle: string | undefined, seconds: number): void {
    const m = this.messages.find((x) => x.handle === handle);
    if (!m) throw Object.assign(new Error('The input receipt handle is invalid.'), { name: 'ReceiptHandleIsInvalid' });
    m.visibleAt = Date.now() + seconds * 1000;
  }

  public delete(handle: string | undefined): void {
    const i = this.messages.findIndex((x) => x.handle === handle);
    if (i < 0) throw Object.assign(new Error('The input receipt handle is invalid.'), { name: 'ReceiptHandleIsInvalid' });
    this.messages.splice(i, 1);
  }
}

let queue: FakeQueue;

function serveQueue(): void {
  sqs.on(ReceiveMessageCommand).callsFake((input: ReceiveMessageCommandInput) => queue.receive(input));
  sqs.on(ChangeMessageVisibilityCommand).callsFake((input: ChangeMessageVisibilityCommandInput) => {
    queue.changeVisibility(input.ReceiptHandle, input.VisibilityTimeout ?? 0);
    return {};
  });
  sqs.on(ChangeMessageVisibilityBatchCommand).callsFake((input: ChangeMessageVisibilityBatchCommandInput) => {
    const entries = input.Entries ?? [];
    if (entries.length > 10) throw new Error('TooManyEntriesInBatchRequest');
    for (const e of entries) queue.changeVisibility(e.ReceiptHandle, e.VisibilityTimeout ?? 0);
    return { Successful: entries.map((e) => ({ Id: e.Id })), Failed: [] };
  });
  sqs.on(DeleteMessageCommand).callsFake((input: DeleteMessageCommandInput) => {
    queue.delete(input.ReceiptHandle);
    return {};
  });
  sqs.on(GetQueueAttributesCommand).callsFake(() => {
    const now = Date.now();
    const visible = queue.messages.filter((m) => m.visibleAt <= now).length;
    return {
      Attributes: {
        QueueArn: QUEUE_ARN,
        ApproximateNumberOfMessages: String(visible),
        ApproximateNumberOfMessagesNotVisible: String(queue.messages.length - visible),
      },
    };
  });
  sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: QUEUE_URL });
}

function bytes(value: unknown): InvokeCommandOutput['Payload'] {
  return new TextEncoder().encode(JSON.stringify(value)) as InvokeCommandOutput['Payload'];
}

function requestOf(input: InvokeCommandInput): TaskApiRequest {
  return JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array)) as TaskApiRequest;
}

const task = (taskId: string, extra: Partial<TaskRecord> = {}): TaskRecord => minimalTask('etl', taskId, extra);

type Answer = { result: unknown } | { error: { name: string; message: string } };

/** The TaskApi: functions, and retry/submit answered by `act` (accepted by default). */
function serveTaskApi(
  act: (request: TaskApiRequest) => Answer = (r) => ({ result: task('taskId' in r && r.taskId ? r.taskId : 'gen_1') }),
): void {
  lambda.on(InvokeCommand).callsFake((input: InvokeCommandInput) => {
    const request = requestOf(input);
    const answer: Answer = request.op === 'functions' ? { result: FUNCTIONS } : act(request);
    return {
      StatusCode: 200,
      Payload: bytes('error' in answer ? { ok: false, error: answer.error } : { ok: true, result: answer.result }),
    };
  });
}

function requests(): TaskApiRequest[] {
  return lambda.commandCalls(InvokeCommand).map((c) => requestOf(c.args[0].input));
}

const client = () => new AsyncTaskClient({ functionName: TASK_API, region: 'eu-west-1' });

function failureRecord(taskId: string, functionArn = ETL_RUNNER, requestPayload: unknown = { orderId: taskId }): string {
  return JSON.stringify(
    buildDestinationRecord({
      condition: 'RetriesExhausted',
      taskId,
      requestId: `req-${taskId}`,
      functionArn,
      approximateInvokeCount: 3,
      requestPayload,
      responsePayload: { errorType: 'Error', errorMessage: `order ${taskId} failed` },
      timestamp: '2026-11-25T12:00:00.000Z',
    }),
  );
}

beforeEach(() => {
  lambda.reset();
  sqs.reset();
  queue = new FakeQueue();
  serveQueue();
  serveTaskApi();
});

describe('deadLetterQueue', () => {
  it('is the SQS failure destination with its depth and messages in flight', async () => {
    queue.add('m1', failureRecord('a'));
    queue.add('m2', failureRecord('b'));
    queue.messages[1].visibleAt = Date.now() + 60_000;

    await expect(client().deadLetterQueue('etl')).resolves.toEqual({
      functionName: 'etl',
      queueUrl: QUEUE_URL,
      queueArn: QUEUE_ARN,
      depth: 1,
      inFlight: 1,
    });
    expect(sqs).toHaveReceivedCommandWith(GetQueueAttributesCommand, { QueueUrl: QUEUE_URL });
    expect(sqs).not.toHaveReceivedCommand(ReceiveMessageCommand);
  });

  it('is undefined for a function without a failure destination', async () => {
    await expect(client().deadLetterQueue('plain')).resolves.toBeUndefined();
    expect(sqs).not.toHaveReceivedAnyCommand();
  });

  it("finds the queue's URL from its ARN when the service gives the ARN only", async () => {
    await expect(client().deadLetterQueue('legacy')).resolves.toMatchObject({ queueUrl: QUEUE_URL, depth: 0 });
    expect(sqs).toHaveReceivedCommandWith(GetQueueUrlCommand, { QueueName: 'etl-dlq', QueueOwnerAWSAccountId: '123456789012' });
  });

  it('fails if the failure destination is not an SQS queue, naming its type and ARN', async () => {
    const error = await client()
      .deadLetterQueue('notify')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe(
      "the failure destination of function 'notify' is of type 'sns' (arn:aws:sns:eu-west-1:123456789012:failures); only an SQS queue can be read",
    );
  });

  it('fails if the function does not exist, naming the known ones', async () => {
    await expect(client().deadLetterQueue('nope')).rejects.toThrow(TaskFunctionNotFoundError);
    await expect(client().deadLetterQueue('nope')).rejects.toThrow('known functions: etl, other, plain, notify, legacy');
  });
});

describe('deadLetters', () => {
  it('decodes destination records and keeps other bodies raw; every message is visible again afterwards', async () => {
    for (let i = 1; i <= 23; i++) queue.add(`m${i}`, failureRecord(`t${i}`), 1_000 + i);
    queue.add('m-other', failureRecord('x', OTHER_RUNNER), 2_000);
    queue.add('m-raw', 'not a record', 500);

    const { queue: info, letters } = await client().deadLetters('etl');

    expect(info).toMatchObject({ queueUrl: QUEUE_URL, depth: 25 });
    expect(letters).toHaveLength(25);
    // Newest first.
    expect(letters[0].messageId).toBe('m-other');
    expect(letters[1]).toEqual({
      messageId: 'm23',
      sentTime: 1023,
      receiveCount: 1,
      body: queue.messages[22].body,
      record: JSON.parse(queue.messages[22].body),
      condition: 'RetriesExhausted',
      taskId: 't23',
      functionName: 'etl',
      errorType: 'Error',
      errorMessage: 'order t23 failed',
      requestPayload: { orderId: 't23' },
    });
    expect(letters[0]).toMatchObject({ taskId: 'x', functionName: 'other' });
    expect(letters.at(-1)).toEqual({ messageId: 'm-raw', sentTime: 500, receiveCount: 1, body: 'not a record' });

    expect(queue.visible()).toHaveLength(25);
    // Three pages, then one receive that finds nothing new and does not wait.
    expect(sqs).toHaveReceivedCommandTimes(ReceiveMessageCommand, 4);
    expect(sqs.commandCalls(ReceiveMessageCommand).map((c) => c.args[0].input.WaitTimeSeconds)).toEqual([1, 1, 1, 0]);
    expect(sqs).toHaveReceivedCommandWith(ReceiveMessageCommand, {
      QueueUrl: QUEUE_URL,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: DEAD_LETTER_PEEK_VISIBILITY_SECONDS,
      MessageSystemAttributeNames: ['All'],
    });
    for (const call of sqs.commandCalls(ChangeMessageVisibilityBatchCommand)) {
      const entries = call.args[0].input.Entries ?? [];
      expect(entries.length).toBeLessThanOrEqual(10);
      for (const e of entries) expect(e.VisibilityTimeout).toBe(0);
    }
    expect(sqs).not.toHaveReceivedCommand(DeleteMessageCommand);
  });

  it('reads at most max messages, asking for no more than are left', async () => {
    for (let i = 1; i <= 30; i++) queue.add(`m${i}`, failureRecord(`t${i}`));

    const { letters } = await client().deadLetters('etl', { max: 12 });

    expect(letters).toHaveLength(12);
    expect(sqs.commandCalls(ReceiveMessageCommand).map((c) => c.args[0].input.MaxNumberOfMessages)).toEqual([10, 2]);
    expect(queue.visible()).toHaveLength(30);
  });

  it('an empty queue: no letters, one receive that does not wait', async () => {
    const { letters } = await client().deadLetters('etl');
    expect(letters).toEqual([]);
    expect(sqs).toHaveReceivedCommandWith(ReceiveMessageCommand, { WaitTimeSeconds: 0 });
  });

  it('a receive that fails: a ServiceError naming the queue, and what was read before is released', async () => {
    for (let i = 1; i <= 15; i++) queue.add(`m${i}`, failureRecord(`t${i}`));
    sqs
      .on(ReceiveMessageCommand)
      .callsFakeOnce((input: ReceiveMessageCommandInput) => queue.receive(input))
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    const error = await client()
      .deadLetters('etl')
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ServiceError);
    expect((error as Error).message).toBe(`cannot receive messages on queue ${QUEUE_URL}: ThrottlingException: Rate exceeded`);
    expect(queue.visible()).toHaveLength(15);
  });

  describe('fails if', () => {
    it.each([0, 1001, 2.5])('max is %p, before any call', async (max) => {
      await expect(client().deadLetters('etl', { max })).rejects.toThrow(
        `max must be an integer between 1 and 1000 inclusive (given ${max})`,
      );
      expect(lambda).not.toHaveReceivedAnyCommand();
      expect(sqs).not.toHaveReceivedAnyCommand();
    });

    it('the function has no failure destination', async () => {
      await expect(client().deadLetters('plain')).rejects.toThrow(
        "function 'plain' has no failure destination (onFailure), so it has no dead letters",
      );
    });
  });
});

describe('redriveDeadLetter', () => {
  beforeEach(() => {
    for (let i = 1; i <= 14; i++) queue.add(`m${i}`, failureRecord(`t${i}`));
  });

  it('retry: retries the task the record names, then deletes the message; the others are released', async () => {
    const result = await client().redriveDeadLetter('etl', 'm12', { action: 'retry' });

    expect(result).toEqual({ task: task('t12'), messageId: 'm12', deleted: true });
    expect(requests()).toEqual([{ op: 'functions' }, { op: 'retry', functionName: 'etl', taskId: 't12' }]);
    expect(sqs).toHaveReceivedCommandWith(ChangeMessageVisibilityCommand, { VisibilityTimeout: DEAD_LETTER_REDRIVE_HOLD_SECONDS });
    expect(queue.messages.map((m) => m.id)).not.toContain('m12');
    expect(queue.visible()).toHaveLength(13);
  });

  it('resubmit: submits the edited payload under the new id, then deletes the message', async () => {
    const result = await client().redriveDeadLetter('etl', 'm3', {
      action: 'resubmit',
      payload: { orderId: 't3', fixed: true },
      taskId: 't3-again',
    });

    expect(result).toMatchObject({ task: { taskId: 't3-again' }, messageId: 'm3', deleted: true });
    expect(requests()[1]).toEqual({ op: 'submit', functionName: 'etl', taskId: 't3-again', payload: { orderId: 't3', fixed: true } });
    expect(queue.messages).toHaveLength(13);
    expect(queue.visible()).toHaveLength(13);
  });

  it('resubmit of a message that is not a record: allowed, with the payload given', async () => {
    queue.add('m-raw', 'hello');
    const result = await client().redriveDeadLetter('etl', 'm-raw', { action: 'resubmit', payload: { text: 'hello' } });
    expect(result.deleted).toBe(true);
    expect(requests()[1]).toEqual({ op: 'submit', functionName: 'etl', payload: { text: 'hello' } });
  });

  it('the TaskApi refuses (the task is running again): the message stays, visible, and the typed error is thrown', async () => {
    serveTaskApi(() => ({
      error: { name: 'InvalidTaskState', message: "task 't5' is Running; only Failed, Stopped or Expired tasks can be retried" },
    }));

    const error = await client()
      .redriveDeadLetter('etl', 'm5', { action: 'retry' })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(InvalidTaskStateError);
    expect((error as Error).message).toBe("task 't5' is Running; only Failed, Stopped or Expired tasks can be retried");
    expect(sqs).not.toHaveReceivedCommand(DeleteMessageCommand);
    expect(queue.visible()).toHaveLength(14);
  });

  it('the TaskApi cannot be reached: the message stays, visible, and a ServiceError is thrown', async () => {
    lambda
      .on(InvokeCommand)
      .callsFakeOnce(() => ({ StatusCode: 200, Payload: bytes({ ok: true, result: FUNCTIONS }) }))
      .rejectsOnce(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }));

    const error = await client()
      .redriveDeadLetter('etl', 'm5', { action: 'retry' })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ServiceError);
    expect((error as Error).message).toMatch(/cannot invoke the TaskApi function .*TimeoutError: socket hang up/);
    expect(sqs).not.toHaveReceivedCommand(DeleteMessageCommand);
    expect(queue.visible()).toHaveLength(14);
  });

  it('a message that is not on the queue: DeadLetterNotFoundError, everything read released', async () => {
    const error = await client()
      .redriveDeadLetter('etl', 'gone-1', { action: 'retry' })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeadLetterNotFoundError);
    expect((error as Error).message).toBe(`message gone-1 is not on queue ${QUEUE_URL} (already redriven or deleted?)`);
    expect(requests()).toEqual([{ op: 'functions' }]);
    expect(queue.visible()).toHaveLength(14);
  });

  it('a record of another function is refused and released', async () => {
    queue.add('m-other', failureRecord('x', OTHER_RUNNER));

    const error = await client()
      .redriveDeadLetter('etl', 'm-other', { action: 'retry' })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toBe(
      `message m-other on queue ${QUEUE_URL} is a record of function 'other' (runner ${OTHER_RUNNER}), not of 'etl'; redrive it through 'other'`,
    );
    expect(requests()).toEqual([{ op: 'functions' }]);
    expect(queue.visible()).toHaveLength(15);
  });

  it('retry of a message that is not a record is refused: it names no task', async () => {
    queue.add('m-raw', 'hello');
    await expect(client().redriveDeadLetter('etl', 'm-raw', { action: 'retry' })).rejects.toThrow(
      `message m-raw on queue ${QUEUE_URL} is not a destination record (body 'hello'), so it names no task to retry; resubmit it with a payload instead`,
    );
    expect(queue.visible()).toHaveLength(15);
  });

  it('the task is accepted but the delete fails: the task is returned with deleted false', async () => {
    sqs.on(DeleteMessageCommand).rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));

    const result = await client().redriveDeadLetter('etl', 'm2', { action: 'retry' });

    expect(result).toEqual({ task: task('t2'), messageId: 'm2', deleted: false });
  });

  describe('fails before touching the queue if', () => {
    const cases: Array<[string, () => Promise<unknown>, new (...args: never[]) => Error, string | RegExp]> = [
      [
        'the payload is not JSON',
        () => client().redriveDeadLetter('etl', 'm1', { action: 'resubmit', payload: 10n }),
        InvalidPayloadError,
        /payload is not JSON-serializable/,
      ],
      [
        'the new task id is invalid',
        () => client().redriveDeadLetter('etl', 'm1', { action: 'resubmit', payload: {}, taskId: '9lives' }),
        InvalidTaskIdError,
        /invalid task id '9lives'/,
      ],
      [
        'the action is unknown',
        () => client().redriveDeadLetter('etl', 'm1', { action: 'delete' } as never),
        InvalidArgumentError,
        `action must be 'retry' or 'resubmit' (given "delete")`,
      ],
      [
        'the message id is empty',
        () => client().redriveDeadLetter('etl', '', { action: 'retry' }),
        InvalidArgumentError,
        /messageId must be/,
      ],
    ];
    it.each(cases)('%s', async (_name, call, type, message) => {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toMatch(message);
      expect(lambda).not.toHaveReceivedAnyCommand();
      expect(sqs).not.toHaveReceivedAnyCommand();
    });
  });
});
