import 'aws-sdk-client-mock-jest';
import { DescribeExecutionCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../lambda/handlers/task-api';
import { type DestinationRecord, executionArn, type TaskItem, type TaskRecord } from '../../../lambda/model';
import { FakeTable } from './fake-table';
import { arnFor, awsError, conditionFailed, ETL, mocks, TABLE_NAME, taskItem, failed, ok, useHandlerTestEnv } from './fixtures';

const NOW = Date.parse('2026-11-25T12:30:00.000Z');

useHandlerTestEnv(NOW);

describe('stop', () => {
  test('moves an active task to Stopping, then stops its execution', async () => {
    const stopping = taskItem({ status: 'Stopping' });
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: stopping });
    mocks.sfn.on(StopExecutionCommand).resolves({ stopDate: new Date(NOW) });

    const task = ok<TaskRecord>(await handler({ op: 'stop', functionName: 'etl', taskId: 'job_1' }));

    expect(task.status).toBe('Stopping');
    const update = mocks.ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(update).toMatchObject({
      TableName: TABLE_NAME,
      Key: { functionName: 'etl', taskId: 'job_1' },
      ConditionExpression: '#status IN (:from0, :from1, :from2, :from3)',
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(update.UpdateExpression).toBe(
      'SET #status = :status, #statusKey = :statusKey, #events = list_append(if_not_exists(#events, :noEvents), :event)',
    );
    // Any owner: the user stops whichever attempt runs. Prior statuses: TRANSITIONS.Stopping.
    expect(update.ConditionExpression).not.toMatch(/executionArn/);
    expect(update.ExpressionAttributeValues).toEqual({
      ':from0': 'Enqueued',
      ':from1': 'Dequeued',
      ':from2': 'Running',
      ':from3': 'Retrying',
      ':status': 'Stopping',
      ':statusKey': 'etl#Stopping',
      ':noEvents': [],
      ':event': [{ status: 'Stopping', at: '2026-11-25T12:30:00.000Z', detail: 'stop requested', caller: 'lambda:Invoke' }],
    });
    expect(mocks.sfn).toHaveReceivedCommandWith(StopExecutionCommand, {
      executionArn: stopping.executionArn,
      error: 'TaskStopped',
    });
  });

  test('fails if the task has finished, naming its status and the stoppable ones', async () => {
    mocks.ddb.on(UpdateCommand).rejects(conditionFailed(taskItem({ taskId: 'x', status: 'Succeeded' })));

    const error = failed(await handler({ op: 'stop', functionName: 'etl', taskId: 'x' }));

    expect(error.name).toBe('InvalidTaskState');
    expect(error.message).toBe("task 'x' has ended (Succeeded); only Enqueued, Dequeued, Running or Retrying tasks can be stopped");
    expect(mocks.sfn).not.toHaveReceivedCommand(StopExecutionCommand);
  });

  test('fails if the task has finished, read back when the refusal carries no item (dynalite)', async () => {
    mocks.ddb.on(UpdateCommand).rejects(conditionFailed());
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ taskId: 'x', status: 'Expired' }) });

    const error = failed(await handler({ op: 'stop', functionName: 'etl', taskId: 'x' }));

    expect(error.message).toBe("task 'x' has ended (Expired); only Enqueued, Dequeued, Running or Retrying tasks can be stopped");
    expect(mocks.ddb).toHaveReceivedCommandWith(GetCommand, { Key: { functionName: 'etl', taskId: 'x' }, ConsistentRead: true });
  });

  test('fails if the task changed between the write and the read back', async () => {
    mocks.ddb.on(UpdateCommand).rejects(conditionFailed());
    mocks.ddb.on(GetCommand).resolves({ Item: taskItem({ taskId: 'x', status: 'Running' }) });

    const error = failed(await handler({ op: 'stop', functionName: 'etl', taskId: 'x' }));

    expect(error).toEqual({
      name: 'ConcurrentModification',
      message: "task 'x' changed while it was being stopped (now Running); read it and try again",
      details: { taskId: 'x', status: 'Running' },
    });
  });

  test('fails if the task does not exist', async () => {
    mocks.ddb.on(UpdateCommand).rejects(conditionFailed());
    mocks.ddb.on(GetCommand).resolves({});

    const error = failed(await handler({ op: 'stop', functionName: 'etl', taskId: 'ghost' }));

    expect(error.name).toBe('TaskNotFound');
    expect(error.message).toBe("task 'ghost' of function 'etl' not found");
  });

  test('fails if the task is being stopped already, naming the status (not ended)', async () => {
    mocks.ddb.on(UpdateCommand).rejects(conditionFailed(taskItem({ taskId: 'x', status: 'Stopping' })));

    const error = failed(await handler({ op: 'stop', functionName: 'etl', taskId: 'x' }));

    expect(error.message).toBe("task 'x' is Stopping; only Enqueued, Dequeued, Running or Retrying tasks can be stopped");
  });

  test('finalizes the task itself when its execution had already ended: Stopped, one Stopped record', async () => {
    const table = new FakeTable();
    table.put(taskItem({ status: 'Running' }));
    mocks.sfn.on(StopExecutionCommand).rejects(awsError('ExecutionDoesNotExist', 'Execution Does Not Exist'));
    mocks.sfn.on(DescribeExecutionCommand).rejects(awsError('ExecutionDoesNotExist', 'Execution Does Not Exist'));
    mocks.sqs.on(SendMessageCommand).resolves({});

    const task = ok<TaskRecord>(await handler({ op: 'stop', functionName: 'etl', taskId: 'job_1' }));

    expect(task).toMatchObject({ status: 'Stopped', destinationStatus: 'Succeeded' });
    expect(mocks.ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: '#executionArn = :owner AND #status IN (:from0)',
      ExpressionAttributeValues: expect.objectContaining({ ':status': 'Stopped', ':from0': 'Stopping' }),
    });
    expect(mocks.sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
    const record = JSON.parse(mocks.sqs.commandCalls(SendMessageCommand)[0].args[0].input.MessageBody ?? '') as DestinationRecord;
    expect(record.requestContext.condition).toBe('Stopped');
    expect(table.get('etl', 'job_1')).toMatchObject({ status: 'Stopped', destinationStatus: 'Succeeded' });
  });

  test('fails if StopExecution fails while the execution still runs, leaving the task Stopping', async () => {
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: taskItem({ status: 'Stopping' }) });
    mocks.sfn.on(StopExecutionCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    mocks.sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });

    const error = failed(await handler({ op: 'stop', functionName: 'etl', taskId: 'job_1' }));

    expect(error).toEqual({
      name: 'ServiceError',
      message: "task 'job_1' is Stopping but its execution could not be stopped (ThrottlingException: Rate exceeded); stop it again",
    });
    expect(mocks.ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
  });
});

describe('retry', () => {
  const failedItem = taskItem({
    status: 'Failed',
    alreadyRetriedTimes: 2,
    returnPayload: '{"partial":true}',
    taskErrorMessage: 'boom',
    endedAt: '2026-11-25T12:10:00.000Z',
    destinationStatus: 'Succeeded',
    runnerId: 'req-1',
    events: [
      { status: 'Enqueued', at: '2026-11-25T12:00:00.000Z' },
      { status: 'Failed', at: '2026-11-25T12:10:00.000Z' },
    ],
  });

  test('moves a failed task back to Enqueued as a new attempt and starts a new execution', async () => {
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: failedItem });
    mocks.sfn.on(StartExecutionCommand).resolves({});

    const task = ok<TaskRecord>(await handler({ op: 'retry', functionName: 'etl', taskId: 'job_1' }));

    const update = mocks.ddb.commandCalls(UpdateCommand)[0].args[0].input;
    const values = update.ExpressionAttributeValues ?? {};
    const requestId = values[':requestId'] as string;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestId).not.toBe(failedItem.requestId);
    expect(update.ConditionExpression).toBe('#status IN (:from0, :from1, :from2)');
    expect(update.ReturnValues).toBe('ALL_OLD');
    expect(update.UpdateExpression).toMatch(
      / REMOVE #returnPayload, #endedAt, #destinationStatus, #deliveryClaim, #progress, #runnerId, #logStream, #taskErrorMessage$/,
    );
    expect(values).toMatchObject({
      ':from0': 'Failed',
      ':from1': 'Stopped',
      ':from2': 'Expired',
      ':status': 'Enqueued',
      ':statusKey': 'etl#Enqueued',
      ':startedAt': '2026-11-25T12:30:00.000Z',
      ':listKey': '2026-11-25T12:30:00.000Z#job_1',
      ':deadline': '2026-11-25T13:30:00.000Z',
      ':alreadyRetriedTimes': 0,
      ':executionArn': executionArn(ETL.stateMachineArn, requestId),
      ':event': [{ status: 'Enqueued', at: '2026-11-25T12:30:00.000Z', detail: 'retry requested', caller: 'lambda:Invoke' }],
    });
    expect(mocks.sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: ETL.stateMachineArn,
      name: requestId,
    });
    const input = JSON.parse(mocks.sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input ?? '');
    expect(input.task).toMatchObject({ taskId: 'job_1', requestId, payload: { records: [1, 2] } });
    expect(task).toMatchObject({ status: 'Enqueued', requestId, alreadyRetriedTimes: 0, startedTime: NOW });
    expect(task.returnPayload).toBeUndefined();
    expect(task.taskErrorMessage).toBeUndefined();
    expect(task.endTime).toBeUndefined();
    expect(task.events.map((e) => e.status)).toEqual(['Enqueued', 'Failed', 'Enqueued']);
  });

  test('fails if the task is still running, naming the retryable statuses', async () => {
    mocks.ddb.on(UpdateCommand).rejects(conditionFailed(taskItem({ status: 'Running' })));

    const error = failed(await handler({ op: 'retry', functionName: 'etl', taskId: 'job_1' }));

    expect(error.name).toBe('InvalidTaskState');
    expect(error.message).toBe("task 'job_1' is Running; only Failed, Stopped or Expired tasks can be retried");
    expect(mocks.sfn).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  test('fails if the task does not exist', async () => {
    mocks.ddb.on(UpdateCommand).rejects(conditionFailed());
    mocks.ddb.on(GetCommand).resolves({});

    const error = failed(await handler({ op: 'retry', functionName: 'etl', taskId: 'job_1' }));

    expect(error.name).toBe('TaskNotFound');
  });

  test('fails if StartExecution fails, restoring the task as it was', async () => {
    mocks.ddb.on(UpdateCommand).resolves({ Attributes: failedItem });
    mocks.ddb.on(PutCommand).resolves({});
    mocks.sfn.on(StartExecutionCommand).rejects(awsError('ExecutionLimitExceeded', 'too many'));

    const error = failed(await handler({ op: 'retry', functionName: 'etl', taskId: 'job_1' }));

    const requestId = mocks.ddb.commandCalls(UpdateCommand)[0].args[0].input.ExpressionAttributeValues?.[':requestId'];
    expect(error.name).toBe('ServiceError');
    expect(error.message).toBe(
      "could not start a new attempt of task 'job_1' of function 'etl' (ExecutionLimitExceeded: too many); the task is unchanged, retry it again",
    );
    expect(mocks.ddb).toHaveReceivedCommandWith(PutCommand, {
      Item: failedItem,
      ConditionExpression: '#requestId = :requestId',
      ExpressionAttributeValues: { ':requestId': requestId },
    });
  });
});

// logs and exec: task-api-logs-exec.test.ts

test('fixtures: execution ARNs follow the state machine', () => {
  expect(arnFor(ETL)).toBe(`arn:aws:states:us-east-1:123456789012:execution:etl:${taskItem().requestId}`);
  expect((taskItem() as TaskItem).executionArn).toBe(arnFor(ETL));
});
