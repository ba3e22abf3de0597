/**
 * DynamoDB TTL, which dynalite lacks: every `intervalMs` each table with a TTL attribute is
 * scanned for items whose attribute (epoch seconds) is below now, and they are deleted —
 * conditionally, so an item rewritten meanwhile with a later expiry stays.
 */
import { DeleteItemCommand, type DynamoDBClient, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import type { LocalTable } from './template';

export class TtlSweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  public constructor(
    private readonly ddb: DynamoDBClient,
    private readonly tables: readonly LocalTable[],
    private readonly intervalMs = 10_000,
  ) {}

  public start(): void {
    if (this.timer || !this.tables.some((t) => t.ttlAttribute)) return;
    this.timer = setInterval(() => {
      void this.sweep().catch(() => undefined);
    }, this.intervalMs);
    this.timer.unref();
  }

  /** One pass over every TTL table; returns how many items it deleted. */
  public sweep(nowSeconds = Math.floor(Date.now() / 1000)): Promise<number> {
    if (!this.running) {
      this.running = this.pass(nowSeconds).finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private async pass(now: number): Promise<number> {
    let deleted = 0;
    for (const table of this.tables) {
      const attr = table.ttlAttribute;
      if (!attr) continue;
      const keys = table.keySchema.map((k) => k.AttributeName);
      const names: Record<string, string> = { '#ttl': attr };
      keys.forEach((k, i) => {
        names[`#k${i}`] = k;
      });
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await this.ddb.send(
          new ScanCommand({
            TableName: table.name,
            FilterExpression: '#ttl < :now',
            ProjectionExpression: [...keys.map((_, i) => `#k${i}`), '#ttl'].join(', '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':now': { N: String(now) } },
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        for (const item of page.Items ?? []) {
          // DynamoDB ignores TTL values that are not numbers
          if (!item[attr]?.N) continue;
          const key = Object.fromEntries(keys.map((k) => [k, item[k]]));
          try {
            await this.ddb.send(
              new DeleteItemCommand({
                TableName: table.name,
                Key: key,
                ConditionExpression: '#ttl < :now',
                ExpressionAttributeNames: { '#ttl': attr },
                ExpressionAttributeValues: { ':now': { N: String(now) } },
              }),
            );
            deleted++;
          } catch (error) {
            if ((error as Error).name !== 'ConditionalCheckFailedException') throw error;
          }
        }
        start = page.LastEvaluatedKey;
      } while (start);
    }
    return deleted;
  }

  public async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
