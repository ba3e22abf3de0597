/**
 * A real Apache Kafka broker for the real-broker suites: `ASYNCTASK_KAFKA_BROKERS` when set, else
 * one started by scripts/kafka-broker.sh (single-node KRaft on 127.0.0.1, jars fetched once by
 * Maven) and stopped after the suite. Without a JVM or Maven the suites are skipped, printing
 * why, unless `ASYNCTASK_REQUIRE_KAFKA=1` (set by .ci/run), which makes a missing broker a failure.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'kafka-broker.sh');
export const REQUIRE_KAFKA = process.env.ASYNCTASK_REQUIRE_KAFKA === '1';

/** Why no broker can be had here, or undefined when one can (checked without starting it). */
function unavailable(): string | undefined {
  if (process.env.ASYNCTASK_KAFKA_BROKERS) return undefined;
  for (const [tool, args, why] of [
    ['java', ['-version'], 'no JVM (java) to run the Kafka broker'],
    ['mvn', ['-v'], 'no Maven (mvn) to fetch the Kafka broker'],
  ] as const) {
    const r = spawnSync(tool, [...args], { stdio: 'ignore' });
    if (r.error || r.status !== 0) return why;
  }
  return undefined;
}

const why = unavailable();
if (why && REQUIRE_KAFKA) {
  throw new Error(`a real Kafka broker is required (ASYNCTASK_REQUIRE_KAFKA=1) but cannot be started: ${why}`);
}
if (why)
  process.stderr.write(`skipped: the real-broker Kafka tests (${why}; install a JDK 17+ and Maven, or set ASYNCTASK_KAFKA_BROKERS)\n`);

/** `describe` when a broker can be had, else `describe.skip` (after printing why). */
export const describeWithBroker: jest.Describe = why ? describe.skip : describe;

export interface Broker {
  readonly brokers: string;
  stop(): Promise<void>;
}

/** Starts a broker (or takes ASYNCTASK_KAFKA_BROKERS); rejects with the script's stderr when it fails. */
export function startBroker(timeoutMs = 150_000): Promise<Broker> {
  const given = process.env.ASYNCTASK_KAFKA_BROKERS;
  if (given) return Promise.resolve({ brokers: given, stop: async () => undefined });
  const child: ChildProcess = spawn('bash', [SCRIPT, 'run'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`the Kafka broker did not start within ${timeoutMs / 1000} s: ${stderr.trim()}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`scripts/kafka-broker.sh run exited with ${code} before the broker served: ${stderr.trim()}`));
    });
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({ brokers: line.trim(), stop });
    });
  });
}
