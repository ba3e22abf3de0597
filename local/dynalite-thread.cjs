// dynalite (the local DynamoDB) on a worker thread of the runtime process: its HTTP server on
// 127.0.0.1 (a free port), and the runtime's in-process requests (the edge's DynamoDB requests,
// the Step Functions DynamoDB states) handed to the server's own request handler over the
// thread's message port, without a socket. The store (memory, or LevelDB in `path`) lives and
// dies with the runtime process, as it did on the main thread; the work runs beside the main
// thread's event loop instead of on it.
'use strict';
const { EventEmitter } = require('node:events');
const { parentPort, workerData } = require('node:worker_threads');
const dynalite = require('dynalite');

const server = dynalite({
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
  ...(workerData?.path ? { path: workerData.path } : {}),
});

/** One request through the server's `request` handler with an in-memory request and response. */
function direct(msg) {
  const headers = {};
  let done = false;
  const reply = (statusCode, body) => {
    if (done) return;
    done = true;
    parentPort.postMessage({ type: 'response', id: msg.id, statusCode, headers, body });
  };
  const res = {
    statusCode: 200,
    headersSent: false,
    setHeader(name, value) {
      headers[String(name).toLowerCase()] = String(value);
    },
    getHeader(name) {
      return headers[String(name).toLowerCase()];
    },
    end(body) {
      res.headersSent = true;
      reply(res.statusCode, body === undefined ? '' : String(body));
    },
  };
  const req = Object.assign(new EventEmitter(), { method: msg.method || 'POST', url: msg.url || '/', headers: msg.headers || {} });
  try {
    server.emit('request', req, res);
    if (msg.body) req.emit('data', Buffer.from(msg.body));
    req.emit('end');
  } catch (error) {
    // Over HTTP this would have been dynalite's uncaught exception; here the request fails.
    res.statusCode = 500;
    headers['content-type'] = 'application/x-amz-json-1.0';
    reply(500, JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(error) }));
  }
}

parentPort.on('message', (msg) => {
  if (msg.type === 'request') direct(msg);
  else if (msg.type === 'close') {
    server.close(() => parentPort.postMessage({ type: 'closed' }));
    if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
  }
});

server.once('error', (error) => parentPort.postMessage({ type: 'error', message: error.message }));
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ type: 'listening', port: server.address().port }));
