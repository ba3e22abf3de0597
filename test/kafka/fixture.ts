/**
 * A small app with a self-managed Kafka event source mapping (the CloudFormation shape the
 * trigger constructs create) on an inline Lambda that appends each event it gets to a JSON-lines
 * file (`OUT_FILE`) and reports a record whose value is `fail-once:<id>` as a batch item failure
 * the first time it sees it. For the Kafka poller suites, embedded and real broker.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';

export const KAFKA_STACK = 'KafkaFixture';
export const TOPIC = 'orders';
export const GROUP = 'orders-group';
export const BATCH_SIZE = 5;

const HANDLER = `
const fs = require('fs');
exports.handler = async (event) => {
  const out = process.env.OUT_FILE;
  const failures = [];
  for (const [key, records] of Object.entries(event.records)) {
    for (const r of records) {
      const value = Buffer.from(r.value || '', 'base64').toString('utf8');
      if (value.startsWith('fail-once:')) {
        const marker = out + '.' + value.replace(/[^a-z0-9-]/gi, '_');
        if (!fs.existsSync(marker)) {
          fs.writeFileSync(marker, '');
          failures.push({ itemIdentifier: { partition: key, offset: r.offset } });
        }
      }
    }
  }
  fs.appendFileSync(out, JSON.stringify({ eventSource: event.eventSource, bootstrapServers: event.bootstrapServers, keys: Object.keys(event.records),
    records: Object.values(event.records).flat().map((r) => ({ partition: r.partition, offset: r.offset, key: r.key, value: Buffer.from(r.value || '', 'base64').toString('utf8'), headers: r.headers })),
    failures }) + '\\n');
  return { batchItemFailures: failures };
};
`;

/** Synthesizes the app into a temp dir; returns the cdk.out path. */
export function synthKafkaFixture(outFile: string): string {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'asynctask-kafka-fixture-'));
  const app = new App({ outdir });
  const stack = new Stack(app, KAFKA_STACK);
  const fn = new lambda.Function(stack, 'Consumer', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline(HANDLER),
    environment: { OUT_FILE: outFile },
  });
  new lambda.CfnEventSourceMapping(stack, 'OrdersMapping', {
    functionName: fn.functionName,
    selfManagedEventSource: { endpoints: { kafkaBootstrapServers: ['localhost:9092'] } },
    selfManagedKafkaEventSourceConfig: { consumerGroupId: GROUP },
    topics: [TOPIC],
    startingPosition: 'TRIM_HORIZON',
    batchSize: BATCH_SIZE,
    maximumBatchingWindowInSeconds: 1,
    functionResponseTypes: ['ReportBatchItemFailures'],
  });
  app.synth();
  return outdir;
}
