import { InvalidArgumentError, parseTimeExpression } from '../../../client';

const NOW = Date.parse('2026-11-25T12:00:00.000Z');

describe('parseTimeExpression', () => {
  it.each([
    ['30s', NOW - 30_000],
    ['15m', NOW - 15 * 60_000],
    ['2h', NOW - 2 * 3_600_000],
    ['7d', NOW - 7 * 86_400_000],
    ['0s', NOW],
    [' 5m ', NOW - 5 * 60_000],
  ])('reads the relative %p as that long before now', (text, expected) => {
    expect(parseTimeExpression(text, '--since', NOW)).toBe(expected);
  });

  it.each([
    ['2026-11-25T12:00:00Z', NOW],
    ['2026-11-25T12:00:00.000Z', NOW],
    ['2026-11-25T14:00:00+02:00', NOW],
    ['2026-11-25T14:00:00+0200', NOW],
    ['2026-11-25', Date.parse('2026-11-25T00:00:00Z')],
    ['2026-11-25 12:00:00Z', NOW],
  ])('reads the ISO-8601 time %p', (text, expected) => {
    expect(parseTimeExpression(text, '--since', NOW)).toBe(expected);
  });

  it.each(['yesterday', '', '15', '15min', '-2h', '1.5h', '2026-13-45', '2026/11/25', 'now', '1732536000000'])(
    'fails if the expression is %p, naming it and what is allowed',
    (text) => {
      expect(() => parseTimeExpression(text, '--until', NOW)).toThrow(InvalidArgumentError);
      expect(() => parseTimeExpression(text, '--until', NOW)).toThrow(
        `--until '${text}' is not a time expression; use an ISO-8601 time (2026-11-25, 2026-11-25T12:00:00Z) or a duration before now (30s, 15m, 2h, 7d)`,
      );
    },
  );

  it('counts from the current time by default', () => {
    const before = Date.now();
    const value = parseTimeExpression('1h');
    expect(value).toBeGreaterThanOrEqual(before - 3_600_000);
    expect(value).toBeLessThanOrEqual(Date.now() - 3_600_000);
  });
});
