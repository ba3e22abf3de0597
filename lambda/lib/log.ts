/** Structured JSON log lines (one object per line) so CloudWatch Logs Insights can filter by task. */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogFields {
  readonly functionName?: string;
  readonly taskId?: string;
  readonly [key: string]: unknown;
}

function describeError(error: unknown): unknown {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: error.stack };
  }
  return error;
}

export function log(level: LogLevel, message: string, fields: LogFields = {}): void {
  const entry: Record<string, unknown> = { level, message, time: new Date().toISOString() };
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) entry[key] = key === 'error' ? describeError(value) : value;
  }
  const line = JSON.stringify(entry);
  if (level === 'error' || level === 'warn') console.error(line);
  else console.log(line);
}
