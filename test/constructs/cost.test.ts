/**
 * The cost contract (docs/cost.md): a task that succeeds at the first attempt without
 * maxConcurrency costs at most 4 state transitions, 3 DynamoDB writes (submit's put + at most
 * 2 by states) and no Lambda invocation by the machine besides the task's own `Run`.
 * Walks the success path of the synthesized definition from StartAt along `Next`.
 * The figures per million tasks are in docs/cost.md.
 */
import type { Stack } from 'aws-cdk-lib';
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
    { name: 'Lambda, no onSuccess', kind: 'lambda' as const, definition: definitionOf(lambdaTask().fn.stateMachine) },
    { name: 'Lambda, SQS onSuccess', kind: 'lambda' as const, definition: definitionOf(lambdaTask(onSuccess).fn.stateMachine) },
    { name: 'container, no onSuccess', kind: 'container' as const, definition: definitionOf(containerTask().fn.stateMachine) },
    {
      name: 'container, SQS onSuccess',
      kind: 'container' as const,
      definition: definitionOf(containerTask(onSuccess).fn.stateMachine),
    },
  ];
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
});
