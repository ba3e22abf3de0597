/**
 * How a local function's pool of warm processes grows (`shouldStartWorker`, local/lambda.ts): the
 * decision alone, on made-up states; test/local/runtime.test.ts runs the pool itself.
 */
import { IdleCpuWindow, type PoolState, shouldStartWorker } from '../../local/lambda';

const NOW = 1_000_000;

/** A pool of workers busy `busyFor` ms each, with one queued invocation that just arrived. */
function state(busyFor: number[], overrides: Partial<PoolState> = {}): PoolState {
  return {
    now: NOW,
    workers: busyFor.map((ms) => ({ starting: false, busySince: NOW - ms })),
    queued: 1,
    oldestQueuedAt: NOW,
    peerBusy: 0,
    maxWorkers: 8,
    ...overrides,
  };
}

test('the first worker starts at once', () => {
  expect(shouldStartWorker(state([], { queued: 5 }))).toEqual({ start: true });
});

test('none beyond maxWorkers, nor for an empty queue, however long the wait and idle the CPUs', () => {
  expect(shouldStartWorker(state([500, 500], { maxWorkers: 2, queued: 10, oldestQueuedAt: NOW - 5000, idleCpu: 1 }))).toEqual({
    start: false,
  });
  expect(shouldStartWorker(state([500], { queued: 0, idleCpu: 1 }))).toEqual({ start: false });
});

test('none while a worker is starting: its init would look like a long invocation', () => {
  const s = state([], {
    workers: [{ starting: false, busySince: NOW - 500 }, { starting: true }],
    oldestQueuedAt: NOW - 1000,
    idleCpu: 1,
  });
  expect(shouldStartWorker(s)).toEqual({ start: false }); // no timer: the worker's init end pumps again
});

test('a short invocation queues for the warm worker; the pool looks again when the wait or the busy time would count', () => {
  // Busy 30 ms of 100, the invocation queued 5 ms of 50: look again in 45 ms.
  expect(shouldStartWorker(state([30], { oldestQueuedAt: NOW - 5, idleCpu: 0.9 }))).toEqual({ start: false, recheckInMs: 45 });
  // Queued long enough, but the CPUs have no room: look again when the busy time counts (30 ms).
  expect(shouldStartWorker(state([70], { oldestQueuedAt: NOW - 50, idleCpu: 0.05 }))).toEqual({ start: false, recheckInMs: 30 });
});

test('every worker busy for 100 ms (LONG_INVOCATION_MS): another starts, whatever the CPUs (a task that sleeps)', () => {
  expect(shouldStartWorker(state([100, 250], { queued: 6, idleCpu: 0 })).start).toBe(true);
  // One of them began its invocation 99 ms ago: not yet.
  expect(shouldStartWorker(state([99, 250], { queued: 6, idleCpu: 0 })).start).toBe(false);
});

test('a queue the workers cannot keep up with gets another worker when the CPUs have room for it', () => {
  const waiting = { queued: 40, oldestQueuedAt: NOW - 50 };
  expect(shouldStartWorker(state([5, 8], { ...waiting, idleCpu: 0.35 })).start).toBe(true);
  expect(shouldStartWorker(state([5, 8], { ...waiting, idleCpu: 0.34 })).start).toBe(false);
  // No window measured since the last new worker was ready: not yet.
  expect(shouldStartWorker(state([5, 8], waiting)).start).toBe(false);
  // Room on the CPUs, but the invocation has waited only 49 ms.
  expect(shouldStartWorker(state([5, 8], { ...waiting, oldestQueuedAt: NOW - 49, idleCpu: 0.9 })).start).toBe(false);
});

test('a queue beside a function with more workers busy gets as many workers as that one has busy, whatever the CPUs', () => {
  // The TaskApi has 3 workers busy with submits; the economy function's backlog waits behind its 1.
  const backlog = { queued: 200, oldestQueuedAt: NOW - 50, idleCpu: 0 };
  expect(shouldStartWorker(state([5], { ...backlog, peerBusy: 3 })).start).toBe(true);
  expect(shouldStartWorker(state([5, 8], { ...backlog, peerBusy: 3 })).start).toBe(true);
  // As many as the busiest other function: no more on that account.
  expect(shouldStartWorker(state([5, 8, 2], { ...backlog, peerBusy: 3 })).start).toBe(false);
  // Not before the invocation has waited 50 ms: a warm worker may free up first.
  expect(shouldStartWorker(state([5], { ...backlog, oldestQueuedAt: NOW - 49, peerBusy: 3 }))).toEqual({
    start: false,
    recheckInMs: 1,
  });
  // Nor while a worker is starting, nor beyond maxWorkers.
  expect(
    shouldStartWorker(state([], { ...backlog, peerBusy: 3, workers: [{ starting: false, busySince: NOW - 5 }, { starting: true }] })).start,
  ).toBe(false);
  expect(shouldStartWorker(state([5, 8], { ...backlog, peerBusy: 6, maxWorkers: 2 })).start).toBe(false);
});

describe('IdleCpuWindow: the idle CPU share a pool reads, never older than a window', () => {
  /** CPU times that advance as the test says: `busy` ms of work and `idle` ms idle per step. */
  function machine() {
    const t = { idle: 0, total: 0 };
    return {
      times: () => ({ ...t }),
      run: (busy: number, idle: number) => {
        t.idle += idle;
        t.total += busy + idle;
      },
    };
  }

  test('a share once a 500 ms window has passed, then each window after', () => {
    const m = machine();
    const w = new IdleCpuWindow(m.times);
    expect(w.read(0)).toBeUndefined();
    m.run(600, 400);
    expect(w.read(499)).toBeUndefined();
    expect(w.read(500)).toBeCloseTo(0.4);
    m.run(900, 100);
    expect(w.read(800)).toBeCloseTo(0.4); // the window since 500 is not complete
    expect(w.read(1000)).toBeCloseTo(0.1);
  });

  test('a window begun more than two windows ago is stale: an idle pause between bursts does not count as room', () => {
    const m = machine();
    const w = new IdleCpuWindow(m.times);
    w.read(0);
    m.run(1000, 0);
    expect(w.read(500)).toBe(0); // busy
    m.run(200, 9800); // an idle pause of 10 s, then the queue waits again on a busy machine
    expect(w.read(10_500)).toBeUndefined();
    m.run(950, 50);
    expect(w.read(11_000)).toBeCloseTo(0.05);
  });

  test('reset: the next window starts afresh (a new worker became ready)', () => {
    const m = machine();
    const w = new IdleCpuWindow(m.times);
    w.read(0);
    m.run(100, 900);
    expect(w.read(500)).toBeCloseTo(0.9);
    w.reset();
    expect(w.read(600)).toBeUndefined();
    m.run(1000, 0);
    expect(w.read(1100)).toBe(0);
  });
});
