/**
 * Who caused an event on a task: the `caller` of the events a request writes (submit, stop,
 * retry, a trigger's create). One spelling per way in, so an audit query can match on it: the IAM
 * principal of an API Gateway request, `lambda:Invoke` for a direct invoke of the TaskApi Lambda
 * (Lambda does not tell the function who invoked it; IAM on `lambda:InvokeFunction` governs that
 * path), and the trigger's source for a task a trigger created.
 */
import type { TaskSource } from './trigger';

/** The caller of a direct invoke of the TaskApi Lambda (`{op, ...}`): no principal is known there. */
export const DIRECT_INVOKE_CALLER = 'lambda:Invoke';

/** The caller when an API Gateway request names no principal at all (an unsigned local request). */
export const ANONYMOUS_CALLER = 'anonymous';

/** `requestContext.identity` of an API Gateway REST proxy event (the fields read here; API Gateway sends null for unknown ones). */
export interface HttpIdentity {
  readonly userArn?: string | null;
  readonly caller?: string | null;
  readonly accessKey?: string | null;
  readonly sourceIp?: string | null;
}

/**
 * The caller of an API Gateway request: the IAM principal ARN (`userArn`); when API Gateway gives
 * none, the principal id (`caller`), then the access key; with none of them, `anonymous@<source IP>`.
 */
export function callerOfIdentity(identity: HttpIdentity | null | undefined): string {
  const known = [identity?.userArn, identity?.caller, identity?.accessKey].find((v) => typeof v === 'string' && v !== '');
  if (known) return known;
  return identity?.sourceIp ? `${ANONYMOUS_CALLER}@${identity.sourceIp}` : ANONYMOUS_CALLER;
}

/**
 * The caller of a task a trigger created: `kafka:<topic>/<partition>@<firstOffset>-<lastOffset>`
 * or `sqs:<queue ARN>` (the whole lineage stays in the task's `source`).
 */
export function callerOfSource(source: TaskSource): string {
  switch (source.type) {
    case 'kafka':
      return `kafka:${source.topic}/${source.partition}@${source.firstOffset}-${source.lastOffset}`;
    case 'sqs':
      return `sqs:${source.queue}`;
  }
}
