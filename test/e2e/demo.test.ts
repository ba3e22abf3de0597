/**
 * The demo of the README against the EXAMPLE app (bin/app.ts, stack AsyncTaskDemo) on the local
 * runtime: `asynctask invoke etl --payload '[...]' --wait` exits 0 with the transformed batch,
 * and its success record lands in the etl success queue.
 */
import type { TaskRecord } from '../../lambda/model';
import { useRuntime } from './harness';

const rt = useRuntime({ app: 'demo' });

const batch = [
  {
    key: 'k1',
    offset: 1,
    overflowFlag: false,
    partition: 5,
    timestamp: 1646826803356,
    topic: 'connector-demo',
    value: 'k1',
    valueSize: 4,
  },
];

test('asynctask invoke etl --payload [...] --wait exits 0 with the transformed batch', async () => {
  const text = await rt().cli(['invoke', 'etl', '--task-id', 'demo-etl-1', '--payload', JSON.stringify(batch), '--wait']);
  expect(text.stderr).toBe('');
  expect(text.code).toBe(0);
  expect(text.stdout).toContain('etl/demo-etl-1 async invoke success.');
  expect(text.stdout).toMatch(/Succeeded/);

  const json = await rt().cli(['invoke', 'etl', '--payload', JSON.stringify({ records: batch }), '--wait', '--json']);
  expect(json.code).toBe(0);
  const task = JSON.parse(json.stdout) as TaskRecord;
  expect(task.status).toBe('Succeeded');
  expect(task.returnPayload).toMatchObject({ processed: 1, dropped: 0, duplicates: 0 });

  const records = await rt().destinations.waitFor(rt().output('EtlSuccessQueueUrl'), 'demo-etl-1');
  expect(records).toHaveLength(1);
  expect(records[0].requestContext).toMatchObject({ condition: 'Success', taskId: 'demo-etl-1' });
});

test('functions lists the three example task functions', async () => {
  const out = await rt().cli(['functions', '--json']);
  expect(out.code).toBe(0);
  const names = (JSON.parse(out.stdout) as Array<{ name: string }>).map((f) => f.name).sort();
  expect(names).toEqual(['etl', 'sql-log-analysis', 'transcode']);
});

test("etl's triggers come from its registry parameter, the SQS queue's ARN resolved by the local runtime", async () => {
  const etl = (await rt().client.functions()).find((f) => f.name === 'etl');
  expect(etl?.triggers).toEqual([
    expect.objectContaining({ type: 'kafka', topics: ['connector-demo'], mode: 'batch' }),
    { type: 'sqs', queueArn: expect.stringMatching(/^arn:aws:sqs:us-east-1:\d{12}:/), batchSize: 10, mode: 'record' },
  ]);
});
