/**
 * The cost contract (docs/cost.md): a task that succeeds at the first attempt without
 * maxConcurrency costs at most 4 state transitions, 3 DynamoDB writes (submit's put + at most
 * 2 by states) and no Lambda invocation by the machine besides the task's own `Run`.
 * Walks the success path of the synthesized definition from StartAt along `Next`.
 * The figures per million tasks are in docs/cost.md.
 */
import type { Stack } from 'aws-cdk-lib';
import { type CostFunction, estimateTaskCost, PATH_STATES, type TaskStatus } from '../../lambda/model';
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
