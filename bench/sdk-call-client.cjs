// The client process of bench/sdk-call.ts: the economy wrapper's kind of AWS SDK call (a
// conditional `UpdateItem` through the document client, `ReturnValues: ALL_NEW`) to the local
// runtime's edge, one after another, as a Lambda worker makes them. Every block of calls it
// sends its parent the CPU it used per call (user + system) and the wall time per call.
'use strict';
const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { DynamoDBDocumentClient, UpdateCommand } = require('@aws-sdk/lib-dynamodb');

const [table, keyJson, callsArg, blockArg] = process.argv.slice(2);
const key = JSON.parse(keyJson);
const calls = Number(callsArg);
const block = Number(blockArg);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });

async function main() {
  let cpu = process.cpuUsage();
  let at = performance.now();
  for (let i = 1; i <= calls; i++) {
    await ddb.send(
      new UpdateCommand({
        TableName: table,
        Key: key,
        UpdateExpression: 'SET #n = :n, #at = :at',
        ConditionExpression: '#s = :running',
        ExpressionAttributeNames: { '#n': 'benchCalls', '#at': 'benchAt', '#s': 'status' },
        ExpressionAttributeValues: { ':n': i, ':at': new Date().toISOString(), ':running': 'Running' },
        ReturnValues: 'ALL_NEW',
      }),
    );
    if (i % block === 0) {
      const used = process.cpuUsage(cpu);
      const now = performance.now();
      process.send({ calls: i, cpuMs: (used.user + used.system) / 1000 / block, wallMs: (now - at) / block });
      cpu = process.cpuUsage();
      at = now;
    }
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
