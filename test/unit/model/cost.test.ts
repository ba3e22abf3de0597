/**
 * The per-task cost estimate (lambda/model/cost.ts): what each path of a task counts, and the
 * price of it. The counts of each path are those of docs/cost.md; the success path is also
 * checked against the synthesized definitions in test/constructs/cost.test.ts.
 */
import {
  type CostFunction,
  type CostInput,
  DEFAULT_PRICE_REGION,
  estimateTaskCost,
  FARGATE_MINIMUM_SECONDS,
  formatUsd,
  PRICES,
  type TaskStatus,
  totalCostUsd,
} from '../../../lambda/model';

const T0 = Date.parse('2026-11-25T12:00:00.000Z');
const S = 1000;

type Step = readonly [status: TaskStatus, atSeconds: number, detail?: string, caller?: string];

function task(status: TaskStatus, steps: readonly Step[], extra: Partial<CostInput> = {}): CostInput {
  const events = steps.map(([s, at, detail, caller]) => ({
    status: s,
    timestamp: T0 + at * S,
    ...(detail !== undefined ? { detail } : {}),
    ...(caller !== undefined ? { caller } : {}),
  }));
  const last = events[events.length - 1];
  const terminal = ['Succeeded', 'Failed', 'Stopped', 'Expired', 'Invalid'].includes(status);
  return {
    status,
    taskPayload: { a: 1 },
    startedTime: T0,
    ...(terminal ? { endTime: last.timestamp, durationMs: last.timestamp - T0 } : {}),
    events,
    ...extra,
  };
}

const LAMBDA: CostFunction = {
  kind: 'lambda',
  maxRetryAttempts: 2,
  compute: { memoryMiB: 1024, architecture: 'arm64' },
  onSuccess: { type: 'sqs' },
};
const LAMBDA_PLAIN: CostFunction = { kind: 'lambda', maxRetryAttempts: 2, compute: { memoryMiB: 1024, architecture: 'arm64' } };
const WITH_FAILURE: CostFunction = { ...LAMBDA_PLAIN, onFailure: { type: 'sqs' } };
const US = PRICES['us-east-1'];

/** TaskApi / finalizer duration: 512 MB arm64, 100 ms per call. */
const serviceDuration = (calls: number) => calls * 0.5 * 0.1 * US.lambdaGbSecond.arm64;

describe('estimateTaskCost: Lambda kind', () => {
  test('submit, stop and retry through the REST API (an IAM caller) each add an API Gateway request; direct invokes none', () => {
    const alice = 'arn:aws:iam::123456789012:user/alice';
    const viaApi = estimateTaskCost(
      task('Enqueued', [
        ['Enqueued', 0, 'submitted', alice],
        ['Stopping', 0.1, 'stop requested', alice],
        ['Stopped', 0.2, 'stopped'],
        ['Enqueued', 1, 'retry', alice],
      ]),
      LAMBDA,
      'us-east-1',
    );
    const direct = estimateTaskCost(
      task('Enqueued', [
        ['Enqueued', 0, 'submitted', 'lambda:Invoke'],
        ['Stopping', 0.1, 'stop requested', 'lambda:Invoke'],
        ['Stopped', 0.2, 'stopped'],
        ['Enqueued', 1, 'retry', 'lambda:Invoke'],
      ]),
      LAMBDA,
      'us-east-1',
    );
    expect(viaApi.orchestration.apiGatewayRequests).toBe(3);
    expect(direct.orchestration.apiGatewayRequests).toBe(0);
    expect(viaApi.orchestration.usd - direct.orchestration.usd).toBeCloseTo(3 * US.apiGatewayRequest, 12);
    expect(US.apiGatewayRequest * 1e6).toBeCloseTo(3.5, 9);
  });

  test('success at the first attempt with onSuccess: the numbers of docs/cost.md (4 transitions, 11 WRU, 1 TaskApi request, 1 SQS send)', () => {
    const cost = estimateTaskCost(
      task('Succeeded', [
        ['Enqueued', 0, 'submitted', 'lambda:Invoke'],
        ['Running', 0.1, 'attempt 1'],
        ['Succeeded', 2.1, 'attempt 1'],
      ]),
      LAMBDA,
      'us-east-1',
    );
    expect(cost.orchestration).toEqual({
      transitions: 4,
      dynamodbWrites: 3,
      dynamodbWriteUnits: 11,
      dynamodbReadUnits: 0,
      lambdaRequests: 1,
      sqsRequests: 1,
      snsRequests: 0,
      eventBridgeEvents: 0,
      apiGatewayRequests: 0,
      s3Requests: 0,
      usd: expect.any(Number),
    });
    // ≈ $108 per million (docs/cost.md).
    const expected = 4 * US.transition + 11 * US.writeUnit + US.lambdaRequest + serviceDuration(1) + US.sqsRequest;
    expect(cost.orchestration.usd).toBeCloseTo(expected, 12);
    expect(cost.orchestration.usd * 1e6).toBeCloseTo(108.14, 2);
    // 2 s at 1 GB on arm64, plus the invocation.
    expect(cost.compute).toEqual({ kind: 'lambda', seconds: 2, attempts: 1, gbSeconds: 2, usd: expect.any(Number) });
    expect(cost.compute.usd).toBeCloseTo(2 * US.lambdaGbSecond.arm64 + US.lambdaRequest, 12);
    expect(cost.totalUsd).toBeCloseTo(cost.orchestration.usd + cost.compute.usd, 12);
    expect(cost).toMatchObject({ currency: 'USD', region: 'us-east-1', estimate: true });
    expect(cost.priceSource).toMatch(/^list prices \d{4}-\d{2} \(us-east-1 unless the region has its own row\)$/);
    expect(cost.notes.join('\n')).toMatch(/Running → next event/);
    expect(cost.notes.join('\n')).not.toMatch(/so far|priced as/);
  });

  test('without onSuccess: 3 transitions and no SQS send', () => {
    const cost = estimateTaskCost(
      task('Succeeded', [
        ['Enqueued', 0],
        ['Running', 0.1],
        ['Succeeded', 0.2],
      ]),
      LAMBDA_PLAIN,
      'us-east-1',
    );
    expect(cost.orchestration).toMatchObject({ transitions: 3, dynamodbWriteUnits: 11, sqsRequests: 0 });
  });

  test('two retries, then success: 5 more states and one more status write per retry, three invocations', () => {
    const cost = estimateTaskCost(
      task('Succeeded', [
        ['Enqueued', 0],
        ['Running', 1, 'attempt 1'],
        ['Retrying', 2, 'attempt 1 failed: Error'],
        ['Running', 12, 'attempt 2'],
        ['Retrying', 13, 'attempt 2 failed: Error'],
        ['Running', 33, 'attempt 3'],
        ['Succeeded', 34, 'attempt 3'],
      ]),
      LAMBDA_PLAIN,
      'us-east-1',
    );
    // MarkRunning Run (CanRetry MarkRetrying NextAttempt Backoff MarkRunning Run) ×2 MarkSucceeded
    expect(cost.orchestration).toMatchObject({ transitions: 15, dynamodbWrites: 7, dynamodbWriteUnits: 27, lambdaRequests: 1 });
    expect(cost.compute).toMatchObject({ attempts: 3, seconds: 3, gbSeconds: 3 });
    expect(cost.compute.usd).toBeCloseTo(3 * US.lambdaGbSecond.arm64 + 3 * US.lambdaRequest, 12);
  });

  test('failure after the retries: CanRetry and RetriesExhausted, the finalizer with its two writes and the failure record', () => {
    const cost = estimateTaskCost(
      task(
        'Failed',
        [
          ['Enqueued', 0],
          ['Running', 1],
          ['Retrying', 2],
          ['Running', 12],
          ['Retrying', 13],
          ['Running', 33],
          ['Failed', 34, 'execution FAILED: TaskRetriesExhausted'],
        ],
        { taskErrorMessage: 'boom' },
      ),
      WITH_FAILURE,
      'us-east-1',
    );
    expect(cost.orchestration).toMatchObject({
      transitions: 16,
      // put, 3 × Running, 2 × Retrying, terminal (with the claim), delivery outcome
      dynamodbWrites: 8,
      dynamodbWriteUnits: 3 + 12 + 8 + 4 + 3,
      // TaskApi submit + the finalizer
      lambdaRequests: 2,
      sqsRequests: 1,
    });
    const expected = 16 * US.transition + 30 * US.writeUnit + 2 * US.lambdaRequest + serviceDuration(2) + US.sqsRequest;
    expect(cost.orchestration.usd).toBeCloseTo(expected, 12);
  });

  test('a permanent failure skips CanRetry; maxRetryAttempts 0 has none', () => {
    const steps: Step[] = [
      ['Enqueued', 0],
      ['Running', 1],
      ['Failed', 2, 'execution FAILED: TaskPermanentFailure'],
    ];
    expect(estimateTaskCost(task('Failed', steps), LAMBDA_PLAIN, 'us-east-1').orchestration.transitions).toBe(3);
    const exhausted: Step[] = [
      ['Enqueued', 0],
      ['Running', 1],
      ['Failed', 2, 'execution FAILED: TaskRetriesExhausted'],
    ];
    expect(estimateTaskCost(task('Failed', exhausted), LAMBDA_PLAIN, 'us-east-1').orchestration.transitions).toBe(4);
    expect(
      estimateTaskCost(task('Failed', exhausted), { ...LAMBDA_PLAIN, maxRetryAttempts: 0 }, 'us-east-1').orchestration.transitions,
    ).toBe(3);
  });

  test('stop: the stop request and its write, no Fail state (the execution is aborted), the finalizer; the attempt runs until Stopped', () => {
    const cost = estimateTaskCost(
      task('Stopped', [
        ['Enqueued', 0],
        ['Running', 1],
        ['Stopping', 5, 'stop requested', 'arn:aws:iam::123456789012:user/ops'],
        ['Stopped', 6, 'execution ABORTED'],
      ]),
      WITH_FAILURE,
      'us-east-1',
    );
    expect(cost.orchestration).toMatchObject({
      transitions: 2,
      dynamodbWrites: 5,
      dynamodbWriteUnits: 3 + 4 + 4 + 4 + 3,
      // submit, stop, finalizer
      lambdaRequests: 3,
      sqsRequests: 1,
    });
    expect(cost.compute).toMatchObject({ attempts: 1, seconds: 5 });
  });

  test('expired before its first attempt: the refused MarkRunning (1 WRU) and NotRunnable, the finalizer; no compute', () => {
    const cost = estimateTaskCost(
      task('Expired', [
        ['Enqueued', 0],
        ['Expired', 7200, 'execution FAILED: TaskNotRunnable'],
      ]),
      LAMBDA_PLAIN,
      'us-east-1',
    );
    expect(cost.orchestration).toMatchObject({ transitions: 2, dynamodbWrites: 3, dynamodbWriteUnits: 3 + 1 + 4, lambdaRequests: 2 });
    expect(cost.compute).toMatchObject({ attempts: 0, seconds: 0, usd: 0 });
  });

  test('maxConcurrency: AcquireSlot, MarkDequeued and ReleaseSlot with their writes', () => {
    const cost = estimateTaskCost(
      task('Succeeded', [
        ['Enqueued', 0],
        ['Dequeued', 1],
        ['Running', 1],
        ['Succeeded', 2],
      ]),
      LAMBDA_PLAIN,
      'us-east-1',
    );
    expect(cost.orchestration).toMatchObject({ transitions: 6, dynamodbWrites: 6, dynamodbWriteUnits: 3 + 1 + 4 + 4 + 4 + 1 });
    expect(cost.notes.join('\n')).toMatch(/polls while waiting for a slot/);
  });

  test('a live task is priced so far: the running attempt up to now', () => {
    const cost = estimateTaskCost(
      task('Running', [
        ['Enqueued', 0],
        ['Running', 1],
      ]),
      LAMBDA_PLAIN,
      'us-east-1',
      T0 + 11 * S,
    );
    expect(cost.compute).toMatchObject({ attempts: 1, seconds: 10 });
    expect(cost.orchestration).toMatchObject({ transitions: 2, dynamodbWriteUnits: 7 });
    expect(cost.notes).toContain('so far: the task is Running');
  });

  test("a trigger's task has no TaskApi request (the trigger's invocation is shared by its batch)", () => {
    const cost = estimateTaskCost(
      task('Succeeded', [
        ['Enqueued', 0, 'created', 'kafka:orders/0@0-99'],
        ['Running', 1],
        ['Succeeded', 2],
      ]),
      LAMBDA_PLAIN,
      'us-east-1',
    );
    expect(cost.orchestration.lambdaRequests).toBe(0);
    expect(cost.notes.join('\n')).toMatch(/created by a trigger/);
  });

  test('an unknown memory and architecture: 128 MB x86_64 assumed, and said', () => {
    const cost = estimateTaskCost(
      task('Succeeded', [
        ['Enqueued', 0],
        ['Running', 0],
        ['Succeeded', 8],
      ]),
      { kind: 'lambda' },
      'us-east-1',
    );
    expect(cost.compute.gbSeconds).toBe(1);
    expect(cost.compute.usd).toBeCloseTo(1 * US.lambdaGbSecond.x86_64 + US.lambdaRequest, 12);
    expect(cost.notes.join('\n')).toMatch(/128 MB assumed[\s\S]*x86_64 assumed/);
  });
});

describe('estimateTaskCost: item size', () => {
  test('a 4 KB item (payload and result) is billed 4 WRU per copy: 44 WRU for the success path (docs/cost.md)', () => {
    const steps: Step[] = [
      ['Enqueued', 0],
      ['Running', 1],
      ['Succeeded', 2],
    ];
    const cost = estimateTaskCost(
      task('Succeeded', steps, { taskPayload: 'x'.repeat(3300), returnPayload: 'y'.repeat(100) }),
      LAMBDA_PLAIN,
      'us-east-1',
    );
    expect(cost.orchestration.dynamodbWriteUnits).toBe(44);
    expect(cost.notes.join('\n')).toMatch(/item of 4 KB/);
  });

  test('the result only counts from MarkSucceeded on', () => {
    const steps: Step[] = [
      ['Enqueued', 0],
      ['Running', 1],
      ['Succeeded', 2],
    ];
    // Payload small (1 KB item); result makes the item 3 KB: put 3 + Running 4 + Succeeded 4 × 3.
    const cost = estimateTaskCost(task('Succeeded', steps, { returnPayload: 'r'.repeat(2000) }), LAMBDA_PLAIN, 'us-east-1');
    expect(cost.orchestration.dynamodbWriteUnits).toBe(3 + 4 + 12);
  });
});

describe('estimateTaskCost: container kind (Fargate)', () => {
  const CONTAINER: CostFunction = {
    kind: 'container',
    maxRetryAttempts: 2,
    compute: { cpu: 2048, memoryMiB: 4096, architecture: 'x86_64' },
    onSuccess: { type: 'sqs' },
  };

  test('success: Run, LoadResult, MarkSucceeded, DeliverSuccess; the helper Running write and GetItem; S3 put + get; vCPU and GB from the task definition', () => {
    const cost = estimateTaskCost(
      task('Succeeded', [
        ['Enqueued', 0],
        ['Running', 30],
        ['Succeeded', 630],
      ]),
      CONTAINER,
      'us-east-1',
    );
    expect(cost.orchestration).toMatchObject({
      transitions: 4,
      dynamodbWrites: 3,
      dynamodbWriteUnits: 11,
      dynamodbReadUnits: 0.5,
      lambdaRequests: 1,
      sqsRequests: 1,
      s3Requests: 2,
    });
    expect(cost.compute).toEqual({
      kind: 'fargate',
      seconds: 600,
      attempts: 1,
      vcpuSeconds: 1200,
      gbSeconds: 2400,
      usd: expect.any(Number),
    });
    const fargate = US.fargate.x86_64;
    expect(cost.compute.usd).toBeCloseTo((1200 / 3600) * fargate.vcpuHour + (2400 / 3600) * fargate.gbHour, 12);
    expect(cost.compute.usd).toBeCloseTo(0.016457, 6);
    expect(cost.notes.join('\n')).toMatch(/one-minute minimum/);
  });

  test('a short attempt is billed Fargate’s one-minute minimum; arm64 and Spot are priced and noted', () => {
    const steps: Step[] = [
      ['Enqueued', 0],
      ['Running', 20],
      ['Succeeded', 30],
    ];
    const cost = estimateTaskCost(
      task('Succeeded', steps),
      { kind: 'container', compute: { cpu: 1024, memoryMiB: 2048, architecture: 'arm64', spot: true } },
      'us-east-1',
    );
    expect(cost.compute.seconds).toBe(FARGATE_MINIMUM_SECONDS);
    expect(cost.compute.usd).toBeCloseTo((60 / 3600) * US.fargate.arm64.vcpuHour + ((60 * 2) / 3600) * US.fargate.arm64.gbHour, 12);
    expect(cost.notes.join('\n')).toMatch(/Fargate Spot/);
  });

  test('a retried container attempt adds its failure classification (IsExitReport, ReadExitCode, IsPermanent) to the retry states', () => {
    const cost = estimateTaskCost(
      task('Succeeded', [
        ['Enqueued', 0],
        ['Running', 30],
        ['Retrying', 100],
        ['Running', 200],
        ['Succeeded', 300],
      ]),
      { ...CONTAINER, onSuccess: undefined },
      'us-east-1',
    );
    // Run (IsExitReport ReadExitCode IsPermanent CanRetry MarkRetrying NextAttempt Backoff) Run LoadResult MarkSucceeded
    expect(cost.orchestration.transitions).toBe(11);
    expect(cost.compute).toMatchObject({ attempts: 2, seconds: 170 });
  });
});

describe('estimateTaskCost: endings without a Running event', () => {
  const CONTAINER: CostFunction = { kind: 'container', maxRetryAttempts: 2, compute: { cpu: 1024, memoryMiB: 2048 } };

  test('a container that fails before its helper writes Running: Run, classification, CanRetry, RetriesExhausted; no compute counted', () => {
    const cost = estimateTaskCost(
      task('Failed', [
        ['Enqueued', 0],
        ['Retrying', 40],
        ['Retrying', 90],
        ['Failed', 150, 'execution FAILED: TaskRetriesExhausted'],
      ]),
      CONTAINER,
      'us-east-1',
    );
    // 3 × (Run + IsExitReport ReadExitCode IsPermanent + CanRetry) + 2 × (MarkRetrying NextAttempt Backoff) + RetriesExhausted
    expect(cost.orchestration.transitions).toBe(3 * 5 + 2 * 3 + 1);
    expect(cost.compute.attempts).toBe(0);
  });

  test('an Invalid container (the task definition cannot run): Run and the Invalid state', () => {
    const cost = estimateTaskCost(
      task('Invalid', [
        ['Enqueued', 0],
        ['Invalid', 1, 'execution FAILED: TaskInvalid'],
      ]),
      CONTAINER,
      'us-east-1',
    );
    expect(cost.orchestration.transitions).toBe(2);
  });

  test("an expired container attempt: the helper's refused start, classification, CanRetry, the refused MarkRetrying; Fargate's minimum", () => {
    const cost = estimateTaskCost(
      task('Expired', [
        ['Enqueued', 0],
        ['Expired', 400, 'execution FAILED: TaskNotRunnable'],
      ]),
      CONTAINER,
      'us-east-1',
    );
    // Run IsExitReport ReadExitCode IsPermanent CanRetry MarkRetrying NotRunnable
    expect(cost.orchestration).toMatchObject({
      transitions: 7,
      dynamodbWrites: 4,
      dynamodbWriteUnits: 3 + 1 + 1 + 4,
      dynamodbReadUnits: 0.5,
    });
    expect(cost.compute).toMatchObject({ attempts: 1, seconds: FARGATE_MINIMUM_SECONDS });
    expect(cost.notes.join('\n')).toMatch(/expired container attempt/);
  });

  test('expired waiting for a concurrency slot: AcquireSlot, WaitForSlot, CheckAge, Expired (polls not counted); no MarkRunning', () => {
    const cost = estimateTaskCost(
      task('Expired', [
        ['Enqueued', 0],
        ['Expired', 3600, 'execution FAILED: TaskExpired'],
      ]),
      { ...LAMBDA_PLAIN, maxConcurrency: 1 },
      'us-east-1',
    );
    expect(cost.orchestration).toMatchObject({ transitions: 4, dynamodbWrites: 3, dynamodbWriteUnits: 3 + 1 + 4, lambdaRequests: 2 });
    expect(cost.notes.join('\n')).toMatch(/polls while waiting for a slot/);
  });
});

describe('estimateTaskCost: regions', () => {
  const steps: Step[] = [
    ['Enqueued', 0],
    ['Running', 1],
    ['Succeeded', 2],
  ];

  test('an unknown region is priced as us-east-1, with a note', () => {
    const cost = estimateTaskCost(task('Succeeded', steps), LAMBDA, 'eu-central-2');
    expect(DEFAULT_PRICE_REGION).toBe('us-east-1');
    expect(cost.region).toBe('us-east-1');
    expect(cost.notes).toContain("no list prices for region 'eu-central-2': priced as us-east-1");
    expect(cost.totalUsd).toBe(estimateTaskCost(task('Succeeded', steps), LAMBDA, 'us-east-1').totalUsd);
    expect(estimateTaskCost(task('Succeeded', steps), LAMBDA, undefined).notes).toContain(
      "no list prices for region 'unknown': priced as us-east-1",
    );
  });

  test('a region with its own row uses it (eu-west-1 DynamoDB costs more)', () => {
    const eu = estimateTaskCost(task('Succeeded', steps), LAMBDA, 'eu-west-1');
    const us = estimateTaskCost(task('Succeeded', steps), LAMBDA, 'us-east-1');
    expect(eu.region).toBe('eu-west-1');
    expect(eu.notes.join('\n')).not.toMatch(/priced as/);
    expect(eu.orchestration.usd - us.orchestration.usd).toBeCloseTo(11 * (PRICES['eu-west-1'].writeUnit - US.writeUnit), 12);
  });
});

describe('formatting and sums', () => {
  test('formatUsd keeps a per-task figure readable', () => {
    expect(formatUsd(0.000104)).toBe('$0.000104');
    expect(formatUsd(0.00010814167)).toBe('$0.000108');
    expect(formatUsd(0.0000012)).toBe('$0.0000012');
    expect(formatUsd(0.5)).toBe('$0.50');
    expect(formatUsd(12.345)).toBe('$12.35');
    expect(formatUsd(0)).toBe('$0');
    expect(formatUsd(undefined)).toBe('-');
  });

  test('totalCostUsd sums the records that carry a cost', () => {
    const steps: Step[] = [
      ['Enqueued', 0],
      ['Running', 1],
      ['Succeeded', 2],
    ];
    const cost = estimateTaskCost(task('Succeeded', steps), LAMBDA, 'us-east-1');
    expect(totalCostUsd([{ cost }, { cost }, {}])).toBeCloseTo(2 * cost.totalUsd, 12);
    expect(totalCostUsd([])).toBe(0);
  });
});
