import { generateTaskId, InvalidTaskIdError, TASK_ID_PATTERN, TASK_ID_RULE, validateTaskId } from '../../../lambda/model';

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
