/**
 * The service Logger (lambda/lib/logger.ts): level from the environment as Lambda and Powertools
 * define it, request keys reset between requests. Each case loads the module afresh, because
 * the Logger reads its level when it is made (at cold start, as in Lambda).
 */
import { quietLogs } from './fixtures';

type LoggerModule = typeof import('../../../lambda/lib/logger');

const LEVEL_VARIABLES = ['POWERTOOLS_LOG_LEVEL', 'LOG_LEVEL', 'AWS_LAMBDA_LOG_LEVEL'] as const;
const saved = Object.fromEntries(LEVEL_VARIABLES.map((name) => [name, process.env[name]]));

function freshLogger(env: Partial<Record<(typeof LEVEL_VARIABLES)[number], string>>): LoggerModule['logger'] {
  for (const name of LEVEL_VARIABLES) delete process.env[name];
  Object.assign(process.env, env);
  let loaded: LoggerModule | undefined;
  jest.isolateModules(() => {
    loaded = require('../../../lambda/lib/logger') as LoggerModule;
  });
  if (!loaded) throw new Error('lambda/lib/logger did not load');
  return loaded.logger;
}

afterEach(() => {
  for (const name of LEVEL_VARIABLES) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  jest.restoreAllMocks();
});

test('INFO by default: debug lines are dropped', () => {
  const logs = quietLogs();
  const logger = freshLogger({});
  logger.debug('hidden');
  logger.info('shown');
  expect(logs.lines().map((l) => [l.level, l.message])).toEqual([['INFO', 'shown']]);
});

test('POWERTOOLS_LOG_LEVEL sets the level', () => {
  const logs = quietLogs();
  const logger = freshLogger({ POWERTOOLS_LOG_LEVEL: 'WARN' });
  logger.info('hidden');
  logger.warn('shown');
  expect(logs.lines().map((l) => [l.level, l.message, l.service])).toEqual([['WARN', 'shown', 'asynctask']]);
});

test("Lambda's advanced logging controls (AWS_LAMBDA_LOG_LEVEL) set the level too", () => {
  const logs = quietLogs();
  const logger = freshLogger({ AWS_LAMBDA_LOG_LEVEL: 'DEBUG' });
  logger.debug('shown');
  expect(logs.lines().map((l) => [l.level, l.message])).toEqual([['DEBUG', 'shown']]);
});
