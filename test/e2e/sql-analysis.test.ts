/**
 * End to end on the local runtime, the demo's `sql-log-analysis` (containers/python/worker.py) over
 * a prefix: three generated slow-query logs with planted statements (two plain, one gzip) under
 * `slowlogs/e2e/` of the data bucket, and one log outside it. The task succeeds with one report
 * whose counts, total and p95 query times, databases and hosts per fingerprint are the known
 * answers the generator printed (test/python/test_sql_planted.py).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_CREDENTIALS, PROJECT_ROOT, REGION, tempDir, useRuntime, watchTask } from './harness';

const rt = useRuntime({ app: 'demo' });
const scratch = tempDir('sql-analysis');
let s3: S3Client | undefined;

afterAll(() => {
  s3?.destroy();
  fs.rmSync(scratch, { recursive: true, force: true });
});

interface KnownQuery {
  readonly count: number;
  readonly total: number;
  readonly p95: number;
  readonly max: number;
  readonly min: number;
  readonly rows_examined: number;
  readonly databases: string[];
  readonly hosts: string[];
}

interface Known {
  readonly files: string[];
  readonly entries: number;
  readonly fingerprints: number;
  readonly total_query_time: number;
  readonly queries: Record<string, KnownQuery>;
}

interface ReportQuery {
  readonly fingerprint: string;
  readonly count: number;
  readonly query_time: { total: number; p95: number; max: number; min: number };
  readonly rows_examined: { total: number };
  readonly databases: string[];
  readonly hosts: string[];
}

/** Writes the logs with the generator of the Python suite and returns its known answers. */
function generateLogs(dir: string, seed: number): Known {
  const script = path.join(PROJECT_ROOT, 'test', 'python', 'test_sql_planted.py');
  const out = execFileSync(
    'python3',
    [script, 'generate', dir, '--logs', '3', '--gzip', '1', '--bytes', '1500000', '--seed', String(seed)],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as Known;
}

test('a prefix of plain and gzip logs → one report with the planted counts, times, databases and hosts', async () => {
  const client = new S3Client({ endpoint: rt().endpoint, region: REGION, credentials: LOCAL_CREDENTIALS, forcePathStyle: true });
  s3 = client;
  const bucket = rt().output('DataBucketName');
  const known = generateLogs(path.join(scratch, 'logs'), 21);
  expect(known.files).toHaveLength(3);
  expect(known.files.filter((f) => f.endsWith('.gz'))).toHaveLength(1);
  for (const file of known.files) {
    const body = fs.readFileSync(path.join(scratch, 'logs', file));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `slowlogs/e2e/${file}`, Body: body }));
  }
  // Outside the prefix: must not be counted.
  const other = generateLogs(path.join(scratch, 'other'), 22);
  const otherBody = fs.readFileSync(path.join(scratch, 'other', other.files[0]));
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'slowlogs/e2e-other/x.log', Body: otherBody }));

  await rt().client.submit({
    functionName: 'sql-log-analysis',
    taskId: 'prefix-1',
    payload: { bucket, prefix: 'slowlogs/e2e/', top: 50 },
  });
  const { task } = await watchTask(rt().client, 'sql-log-analysis', 'prefix-1', { timeoutMs: 120_000, intervalMs: 500 });
  expect({ status: task.status, error: task.taskErrorMessage }).toEqual({ status: 'Succeeded', error: undefined });
  const result = task.returnPayload as {
    logs: number;
    entries: number;
    fingerprints: number;
    total_query_time: number;
    report: { bucket: string; key: string; bytes: number };
  };
  expect(result).toMatchObject({
    logs: 3,
    entries: known.entries,
    fingerprints: known.fingerprints,
    total_query_time: known.total_query_time,
    report: { bucket, key: 'reports/e2e.json' },
  });

  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: result.report.key }));
  const text = (await object.Body?.transformToString()) ?? '';
  expect(Buffer.byteLength(text)).toBe(result.report.bytes);
  const report = JSON.parse(text) as {
    source: { prefix: string; objects: Array<{ key: string }> };
    queries: ReportQuery[];
  };
  expect(report.source.prefix).toBe('slowlogs/e2e/');
  expect(report.source.objects.map((o) => o.key)).toEqual(known.files.map((f) => `slowlogs/e2e/${f}`).sort());
  const got = Object.fromEntries(
    report.queries.map((q) => [
      q.fingerprint,
      {
        count: q.count,
        total: q.query_time.total,
        p95: q.query_time.p95,
        max: q.query_time.max,
        min: q.query_time.min,
        rows_examined: q.rows_examined.total,
        databases: q.databases,
        hosts: q.hosts,
      },
    ]),
  );
  expect(got).toEqual(known.queries);
}, 240_000);
