// A warm Lambda execution environment of the local runtime (one process, one invocation at a
// time): loads the function's handler, runs invocations sent over IPC and sends back their
// result and their console output, formatted as Lambda's Node.js runtime does.
'use strict';
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const util = require('node:util');
const fs = require('node:fs');

const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
const handlerSpec = process.env._HANDLER || 'index.handler';
const jsonFormat = process.env.AWS_LAMBDA_LOG_FORMAT === 'JSON';
let currentRequestId;

function send(message) {
  if (process.connected) process.send(message);
}

function formatLine(level, args) {
  const message = util.format(...args);
  if (jsonFormat) {
    return JSON.stringify({ timestamp: new Date().toISOString(), level, requestId: currentRequestId, message });
  }
  return `${new Date().toISOString()}\t${currentRequestId ?? 'undefined'}\t${level}\t${message.replace(/\n/g, '\r')}`;
}

for (const [method, level] of [
  ['log', 'INFO'],
  ['info', 'INFO'],
  ['warn', 'WARN'],
  ['error', 'ERROR'],
  ['debug', 'DEBUG'],
  ['trace', 'TRACE'],
]) {
  console[method] = (...args) => send({ type: 'log', lines: [formatLine(level, args)] });
}
for (const stream of [process.stdout, process.stderr]) {
  stream.write = (chunk, encoding, cb) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    if (lines.length > 0) send({ type: 'log', lines });
    if (typeof encoding === 'function') encoding();
    else if (typeof cb === 'function') cb();
    return true;
  };
}

function errorRecord(error, fallbackType) {
  if (error instanceof Error) {
    return {
      errorType: error.name || fallbackType,
      errorMessage: error.message,
      trace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
    };
  }
  return { errorType: fallbackType, errorMessage: String(error), trace: [] };
}

let handlerPromise;
let handlerLoaded = false;

function loadHandler() {
  if (handlerPromise) return handlerPromise;
  handlerPromise = (async () => {
    const dot = handlerSpec.lastIndexOf('.');
    const modulePath = handlerSpec.slice(0, dot);
    const exportName = handlerSpec.slice(dot + 1);
    const base = path.resolve(taskRoot, modulePath);
    const file = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((f) => fs.existsSync(f));
    if (!file) {
      const e = new Error(`Cannot find module '${modulePath}'`);
      e.name = 'Runtime.ImportModuleError';
      throw e;
    }
    let mod;
    try {
      mod = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file);
    } catch (error) {
      const e = new Error(`${error?.name}: ${error?.message}`);
      e.name = 'Runtime.ImportModuleError';
      e.stack = error?.stack;
      throw e;
    }
    let fn = mod[exportName];
    if (typeof fn !== 'function' && mod.default && typeof mod.default[exportName] === 'function') {
      fn = mod.default[exportName];
    }
    if (typeof fn !== 'function') {
      const e = new Error(`${modulePath}.${exportName} is undefined or not exported`);
      e.name = 'Runtime.HandlerNotFound';
      throw e;
    }
    return fn;
  })();
  return handlerPromise;
}

process.on('message', async (msg) => {
  if (msg?.type !== 'invoke') return;
  currentRequestId = msg.requestId;
  const deadline = msg.deadline;
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: msg.functionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: msg.requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    const cold = !handlerLoaded;
    const handler = await loadHandler();
    // The runner counts a new worker as starting until its handler is loaded (Lambda's init phase).
    if (cold) {
      handlerLoaded = true;
      send({ type: 'initialized', requestId: msg.requestId });
    }
    const result = await new Promise((resolve, reject) => {
      let settled = false;
      const callback = (error, value) => {
        if (settled) return;
        settled = true;
        if (error) reject(error);
        else resolve(value);
      };
      context.done = callback;
      context.succeed = (v) => callback(null, v);
      context.fail = (e) => callback(e);
      try {
        const out = handler(msg.event, context, callback);
        if (out && typeof out.then === 'function')
          out.then(
            (v) => callback(null, v),
            (e) => callback(e),
          );
        else if (handler.length < 3) callback(null, out);
      } catch (error) {
        callback(error);
      }
    });
    send({ type: 'done', requestId: msg.requestId, ok: true, payload: result === undefined ? null : result });
  } catch (error) {
    const record = errorRecord(error, 'Error');
    send({
      type: 'log',
      lines: [formatLine('ERROR', [`Invoke Error \t${JSON.stringify(record)}`])],
    });
    send({ type: 'done', requestId: msg.requestId, ok: false, error: record });
  }
});

process.on('uncaughtException', (error) => {
  send({ type: 'log', lines: [formatLine('ERROR', [`Uncaught Exception \t${JSON.stringify(errorRecord(error, 'Error'))}`])] });
  send({ type: 'crash', error: errorRecord(error, 'Runtime.UncaughtException') });
  setTimeout(() => process.exit(1), 10);
});
process.on('unhandledRejection', (reason) => {
  send({
    type: 'log',
    lines: [
      formatLine('ERROR', [`Unhandled Promise Rejection \t${JSON.stringify(errorRecord(reason, 'Runtime.UnhandledPromiseRejection'))}`]),
    ],
  });
  send({ type: 'crash', error: errorRecord(reason, 'Runtime.UnhandledPromiseRejection') });
  setTimeout(() => process.exit(1), 10);
});
process.on('disconnect', () => process.exit(0));

send({ type: 'ready' });
