import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { listOptionsFrom, parseLimit, parsePort, readPayload } from '../../../client/cli';
import { InvalidArgumentError, InvalidPayloadError } from '../../../lambda/model';

const NOW = Date.parse('2026-11-25T12:00:00.000Z');

describe('listOptionsFrom', () => {
  it('turns every list option into the request', () => {
    expect(
      listOptionsFrom(
        'transcode',
        { status: 'Running, Failed', since: '2h', until: '2026-11-25T12:00:00Z', prefix: 'my', limit: '5', order: 'asc', nextToken: 'n' },
        NOW,
      ),
    ).toEqual({
      functionName: 'transcode',
      status: ['Running', 'Failed'],
      since: NOW - 7_200_000,
      until: NOW,
      prefix: 'my',
      limit: 5,
      order: 'asc',
      nextToken: 'n',
    });
  });

  it('leaves out options not given', () => {
    expect(listOptionsFrom('transcode', {}, NOW)).toEqual({ functionName: 'transcode' });
  });

  it('fails if since is after until', () => {
    expect(() => listOptionsFrom('transcode', { since: '1h', until: '2h' }, NOW)).toThrow(/^since \(.*\) is after until \(.*\)$/);
  });
});

describe('parseLimit and parsePort', () => {
  it('accepts the bounds', () => {
    expect(parseLimit('1')).toBe(1);
    expect(parseLimit('100')).toBe(100);
    expect(parsePort('1')).toBe(1);
    expect(parsePort('65535')).toBe(65_535);
  });

  it.each(['0', '101', '1.5', '-1', 'ten', ''])('fails if --limit is %p', (text) => {
    expect(() => parseLimit(text)).toThrow(
      new InvalidArgumentError(`--limit must be an integer between 1 and 100 inclusive (given '${text}')`),
    );
  });

  it.each(['0', '65536', 'http'])('fails if --port is %p', (text) => {
    expect(() => parsePort(text)).toThrow(`--port must be an integer between 1 and 65535 inclusive (given '${text}')`);
  });
});

describe('readPayload', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'asynctask-payload-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses --payload, or reads --payload-file, or gives undefined', () => {
    const file = path.join(dir, 'p.json');
    writeFileSync(file, '{"object":"480P.mp4"}');
    expect(readPayload({ payload: '[1,2]' })).toEqual([1, 2]);
    expect(readPayload({ payloadFile: file })).toEqual({ object: '480P.mp4' });
    expect(readPayload({})).toBeUndefined();
  });

  it('fails if the file cannot be read, naming it', () => {
    const missing = path.join(dir, 'missing.json');
    expect(() => readPayload({ payloadFile: missing })).toThrow(InvalidPayloadError);
    expect(() => readPayload({ payloadFile: missing })).toThrow(`cannot read --payload-file '${missing}' (ENOENT)`);
  });

  it('fails if the payload is not JSON, showing it', () => {
    expect(() => readPayload({ payload: "{'a':1}" })).toThrow(/^--payload is not valid JSON \(.*\); given '\{'a':1\}'$/);
  });
});
