import {
  encodePayload,
  ERROR_MESSAGE_ELLIPSIS,
  InvalidPayloadError,
  isoTime,
  listKey,
  MAX_ERROR_MESSAGE_CHARS,
  MAX_PAYLOAD_BYTES,
  parsePayloadText,
  recordFromItem,
  statusKey,
  type TaskItem,
  truncateErrorMessage,
} from '../../../lambda/model';

const item: TaskItem = {
  functionName: 'etl',
  taskId: 'job_1',
  requestId: 'r1',
  status: 'Failed',
  statusKey: 'etl#Failed',
  listKey: '2026-11-25T12:00:00.000Z#job_1',
  taskPayload: '{"a":[1,2]}',
  returnPayload: 'not json',
  taskErrorMessage: 'boom',
  alreadyRetriedTimes: 2,
  startedAt: '2026-11-25T12:00:00.000Z',
  endedAt: '2026-11-25T12:00:02.500Z',
  deadline: '2026-11-26T12:00:00.000Z',
  destinationStatus: 'Succeeded',
  progress: { percent: 40, message: 'decoding', updatedAt: '2026-11-25T12:00:01.000Z' },
  events: [
    { status: 'Enqueued', at: '2026-11-25T12:00:00.000Z', detail: 'submitted', caller: 'arn:aws:iam::1:user/a' },
    { status: 'Failed', at: '2026-11-25T12:00:02.500Z' },
  ],
  executionArn: 'arn:aws:states:us-east-1:1:execution:etl:r1',
  runnerId: 'req-9',
  logStream: 's',
  expiresAt: 1,
};

describe('record conversion', () => {
  test('stored item → API record with epoch milliseconds and parsed payloads', () => {
    const t0 = Date.parse('2026-11-25T12:00:00.000Z');
    expect(recordFromItem(item)).toEqual({
      taskId: 'job_1',
      functionName: 'etl',
      requestId: 'r1',
      status: 'Failed',
      taskPayload: { a: [1, 2] },
      returnPayload: 'not json',
      taskErrorMessage: 'boom',
      alreadyRetriedTimes: 2,
      startedTime: t0,
      endTime: t0 + 2500,
      durationMs: 2500,
      destinationStatus: 'Succeeded',
      progress: { percent: 40, message: 'decoding', updatedTime: t0 + 1000 },
      events: [
        // The caller travels on the events a request wrote; the others have none.
        { status: 'Enqueued', timestamp: t0, detail: 'submitted', caller: 'arn:aws:iam::1:user/a' },
        { status: 'Failed', timestamp: t0 + 2500 },
      ],
      executionArn: 'arn:aws:states:us-east-1:1:execution:etl:r1',
      runnerId: 'req-9',
      logStream: 's',
    });
  });

  test('a live task has its running duration and no optional fields', () => {
    const { returnPayload, taskErrorMessage, endedAt, destinationStatus, progress, runnerId, logStream, ...live } = item;
    const record = recordFromItem({ ...live, status: 'Running' }, Date.parse('2026-11-25T12:01:00.000Z'));
    expect(record.durationMs).toBe(60_000);
    expect(Object.keys(record)).not.toEqual(expect.arrayContaining(['endTime']));
    expect(record).not.toHaveProperty('returnPayload');
    expect(record).not.toHaveProperty('progress');
  });

  test('index keys', () => {
    expect(statusKey('etl', 'Running')).toBe('etl#Running');
    expect(listKey('2026-11-25T12:00:00.000Z', 'a')).toBe('2026-11-25T12:00:00.000Z#a');
    expect(isoTime(Date.parse('2026-11-25T12:00:00Z'))).toBe('2026-11-25T12:00:00.000Z');
  });
});

describe('payloads', () => {
  test('encodes JSON text', () => {
    expect(encodePayload({ a: 'é' })).toBe('{"a":"é"}');
    expect(encodePayload(null)).toBe('null');
  });

  test('fails if the payload is not JSON-serializable', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => encodePayload(circular)).toThrow(/^payload is not JSON-serializable: /);
    expect(() => encodePayload(undefined)).toThrow('payload is not JSON-serializable (given undefined)');
    expect(() => encodePayload(() => 1)).toThrow(InvalidPayloadError);
  });

  test('fails if the payload is over 128 KiB (counted in UTF-8 bytes), naming the limit', () => {
    const exactly = 'x'.repeat(MAX_PAYLOAD_BYTES - 2);
    expect(encodePayload(exactly)).toHaveLength(MAX_PAYLOAD_BYTES);
    const multiByte = 'é'.repeat(MAX_PAYLOAD_BYTES / 2);
    expect(() => encodePayload(multiByte)).toThrow(
      `payload is ${MAX_PAYLOAD_BYTES + 2} bytes of JSON; the limit is 131072 bytes (128 KiB)`,
    );
  });

  test('parses payload text, and fails if it is not JSON or too large', () => {
    expect(parsePayloadText('{"a":1}')).toEqual({ a: 1 });
    expect(() => parsePayloadText('{a:1}')).toThrow(/^payload is not valid JSON \(.*\); given '\{a:1\}'$/);
    expect(() => parsePayloadText('1'.repeat(MAX_PAYLOAD_BYTES + 1))).toThrow(
      'payload is 131073 bytes; the limit is 131072 bytes (128 KiB)',
    );
  });
});

describe('error messages', () => {
  test('are kept whole up to the limit and cut to exactly the limit, ellipsis included, beyond it', () => {
    const whole = 'e'.repeat(MAX_ERROR_MESSAGE_CHARS);
    expect(truncateErrorMessage(whole)).toBe(whole);
    const cut = truncateErrorMessage(`${whole}tail`);
    expect(cut).toHaveLength(MAX_ERROR_MESSAGE_CHARS);
    expect(cut.endsWith(ERROR_MESSAGE_ELLIPSIS)).toBe(true);
    expect(cut.startsWith('e'.repeat(MAX_ERROR_MESSAGE_CHARS - ERROR_MESSAGE_ELLIPSIS.length))).toBe(true);
  });
});
