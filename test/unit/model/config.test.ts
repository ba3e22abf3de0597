import { ASYNC_CONFIG_BOUNDS, checkRange, retryDelays } from '../../../lambda/model';

describe('async config bounds', () => {
  test("FC's bounds and defaults", () => {
    expect(ASYNC_CONFIG_BOUNDS.maxRetryAttempts).toEqual({ min: 0, max: 8, default: 3 });
    expect(ASYNC_CONFIG_BOUNDS.maxEventAgeSeconds).toEqual({ min: 1, max: 604800, default: 86400 });
    expect(ASYNC_CONFIG_BOUNDS.retentionSeconds.default).toBe(7 * 24 * 3600);
    expect(ASYNC_CONFIG_BOUNDS.lambdaTimeoutSeconds.max).toBe(900);
    expect(ASYNC_CONFIG_BOUNDS.containerTimeoutSeconds.max).toBe(86400);
  });

  test('a value inside the range passes, undefined passes', () => {
    expect(checkRange('maxRetryAttempts', 8, ASYNC_CONFIG_BOUNDS.maxRetryAttempts)).toBeUndefined();
    expect(checkRange('maxRetryAttempts', 0, ASYNC_CONFIG_BOUNDS.maxRetryAttempts)).toBeUndefined();
    expect(checkRange('maxRetryAttempts', undefined, ASYNC_CONFIG_BOUNDS.maxRetryAttempts)).toBeUndefined();
  });

  test('fails if a value is out of range, naming the prop, the value and the range', () => {
    expect(checkRange('maxRetryAttempts', 9, ASYNC_CONFIG_BOUNDS.maxRetryAttempts)).toBe(
      'maxRetryAttempts must be between 0 and 8 inclusive (given 9)',
    );
    expect(checkRange('maxEventAge', 0, ASYNC_CONFIG_BOUNDS.maxEventAgeSeconds, 's')).toBe(
      'maxEventAge must be between 1s and 604800s inclusive (given 0s)',
    );
  });

  test('fails if a count is not an integer or not finite', () => {
    expect(checkRange('maxConcurrency', 1.5, ASYNC_CONFIG_BOUNDS.maxConcurrency)).toBe(
      'maxConcurrency must be between 1 and 10000 inclusive (given 1.5)',
    );
    expect(checkRange('maxConcurrency', Number.NaN, ASYNC_CONFIG_BOUNDS.maxConcurrency)).toMatch(/given NaN/);
    // Durations with a unit may be fractional.
    expect(checkRange('timeout', 1.5, ASYNC_CONFIG_BOUNDS.lambdaTimeoutSeconds, 's')).toBeUndefined();
  });

  test('retry delays grow by the backoff rate and are capped at one hour', () => {
    expect(retryDelays(3, 10, 2)).toEqual([10, 20, 40]);
    expect(retryDelays(0, 10, 2)).toEqual([]);
    expect(retryDelays(8, 600, 2)).toEqual([600, 1200, 2400, 3600, 3600, 3600, 3600, 3600]);
  });
});
