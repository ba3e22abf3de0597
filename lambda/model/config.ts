/**
 * Async config of a task function: FC's bounds and defaults, and the pure validation used at
 * synth (constructs) and at run time (TaskApi, CLI). Durations are in seconds here; the
 * constructs take `Duration`s and convert.
 */

export const ASYNC_CONFIG_BOUNDS = {
  maxRetryAttempts: { min: 0, max: 8, default: 3 },
  /** 1 s to 7 days, default 24 h. */
  maxEventAgeSeconds: { min: 1, max: 7 * 24 * 3600, default: 24 * 3600 },
  /** Lambda tasks: up to 15 minutes (Lambda's own limit), default 15 minutes. */
  lambdaTimeoutSeconds: { min: 1, max: 15 * 60, default: 15 * 60 },
  /** Container tasks: up to 24 hours by default (raise with `maxTimeout`), default 1 hour. */
  containerTimeoutSeconds: { min: 1, max: 24 * 3600, default: 3600 },
  maxConcurrency: { min: 1, max: 10_000 },
  /** First delay before a retry; doubled (by `retryBackoffRate`) each further attempt. */
  retryDelaySeconds: { min: 1, max: 3600, default: 10 },
  retryBackoffRate: { min: 1, max: 10, default: 2 },
  /** How long a task record (and so its id) is kept: default 7 days. */
  retentionSeconds: { min: 3600, max: 365 * 24 * 3600, default: 7 * 24 * 3600 },
} as const;

export interface NumericBound {
  readonly min: number;
  readonly max: number;
}

/**
 * Checks one number against its bound and returns a message naming the prop, the value and the
 * range, or undefined when it is fine. Callers collect the messages and report them together.
 */
export function checkRange(prop: string, value: number | undefined, bound: NumericBound, unit = ''): string | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < bound.min || value > bound.max || (unit === '' && !Number.isInteger(value))) {
    return `${prop} must be between ${bound.min}${unit} and ${bound.max}${unit} inclusive (given ${value}${unit})`;
  }
  return undefined;
}

/**
 * Backoff delays in seconds before retry n (index 0 = first retry), capped at one hour.
 * The state machine reads this list with States.ArrayGetItem.
 */
export function retryDelays(maxRetryAttempts: number, delaySeconds: number, rate: number): number[] {
  const delays: number[] = [];
  for (let i = 0; i < maxRetryAttempts; i++) {
    delays.push(Math.min(3600, Math.round(delaySeconds * rate ** i)));
  }
  return delays;
}
