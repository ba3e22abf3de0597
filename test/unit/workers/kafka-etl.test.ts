import { batchRecords, handler, InvalidEtlBatchError, transform } from '../../../examples/kafka-etl/handler';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** The record of the article's dead-letter example. */
const ARTICLE_RECORD = {
  key: 'k1',
  offset: 1,
  overflowFlag: false,
  partition: 5,
  timestamp: 1646826803356,
  topic: 'connector-demo',
  value: 'k1',
  valueSize: 4,
};

describe('etl handler', () => {
  beforeEach(() => {
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('summarises a topic named __proto__ like any other', async () => {
    const result = await handler([
      { ...ARTICLE_RECORD, topic: '__proto__' },
      { ...ARTICLE_RECORD, topic: '__proto__', offset: 2 },
    ]);
    expect(result.processed).toBe(2);
    expect(JSON.stringify(result.byTopic)).toBe(
      '{"__proto__":{"records":2,"bytes":4,"partitions":{"5":{"firstOffset":1,"lastOffset":2,"records":2}}}}',
    );
    expect(({} as Record<string, unknown>).records).toBeUndefined();
  });

  it('transforms the article batch', async () => {
    const result = await handler([ARTICLE_RECORD]);
    expect(result).toEqual({
      processed: 1,
      dropped: 0,
      duplicates: 0,
      errors: [],
      records: [
        {
          topic: 'connector-demo',
          partition: 5,
          offset: 1,
          key: 'k1',
          timestamp: 1646826803356,
          time: '2022-03-09T11:53:23.356Z',
          value: 'k1',
          valueFormat: 'text',
          valueEncoding: 'text',
          valueBytes: 2,
          overflowFlag: false,
        },
      ],
      byTopic: { 'connector-demo': { records: 1, bytes: 2, partitions: { '5': { firstOffset: 1, lastOffset: 1, records: 1 } } } },
    });
  });

  it('decodes base64 values, parses JSON, and accepts {records: [...]}', () => {
    const order = JSON.stringify({ orderId: 7, total: 12.5 });
    const result = transform({
      records: [
        { ...ARTICLE_RECORD, offset: 2, value: b64(order), valueSize: Buffer.byteLength(order) },
        { ...ARTICLE_RECORD, offset: '3', value: '{"plain": true}', valueSize: 15 },
        { ...ARTICLE_RECORD, offset: 4, value: '42' },
      ],
    });
    expect(result.processed).toBe(3);
    expect(result.records.map((r) => [r.offset, r.value, r.valueFormat, r.valueEncoding])).toEqual([
      [2, { orderId: 7, total: 12.5 }, 'json', 'base64'],
      [3, { plain: true }, 'json', 'text'],
      [4, 42, 'json', 'text'],
    ]);
  });

  it('keeps plain words that merely look like base64 as text', () => {
    const result = transform([{ ...ARTICLE_RECORD, value: 'test', valueSize: 4 }]);
    expect(result.records[0]).toMatchObject({ value: 'test', valueEncoding: 'text', valueFormat: 'text' });
  });

  it('drops malformed records with a count and reasons, and counts duplicates once', () => {
    const result = transform([
      ARTICLE_RECORD,
      { ...ARTICLE_RECORD }, // re-delivered
      { ...ARTICLE_RECORD, offset: -1 },
      { ...ARTICLE_RECORD, topic: '' },
      { ...ARTICLE_RECORD, offset: 9, timestamp: 'yesterday' },
      'not a record',
      { ...ARTICLE_RECORD, offset: 10, value: null },
    ]);
    expect(result.processed).toBe(2);
    expect(result.duplicates).toBe(1);
    expect(result.dropped).toBe(4);
    expect(result.errors).toEqual([
      { index: 2, reason: 'offset must be a non-negative integer (given number -1)' },
      { index: 3, reason: 'topic must be a non-empty string (given string "")' },
      { index: 4, reason: 'timestamp must be epoch milliseconds or an ISO time (given string "yesterday")' },
      { index: 5, reason: 'a record must be an object (given string "not a record")' },
    ]);
    expect(result.records[1]).toMatchObject({ offset: 10, value: null, valueFormat: 'null' });
  });

  it('reads a Lambda aws:kafka event (records by topic-partition, key and value base64)', () => {
    const result = transform({
      eventSource: 'aws:kafka',
      eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc',
      records: {
        'orders-1': [
          {
            topic: 'orders',
            partition: 1,
            offset: 15,
            timestamp: 1700000000000,
            timestampType: 'CREATE_TIME',
            key: b64('o-2'),
            value: b64('{"id":2}'),
            headers: [],
          },
        ],
        'orders-0': [
          {
            topic: 'orders',
            partition: 0,
            offset: 8,
            timestamp: 1700000000001,
            timestampType: 'CREATE_TIME',
            key: b64('o-1'),
            value: b64('{"id":1}'),
            headers: [],
          },
          {
            topic: 'orders',
            partition: 0,
            offset: 9,
            timestamp: 1700000000002,
            timestampType: 'CREATE_TIME',
            key: b64('x'),
            value: '%%%',
            headers: [],
          },
        ],
      },
    });
    expect(result.records.map((r) => [r.partition, r.offset, r.key, r.value])).toEqual([
      [0, 8, 'o-1', { id: 1 }],
      [1, 15, 'o-2', { id: 2 }],
    ]);
    expect(result.dropped).toBe(1);
    expect(result.errors[0].reason).toBe('value is not base64 (as aws:kafka events carry it)');
    expect(result.byTopic.orders).toEqual({
      records: 2,
      bytes: 16,
      partitions: { '0': { firstOffset: 8, lastOffset: 8, records: 1 }, '1': { firstOffset: 15, lastOffset: 15, records: 1 } },
    });
  });

  it('keeps the result under the task result limit', () => {
    const big = 'x'.repeat(2000);
    const records = Array.from({ length: 100 }, (_, i) => ({ ...ARTICLE_RECORD, offset: i, value: big }));
    const result = transform(records);
    expect(result.processed).toBe(100);
    expect(result.records.length).toBeLessThan(100);
    expect(result.omittedRecords).toBe(100 - result.records.length);
    expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThanOrEqual(128 * 1024);
  });

  it.each([
    [undefined, 'got undefined'],
    [{ hello: 'world' }, 'got an object with keys [hello]'],
    ['[{"topic":"a"}]', 'got string'],
    [{ records: 'x' }, 'got an object with keys [records]'],
  ])('rejects a payload that is not a batch (%p)', async (event, fragment) => {
    await expect(handler(event)).rejects.toThrow(InvalidEtlBatchError);
    await expect(handler(event)).rejects.toThrow(fragment);
    expect(() => batchRecords(event)).toThrow(/etl expects a batch of Kafka records: an array of \{key, offset/);
  });

  it('accepts an empty batch', async () => {
    await expect(handler([])).resolves.toMatchObject({ processed: 0, dropped: 0, records: [], byTopic: {} });
  });
});
