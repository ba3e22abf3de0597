import {
  executionArn,
  executionName,
  parseDescriptor,
  parseStatuses,
  registryParameterName,
  registryPath,
  RESULT_KEY_FORMAT,
  resultKey,
  validateListRequest,
} from '../../../lambda/model';

describe('execution contract', () => {
  test('the execution ARN is computed from the state machine ARN and the request id', () => {
    expect(executionArn('arn:aws:states:eu-west-1:123456789012:stateMachine:etl', executionName('r-1'))).toBe(
      'arn:aws:states:eu-west-1:123456789012:execution:etl:r-1',
    );
  });

  test('fails if the ARN is not a state machine ARN', () => {
    expect(() => executionArn('arn:aws:lambda:eu-west-1:1:function:f', 'r')).toThrow(
      "not a state machine ARN: 'arn:aws:lambda:eu-west-1:1:function:f'",
    );
  });

  test('the result key matches its States.Format template', () => {
    const key = resultKey('transcode', 'job_1', 'r1', 2);
    expect(key).toBe('results/transcode/job_1/r1/2.json');
    let i = 0;
    const args = ['transcode', 'job_1', 'r1', '2'];
    expect(RESULT_KEY_FORMAT.replace(/\{\}/g, () => args[i++])).toBe(key);
  });
});

describe('TaskApi request checks', () => {
  test('parses statuses from text or a list, dropping duplicates', () => {
    expect(parseStatuses('Running, Failed,Running')).toEqual(['Running', 'Failed']);
    expect(parseStatuses(['Stopped'])).toEqual(['Stopped']);
  });

  test('fails if a status is unknown or none is given', () => {
    expect(() => parseStatuses('Done')).toThrow(/^unknown status 'Done'; allowed: Enqueued, Dequeued, Running/);
    expect(() => parseStatuses(' , ')).toThrow(/^status is empty; allowed: /);
  });

  test.each([
    [{ limit: 0 }, 'limit must be an integer between 1 and 100 inclusive (given 0)'],
    [{ limit: 2.5 }, 'limit must be an integer between 1 and 100 inclusive (given 2.5)'],
    [{ order: 'up' }, "order must be 'asc' or 'desc' (given 'up')"],
    [{ since: -1 }, 'since must be a time in epoch milliseconds (given -1)'],
    [{ prefix: '1a' }, "prefix '1a' can match no task id"],
  ])('fails if the list request is %j', (options, message) => {
    expect(() => validateListRequest({ functionName: 'f', ...(options as object) })).toThrow(message);
  });

  test('accepts a full valid request', () => {
    expect(() =>
      validateListRequest({ functionName: 'f', limit: 100, order: 'asc', since: 1, until: 2, prefix: 'job_', status: ['Failed'] }),
    ).not.toThrow();
  });
});

describe('registry', () => {
  test('registry parameters live under /asynctask/<service>/functions/', () => {
    expect(registryPath('svc')).toBe('/asynctask/svc/functions/');
    expect(registryParameterName('svc', 'etl')).toBe('/asynctask/svc/functions/etl');
  });

  test('parses a descriptor parameter', () => {
    const d = { name: 'a', kind: 'lambda', stateMachineArn: 'arn:sm', runnerArn: 'arn:fn', maxRetryAttempts: 1 };
    expect(parseDescriptor(JSON.stringify(d), '/p/a')).toEqual(d);
  });

  test('fails if a parameter is not JSON or not a descriptor, naming the parameter', () => {
    expect(() => parseDescriptor('{', '/p/a')).toThrow(/^registry parameter '\/p\/a' is not JSON/);
    expect(() => parseDescriptor('{"name":"a","kind":"lambda"}', '/p/a')).toThrow(
      "registry parameter '/p/a' is not a task function descriptor (missing stateMachineArn, runnerArn)",
    );
    expect(() => parseDescriptor('{"name":"a","kind":"batch","stateMachineArn":"s","runnerArn":"r"}', '/p/a')).toThrow(
      "registry parameter '/p/a' has kind 'batch'; allowed: lambda, container",
    );
  });
});
