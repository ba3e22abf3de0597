/** The quarantine record: a record too large for the destinations is cut to fit, never dropped or left failing. */
import { quarantineRecord } from '../../../lambda/lib/trigger-quarantine';
import { MAX_QUARANTINE_RECORD_BYTES, type TaskSource } from '../../../lambda/model';

const source: TaskSource = { type: 'kafka', topic: 'orders', partition: 0, firstOffset: 7, lastOffset: 7 };
const NOW = Date.parse('2026-11-30T00:00:00.000Z');

test('a record that fits is kept whole', () => {
  const record = { topic: 'orders', partition: 0, offset: 7, value: Buffer.from('not json').toString('base64') };
  expect(quarantineRecord('etl', { source, reason: 'not JSON', record }, NOW)).toEqual({
    version: '1.0',
    timestamp: '2026-11-30T00:00:00.000Z',
    trigger: { functionName: 'etl', source },
    reason: 'not JSON',
    record,
  });
});

test.each([300 * 1024, 900 * 1024])('a record of %d bytes of value is cut to the start of its JSON, with its size', (size) => {
  // Quotes and backslashes make JSON escaping grow the text: the cut must still fit.
  const record = { topic: 'orders', partition: 0, offset: 7, value: '"\\'.repeat(size / 2) };
  const q = quarantineRecord('etl', { source, reason: 'the record is too large', record }, NOW);
  const text = JSON.stringify(record);
  expect(Buffer.byteLength(JSON.stringify(q))).toBeLessThanOrEqual(MAX_QUARANTINE_RECORD_BYTES);
  expect(q.recordTruncated).toEqual({ bytes: Buffer.byteLength(text) });
  expect(typeof q.record).toBe('string');
  expect(text.startsWith(q.record as string)).toBe(true);
  expect((q.record as string).length).toBeGreaterThan(100 * 1024);
  expect(q.trigger.source).toEqual(source);
});
