// fauxqs (SQS, SNS, S3) for the local runtime, in its own process (fauxqs is an ES module and
// keeps the edge's event loop free): prints {"port": N} once listening, stops when its parent
// closes stdin or sends SIGTERM.
//
// With a data dir (argv[2]) it adds the persistence fauxqs lacks:
// - S3 objects are written through to <dir>/s3/<bucket>/<key> (+ .meta.json) and loaded at start;
// - queue messages (ready, delayed and in flight, the latter as ready again) are snapshotted to
//   <dir>/sqs.json every second when they changed and on stop, and put back into a queue of the
//   same name when the runtime (re-)creates it.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const appUrl = import.meta.resolve('fauxqs');
const { buildApp } = await import(appUrl);
const { SqsStore } = await import(new URL('./sqs/sqsStore.js', appUrl).href);
const { SnsStore } = await import(new URL('./sns/snsStore.js', appUrl).href);
const { S3Store } = await import(new URL('./s3/s3Store.js', appUrl).href);

const dataDir = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
const sqsStore = new SqsStore();
const snsStore = new SnsStore();
const s3Store = new S3Store();

const enc = (s) => encodeURIComponent(s);
const dec = (s) => decodeURIComponent(s);

let snapshotSqs = () => {};
if (dataDir) {
  // ---- S3: write-through ----
  const s3Dir = path.join(dataDir, 's3');
  mkdirSync(s3Dir, { recursive: true });
  const objectFile = (bucket, key) => path.join(s3Dir, enc(bucket), enc(key));
  const persistObject = (bucket, key) => {
    const obj = s3Store.buckets.get(bucket)?.get(key);
    if (!obj) return;
    const file = objectFile(bucket, key);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, obj.body);
    writeFileSync(`${file}.meta.json`, JSON.stringify({ contentType: obj.contentType, metadata: obj.metadata }));
  };
  const unpersistObject = (bucket, key) => {
    const file = objectFile(bucket, key);
    rmSync(file, { force: true });
    rmSync(`${file}.meta.json`, { force: true });
  };
  for (const b of readdirSync(s3Dir, { withFileTypes: true })) {
    if (!b.isDirectory()) continue;
    const bucket = dec(b.name);
    s3Store.createBucket(bucket);
    for (const f of readdirSync(path.join(s3Dir, b.name))) {
      if (f.endsWith('.meta.json')) continue;
      const file = path.join(s3Dir, b.name, f);
      let meta = {};
      try {
        meta = JSON.parse(readFileSync(`${file}.meta.json`, 'utf8'));
      } catch {
        // no metadata: defaults
      }
      s3Store.putObject(bucket, dec(f), readFileSync(file), meta.contentType, meta.metadata);
    }
  }
  const wrap = (name, after) => {
    const original = s3Store[name].bind(s3Store);
    s3Store[name] = (...args) => {
      const result = original(...args);
      try {
        after(result, ...args);
      } catch (error) {
        process.stderr.write(`fauxqs persistence: ${name} failed to persist: ${error.message}\n`);
      }
      return result;
    };
  };
  wrap('createBucket', (_r, bucket) => mkdirSync(path.join(s3Dir, enc(bucket)), { recursive: true }));
  wrap('deleteBucket', (_r, bucket) => rmSync(path.join(s3Dir, enc(bucket)), { recursive: true, force: true }));
  wrap('putObject', (_r, bucket, key) => persistObject(bucket, key));
  wrap('deleteObject', (_r, bucket, key) => unpersistObject(bucket, key));
  wrap('deleteObjects', (_r, bucket, keys) => {
    for (const k of keys ?? []) unpersistObject(bucket, typeof k === 'string' ? k : k.key ?? k.Key);
  });
  const complete = s3Store.completeMultipartUpload.bind(s3Store);
  s3Store.completeMultipartUpload = (uploadId, parts) => {
    const bucket = s3Store.multipartUploads.get(uploadId)?.bucket;
    const obj = complete(uploadId, parts);
    if (bucket && obj?.key) persistObject(bucket, obj.key);
    return obj;
  };
  wrap('emptyBucket', (_r, bucket) => {
    rmSync(path.join(s3Dir, enc(bucket)), { recursive: true, force: true });
    mkdirSync(path.join(s3Dir, enc(bucket)), { recursive: true });
  });

  // ---- SQS: snapshots ----
  const sqsFile = path.join(dataDir, 'sqs.json');
  let saved = {};
  try {
    saved = JSON.parse(readFileSync(sqsFile, 'utf8'));
  } catch {
    saved = {};
  }
  const pending = new Map(Object.entries(saved));
  const originalCreate = sqsStore.createQueue.bind(sqsStore);
  sqsStore.createQueue = (name, ...rest) => {
    const queue = originalCreate(name, ...rest);
    const messages = pending.get(name);
    if (messages) {
      pending.delete(name);
      for (const m of messages) queue.enqueue({ ...m, delayUntil: undefined });
    }
    return queue;
  };
  let last = JSON.stringify(saved);
  snapshotSqs = () => {
    const out = Object.fromEntries(pending);
    for (const queue of sqsStore.listQueues()) {
      const { ready, delayed, inflight } = queue.inspectMessages();
      const all = [...ready, ...delayed, ...inflight.map((i) => i.message)];
      if (all.length > 0) out[queue.name] = all;
    }
    const text = JSON.stringify(out);
    if (text === last) return;
    writeFileSync(`${sqsFile}.tmp`, text);
    renameSync(`${sqsFile}.tmp`, sqsFile);
    last = text;
  };
  if (!existsSync(sqsFile)) writeFileSync(sqsFile, '{}');
  setInterval(() => {
    try {
      snapshotSqs();
    } catch (error) {
      process.stderr.write(`fauxqs persistence: SQS snapshot failed: ${error.message}\n`);
    }
  }, 1000).unref();
}

const app = buildApp({ logger: false, stores: { sqsStore, snsStore, s3Store } });
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  try {
    snapshotSqs();
  } catch {
    // best effort
  }
  try {
    await app.close();
  } finally {
    process.exit(0);
  }
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
