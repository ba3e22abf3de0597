/**
 * A real Apache Kafka broker for the real-broker suites: `ASYNCTASK_KAFKA_BROKERS` when set, else
 * one started by scripts/kafka-broker.sh (single-node KRaft on 127.0.0.1, jars fetched once by
 * Maven) and stopped after the suite. Without a JVM or Maven the suites are skipped, printing
 * why, unless `ASYNCTASK_REQUIRE_KAFKA=1` (set by .ci/run), which makes a missing broker a failure.
 */
import { type Broker, brokerUnavailable, startBrokerProcess } from './broker-process';

export type { Broker } from './broker-process';
export const REQUIRE_KAFKA = process.env.ASYNCTASK_REQUIRE_KAFKA === '1';

const why = process.env.ASYNCTASK_KAFKA_BROKERS ? undefined : brokerUnavailable();
if (why && REQUIRE_KAFKA) {
  throw new Error(`a real Kafka broker is required (ASYNCTASK_REQUIRE_KAFKA=1) but cannot be started: ${why}`);
}
if (why)
  process.stderr.write(`skipped: the real-broker Kafka tests (${why}; install a JDK 17+ and Maven, or set ASYNCTASK_KAFKA_BROKERS)\n`);

/** `describe` when a broker can be had, else `describe.skip` (after printing why). */
export const describeWithBroker: jest.Describe = why ? describe.skip : describe;

/** Starts a broker (or takes ASYNCTASK_KAFKA_BROKERS); rejects with the script's stderr when it fails. */
export function startBroker(timeoutMs = 150_000): Promise<Broker> {
  const given = process.env.ASYNCTASK_KAFKA_BROKERS;
  if (given) return Promise.resolve({ brokers: given, stop: async () => undefined });
  return startBrokerProcess(timeoutMs);
}
