/**
 * A poison record on Kafka, end to end on the local runtime's embedded topics: the fixture's
 * `orders` function (test/e2e/fixture/handlers/orders.ts) fails every attempt of a batch holding a
 * `{"poison": true}` record. Produced in three rounds to one partition — clean records, a round
 * with the poison record among clean ones, clean records again — the poison round's task ends
 * Failed with exactly one failure record whose `requestPayload` holds that round's original
 * records, while the partition moves on: the tasks before and after it succeed, each record in
 * exactly one task.
 */
import { produce } from '../../client/produce';
import { kafkaTaskId, type KafkaTaskRecord, type TaskRecord } from '../../lambda/model';
import { ORDERS_TOPIC, queueOutputs } from './fixture/app';
import { useRuntime, waitUntil, watchTask } from './harness';

const rt = useRuntime();
const PARTITION = 1;

/** Produces `values` to the partition and waits until a task covers the last of them; its id and the offsets. */
async function round(values: readonly unknown[]): Promise<{ taskId: string; offsets: number[] }> {
  const { offsets } = await produce(
    rt().endpoint,
    ORDERS_TOPIC,
    values.map((value, i) => ({ key: `order-${i}`, partition: PARTITION, value: JSON.stringify(value) })),
  );
  const numbers = offsets.map((o) => o.offset);
  const taskId = kafkaTaskId(ORDERS_TOPIC, PARTITION, numbers[0]);
  await waitUntil(
    () =>
      rt()
        .client.get('orders', taskId)
        .then(
          () => true,
          () => false,
        ),
    {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: `the task of ${ORDERS_TOPIC}/${PARTITION} offsets ${numbers[0]}–${numbers[numbers.length - 1]}`,
    },
  );
  return { taskId, offsets: numbers };
}

test('a poison record fails its own task into the dead-letter queue, with the original records; the partition moves on', async () => {
  const queues = queueOutputs('Orders');
  const before = await round([{ total: 1 }, { total: 2 }, { total: 3 }]);
  const beforeTask = (await watchTask(rt().client, 'orders', before.taskId)).task;

  const poisonValues = [{ total: 10 }, { poison: true }, { total: 30 }];
  const poison = await round(poisonValues);
  const after = await round([{ total: 100 }, { total: 200 }]);
  const afterTask = (await watchTask(rt().client, 'orders', after.taskId)).task;
  const poisonTask = (await watchTask(rt().client, 'orders', poison.taskId, { timeoutMs: 40_000 })).task;

  // The rounds are consecutive offsets of one partition, each in exactly one task.
  expect([...before.offsets, ...poison.offsets, ...after.offsets]).toEqual(Array.from({ length: 8 }, (_, i) => before.offsets[0] + i));
  const lineage = (t: TaskRecord) => t.source?.type === 'kafka' && [t.source.firstOffset, t.source.lastOffset];
  expect([beforeTask, poisonTask, afterTask].map(lineage)).toEqual([
    [before.offsets[0], before.offsets[2]],
    [poison.offsets[0], poison.offsets[2]],
    [after.offsets[0], after.offsets[1]],
  ]);
  expect([beforeTask.status, poisonTask.status, afterTask.status]).toEqual(['Succeeded', 'Failed', 'Succeeded']);
  expect(poisonTask.alreadyRetriedTimes).toBe(1);
  expect(afterTask.returnPayload).toEqual({ orders: 2, total: 300 });

  // Exactly one failure record, for the poison task, carrying its original records.
  const failures = await rt().destinations.waitFor(rt().output(queues.failure), poison.taskId);
  expect(failures).toHaveLength(1);
  expect(failures[0].requestContext).toMatchObject({ condition: 'RetriesExhausted', approximateInvokeCount: 2 });
  expect(failures[0].responsePayload).toMatchObject({ errorType: 'PoisonRecord' });
  const records = failures[0].requestPayload as KafkaTaskRecord[];
  expect(records.map((r) => [r.partition, r.offset, r.value])).toEqual(
    poison.offsets.map((offset, i) => [PARTITION, offset, poisonValues[i]]),
  );
  expect(await rt().destinations.drain(rt().output(queues.failure))).toHaveLength(1);

  // The other tasks' records went to the success queue, one each; nothing was quarantined.
  const successes = await rt().destinations.drain(rt().output(queues.success));
  expect(successes.map((r) => r.requestContext.taskId).sort()).toEqual([before.taskId, after.taskId].sort());
  expect(await rt().destinations.drain(rt().output('OrdersQuarantineQueueUrl'))).toEqual([]);
}, 90_000);
