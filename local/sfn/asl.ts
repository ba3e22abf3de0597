/**
 * Adapting an ASL definition to aws-local-stepfunctions, and the workarounds it needs:
 *
 * - `Promise.withResolvers` (used by its Task states) is missing on Node 20: polyfilled here.
 * - Its Task states time out after 60 s unless `TimeoutSeconds` is set (AWS: 99999999 s): every
 *   Task gets a large `TimeoutSeconds` and the dispatcher enforces the state's own timeout
 *   itself (so it can kill an ECS process), raising the library's own `States.Timeout` error
 *   class (which `States.TaskFailed` does not match, as on AWS).
 * - `setTimeout` overflows above 2^31-1 ms (it would fire at once): timeouts are clamped.
 * - Its context object has only Execution.Input/StartTime, and it is spread per execution, so
 *   `$$.State.*` must be an object with getters; its values come from a per-execution tracker
 *   fed by a Proxy on the definition's `States` maps (the library looks up the next state there
 *   right before entering it), so `$$.State.EnteredTime` / `$$.State.Name` are exact.
 * - It has no hook that runs *before* a state does (its event log is read asynchronously):
 *   `onStateEntered` wraps its (private) per-run event logger so a state's entry can be saved
 *   to disk before the state runs.
 * - It cannot start an execution in the middle: `resumeDefinition` adds an entry Pass state
 *   whose Result is the saved input of the state to resume, so the execution input (and
 *   `$$.Execution.Input`) stay the original ones.
 * - It evaluates every JSONPath with jsonpath-plus's `JSONPath({path, json, wrap: false})`,
 *   which hands a scalar result back by throwing it (an `Error` subclass, its stack trace
 *   captured) and catching it: ≈ 4.5 µs against 0.3 µs for an object, on each `.$` reference
 *   to a string or number of each state. The export it calls is replaced by `evaluateJsonPath`:
 *   the same evaluator and evaluation, the result returned.
 */
import { createRequire } from 'node:module';
import { StateMachine } from 'aws-local-stepfunctions';

type WithResolvers = <T>() => { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void };
const promiseCtor = Promise as unknown as { withResolvers?: WithResolvers };
if (typeof promiseCtor.withResolvers !== 'function') {
  promiseCtor.withResolvers = <T>() => {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

type JsonPathOptions = Record<string, unknown> & { path?: unknown };
type JsonPathFunction = ((this: unknown, ...args: unknown[]) => unknown) & {
  new (...args: unknown[]): { evaluate(args: object): unknown };
};
/** jsonpath-plus as aws-local-stepfunctions requires it (its module object: the library reads `.JSONPath` at each call). */
const jsonPathPlus = createRequire(require.resolve('aws-local-stepfunctions'))('jsonpath-plus') as { JSONPath: JsonPathFunction };
/** jsonpath-plus's own `JSONPath`. */
export const originalJsonPath: JsonPathFunction = jsonPathPlus.JSONPath;

/**
 * `JSONPath(options)` as jsonpath-plus answers it — for one options object without `autostart`
 * or `callback`, the evaluator built with `autostart: false` and run on the same arguments the
 * constructor would give it (what it then throws for a scalar and returns for an object);
 * anything else goes to jsonpath-plus's own.
 */
export const evaluateJsonPath = function (this: unknown, ...args: unknown[]): unknown {
  const [options] = args;
  if (
    new.target !== undefined ||
    args.length !== 1 ||
    options === null ||
    typeof options !== 'object' ||
    Array.isArray(options) ||
    'autostart' in options ||
    'callback' in options
  ) {
    return new.target !== undefined ? Reflect.construct(originalJsonPath, args) : Reflect.apply(originalJsonPath, this, args);
  }
  const opts = options as JsonPathOptions;
  const evaluator = new originalJsonPath({ ...opts, autostart: false });
  return evaluator.evaluate('json' in opts ? { path: opts.path, json: opts.json } : { path: opts.path });
} as JsonPathFunction;
Object.assign(evaluateJsonPath, originalJsonPath);
jsonPathPlus.JSONPath = evaluateJsonPath;

/** Largest timeout a Node timer can hold, in seconds (2^31-1 ms ≈ 24.8 days), with margin. */
export const MAX_TIMER_SECONDS = 2_000_000;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type AslState = Record<string, unknown> & { Type: string };
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
  [other: string]: unknown;
}

export function isDefinition(value: unknown): value is AslDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AslDefinition).StartAt === 'string' &&
    typeof (value as AslDefinition).States === 'object' &&
    (value as AslDefinition).States !== null
  );
}

/** Every nested state machine of a state (Parallel branches, Map iterator/item processor). */
function childDefinitions(state: AslState): AslDefinition[] {
  const out: AslDefinition[] = [];
  if (Array.isArray(state.Branches)) for (const b of state.Branches) if (isDefinition(b)) out.push(b);
  if (isDefinition(state.Iterator)) out.push(state.Iterator);
  if (isDefinition(state.ItemProcessor)) out.push(state.ItemProcessor);
  return out;
}

/** All Task states of a definition, nested ones included, by name (the library's override key). */
export function taskStates(definition: AslDefinition): Map<string, AslState> {
  const out = new Map<string, AslState>();
  const walk = (def: AslDefinition): void => {
    for (const [name, state] of Object.entries(def.States)) {
      if (state.Type === 'Task') out.set(name, state);
      for (const child of childDefinitions(state)) walk(child);
    }
  };
  walk(definition);
  return out;
}

/** All state types by name (nested included), for history event names. */
export function stateTypes(definition: AslDefinition): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (def: AslDefinition): void => {
    for (const [name, state] of Object.entries(def.States)) {
      out.set(name, state.Type);
      for (const child of childDefinitions(state)) walk(child);
    }
  };
  walk(definition);
  return out;
}

/**
 * The definition the library runs: Task timeouts taken over by the dispatcher, execution
 * timeout clamped. The original definition is not modified.
 */
export function prepareDefinition(definition: AslDefinition): AslDefinition {
  // A JSON copy, not structuredClone: the library only expands payload templates of plain
  // objects of its own realm (`getPrototypeOf(o) === Object.prototype`), which fails for
  // objects structuredClone makes inside a vm context (jest).
  const copy = JSON.parse(JSON.stringify(definition)) as AslDefinition;
  const walk = (def: AslDefinition): void => {
    for (const state of Object.values(def.States)) {
      if (state.Type === 'Task') {
        state.TimeoutSeconds = MAX_TIMER_SECONDS;
        delete state.TimeoutSecondsPath;
        delete state.HeartbeatSeconds;
        delete state.HeartbeatSecondsPath;
      }
      for (const child of childDefinitions(state)) walk(child);
    }
  };
  walk(copy);
  if (typeof copy.TimeoutSeconds === 'number') {
    copy.TimeoutSeconds = Math.min(Math.max(copy.TimeoutSeconds, 0.001), MAX_TIMER_SECONDS);
  }
  return copy;
}

/** Where the running execution is: fed by `trackStates`, read by the `$$.State` getters. */
export interface StateTracker {
  name: string | null;
  enteredTime: string;
  retryCount: number;
}

export function newTracker(): StateTracker {
  return { name: null, enteredTime: new Date().toISOString(), retryCount: 0 };
}

/**
 * A copy of a prepared definition whose `States` maps record every state lookup in the
 * tracker — the library looks a state up exactly when it enters it.
 */
export function trackStates(definition: AslDefinition, tracker: StateTracker): AslDefinition {
  const wrap = (def: AslDefinition): AslDefinition => {
    const states: Record<string, AslState> = {};
    for (const [name, state] of Object.entries(def.States)) {
      const s: AslState = { ...state };
      if (Array.isArray(s.Branches)) s.Branches = s.Branches.map((b) => (isDefinition(b) ? wrap(b) : b));
      if (isDefinition(s.Iterator)) s.Iterator = wrap(s.Iterator);
      if (isDefinition(s.ItemProcessor)) s.ItemProcessor = wrap(s.ItemProcessor);
      states[name] = s;
    }
    const proxy = new Proxy(states, {
      get(target, prop, receiver) {
        if (typeof prop === 'string' && Object.hasOwn(target, prop)) {
          tracker.name = prop;
          tracker.enteredTime = new Date().toISOString();
          tracker.retryCount = 0;
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    return { ...def, States: proxy };
  };
  return wrap(definition);
}

/** The Context Object of an execution (`$$`), with live `$$.State` getters. */
export function contextObject(args: {
  executionArn: string;
  name: string;
  startTime: string;
  roleArn: string;
  stateMachineArn: string;
  stateMachineName: string;
  tracker: StateTracker;
}): Record<string, unknown> {
  const { tracker } = args;
  return {
    Execution: {
      Id: args.executionArn,
      Name: args.name,
      RoleArn: args.roleArn,
      StartTime: args.startTime,
      RedriveCount: 0,
    },
    StateMachine: { Id: args.stateMachineArn, Name: args.stateMachineName },
    State: {
      get EnteredTime(): string {
        return tracker.enteredTime;
      },
      get Name(): string | null {
        return tracker.name;
      },
      get RetryCount(): number {
        return tracker.retryCount;
      },
    },
    Task: {},
  };
}

/** Checks a definition the way the library does (ARNs and paths are left to run time). */
export function validateDefinition(definition: AslDefinition): string | undefined {
  try {
    new StateMachine(definition as never, { validationOptions: { checkArn: false, checkPaths: false } });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

let timeoutProto: Promise<object> | undefined;
/**
 * The prototype of the library's own `States.Timeout` error (not exported): its retry/catch
 * logic tells a timeout from other task failures with `instanceof`. Obtained once by running a
 * one-state machine whose Task times out after 1 ms.
 */
export function statesTimeoutPrototype(): Promise<object> {
  timeoutProto ??= (async () => {
    const sm = new StateMachine(
      { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'local:timeout', TimeoutSeconds: 0.001, End: true } } } as never,
      { validationOptions: { noValidate: true } },
    );
    const run = sm.run(null, {
      overrides: { taskResourceLocalHandlers: { T: () => new Promise<never>(() => undefined) } },
    });
    try {
      await run.result;
    } catch (e) {
      const cause = (e as Error).cause;
      if (cause instanceof Error && cause.name === 'States.Timeout') return Object.getPrototypeOf(cause) as object;
    }
    return Error.prototype;
  })();
  return timeoutProto;
}

/** A `States.Timeout` error the library treats as its own. */
export async function statesTimeoutError(message = 'States.Timeout'): Promise<Error> {
  const proto = await statesTimeoutPrototype();
  const error = new Error(message);
  Object.setPrototypeOf(error, proto);
  error.name = 'States.Timeout';
  return error;
}

/**
 * Resolves a simple JSONPath reference (`$`, `$.a.b`, `$.a[0]`, `$['a']`) — enough for
 * `TimeoutSecondsPath`, which the dispatcher evaluates itself.
 */
export function resolveReferencePath(path: string, value: unknown): unknown {
  if (!path.startsWith('$')) return undefined;
  const tokens = path.slice(1).match(/\.[^.[\]]+|\[\d+\]|\['[^']*'\]|\["[^"]*"\]/g) ?? [];
  let cur: unknown = value;
  for (const t of tokens) {
    if (cur === null || typeof cur !== 'object') return undefined;
    const key = t.startsWith('.') ? t.slice(1) : t.startsWith("['") || t.startsWith('["') ? t.slice(2, -2) : Number(t.slice(1, -1));
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur;
}

type StateEnteredHook = (stateName: string, stateType: string, input: unknown) => void;
interface PrivateRunOptions {
  eventLogger?: { dispatchStateEnteredEvent?: (name: string, type: string, input: unknown) => void };
}
type PrivateExecute = (this: unknown, input: unknown, options: PrivateRunOptions, cleanup: unknown) => Promise<unknown>;

/**
 * Calls `hook` synchronously each time the execution enters a top-level state, before the
 * state runs (the library dispatches StateEntered right before executing the state; nested
 * Map/Parallel states are forwarded by other means and not seen here). A hook that throws
 * fails the execution, as a step that cannot be saved must not run.
 */
export function onStateEntered(sm: StateMachine, hook: StateEnteredHook): void {
  const target = sm as unknown as { execute?: PrivateExecute };
  const execute = target.execute;
  if (typeof execute !== 'function') {
    throw new Error(
      'aws-local-stepfunctions has no StateMachine.execute(input, options, cleanup) any more; the local runtime needs it ' +
        'to save each step before it runs (supported: aws-local-stepfunctions 3.x)',
    );
  }
  target.execute = function (this: unknown, input, options, cleanup) {
    const logger = options?.eventLogger;
    const dispatch = logger?.dispatchStateEnteredEvent;
    if (!logger || typeof dispatch !== 'function') {
      throw new Error(
        'aws-local-stepfunctions passes no eventLogger.dispatchStateEnteredEvent to StateMachine.execute any more ' +
          '(supported: aws-local-stepfunctions 3.x)',
      );
    }
    logger.dispatchStateEnteredEvent = (name, type, stateInput) => {
      hook(name, type, stateInput);
      dispatch.call(logger, name, type, stateInput);
    };
    return execute.call(this, input, options, cleanup);
  };
}

/**
 * A copy of a prepared definition that starts at `state` with `input` (through an added entry
 * Pass state, named `entry`), its execution timeout reduced to `timeoutSeconds` when given.
 */
export function resumeDefinition(
  definition: AslDefinition,
  state: string,
  input: unknown,
  timeoutSeconds?: number,
): { definition: AslDefinition; entry: string } {
  if (!Object.hasOwn(definition.States, state)) {
    throw new Error(
      `cannot resume at state '${state}': the definition has no such top-level state (states: ${Object.keys(definition.States).join(', ')})`,
    );
  }
  let entry = 'ResumeAfterLocalRuntimeRestart';
  while (Object.hasOwn(definition.States, entry)) entry = `_${entry}`;
  const copy: AslDefinition = {
    ...definition,
    StartAt: entry,
    States: { [entry]: { Type: 'Pass', Result: (input ?? null) as Json, Next: state }, ...definition.States },
  };
  if (timeoutSeconds !== undefined && typeof definition.TimeoutSeconds === 'number') {
    copy.TimeoutSeconds = Math.min(Math.max(timeoutSeconds, 0.001), MAX_TIMER_SECONDS);
  }
  return { definition: copy, entry };
}

/**
 * When a Wait state entered at `enteredAt` with `input` ends, in epoch ms; undefined for waits
 * given as a timestamp (the library waits until it anyway) or whose time cannot be read.
 */
export function waitEnd(state: AslState, input: unknown, enteredAt: number): number | undefined {
  if (state.Type !== 'Wait') return undefined;
  const effective = typeof state.InputPath === 'string' ? resolveReferencePath(state.InputPath, input) : input;
  const seconds = typeof state.SecondsPath === 'string' ? resolveReferencePath(state.SecondsPath, effective) : state.Seconds;
  return typeof seconds === 'number' && seconds >= 0 ? enteredAt + seconds * 1000 : undefined;
}
