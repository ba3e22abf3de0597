// fauxqs (SQS, SNS, S3) for the local runtime, in its own process (fauxqs is an ES module and
// keeps the edge's event loop free): prints {"port": N} once listening, stops when its parent
// closes stdin or sends SIGTERM.
//
// With a data dir (argv[2]) it adds the persistence fauxqs lacks, so that a kill -9 loses
// nothing it has acknowledged:
// - S3 objects are written through to <dir>/s3/<bucket>/<key> (+ .meta.json; tmp + rename)
//   before the response, and loaded at start;
// - SQS changes (sends, deletes, purges, queue deletions) are appended to a write-ahead journal,
//   <dir>/sqs.journal, synchronously before fauxqs answers; at start the journal is replayed,
//   compacted, and each queue's messages are put back when the runtime (re-)creates the queue.
//   Receives and visibility changes are not journaled: in-flight messages come back visible.
// - A SendMessage carrying the `x-asynctask-idempotency-key` header (the Step Functions
//   emulation sets it) is done once per key: a state re-run after a restart gets the first
//   answer again instead of sending a second message.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

const appUrl = import.meta.resolve('fauxqs');
const { buildApp } = await import(appUrl);
const { SqsStore } = await import(new URL('./sqs/sqsStore.js', appUrl).href);
const { SqsRouter } = await import(new URL('./sqs/sqsRouter.js', appUrl).href);
const { SnsStore } = await import(new URL('./sns/snsStore.js', appUrl).href);
const { S3Store } = await import(new URL('./s3/s3Store.js', appUrl).href);

/** Header naming a send that must happen at most once (see above). */
const IDEMPOTENCY_HEADER = 'x-asynctask-idempotency-key';
/** Idempotency keys are kept this long (a restart re-runs a state within seconds). */
const KEY_TTL_MS = 24 * 3600_000;
/** The journal is compacted when it grows past this and past twice its last compacted size. */
const COMPACT_BYTES = 64 * 1024 * 1024;

const dataDir = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
const sqsStore = new SqsStore();
const snsStore = new SnsStore();
const s3Store = new S3Store();

const enc = (s) => encodeURIComponent(s);
const dec = (s) => decodeURIComponent(s);

let closeJournal = () => {};
if (dataDir) {
  // ---- S3: write-through ----
  const s3Dir = path.join(dataDir, 's3');
  // Outside s3/ (no bucket can be named like it) and on the same file system, for renames.
  const s3Tmp = path.join(dataDir, 's3-tmp');
  mkdirSync(s3Dir, { recursive: true });
  rmSync(s3Tmp, { recursive: true, force: true });
  mkdirSync(s3Tmp, { recursive: true });
  let tmpSeq = 0;
  // Atomic replace: a kill -9 mid-write must not destroy the version already acknowledged.
  const writeAtomic = (file, data) => {
    const tmp = path.join(s3Tmp, `${process.pid}-${++tmpSeq}`);
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  };
  const objectFile = (bucket, key) => path.join(s3Dir, enc(bucket), enc(key));
  // Throws when the object cannot be written: the request then fails instead of being
  // acknowledged and lost.
  const persistObject = (bucket, key) => {
    const obj = s3Store.buckets.get(bucket)?.get(key);
    if (!obj) return;
    const file = objectFile(bucket, key);
    mkdirSync(path.dirname(file), { recursive: true });
    writeAtomic(`${file}.meta.json`, JSON.stringify({ contentType: obj.contentType, metadata: obj.metadata }));
    writeAtomic(file, obj.body);
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
  // Every mutation is persisted synchronously inside the store call, so before fauxqs answers
  // (PutObject, CopyObject — a putObject of the source's body —, CompleteMultipartUpload).
  const wrap = (name, after) => {
    const original = s3Store[name].bind(s3Store);
    s3Store[name] = (...args) => {
      const result = original(...args);
      after(result, ...args);
      return result;
    };
  };
  wrap('createBucket', (_r, bucket) => mkdirSync(path.join(s3Dir, enc(bucket)), { recursive: true }));
  wrap('deleteBucket', (_r, bucket) => rmSync(path.join(s3Dir, enc(bucket)), { recursive: true, force: true }));
  wrap('putObject', (_r, bucket, key) => persistObject(bucket, key));
  wrap('deleteObject', (_r, bucket, key) => unpersistObject(bucket, key));
  wrap('deleteObjects', (_r, bucket, keys) => {
    for (const k of keys ?? []) unpersistObject(bucket, typeof k === 'string' ? k : (k.key ?? k.Key));
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

  // ---- SQS: write-ahead journal ----
  // One JSON record per line:
  //   {"op":"send","q":<queue name>,"m":<fauxqs message>[,"k":<key>,"r":<SendMessage answer>,"at":<ms>]}
  //   {"op":"delete","q":<queue name>,"id":<message id>}
  //   {"op":"purge","q":<queue name>}    {"op":"drop","q":<queue name>} (queue deleted)
  //   {"op":"key","k":<key>,"r":<answer>,"at":<ms>} (compaction: a key whose message is gone)
  // A send of a message id held by another queue moves it (dead-letter redrive).
  const journalFile = path.join(dataDir, 'sqs.journal');
  const legacySnapshot = path.join(dataDir, 'sqs.json');
  /** Messages by queue name, for queues not (yet) re-created in this process. */
  const pending = new Map();
  /** Queue name of every pending message id. */
  const where = new Map();
  /** Idempotency key → {r: SendMessage answer, at: epoch ms}. */
  const sentKeys = new Map();

  const pendingSend = (q, m) => {
    const from = where.get(m.messageId);
    if (from !== undefined) pending.get(from)?.delete(m.messageId);
    if (!pending.has(q)) pending.set(q, new Map());
    pending.get(q).set(m.messageId, m);
    where.set(m.messageId, q);
  };
  const pendingDrop = (q) => {
    for (const id of pending.get(q)?.keys() ?? []) where.delete(id);
    pending.delete(q);
  };
  const replay = (record) => {
    switch (record.op) {
      case 'send':
        pendingSend(record.q, record.m);
        if (record.k) sentKeys.set(record.k, { r: record.r, at: record.at });
        return;
      case 'delete':
        pending.get(record.q)?.delete(record.id);
        where.delete(record.id);
        return;
      case 'purge':
      case 'drop':
        pendingDrop(record.q);
        return;
      case 'key':
        sentKeys.set(record.k, { r: record.r, at: record.at });
        return;
      default:
        throw new Error(`unknown record op '${record.op}' (allowed: send, delete, purge, drop, key)`);
    }
  };

  // Before the journal, queue state was snapshotted to sqs.json: start from it once.
  if (existsSync(legacySnapshot) && !existsSync(journalFile)) {
    try {
      for (const [q, messages] of Object.entries(JSON.parse(readFileSync(legacySnapshot, 'utf8')))) {
        for (const m of messages) pendingSend(q, m);
      }
    } catch (error) {
      process.stderr.write(`fauxqs persistence: ${legacySnapshot} is unreadable, ignored: ${error.message}\n`);
    }
  }
  if (existsSync(journalFile)) {
    const lines = readFileSync(journalFile, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (line === '') return;
      try {
        replay(JSON.parse(line));
      } catch (error) {
        // The last line may be torn by a kill -9 mid-append (its request was never answered).
        if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l !== '')) {
          process.stderr.write(`fauxqs persistence: ${journalFile} line ${i + 1} skipped: ${error.message}\n`);
        }
      }
    });
  }

  /** Every message held now: live queues' (in flight ones as ready) and pending ones. */
  const currentState = () => {
    const out = [];
    for (const [q, messages] of pending) for (const m of messages.values()) out.push({ op: 'send', q, m });
    for (const queue of sqsStore.listQueues()) {
      const { ready, delayed, inflight } = queue.inspectMessages();
      for (const m of [...inflight.map((i) => i.message), ...ready, ...delayed]) out.push({ op: 'send', q: queue.name, m });
    }
    const now = Date.now();
    for (const [k, v] of sentKeys) {
      if (now - v.at > KEY_TTL_MS) sentKeys.delete(k);
      else out.push({ op: 'key', k, r: v.r, at: v.at });
    }
    return out;
  };

  let fd;
  let journalBytes = 0;
  let compactedBytes = 0;
  const compact = () => {
    const text = currentState()
      .map((r) => `${JSON.stringify(r)}\n`)
      .join('');
    const tmp = `${journalFile}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, journalFile);
    if (fd !== undefined) closeSync(fd);
    fd = openSync(journalFile, 'a');
    journalBytes = compactedBytes = Buffer.byteLength(text);
    rmSync(legacySnapshot, { force: true });
  };
  compact();
  closeJournal = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };

  // Synchronous: the record is in the file (the OS's page cache, which a killed process cannot
  // lose) before the store changes and before fauxqs answers. A failed write throws, so the
  // request fails rather than being acknowledged and lost.
  const append = (record) => {
    const line = `${JSON.stringify(record)}\n`;
    writeSync(fd, line);
    journalBytes += Buffer.byteLength(line);
    if (journalBytes > COMPACT_BYTES && journalBytes > 2 * compactedBytes) queueMicrotask(compact);
  };

  /** The idempotency key of the SendMessage being handled (set around its synchronous part). */
  let currentKey;
  const handle = SqsRouter.prototype.handle;
  // fauxqs's SendMessage runs synchronously inside handle() up to the enqueue, so the key set
  // here is the one of the message the enqueue below journals.
  SqsRouter.prototype.handle = function (request, reply) {
    const key = request.headers[IDEMPOTENCY_HEADER];
    if (typeof key !== 'string' || key === '' || request.headers['x-amz-target'] !== 'AmazonSQS.SendMessage') {
      return handle.call(this, request, reply);
    }
    const earlier = sentKeys.get(key);
    if (earlier) {
      reply.header('content-type', 'application/x-amz-json-1.0');
      return Promise.resolve(earlier.r);
    }
    currentKey = key;
    try {
      return handle.call(this, request, reply);
    } finally {
      currentKey = undefined;
    }
  };

  const journalQueue = (queue) => {
    const enqueue = queue.enqueue.bind(queue);
    queue.enqueue = (m) => {
      const record = { op: 'send', q: queue.name, m };
      if (currentKey !== undefined) {
        record.k = currentKey;
        record.r = {
          MessageId: m.messageId,
          MD5OfMessageBody: m.md5OfBody,
          ...(m.md5OfMessageAttributes ? { MD5OfMessageAttributes: m.md5OfMessageAttributes } : {}),
          ...(m.sequenceNumber ? { SequenceNumber: m.sequenceNumber } : {}),
        };
        record.at = Date.now();
      }
      append(record);
      if (record.k) sentKeys.set(record.k, { r: record.r, at: record.at });
      currentKey = undefined;
      return enqueue(m);
    };
    const deleteMessage = queue.deleteMessage.bind(queue);
    queue.deleteMessage = (receiptHandle) => {
      const entry = queue.inflightMessages.get(receiptHandle);
      if (entry) append({ op: 'delete', q: queue.name, id: entry.message.messageId });
      return deleteMessage(receiptHandle);
    };
    const purge = queue.purge.bind(queue);
    queue.purge = () => {
      append({ op: 'purge', q: queue.name });
      return purge();
    };
  };

  const originalCreate = sqsStore.createQueue.bind(sqsStore);
  sqsStore.createQueue = (name, ...rest) => {
    const queue = originalCreate(name, ...rest);
    const messages = pending.get(name);
    if (messages) {
      pendingDrop(name);
      // Already in the journal: put back without a new record.
      for (const m of messages.values()) queue.enqueue(m);
    }
    journalQueue(queue);
    return queue;
  };
  const originalDelete = sqsStore.deleteQueue.bind(sqsStore);
  sqsStore.deleteQueue = (url) => {
    const queue = sqsStore.getQueue(url);
    if (queue) append({ op: 'drop', q: queue.name });
    return originalDelete(url);
  };
}

const app = buildApp({ logger: false, stores: { sqsStore, snsStore, s3Store } });
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  try {
    await app.close();
  } finally {
    closeJournal();
    process.exit(0);
  }
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
