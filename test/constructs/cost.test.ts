/**
 * The cost contract (docs/cost.md): a task that succeeds at the first attempt without
 * maxConcurrency costs at most 4 state transitions, 3 DynamoDB writes (submit's put + at most
 * 2 by states) and no Lambda invocation by the machine besides the task's own `Run`.
 * Walks the success path of the synthesized definition from StartAt along `Next`.
 * The figures per million tasks are in docs/cost.md.
 */
import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { applyWrite, envelopedEvent, runningWrite, succeededWrite, toEconomyItem } from '../../lambda/lib/economy';
import { newTaskItem } from '../../lambda/lib/submit';
import {
  type CostFunction,
  DEFAULT_PRICE_REGION,
  ECONOMY_RECONCILER_READS_PER_TASK,
  estimateTaskCost,
  indexedWriteUnits,
  PATH_STATES,
  PRICES,
  serviceInvocationUsd,
  type TableTemplateProperties,
  type TaskStatus,
  tableIndexSpecs,
} from '../../lambda/model';
import { isoTime } from '../../lambda/model/table';
import type { AslDefinition } from './app';
import { definitionOf, successPath } from './app';
import { containerTask, lambdaTask, sqsDestination } from './fixtures';

/** The submit's conditional PutItem, made by TaskApi (not by the machine). */
const SUBMIT_WRITES = 1;
/** The container's runtime helper writes Running at start-up (not a state). */
const HELPER_WRITES = { lambda: 0, container: 1 } as const;

interface PathCost {
  readonly states: string[];
  readonly transitions: number;
  readonly dynamoWrites: number;
  readonly lambdaInvocationsBesidesRun: number;
}

function cost(definition: AslDefinition): PathCost {
  const states = successPath(definition);
  const resources = states.map((name) => ({ name, resource: definition.States[name].Resource ?? '' }));
  return {
    states,
    transitions: states.length,
    dynamoWrites: resources.filter((s) => /:states:::(dynamodb|aws-sdk:dynamodb):(updateItem|putItem|deleteItem)/.test(s.resource)).length,
    lambdaInvocationsBesidesRun: resources.filter((s) => s.name !== 'Run' && /:states:::lambda:invoke/.test(s.resource)).length,
  };
}

function cases() {
  const onSuccess = (stack: Stack) => ({ onSuccess: sqsDestination(stack, 'Done').destination });
  return [
    { name: 'Lambda, no onSuccess', kind: 'lambda' as const, delivers: false, definition: definitionOf(lambdaTask().fn.stateMachine) },
    {
      name: 'Lambda, SQS onSuccess',
      kind: 'lambda' as const,
      delivers: true,
      definition: definitionOf(lambdaTask(onSuccess).fn.stateMachine),
    },
    {
      name: 'container, no onSuccess',
      kind: 'container' as const,
      delivers: false,
      definition: definitionOf(containerTask().fn.stateMachine),
    },
    {
      name: 'container, SQS onSuccess',
      kind: 'container' as const,
      delivers: true,
      definition: definitionOf(containerTask(onSuccess).fn.stateMachine),
    },
  ];
}

/** The record of a task that succeeded at its first attempt, as the table's writers leave it. */
function succeededRecord() {
  const t0 = Date.parse('2026-11-25T12:00:00.000Z');
  const events: { status: TaskStatus; timestamp: number }[] = [
    { status: 'Enqueued', timestamp: t0 },
    { status: 'Running', timestamp: t0 + 100 },
    { status: 'Succeeded', timestamp: t0 + 200 },
  ];
  return { status: 'Succeeded' as const, taskPayload: { a: 1 }, startedTime: t0, endTime: t0 + 200, events };
}

describe('success-path cost per task', () => {
  test.each(cases())('$name: ≤ 4 transitions, ≤ 3 DynamoDB writes, no extra Lambda invocation', ({ kind, definition }) => {
    const c = cost(definition);
    expect(c.transitions).toBeLessThanOrEqual(4);
    expect(c.dynamoWrites).toBeLessThanOrEqual(2);
    expect(SUBMIT_WRITES + HELPER_WRITES[kind] + c.dynamoWrites).toBeLessThanOrEqual(3);
    expect(c.lambdaInvocationsBesidesRun).toBe(0);
  });

  test('the exact success paths', () => {
    const [lambdaPlain, lambdaDelivered, containerPlain, containerDelivered] = cases().map((c) => cost(c.definition));
    expect(lambdaPlain).toEqual({
      states: ['MarkRunning', 'Run', 'MarkSucceeded'],
      transitions: 3,
      dynamoWrites: 2,
      lambdaInvocationsBesidesRun: 0,
    });
    // MarkSucceeded before DeliverSuccess (the terminal status is the commit point): same count.
    expect(lambdaDelivered).toEqual({
      states: ['MarkRunning', 'Run', 'MarkSucceeded', 'DeliverSuccess'],
      transitions: 4,
      dynamoWrites: 2,
      lambdaInvocationsBesidesRun: 0,
    });
    expect(containerPlain).toEqual({
      states: ['Run', 'LoadResult', 'MarkSucceeded'],
      transitions: 3,
      dynamoWrites: 1,
      lambdaInvocationsBesidesRun: 0,
    });
    expect(containerDelivered).toEqual({
      states: ['Run', 'LoadResult', 'MarkSucceeded', 'DeliverSuccess'],
      transitions: 4,
      dynamoWrites: 1,
      lambdaInvocationsBesidesRun: 0,
    });
  });

  test('maxConcurrency adds its slot states (documented: 3 more transitions and 3 more writes)', () => {
    const c = cost(definitionOf(lambdaTask({ maxConcurrency: 2 }).fn.stateMachine));
    expect(c.states).toEqual(['AcquireSlot', 'MarkDequeued', 'MarkRunning', 'Run', 'MarkSucceeded', 'ReleaseSlot']);
    expect(c.dynamoWrites).toBe(5);
  });

  test('maxConcurrency with onSuccess: the slot is released after the delivery', () => {
    const c = cost(
      definitionOf(lambdaTask((stack) => ({ maxConcurrency: 2, onSuccess: sqsDestination(stack, 'Done').destination })).fn.stateMachine),
    );
    expect(c.states).toEqual(['AcquireSlot', 'MarkDequeued', 'MarkRunning', 'Run', 'MarkSucceeded', 'DeliverSuccess', 'ReleaseSlot']);
    expect(c.transitions).toBe(7);
  });

  // One source of truth: the per-task estimate on the record (lambda/model/cost.ts) counts what
  // this walk counts, so the estimate and the machine cannot drift apart.
  test.each(cases())('$name: the estimator counts the walked success path', ({ kind, delivers, definition }) => {
    const c = cost(definition);
    expect([...PATH_STATES.success[kind], ...(delivers ? PATH_STATES.deliver : [])]).toEqual(c.states);
    const fn: CostFunction = { kind, ...(delivers ? { onSuccess: { type: 'sqs' } } : {}) };
    const estimate = estimateTaskCost(succeededRecord(), fn, 'us-east-1');
    expect(estimate.orchestration.transitions).toBe(c.transitions);
    expect(estimate.orchestration.dynamodbWrites).toBe(SUBMIT_WRITES + HELPER_WRITES[kind] + c.dynamoWrites);
    expect(estimate.orchestration.lambdaRequests).toBe(1 + c.lambdaInvocationsBesidesRun);
  });

  test.each(cases())('$name: the retry and failure-classification states the estimator counts exist and chain', ({ kind, definition }) => {
    const states = definition.States;
    // CanRetry's retry branch: MarkRetrying → NextAttempt → Backoff → the next attempt's first state.
    const canRetry = states[PATH_STATES.retry[0]] as { Choices?: Array<{ Next: string }> };
    let name: string | undefined = canRetry.Choices?.[0]?.Next;
    const chain: string[] = [PATH_STATES.retry[0]];
    while (name !== undefined && !chain.includes(name) && chain.length < PATH_STATES.retry.length) {
      chain.push(name);
      name = states[name]?.Next;
    }
    expect(chain).toEqual([...PATH_STATES.retry]);
    expect(name).toBe(PATH_STATES.attempt[kind][0]);
    for (const state of PATH_STATES.attempt[kind]) expect(states[state]).toBeDefined();
    for (const state of PATH_STATES.containerFailure) expect(states[state] !== undefined).toBe(kind === 'container');
  });

  test('the slot-wait states the estimator counts for a task expired without a slot chain to the Expired state', () => {
    const states = definitionOf(lambdaTask({ maxConcurrency: 2 }).fn.stateMachine).States;
    const [acquire, wait, check, expired] = PATH_STATES.slotWait;
    expect(states[acquire].Catch?.[0]?.Next).toBe(wait);
    expect(states[wait].Next).toBe(check);
    expect(states[check].Choices?.[0]?.Next).toBe(expired);
    expect(states[expired].Type).toBe('Fail');
  });

  test('the slot states the estimator counts for maxConcurrency are those of the walk', () => {
    const c = cost(definitionOf(lambdaTask({ maxConcurrency: 2 }).fn.stateMachine));
    expect(c.states).toEqual([...PATH_STATES.slot, ...PATH_STATES.success.lambda, ...PATH_STATES.release]);
    const t0 = Date.parse('2026-11-25T12:00:00.000Z');
    const record = succeededRecord();
    const withSlot = {
      ...record,
      events: [record.events[0], { status: 'Dequeued' as const, timestamp: t0 + 50 }, ...record.events.slice(1)],
    };
    const estimate = estimateTaskCost(withSlot, { kind: 'lambda' }, 'us-east-1');
    expect(estimate.orchestration.transitions).toBe(c.transitions);
    expect(estimate.orchestration.dynamodbWrites).toBe(SUBMIT_WRITES + c.dynamoWrites);
  });
});

/**
 * Economy orchestration's budget (docs/cost.md, "Economy mode: the study"): walks the wiring
 * the synth made — the function's EventInvokeConfig (a Lambda `onSuccess` would be one more
 * request per task), the tasks table's indexes as the template declares them — and the writes a
 * task makes (submit's put of `newTaskItem` → `toEconomyItem`, the wrapper's Running and
 * Succeeded), counts the write units DynamoDB bills for each with its index copies
 * (`indexedWriteUnits`), and prices one successful task at list prices. The same walk of a standard
 * task gives docs/cost.md's 11 WRU.
 */
describe('economy orchestration: per-task operations against the $5 per million budget', () => {
  const BUDGET_PER_MILLION = 5;
  /** us-east-1 list prices: the estimator's table. */
  const LIST = PRICES[DEFAULT_PRICE_REGION];
  const arn = {
    machine: 'arn:aws:states:us-east-1:123456789012:stateMachine:svc-etl',
    worker: 'arn:aws:lambda:us-east-1:123456789012:function:etl-worker',
    queue: 'arn:aws:sqs:us-east-1:123456789012:done',
  };

  function synthesized() {
    const built = lambdaTask((stack) => ({ orchestration: 'economy', onSuccess: sqsDestination(stack, 'Done').destination }));
    const template = Template.fromStack(built.stack);
    const { indexes, tableKeys } = tableIndexSpecs(
      Object.values(template.findResources('AWS::DynamoDB::Table'))[0].Properties as TableTemplateProperties,
    );
    const invokeConfigs = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig')).map(
      (r) => r.Properties as { DestinationConfig?: { OnSuccess?: unknown; OnFailure?: unknown } },
    );
    const memoryMb = Number(
      (
        Object.values(template.findResources('AWS::Lambda::Function')).find((f) =>
          JSON.stringify(f).includes('exports.handler = async (e) => e'),
        )?.Properties as { MemorySize?: number } | undefined
      )?.MemorySize ?? 128,
    );
    return { ...built, indexes, tableKeys, invokeConfigs, memoryMb };
  }

  function descriptor(fn: { maxRetryAttempts: number; maxEventAge: { toSeconds(): number }; timeout: { toSeconds(): number } }) {
    return {
      name: 'etl',
      kind: 'lambda' as const,
      stateMachineArn: arn.machine,
      runnerArn: arn.worker,
      maxRetryAttempts: fn.maxRetryAttempts,
      maxEventAgeSeconds: fn.maxEventAge.toSeconds(),
      timeoutSeconds: fn.timeout.toSeconds(),
      orchestration: 'economy' as const,
      onSuccess: { type: 'sqs' as const, arn: arn.queue },
    };
  }

  /** A small ETL batch task: a pointer payload and a short result, as the budget assumes (< 1 KB). */
  const task = {
    taskId: 'batch-2026-11-30-000001',
    payload: { input: 's3://etl-in/2026/11/30/000001.json', records: 100 },
    caller: 'lambda:Invoke',
  };
  const result = JSON.stringify({ output: 's3://etl-out/2026/11/30/000001.parquet', records: 100 });

  test('5 write units (4 without onSuccess), no Step Functions, no Lambda request besides the submit: ≤ $5 per million', () => {
    const { fn, indexes, tableKeys, invokeConfigs, memoryMb } = synthesized();
    const d = descriptor(fn);
    // Wiring: one EventInvokeConfig; a success is not routed through a Lambda destination.
    expect(invokeConfigs).toHaveLength(1);
    expect(invokeConfigs[0].DestinationConfig?.OnSuccess).toBeUndefined();
    expect(invokeConfigs[0].DestinationConfig?.OnFailure).toBeDefined();
    const lambdaRequestsBesidesSubmit = invokeConfigs[0].DestinationConfig?.OnSuccess ? 1 : 0;

    const now = Date.parse('2026-11-30T06:00:00.000Z');
    const put = toEconomyItem(
      newTaskItem({ retentionSeconds: 7 * 86400 }, d, task, now, '8f0b6c1e-0d7e-4d38-9a57-4f3c2b1a0e99'),
      arn.worker,
    );
    const envelope = envelopedEvent(d, put, {
      table: 'Tasks',
      retentionSeconds: 7 * 86400,
      finalizerArn: 'arn:aws:lambda:us-east-1:123456789012:function:finalizer',
    }).asynctask;
    const running = applyWrite(
      put as unknown as Record<string, unknown>,
      runningWrite(isoTime(now + 40), 'c0ffee00-1111-2222-3333-444455556666'),
    );
    const succeeded = applyWrite(running, succeededWrite(envelope, isoTime(now + 180), result, 'c0ffee00-1111-2222-3333-444455556666'));
    const { deliveryClaim: _claim, ...delivered } = { ...succeeded, destinationStatus: 'Succeeded' } as Record<string, unknown>;
    const writes = [
      { name: 'submit put', units: indexedWriteUnits({ after: put as unknown as Record<string, unknown> }, indexes, tableKeys) },
      {
        name: 'Running',
        units: indexedWriteUnits({ before: put as unknown as Record<string, unknown>, after: running }, indexes, tableKeys),
      },
      { name: 'Succeeded', units: indexedWriteUnits({ before: running, after: succeeded }, indexes, tableKeys) },
      // With onSuccess: the delivery claimed by the Succeeded write, its outcome recorded after the send.
      { name: 'delivery outcome', units: indexedWriteUnits({ before: succeeded, after: delivered }, indexes, tableKeys) },
    ];
    expect(writes).toEqual([
      { name: 'submit put', units: 2 },
      { name: 'Running', units: 1 },
      { name: 'Succeeded', units: 1 },
      { name: 'delivery outcome', units: 1 },
    ]);
    const wru = writes.reduce((sum, w) => sum + w.units, 0);
    // The wrapper's ~50 ms (two updates and the SQS send) inside the function, at its memory.
    const wrapper = (memoryMb / 1024) * 0.05 * LIST.lambdaGbSecond.arm64;
    // The reconciler reads each economy task about three times once its bound has passed (0.5 RRU each).
    const reconcilerReads = ECONOMY_RECONCILER_READS_PER_TASK * 0.5 * LIST.readUnit;
    const perTask =
      wru * LIST.writeUnit +
      serviceInvocationUsd(LIST) +
      lambdaRequestsBesidesSubmit * LIST.lambdaRequest +
      LIST.sqsRequest +
      wrapper +
      reconcilerReads;
    const perMillion = perTask * 1e6;
    expect(perMillion).toBeLessThanOrEqual(BUDGET_PER_MILLION);
    expect(perMillion).toBeCloseTo(4.66, 2);

    // The estimate on the record counts the same: no transition, these writes and units, the
    // submit as the only service invocation, the one SQS send, no finalizer.
    const estimate = estimateTaskCost(
      {
        status: 'Succeeded',
        orchestration: 'economy',
        taskPayload: task.payload,
        returnPayload: JSON.parse(result),
        startedTime: now,
        endTime: now + 180,
        destinationStatus: 'Succeeded',
        events: [
          { status: 'Enqueued', timestamp: now, caller: task.caller },
          { status: 'Running', timestamp: now + 40 },
          { status: 'Succeeded', timestamp: now + 180 },
        ],
      },
      { kind: 'lambda', onSuccess: { type: 'sqs' } },
      'us-east-1',
    );
    expect(estimate.orchestration).toMatchObject({
      transitions: 0,
      dynamodbWrites: writes.length,
      dynamodbWriteUnits: wru,
      lambdaRequests: 1 + lambdaRequestsBesidesSubmit,
      sqsRequests: 1,
    });
    // Without onSuccess: no send, no outcome write.
    const plainRecord = {
      status: 'Succeeded' as const,
      orchestration: 'economy' as const,
      taskPayload: task.payload,
      startedTime: now,
      endTime: now + 180,
      events: [
        { status: 'Enqueued' as const, timestamp: now },
        { status: 'Running' as const, timestamp: now + 40 },
        { status: 'Succeeded' as const, timestamp: now + 180 },
      ],
    };
    const plain = estimateTaskCost(plainRecord, { kind: 'lambda' }, 'us-east-1');
    expect(plain.orchestration).toMatchObject({
      transitions: 0,
      dynamodbWrites: 3,
      dynamodbWriteUnits: 4,
      lambdaRequests: 1,
      sqsRequests: 0,
    });
  });

  test('the same walk of a standard task gives docs/cost.md’s 11 write units', () => {
    const { fn, indexes, tableKeys } = synthesized();
    const d = { ...descriptor(fn), orchestration: undefined };
    const now = Date.parse('2026-11-30T06:00:00.000Z');
    const put = newTaskItem({ retentionSeconds: 7 * 86400 }, d, task, now, '8f0b6c1e-0d7e-4d38-9a57-4f3c2b1a0e99') as unknown as Record<
      string,
      unknown
    >;
    const move = (item: Record<string, unknown>, status: string, set: Record<string, unknown>) => ({
      ...item,
      status,
      statusKey: `etl#${status}`,
      ...set,
      events: [...(item.events as unknown[]), { status, at: isoTime(now) }],
    });
    const running = move(put, 'Running', { runnerId: 'c0ffee00-1111-2222-3333-444455556666' });
    const succeeded = move(running, 'Succeeded', { returnPayload: result, endedAt: isoTime(now + 180), destinationStatus: 'Succeeded' });
    const units = [
      indexedWriteUnits({ after: put }, indexes, tableKeys),
      indexedWriteUnits({ before: put, after: running }, indexes, tableKeys),
      indexedWriteUnits({ before: running, after: succeeded }, indexes, tableKeys),
    ];
    expect(units).toEqual([3, 4, 4]);
  });

  test('an item past 1 KB costs a write unit more per write (the budget is for small items)', () => {
    const { fn, indexes, tableKeys } = synthesized();
    const d = descriptor(fn);
    const big = { ...task, payload: { rows: 'x'.repeat(1500) } };
    const put = toEconomyItem(newTaskItem({ retentionSeconds: 7 * 86400 }, d, big, 0, '8f0b6c1e-0d7e-4d38-9a57-4f3c2b1a0e99'), arn.worker);
    expect(indexedWriteUnits({ after: put as unknown as Record<string, unknown> }, indexes, tableKeys)).toBe(3);
  });
});
