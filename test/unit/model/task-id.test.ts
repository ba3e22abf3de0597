import {
  generateTaskId,
  InvalidTaskIdError,
  kafkaTaskId,
  sqsTaskId,
  TASK_ID_PATTERN,
  TASK_ID_RULE,
  validateNewTaskId,
  validateTaskId,
} from '../../../lambda/model';

describe('ids a new task may not use: the triggers’', () => {
  test.each([
    [kafkaTaskId('orders', 0, 5), 'k_', 'Kafka'],
    [sqsTaskId('m-1'), 's_', 'SQS'],
    ['k_anything', 'k_', 'Kafka'],
  ])('fails for %s, naming the prefix and its trigger', (id, prefix, trigger) => {
    expect(validateTaskId(id)).toBe(id); // an existing task of a trigger is still addressed by it
    expect(() => validateNewTaskId(id)).toThrow(
      `task id '${id}' is reserved: ids starting with '${prefix}' are made by the ${trigger} trigger, one per record, and a task submitted under one would make the trigger skip that record; choose an id that does not start with 'k_' or 's_'`,
    );
  });

  test.each(['kafka_1', 'K_1', 'sk_1', 'job-1', '_k_1'])('accepts %s', (id) => {
    expect(validateNewTaskId(id)).toBe(id);
  });

  test('still refuses what the rule refuses', () => {
    expect(() => validateNewTaskId('9')).toThrow("invalid task id '9'");
  });
});

describe('task id rule', () => {
  test.each(['a', '_', 'A1', 'job-2026_11_25', `a${'b'.repeat(127)}`])('accepts %s', (id) => {
    expect(validateTaskId(id)).toBe(id);
  });

  test.each([
    ['', 'it is empty'],
    ['1abc', "it starts with '1'"],
    ['-abc', "it starts with '-'"],
    ['ab c', "it contains ' '"],
    ['a.b', "it contains '.'"],
    ['#concurrency', "it starts with '#'"],
    [`a${'b'.repeat(128)}`, 'it is 129 characters long'],
  ])('fails if the id is %j, saying why and naming the rule', (id, why) => {
    expect(() => validateTaskId(id)).toThrow(`: ${why}; a task id must be ${TASK_ID_RULE}`);
  });

  test('fails if the id is not a string', () => {
    expect(() => validateTaskId(42)).toThrow(`invalid task id 42: it is not a string; a task id must be ${TASK_ID_RULE}`);
  });

  test('fails with InvalidTaskId carrying the id and the rule', () => {
    try {
      validateTaskId('9');
      throw new Error('no error');
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidTaskIdError);
      expect((error as InvalidTaskIdError).name).toBe('InvalidTaskId');
      expect((error as InvalidTaskIdError).statusCode).toBe(400);
      expect((error as InvalidTaskIdError).details).toEqual({ taskId: '9', rule: TASK_ID_RULE });
    }
  });

  test('the rule text says 1-128 characters', () => {
    expect(TASK_ID_RULE).toBe('1-128 characters; the first a letter or underscore, the rest letters, digits, underscores or hyphens');
  });

  test('generated ids are valid and unique', () => {
    const ids = new Set(Array.from({ length: 200 }, () => generateTaskId()));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(TASK_ID_PATTERN);
  });
});
