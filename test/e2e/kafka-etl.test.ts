/**
 * Issue 8 end to end: the demo app's `etl` function fed by its Kafka trigger (topic
 * `connector-demo`) and its SQS trigger (`EtlInputQueueUrl`) on the local runtime.
 *
 * - 1,000 records over 3 partitions: each in exactly one task (lineage and payload), in partition
 *   order inside it, and exactly once in the success queue — on the embedded topics and on a real
 *   Apache Kafka broker (test/kafka/broker.ts; skipped, printing why, without a JVM/Maven unless
 *   ASYNCTASK_REQUIRE_KAFKA=1).
 * - Invalid records (not JSON, over 128 KiB) are quarantined with their reason and the record as
 *   delivered; the rest of their batch becomes tasks and the partition moves on.
 * - Re-batched redelivery: the trigger Lambda invoked directly with hand-built SelfManagedKafka
 *   events whose batch boundaries differ (subsets, overlaps, two at once): no record in two tasks,
 *   none in zero. (The crash between task creation and commit is kafka-etl-crash.test.ts.)
 * - SQS: a message redelivered after its visibility timeout makes no second task; in a batch with
 *   a message the trigger cannot hand over, only that message comes back.
 */
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
} from '@aws-sdk/client-sqs';
import { Kafka, logLevel } from 'kafkajs';
import { produce } from '../../client/produce';
import { kafkaTaskIdPrefix, type QuarantineRecord } from '../../lambda/model/trigger';
import { sqsRecord } from '../../local/event-sources';
import { type Broker, describeWithBroker, startBroker } from '../kafka/broker';
import { sleep, waitUntil, watchTask } from './harness';
import {
  type EtlRuntime,
  expectEachRecordInOneTask,
  expectEachRecordOnceInSuccess,
  FUNCTION,
  invokeLambda,
  type KafkaTask,
  kafkaTasks,
  type ProducedRecord,
  quarantineRecords,
  recordKey,
  startEtlRuntime,
  TOPIC,
  tasksWithPrefix,
  triggerSummaries,
  waitForTasks,
} from './kafka-etl-checks';

const RECORDS = 1000;
const PARTITIONS = 3;

/** Produces `count` small JSON records round robin over the partitions (the edge route, as `asynctask produce`). */
async function produceNumbered(endpoint: string, first: number, count: number): Promise<ProducedRecord[]> {
  const input = Array.from({ length: count }, (_, i) => ({
    key: `r-${first + i}`,
    partition: (first + i) % PARTITIONS,
    value: JSON.stringify({ n: first + i }),
  }));
  const out = await produce(endpoint, TOPIC, input);
  expect(out.offsets).toHaveLength(count);
  return out.offsets.map(({ partition, offset }, i) => ({ partition, offset, key: input[i].key, value: { n: first + i } }));
}

/** An SQS message body `etl` takes: a batch of one record in the shape of FC's Kafka connector. */
function etlBatch(topic: string, offset: number): unknown[] {
  return [{ key: `k${offset}`, offset, overflowFlag: false, partition: 0, timestamp: 1764072000000 + offset, topic, value: { offset } }];
}

/** The exactly-once test, the same against either source. */
async function exactlyOnce(rt: () => EtlRuntime, label: string): Promise<void> {
  const started = Date.now();
  const produced = await produceNumbered(rt().endpoint, 0, RECORDS);
  for (let p = 0; p < PARTITIONS; p++) {
    const offsets = produced.filter((r) => r.partition === p).map((r) => r.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  }
  const tasks = await waitForTasks(rt().client, TOPIC, produced, { terminal: true, timeoutMs: 60_000 });
  const mine = expectEachRecordInOneTask(tasks, TOPIC, produced);
  expect(mine.filter((t) => t.status !== 'Succeeded').map((t) => `${t.taskId}: ${t.status}`)).toEqual([]);
  const success = await expectEachRecordOnceInSuccess(rt().destinations, rt().output('EtlSuccessQueueUrl'), mine, produced);
  // Nothing of these records was quarantined or failed.
  const failures = (await rt().destinations.drain(rt().output('EtlFailureQueueUrl'))).filter((r) =>
    mine.some((t) => t.taskId === r.requestContext.taskId),
  );
  expect(failures).toEqual([]);
  const perPartition = [0, 1, 2].map((p) => mine.filter((t) => t.source.partition === p).length);
  process.stdout.write(
    `kafka-etl (${label}): ${RECORDS} records over ${PARTITIONS} partitions → ${mine.length} tasks (per partition ${perPartition.join('/')}), ` +
      `${success.length} success records listing ${success.reduce((n, r) => n + (r.responsePayload as { processed: number }).processed, 0)} records, in ${Date.now() - started} ms\n`,
  );
}

describe('etl fed by Kafka on the embedded topics', () => {
  let rt: EtlRuntime | undefined;
  const runtime = (): EtlRuntime => {
    if (!rt) throw new Error('the local runtime did not start (see the beforeAll error)');
    return rt;
  };
  beforeAll(async () => {
    rt = await startEtlRuntime();
  }, 240_000);
  afterAll(async () => {
    await rt?.stop();
  }, 30_000);

  test('1,000 records over 3 partitions: each in exactly one task, in partition order, exactly once in the success queue', async () => {
    await exactlyOnce(runtime, 'embedded topics');
  }, 90_000);

  test('a record that is not JSON and one over 128 KiB are quarantined with their reason; the rest of the batch becomes tasks', async () => {
    const quarantineUrl = runtime().output('EtlQuarantineQueueUrl');
    expect(await quarantineRecords(runtime().destinations, quarantineUrl)).toEqual([]);
    const oversized = JSON.stringify({ blob: 'x'.repeat(140 * 1024) });
    const input = [
      { key: 'q-a', partition: 0, value: JSON.stringify({ q: 'a' }) },
      { key: 'q-bad-json', partition: 0, value: 'not json {' },
      { key: 'q-b', partition: 0, value: JSON.stringify({ q: 'b' }) },
      { key: 'q-big', partition: 0, value: oversized },
      { key: 'q-c', partition: 0, value: JSON.stringify({ q: 'c' }) },
    ];
    // One produce call: the five land together and the poller takes them as one batch.
    const out = await produce(runtime().endpoint, TOPIC, input);
    const [a, badJson, b, big, c] = out.offsets.map(({ partition, offset }, i) => ({
      partition,
      offset,
      key: input[i].key,
      value: JSON.parse(i === 1 ? '"unused"' : input[i].value) as unknown,
    }));
    // A record after them, produced once they were handled: the partition has moved on.
    const ofPartition0 = async () =>
      (await quarantineRecords(runtime().destinations, quarantineUrl)).filter(
        (r) => r.trigger.source.type === 'kafka' && r.trigger.source.partition === 0,
      );
    await waitUntil(async () => (await ofPartition0()).length >= 2, {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: 'two quarantine records of partition 0',
    });
    const [d] = (await produce(runtime().endpoint, TOPIC, [{ key: 'q-d', partition: 0, value: JSON.stringify({ q: 'd' }) }])).offsets.map(
      (o) => ({ ...o, key: 'q-d', value: { q: 'd' } as unknown }),
    );
    const valid = [a, b, c, d];
    const tasks = await waitForTasks(runtime().client, TOPIC, [...valid, badJson, big], { terminal: true });
    const mine = expectEachRecordInOneTask(
      tasks,
      TOPIC,
      [...valid, badJson, big],
      new Set([recordKey(0, badJson.offset), recordKey(0, big.offset)]),
    );
    expect(mine.every((t) => t.status === 'Succeeded')).toBe(true);
    // The quarantined records lie inside a task's range: its lineage covers them, its payload leaves them out.
    const holder = mine.find((t) => t.source.firstOffset <= badJson.offset && badJson.offset <= t.source.lastOffset) as KafkaTask;
    expect(holder.taskPayload.map((r) => r.key)).toEqual(expect.arrayContaining(['q-a', 'q-b']));
    await expectEachRecordOnceInSuccess(runtime().destinations, runtime().output('EtlSuccessQueueUrl'), mine, valid);

    await sleep(500);
    const all = await ofPartition0();
    expect(all).toHaveLength(2);
    const byOffset = new Map(all.map((r) => [(r.trigger.source as { firstOffset: number }).firstOffset, r]));
    const notJson = byOffset.get(badJson.offset) as QuarantineRecord;
    const tooBig = byOffset.get(big.offset) as QuarantineRecord;
    for (const [record, offset] of [
      [notJson, badJson.offset],
      [tooBig, big.offset],
    ] as const) {
      expect(record).toBeDefined();
      expect(record.trigger).toEqual({
        functionName: FUNCTION,
        source: { type: 'kafka', topic: TOPIC, partition: 0, firstOffset: offset, lastOffset: offset, cluster: 'localhost:9092' },
      });
      // The record exactly as Lambda delivered it: key and value base64.
      expect(record.record).toMatchObject({ topic: TOPIC, partition: 0, offset });
    }
    expect(notJson.reason).toContain(`the value of record ${TOPIC}/0 offset ${badJson.offset} is not JSON`);
    expect(notJson.reason).toContain("with valueFormat 'json' every value must be JSON text");
    expect(Buffer.from((notJson.record as { value: string }).value, 'base64').toString()).toBe('not json {');
    expect(tooBig.reason).toMatch(
      new RegExp(
        `^record ${TOPIC}/0 offset ${big.offset} is \\d+ bytes as a task payload \\(value ${oversized.length} bytes\\); the limit is 131072 bytes`,
      ),
    );
    expect(Buffer.from((tooBig.record as { value: string }).value, 'base64').toString()).toBe(oversized);
    expect(Buffer.from((tooBig.record as { key: string }).key, 'base64').toString()).toBe('q-big');
    process.stdout.write(
      `kafka-etl (quarantine): 6 records of partition 0 → ${mine.length} task(s) holding 4, 2 quarantined (not JSON; ${oversized.length} bytes)\n`,
    );
  }, 60_000);

  test('a redelivery re-batched any way (subsets, overlaps, two invocations at once) makes no second task for any record', async () => {
    // Hand-built SelfManagedKafka events straight to the trigger Lambda, for a topic no mapping
    // reads, so only these deliveries make its tasks.
    const topic = 'etl-rebatch';
    const trigger = runtime().functionNamed('EtlKafkaTrigger');
    const count = 60;
    const partitions = [0, 1];
    const produced: ProducedRecord[] = partitions.flatMap((partition) =>
      Array.from({ length: count }, (_, offset) => ({
        partition,
        offset,
        key: `p${partition}-${offset}`,
        value: { p: partition, o: offset },
      })),
    );
    const timestamp = Date.now();
    const event = (ranges: Record<number, [number, number]>) => ({
      eventSource: 'SelfManagedKafka',
      bootstrapServers: 'localhost:9092',
      records: Object.fromEntries(
        Object.entries(ranges).map(([p, [from, to]]) => [
          `${topic}-${p}`,
          produced
            .filter((r) => r.partition === Number(p) && r.offset >= from && r.offset <= to)
            .map((r) => ({
              topic,
              partition: r.partition,
              offset: r.offset,
              timestamp,
              timestampType: 'CREATE_TIME',
              key: Buffer.from(r.key as string).toString('base64'),
              value: Buffer.from(JSON.stringify(r.value)).toString('base64'),
              headers: [],
            })),
        ]),
      ),
    });
    const deliver = async (ranges: Record<number, [number, number]>) => {
      const out = await invokeLambda<{ batchItemFailures: unknown[] }>(runtime().lambda, trigger, event(ranges));
      expect(out.batchItemFailures).toEqual([]);
    };
    // In delivery order, as Lambda may deliver after crashes and rebalances: a batch, the same
    // batch cut shorter (its commit was lost), one that starts inside it and goes further, two at
    // once that overlap each other and the chain, then a tail that is all duplicates.
    await deliver({ 0: [0, 9], 1: [0, 19] });
    await deliver({ 0: [0, 4], 1: [0, 4] });
    await deliver({ 0: [5, 24], 1: [10, 30] });
    await Promise.all([deliver({ 0: [3, 40] }), deliver({ 0: [10, 59], 1: [20, 59] }), deliver({ 1: [25, 45] })]);
    await deliver({ 0: [50, 59], 1: [0, 59] });

    const tasks = await waitForTasks(runtime().client, topic, produced, { terminal: true });
    const mine = expectEachRecordInOneTask(tasks, topic, produced);
    expect(mine.every((t) => t.status === 'Succeeded')).toBe(true);
    // The chain of each partition starts at 0 and each task starts right after the one before.
    for (const p of partitions) {
      const ranges = mine
        .filter((t) => t.source.partition === p)
        .map((t) => [t.source.firstOffset, t.source.lastOffset])
        .sort((x, y) => x[0] - y[0]);
      expect(ranges[0][0]).toBe(0);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBe(ranges[i - 1][1] + 1);
      expect(ranges[ranges.length - 1][1]).toBe(count - 1);
    }
    // Listing by the ids' prefix finds the same tasks: nothing outside the chain.
    for (const p of partitions) {
      const listed = await tasksWithPrefix(runtime().client, kafkaTaskIdPrefix(topic, p));
      expect(listed.map((t) => t.taskId).sort()).toEqual(
        mine
          .filter((t) => t.source.partition === p)
          .map((t) => t.taskId)
          .sort(),
      );
    }
    await expectEachRecordOnceInSuccess(runtime().destinations, runtime().output('EtlSuccessQueueUrl'), mine, produced);
    process.stdout.write(
      `kafka-etl (re-batched): ${produced.length} records delivered in 8 overlapping batches → ${mine.length} tasks, each record once\n`,
    );
  }, 60_000);

  describe('SQS', () => {
    test('a message redelivered after its visibility timeout makes no second task', async () => {
      // Messages of a queue no mapping reads, received here, so their delivery is ours to make.
      const sqs = runtime().sqs;
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'etl-redelivery-test' }));
      const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
      const queueArn = attributes.Attributes?.QueueArn as string;
      const trigger = runtime().functionNamed('EtlSqsTrigger');
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify(etlBatch('sqs-redelivery', 1)) }));
      const receive = async (n: number, visibilityTimeout: number): Promise<Message[]> => {
        const got = new Map<string, Message>();
        for (let i = 0; i < 20 && got.size < n; i++) {
          const out = await sqs.send(
            new ReceiveMessageCommand({
              QueueUrl,
              MaxNumberOfMessages: 10,
              VisibilityTimeout: visibilityTimeout,
              WaitTimeSeconds: 1,
              MessageSystemAttributeNames: ['All'],
            }),
          );
          for (const m of out.Messages ?? []) got.set(m.MessageId as string, m);
        }
        return [...got.values()];
      };
      // Hidden for 1 s, and not deleted: it comes back then, as after a trigger that timed out.
      const [first] = await receive(1, 1);
      const delivered1 = await invokeLambda<{ batchItemFailures: unknown[] }>(runtime().lambda, trigger, {
        Records: [sqsRecord(first, queueArn)],
      });
      expect(delivered1.batchItemFailures).toEqual([]);
      const taskId = `s_${first.MessageId}`;
      const created = await runtime().client.get(FUNCTION, taskId);
      // It comes back once its visibility timeout passes, in a batch with a new message.
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify(etlBatch('sqs-redelivery', 2)) }));
      await sleep(1200);
      const again = await receive(2, 30);
      const redelivered = again.find((m) => m.MessageId === first.MessageId) as Message;
      expect(redelivered).toBeDefined();
      expect(redelivered.Attributes?.ApproximateReceiveCount).toBe('2');
      const second = again.find((m) => m.MessageId !== first.MessageId) as Message;
      const delivered2 = await invokeLambda<{ batchItemFailures: unknown[] }>(runtime().lambda, trigger, {
        Records: again.map((m) => sqsRecord(m, queueArn)),
      });
      expect(delivered2.batchItemFailures).toEqual([]);

      const tasks = (await tasksWithPrefix(runtime().client, 's_')).filter((t) => t.source?.type === 'sqs' && t.source.queue === queueArn);
      expect(tasks.map((t) => t.taskId).sort()).toEqual([taskId, `s_${second.MessageId}`].sort());
      const task = tasks.find((t) => t.taskId === taskId);
      // The same task, not written again: same request id, the first payload.
      expect(task?.requestId).toBe(created.requestId);
      expect(task?.taskPayload).toEqual(etlBatch('sqs-redelivery', 1));
      expect(task?.source).toEqual({ type: 'sqs', queue: queueArn, messageIds: [first.MessageId] });
      await sqs.send(new DeleteQueueCommand({ QueueUrl }));
    }, 30_000);

    test('a poison message (its task fails every attempt): one failure record with the original payload; the other task succeeds', async () => {
      const sqs = runtime().sqs;
      const inputUrl = runtime().output('EtlInputQueueUrl');
      const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: inputUrl, AttributeNames: ['QueueArn'] }))).Attributes
        ?.QueueArn as string;
      // JSON, so the trigger takes it, but no batch of records: etl throws InvalidEtlBatch on every attempt.
      const poison = { orders: [1, 2, 3] };
      const sent = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: inputUrl,
          Entries: [
            { Id: 'poison', MessageBody: JSON.stringify(poison) },
            { Id: 'ok', MessageBody: JSON.stringify(etlBatch('sqs-poison', 7)) },
          ],
        }),
      );
      const ids = Object.fromEntries((sent.Successful ?? []).map((e) => [e.Id, e.MessageId as string]));
      const okTask = await watchTask(runtime().client, FUNCTION, `s_${ids.ok}`, { timeoutMs: 20_000 });
      expect(okTask.task.status).toBe('Succeeded');
      // Two retries, 10 s then 20 s apart (etl's maxRetryAttempts 2, the default backoff).
      const poisonTask = await watchTask(runtime().client, FUNCTION, `s_${ids.poison}`, { timeoutMs: 60_000, intervalMs: 500 });
      expect(poisonTask.task).toMatchObject({ status: 'Failed', alreadyRetriedTimes: 2, taskPayload: poison });
      const failures = await runtime().destinations.waitFor(runtime().output('EtlFailureQueueUrl'), `s_${ids.poison}`);
      expect(failures).toHaveLength(1);
      expect(failures[0].requestContext).toMatchObject({
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
        source: { type: 'sqs', queue: arn, messageIds: [ids.poison] },
      });
      expect(failures[0].requestPayload).toEqual(poison);
      expect(failures[0].responsePayload).toMatchObject({
        errorType: 'InvalidEtlBatch',
        errorMessage: expect.stringContaining('etl expects a batch of Kafka records'),
      });
      const success = await runtime().destinations.drain(runtime().output('EtlSuccessQueueUrl'));
      expect(success.filter((r) => r.requestContext.taskId === `s_${ids.ok}`)).toHaveLength(1);
      expect(success.filter((r) => r.requestContext.taskId === `s_${ids.poison}`)).toHaveLength(0);
      expect(
        (await runtime().destinations.drain(runtime().output('EtlFailureQueueUrl'))).filter(
          (r) => r.requestContext.taskId === `s_${ids.ok}`,
        ),
      ).toHaveLength(0);
      process.stdout.write(
        `kafka-etl (SQS poison): the poison task failed ${poisonTask.task.alreadyRetriedTimes + 1} attempts → 1 failure record; the other task Succeeded\n`,
      );
    }, 90_000);

    test('in a batch with a message that cannot be handed over, only that message comes back', async () => {
      const sqs = runtime().sqs;
      const inputUrl = runtime().output('EtlInputQueueUrl');
      const quarantineUrl = runtime().output('EtlQuarantineQueueUrl');
      const trigger = runtime().functionNamed('EtlSqsTrigger');
      // The input queue's messages come back after 2 s (the demo's is 3 min); the quarantine
      // queue is away, so a message that is not JSON cannot be handed over: a transient failure.
      await sqs.send(new SetQueueAttributesCommand({ QueueUrl: inputUrl, Attributes: { VisibilityTimeout: '2' } }));
      const quarantineName = quarantineUrl.slice(quarantineUrl.lastIndexOf('/') + 1);
      await sqs.send(new DeleteQueueCommand({ QueueUrl: quarantineUrl }));
      const since = Date.now();
      let restored = false;
      try {
        const sent = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: inputUrl,
            Entries: [
              { Id: 'good1', MessageBody: JSON.stringify(etlBatch('sqs-partial', 1)) },
              { Id: 'bad', MessageBody: 'not json {' },
              { Id: 'good2', MessageBody: JSON.stringify(etlBatch('sqs-partial', 2)) },
            ],
          }),
        );
        const ids = Object.fromEntries((sent.Successful ?? []).map((e) => [e.Id, e.MessageId as string]));
        // The good ones become tasks and succeed; the bad one is reported, tried again (it comes back).
        for (const id of [ids.good1, ids.good2]) {
          await waitUntil(async () => (await runtime().client.get(FUNCTION, `s_${id}`)).status === 'Succeeded', {
            timeoutMs: 20_000,
            what: `task s_${id}`,
          });
        }
        await waitUntil(
          async () => {
            const lines = await triggerSummaries(runtime().logs, trigger, since);
            return lines.reduce((n, l) => n + l.failures, 0) >= 2;
          },
          { timeoutMs: 20_000, intervalMs: 250, what: 'the failed message delivered (and failed) twice' },
        );
        // The destination is back: the next redelivery quarantines it.
        await sqs.send(new CreateQueueCommand({ QueueName: quarantineName }));
        restored = true;
        const [record] = await waitUntil(
          async () => {
            const records = (await quarantineRecords(runtime().destinations, quarantineUrl)).filter(
              (r) => r.trigger.source.type === 'sqs' && r.trigger.source.messageIds.includes(ids.bad),
            );
            return records.length > 0 ? records : undefined;
          },
          { timeoutMs: 20_000, intervalMs: 250, what: `the quarantine record of message ${ids.bad}` },
        );
        expect(record.reason).toContain(`the body of message ${ids.bad} is not JSON`);
        const receives = Number((record.record as { attributes: Record<string, string> }).attributes.ApproximateReceiveCount);
        expect(receives).toBeGreaterThanOrEqual(3);
        await waitUntil(
          async () => {
            const out = await sqs.send(
              new GetQueueAttributesCommand({
                QueueUrl: inputUrl,
                AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
              }),
            );
            return out.Attributes?.ApproximateNumberOfMessages === '0' && out.Attributes?.ApproximateNumberOfMessagesNotVisible === '0';
          },
          { timeoutMs: 10_000, what: 'the input queue empty' },
        );
        // Every invocation's summary: the good messages were delivered once (a second delivery
        // would be a counted duplicate), the bad one `receives` times, failing until the last.
        const lines = await triggerSummaries(runtime().logs, trigger, since);
        const total = (k: 'messages' | 'created' | 'duplicates' | 'quarantined' | 'failures') => lines.reduce((n, l) => n + (l[k] ?? 0), 0);
        expect({
          messages: total('messages'),
          created: total('created'),
          duplicates: total('duplicates'),
          quarantined: total('quarantined'),
          failures: total('failures'),
        }).toEqual({ messages: 2 + receives, created: 2, duplicates: 0, quarantined: 1, failures: receives - 1 });
        const tasks = (await tasksWithPrefix(runtime().client, 's_')).filter((t) =>
          t.source?.type === 'sqs' ? t.source.messageIds.some((m) => Object.values(ids).includes(m)) : false,
        );
        expect(tasks.map((t) => t.taskId).sort()).toEqual([`s_${ids.good1}`, `s_${ids.good2}`].sort());
        process.stdout.write(
          `kafka-etl (SQS partial batch): 3 messages, ${lines.length} trigger invocations → 2 tasks, the failed message delivered ${receives} times, then quarantined\n`,
        );
      } finally {
        if (!restored) await sqs.send(new CreateQueueCommand({ QueueName: quarantineName }));
        await sqs.send(new SetQueueAttributesCommand({ QueueUrl: inputUrl, Attributes: { VisibilityTimeout: '180' } }));
      }
    }, 60_000);
  });
});

describeWithBroker('etl fed by Kafka on a real Apache Kafka broker', () => {
  let broker: Broker | undefined;
  let rt: EtlRuntime | undefined;
  beforeAll(async () => {
    broker = await startBroker();
    const brokers = broker.brokers.split(',');
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
    rt = await startEtlRuntime({ kafkaBrokers: brokers });
  }, 240_000);
  afterAll(async () => {
    await rt?.stop();
    await broker?.stop();
  }, 60_000);

  test('1,000 records over 3 partitions: each in exactly one task, in partition order, exactly once in the success queue', async () => {
    if (!rt) throw new Error('the local runtime did not start (see the beforeAll error)');
    const runtime = rt;
    await exactlyOnce(() => runtime, `real broker ${broker?.brokers}`);
    // The tasks' lineage names the cluster the records came from.
    const tasks = await kafkaTasks(runtime.client, TOPIC);
    expect(new Set(tasks.map((t) => t.source.cluster))).toEqual(new Set(['localhost:9092']));
  }, 120_000);
});
