import { buildDestinationRecord, DESTINATION_DETAIL_TYPE, DESTINATION_EVENT_SOURCE } from '../../../lambda/model';

describe('destination record', () => {
  test("a failure record in AWS Lambda's destination format plus the task id", () => {
    expect(
      buildDestinationRecord({
        condition: 'Stopped',
        taskId: 'job_1',
        requestId: 'r1',
        functionArn: 'arn:aws:lambda:us-east-1:1:function:f',
        approximateInvokeCount: 2,
        requestPayload: { a: 1 },
        responsePayload: { errorType: 'TaskStopped', errorMessage: 'stopped' },
        timestamp: '2026-11-25T12:00:00.000Z',
      }),
    ).toEqual({
      version: '1.0',
      timestamp: '2026-11-25T12:00:00.000Z',
      requestContext: {
        requestId: 'r1',
        functionArn: 'arn:aws:lambda:us-east-1:1:function:f',
        condition: 'Stopped',
        approximateInvokeCount: 2,
        taskId: 'job_1',
        source: null,
      },
      requestPayload: { a: 1 },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: { errorType: 'TaskStopped', errorMessage: 'stopped' },
    });
  });

  test('a success record has no functionError and defaults a missing payload to null', () => {
    const record = buildDestinationRecord({
      condition: 'Success',
      taskId: 't',
      requestId: 'r',
      functionArn: 'f',
      approximateInvokeCount: 1,
      requestPayload: {},
    });
    expect(record.responseContext).toEqual({ statusCode: 200, executedVersion: '$LATEST' });
    expect(record.responsePayload).toBeNull();
    expect(Date.parse(record.timestamp)).not.toBeNaN();
  });

  test("a trigger's task carries its lineage in requestContext.source", () => {
    const source = { type: 'sqs', queue: 'arn:aws:sqs:us-east-1:1:in', messageIds: ['m-1'] } as const;
    const record = buildDestinationRecord({
      condition: 'Success',
      taskId: 's_m-1',
      requestId: 'r',
      functionArn: 'f',
      approximateInvokeCount: 1,
      source,
      requestPayload: {},
    });
    expect(record.requestContext.source).toEqual(source);
  });

  test('EventBridge source and detail types', () => {
    expect(DESTINATION_EVENT_SOURCE).toBe('asynctask');
    expect(DESTINATION_DETAIL_TYPE).toEqual({
      success: 'Task Invocation Result - Success',
      failure: 'Task Invocation Result - Failure',
      quarantine: 'Task Trigger Record Quarantined',
    });
  });
});
