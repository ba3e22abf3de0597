/**
 * A single-node Apache Kafka broker (KRaft, 127.0.0.1) run by scripts/kafka-broker.sh, for the
 * real-broker test suites (test/kafka/broker.ts) and the Kafka benchmark (bench/kafka.ts): whether
 * one can be started here, and starting and stopping it. No jest in here.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'kafka-broker.sh');

/** Why scripts/kafka-broker.sh cannot start a broker here (no JVM, no Maven), or undefined when it can. */
export function brokerUnavailable(): string | undefined {
  for (const [tool, args, why] of [
    ['java', ['-version'], 'no JVM (java) to run the Kafka broker'],
    ['mvn', ['-v'], 'no Maven (mvn) to fetch the Kafka broker'],
  ] as const) {
    const r = spawnSync(tool, [...args], { stdio: 'ignore', timeout: 30_000 });
    if (r.error || r.status !== 0) return why;
  }
  return undefined;
}

export interface Broker {
  /** Bootstrap address, `127.0.0.1:<port>`. */
  readonly brokers: string;
  stop(): Promise<void>;
}

/**
 * Starts `scripts/kafka-broker.sh run` and resolves once it serves; the broker stops on `stop()`
 * (SIGTERM, SIGKILL after 15 s) or when this process's stdin pipe to it closes. Rejects with the
 * script's stderr when it fails or does not serve within `timeoutMs`.
 */
export function startBrokerProcess(timeoutMs = 150_000): Promise<Broker> {
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
