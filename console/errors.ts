/**
 * What went wrong, for a person: the console sorts every error the SDK raises into a problem
 * with an HTTP status, a title and the fix — a wrong stack, missing credentials, no region, an
 * endpoint that cannot be reached, denied access — or keeps the service's typed error (its
 * `name` and message) for refusals and bad input. The AWS SDK's own errors arrive wrapped in the
 * SDK's ServiceError; they are recognised by walking `cause`. Nothing here reads the environment:
 * a fix names what to set, never what is set.
 */
import { AsyncTaskError, ServiceError } from '../lambda/model';

export type ProblemKind = 'wrong-stack' | 'credentials' | 'region' | 'unreachable' | 'access-denied' | 'service' | 'typed' | 'unexpected';

export interface Problem {
  readonly kind: ProblemKind;
  /** HTTP status of the page or JSON answer. */
  readonly status: number;
  readonly title: string;
  /** The error's `name` (the service's typed error name, e.g. InvalidTaskState). */
  readonly name: string;
  readonly message: string;
  /** What to do about it, one step a line. */
  readonly fix: readonly string[];
}

/** Console-only errors (an expired bulk plan, a second run of one), in the model's hierarchy. */
export class ConsoleError extends AsyncTaskError {
  public override name = 'ConsoleError';
  public override readonly statusCode: number;

  public constructor(name: string, message: string, statusCode: number) {
    super(message);
    this.name = name;
    this.statusCode = statusCode;
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN']);

function chain(error: unknown): Array<{ name?: string; code?: string; message?: string }> {
  const out: Array<{ name?: string; code?: string; message?: string }> = [];
  let e: unknown = error;
  for (let depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (typeof e !== 'object') {
      out.push({ message: String(e) });
      break;
    }
    const o = e as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
    out.push({
      ...(typeof o.name === 'string' ? { name: o.name } : {}),
      ...(typeof o.code === 'string' ? { code: o.code } : {}),
      ...(typeof o.message === 'string' ? { message: o.message } : {}),
    });
    // An AggregateError (one per address tried) carries the codes in `errors`.
    if (Array.isArray(o.errors)) out.push(...o.errors.flatMap((x) => chain(x)));
    e = o.cause;
  }
  return out;
}

function describe(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name || 'Error', message: error.message };
  return { name: 'Error', message: String(error) };
}

/** Sorts an error into a problem a page can explain. */
export function classify(error: unknown): Problem {
  const { name, message } = describe(error);
  if (name === 'TaskApiNotFound') {
    return {
      kind: 'wrong-stack',
      status: 502,
      title: 'No asynctask TaskApi in this stack',
      name,
      message,
      fix: [
        'Deploy the stack (npx cdk deploy <stack>), or',
        'start the console against the stack that has the TaskApiFunctionName output: asynctask console --stack <name> --region <region>, or',
        'for the local runtime, start asynctask dev and pass --endpoint http://127.0.0.1:4566.',
      ],
    };
  }
  if (error instanceof AsyncTaskError && !(error instanceof ServiceError)) {
    return { kind: 'typed', status: error.statusCode, title: titleOf(error.statusCode), name, message, fix: [] };
  }
  const links = chain(error);
  const has = (test: (l: { name?: string; code?: string; message?: string }) => boolean): boolean => links.some(test);
  if (
    has(
      (l) =>
        l.name === 'CredentialsProviderError' ||
        /could not load credentials|ExpiredToken|token (has|is) expired|security token included in the request is invalid|InvalidClientTokenId|UnrecognizedClientException/i.test(
          `${l.name ?? ''} ${l.message ?? ''}`,
        ),
    )
  ) {
    return {
      kind: 'credentials',
      status: 503,
      title: 'No usable AWS credentials',
      name,
      message,
      fix: [
        'Give the console the credentials of the account the stack is in, then reload this page:',
        'AWS_PROFILE=<profile> asynctask console …  (a profile of ~/.aws/config), or',
        'aws configure (or aws sso login --profile <profile> when the session has expired), or',
        'the environment variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN).',
      ],
    };
  }
  if (has((l) => /region is missing|unresolved region|missing region/i.test(l.message ?? ''))) {
    return {
      kind: 'region',
      status: 503,
      title: 'No AWS region',
      name,
      message,
      fix: [
        'Pass --region <region> (for example asynctask console --region us-east-1), or set AWS_REGION, or a region in your AWS profile.',
      ],
    };
  }
  if (
    has(
      (l) =>
        (l.code !== undefined && NETWORK_CODES.has(l.code)) ||
        /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|fetch failed|socket hang up|cannot reach the local runtime/i.test(l.message ?? ''),
    )
  ) {
    return {
      kind: 'unreachable',
      status: 503,
      title: 'The endpoint cannot be reached',
      name,
      message,
      fix: [
        'For the local runtime: start it with asynctask dev (npm start) and check its port (4566 by default), or',
        'correct --endpoint (or ASYNCTASK_ENDPOINT); leave it out to use the AWS endpoints of the region.',
      ],
    };
  }
  if (has((l) => /AccessDenied|UnauthorizedOperation|is not authorized to perform/i.test(`${l.name ?? ''} ${l.message ?? ''}`))) {
    return {
      kind: 'access-denied',
      status: 502,
      title: 'AWS denied the call',
      name,
      message,
      fix: [
        'The console calls cloudformation:DescribeStacks on the stack and lambda:InvokeFunction on its TaskApi function (and sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes on failure queues for dead letters).',
        'Use credentials allowed to do that (AWS_PROFILE=<profile>), or ask for those permissions.',
      ],
    };
  }
  if (error instanceof ServiceError) {
    return {
      kind: 'service',
      status: 502,
      title: 'The service failed',
      name,
      message,
      fix: ['Reload the page; if it keeps failing, see the TaskApi function’s logs.'],
    };
  }
  return { kind: 'unexpected', status: 500, title: 'Unexpected error', name, message, fix: [] };
}

/** True for problems about where the console points (page-wide), not about the request. */
export function isEnvironmentProblem(problem: Problem): boolean {
  return problem.kind !== 'typed';
}

function titleOf(status: number): string {
  if (status === 400) return 'Bad input';
  if (status === 403) return 'Forbidden';
  if (status === 404) return 'Not found';
  if (status === 409) return 'Refused';
  return 'Error';
}
