/**
 * The local DynamoDB: dynalite on a worker thread of the runtime process. DynamoDB requests of
 * the runtime itself are answered without a socket: the request is handed to the server's own
 * `request` handler (parsing, validation, the store — exactly what an HTTP request runs) with an
 * in-memory request and response, over the thread's message port. The edge and the Step
 * Functions emulation use it for the DynamoDB requests they would otherwise proxy or send over
 * loopback HTTP: the same answers, without two HTTP hops, and off the main thread.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';

export interface DirectRequest {
  readonly method?: string;
  readonly url?: string;
  /** Lower-case header names (Node's `IncomingMessage.headers`). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer | string;
}

export interface DirectResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Sends a DynamoDB request to a dynalite server in this process, as its HTTP handler would answer it. */
export type DirectDynamoDb = (request: DirectRequest) => Promise<DirectResponse>;

/** A fixed, well-formed SigV4 header set: dynalite checks the form of the signature, never its value. */
const SIGNED = {
  authorization:
    'AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000',
  'x-amz-date': '20240101T000000Z',
};

export interface DynaliteThread {
  /** Its HTTP port on 127.0.0.1 (SDK clients of the runtime, the edge's fallback). */
  readonly port: number;
  readonly direct: DirectDynamoDb;
  /** Closes the server and the store (LevelDB closed cleanly), then ends the thread. */
  close(): Promise<void>;
}

const THREAD_SCRIPT = path.join(__dirname, 'dynalite-thread.cjs');

/**
 * Starts dynalite on a worker thread (./dynalite-thread.cjs): the DynamoDB work of every task
 * runs beside the main thread's event loop (the edge, the Lambda runner, the Step Functions
 * interpreter) instead of on it. `dataDir`: its LevelDB directory (default: in memory).
 */
export function startDynaliteThread(dataDir?: string): Promise<DynaliteThread> {
  const worker = new Worker(THREAD_SCRIPT, { workerData: { path: dataDir } });
  const pending = new Map<number, (r: DirectResponse) => void>();
  let nextId = 1;
  let exited = false;
  let closed: (() => void) | undefined;
  const failAll = (message: string) => {
    for (const resolve of pending.values()) {
      resolve({
        statusCode: 500,
        headers: { 'content-type': 'application/x-amz-json-1.0' },
        body: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message }),
      });
    }
    pending.clear();
  };
  return new Promise((resolve, reject) => {
    let port = 0;
    worker.on('message', (msg: { type: string; id?: number; port?: number; message?: string } & Partial<DirectResponse>) => {
      if (msg.type === 'response' && msg.id !== undefined) {
        const done = pending.get(msg.id);
        pending.delete(msg.id);
        done?.({ statusCode: msg.statusCode ?? 500, headers: msg.headers ?? {}, body: msg.body ?? '' });
      } else if (msg.type === 'listening') {
        port = msg.port ?? 0;
        resolve({
          port,
          direct: (request) =>
            new Promise<DirectResponse>((done) => {
              if (exited) {
                done({
                  statusCode: 500,
                  headers: { 'content-type': 'application/x-amz-json-1.0' },
                  body: JSON.stringify({
                    __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
                    message: 'the local DynamoDB has stopped',
                  }),
                });
                return;
              }
              const id = nextId++;
              pending.set(id, done);
              worker.postMessage({
                type: 'request',
                id,
                method: request.method,
                url: request.url,
                headers: request.headers,
                body: typeof request.body === 'string' ? request.body : request.body.toString('utf8'),
              });
            }),
          close: () =>
            new Promise<void>((done) => {
              if (exited) return done();
              const timer = setTimeout(() => void worker.terminate(), 35_000);
              closed = () => {
                clearTimeout(timer);
                void worker.terminate().then(() => done());
              };
              worker.once('exit', () => {
                clearTimeout(timer);
                done();
              });
              worker.postMessage({ type: 'close' });
            }),
        });
      } else if (msg.type === 'closed') {
        closed?.();
      } else if (msg.type === 'error') {
        reject(new Error(`the local DynamoDB (dynalite) failed to start: ${msg.message}`));
        void worker.terminate();
      }
    });
    worker.on('error', (error) => {
      // An exception in dynalite: over HTTP on the main thread it would have ended the runtime.
      process.stderr.write(`asynctask dev: the local DynamoDB (dynalite) failed: ${error.stack ?? error.message}\n`);
      failAll(`the local DynamoDB failed: ${error.message}`);
      if (port === 0) reject(error);
    });
    worker.on('exit', () => {
      exited = true;
      failAll('the local DynamoDB has stopped');
      if (port === 0) reject(new Error('the local DynamoDB (dynalite) thread exited at start-up'));
    });
  });
}

/** A DynamoDB JSON operation (`PutItem`, …) on the in-process dynalite, signed in form like an SDK request. */
export function dynamoDbOperation(direct: DirectDynamoDb, operation: string, input: unknown): Promise<DirectResponse> {
  return direct({
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDB_20120810.${operation}`,
      host: 'dynamodb.local',
      ...SIGNED,
    },
    body: JSON.stringify(input),
  });
}
