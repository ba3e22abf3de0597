/**
 * Time expressions of the CLI's `--since` / `--until`: ISO-8601 (`2026-11-25`,
 * `2026-11-25T12:00:00Z`) or a duration before now (`30s`, `15m`, `2h`, `7d`).
 */
import { InvalidArgumentError } from '../lambda/model';

const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const RELATIVE = /^(\d+)([smhd])$/;
// A date, optionally followed by a time and zone: what ISO-8601 calendar dates look like.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

export const TIME_EXPRESSION_RULE = 'an ISO-8601 time (2026-11-25, 2026-11-25T12:00:00Z) or a duration before now (30s, 15m, 2h, 7d)';

/** Epoch milliseconds of `text`, relative expressions counted back from `now`. */
export function parseTimeExpression(text: string, what = 'time', now: number = Date.now()): number {
  const value = text.trim();
  const relative = RELATIVE.exec(value);
  if (relative) {
    return now - Number(relative[1]) * UNIT_MS[relative[2]];
  }
  if (ISO_8601.test(value)) {
    const ms = Date.parse(value.replace(' ', 'T'));
    if (!Number.isNaN(ms)) return ms;
  }
  throw new InvalidArgumentError(`${what} '${text}' is not a time expression; use ${TIME_EXPRESSION_RULE}`, {
    details: { value: text },
  });
}
