import {
  AccessDeniedError,
  AsyncTaskError,
  ConcurrentModificationError,
  errorFromWire,
  InvalidArgumentError,
  InvalidPayloadError,
  InvalidTaskIdError,
  InvalidTaskStateError,
  ServiceError,
  TaskAlreadyExistsError,
  TaskDidNotSucceedError,
  TaskFunctionNotFoundError,
  TaskNotFoundError,
  ThrottledError,
  type TaskRecord,
  toAsyncTaskError,
  ValidationError,
} from '../../../lambda/model';

const task = { taskId: 't', functionName: 'f', status: 'Failed', taskErrorMessage: 'boom' } as TaskRecord;

describe('error hierarchy', () => {
  test.each([
    [new ValidationError('m'), 'ValidationError', 400, 2],
    [new InvalidTaskIdError('m'), 'InvalidTaskId', 400, 2],
    [new InvalidPayloadError('m'), 'InvalidPayload', 400, 2],
    [new InvalidArgumentError('m'), 'InvalidArgument', 400, 2],
    [new TaskFunctionNotFoundError('m'), 'TaskFunctionNotFound', 404, 3],
    [new TaskNotFoundError('m'), 'TaskNotFound', 404, 3],
    [new TaskAlreadyExistsError('m', task), 'TaskAlreadyExists', 409, 4],
    [new InvalidTaskStateError('m'), 'InvalidTaskState', 409, 1],
    [new ConcurrentModificationError('m'), 'ConcurrentModification', 409, 1],
    [new AccessDeniedError('m'), 'AccessDenied', 403, 6],
    [new ThrottledError('m'), 'Throttled', 429, 1],
    [new ServiceError('m'), 'ServiceError', 500, 1],
    [new TaskDidNotSucceedError(task), 'TaskDidNotSucceed', 500, 5],
  ] as const)('%p has a fixed name, status code and exit code', (error, name, statusCode, exitCode) => {
    expect(error).toBeInstanceOf(AsyncTaskError);
    expect(error.name).toBe(name);
    expect(error.statusCode).toBe(statusCode);
    expect(error.exitCode).toBe(exitCode);
  });

  test.each([
    'ValidationError',
    'InvalidTaskId',
    'InvalidPayload',
    'InvalidArgument',
    'TaskFunctionNotFound',
    'TaskNotFound',
    'InvalidTaskState',
    'ConcurrentModification',
    'AccessDenied',
    'Throttled',
    'ServiceError',
  ])('%s survives the wire round trip', (name) => {
    const wire = { name, message: `a ${name}`, details: { x: 1 } };
    const error = errorFromWire(wire);
    expect(error.name).toBe(name);
    expect(error.toJSON()).toEqual(wire);
    expect(JSON.parse(JSON.stringify(error))).toEqual(wire);
  });

  test('TaskAlreadyExists carries the existing task across the wire', () => {
    const wire = new TaskAlreadyExistsError('dup', task).toJSON();
    expect(wire).toEqual({ name: 'TaskAlreadyExists', message: 'dup', details: { existingTask: task } });
    const back = errorFromWire(JSON.parse(JSON.stringify(wire)));
    expect(back).toBeInstanceOf(TaskAlreadyExistsError);
    expect((back as TaskAlreadyExistsError).existingTask).toEqual(task);
  });

  test('an unknown wire name becomes a ServiceError keeping the name in the message', () => {
    const error = errorFromWire({ name: 'Weird', message: 'odd' });
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.message).toBe('Weird: odd');
  });

  test('anything thrown is wrapped into a ServiceError keeping the cause; model errors pass through', () => {
    const original = new TypeError('x is undefined');
    const wrapped = toAsyncTaskError(original);
    expect(wrapped).toBeInstanceOf(ServiceError);
    expect(wrapped.message).toBe('TypeError: x is undefined');
    expect(wrapped.cause).toBe(original);
    const own = new TaskNotFoundError('gone');
    expect(toAsyncTaskError(own)).toBe(own);
    expect(toAsyncTaskError('text').message).toBe('text');
  });

  test('TaskDidNotSucceed names the task, its status and its error', () => {
    expect(new TaskDidNotSucceedError(task).message).toBe("task 't' of function 'f' ended Failed: boom");
  });
});
