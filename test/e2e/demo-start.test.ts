/**
 * Issue 9 part 6, end to end: the demo `asynctask dev` runs on a first start (local/demo.ts),
 * against the EXAMPLE app (stack AsyncTaskDemo) on the local runtime — the five article
 * transcodes of a generated video and one slow-log analysis succeed, the records produced to
 * `connector-demo` become an `etl` task, and running it again (a restart) reports the existing
 * ids instead of failing.
 */
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DEMO_ANALYSIS_TASK_ID, DEMO_RECORDS, DEMO_TRANSCODES, runDemo } from '../../local/demo';
import { LOCAL_CREDENTIALS, REGION, useRuntime, waitUntil, watchTask } from './harness';

const rt = useRuntime({ app: 'demo' });

test('the demo uploads its inputs, and its transcodes, analysis and etl task succeed', async () => {
  const lines: string[] = [];
  const functions = (await rt().client.functions()).map((f) => f.name);
  const props = {
    endpoint: rt().endpoint,
    outputs: rt().outputs,
    functions,
    topics: ['connector-demo'],
    stackName: rt().stackName,
    print: (line: string) => lines.push(line),
  };
  const result = await runDemo(props);
  expect(result.failures).toEqual([]);
  expect(result.submitted).toEqual([...DEMO_TRANSCODES.map((t) => `transcode/${t.taskId}`), `sql-log-analysis/${DEMO_ANALYSIS_TASK_ID}`]);
  expect(result.produced).toBe(DEMO_RECORDS);
  const text = lines.join('\n');
  expect(text).toContain(`export ASYNCTASK_ENDPOINT=${rt().endpoint}`);
  expect(text).toContain('npx asynctask logs transcode my3-480P-mp4 --follow');
  expect(text).toContain('npx asynctask stop transcode my4-480P-mp4');

  const client = rt().client;
  const first = await client.get('transcode', 'my1-480P-mp4');
  expect(first.taskPayload).toEqual({ bucket: rt().output('DataBucketName'), object: '480P.mp4', output_dir: 'a', dst_format: 'mov' });

  for (const t of DEMO_TRANSCODES) {
    const { task } = await watchTask(client, 'transcode', t.taskId, { timeoutMs: 60_000, intervalMs: 500 });
    expect({ id: t.taskId, status: task.status, error: task.taskErrorMessage }).toEqual({
      id: t.taskId,
      status: 'Succeeded',
      error: undefined,
    });
  }
  const { task: analysis } = await watchTask(client, 'sql-log-analysis', DEMO_ANALYSIS_TASK_ID, { timeoutMs: 30_000, intervalMs: 500 });
  expect(analysis.status).toBe('Succeeded');

  const s3 = new S3Client({ endpoint: rt().endpoint, region: REGION, credentials: LOCAL_CREDENTIALS, forcePathStyle: true });
  try {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: rt().output('DataBucketName'), Prefix: 'a/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key);
    for (const key of ['a/480P.mov', 'a/480P.flv', 'a/480P.avi', 'a/480P.m3u8']) expect(keys).toContain(key);
    const report = await s3.send(new GetObjectCommand({ Bucket: rt().output('DataBucketName'), Key: 'reports/demo.json' }));
    expect(await report.Body?.transformToString()).toMatch(/select \* from orders where customer_id = \?/i);
  } finally {
    s3.destroy();
  }

  const etl = await waitUntil(
    async () => {
      const { tasks } = await client.list({ functionName: 'etl' });
      const mine = tasks.filter((t) => t.taskId.startsWith('k_connector-demo_'));
      return mine.length > 0 && mine.every((t) => t.status === 'Succeeded') ? mine : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 300, what: 'etl tasks of the demo records, all Succeeded' },
  );
  expect(etl.length).toBeGreaterThan(0);

  // A restart over the same state: the ids exist, which the demo reports without failing.
  const again: string[] = [];
  const second = await runDemo({ ...props, print: (line) => again.push(line) });
  expect(second.failures).toEqual([]);
  expect(second.submitted).toEqual([]);
  expect(second.existing).toHaveLength(DEMO_TRANSCODES.length + 1);
  expect(again.join('\n')).toContain('demo: transcode/my1-480P-mp4 exists already (Succeeded); not submitted again');
}, 150_000);
