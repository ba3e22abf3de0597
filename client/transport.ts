/**
 * How the SDK reaches the TaskApi: one small seam, two implementations. `HttpTaskApi`
 * (./http-api.ts) calls the REST API with SigV4-signed requests — the default, found through the
 * stack's `TaskApiUrl` output, so IAM decides who may do what to which function. `LambdaTaskApi`
 * (here) invokes the TaskApi function itself (`lambda:Invoke`), for stacks deployed before the
 * REST API (only a `TaskApiFunctionName` output). Both answer the wire response
 * `{ok, result | error}`; failing to reach the TaskApi at all is a ServiceError naming where.
 */
import { InvokeCommand, type InvokeCommandOutput, type LambdaClient } from '@aws-sdk/client-lambda';
import { ServiceError, type TaskApiRequest, type TaskApiResponse } from '../lambda/model';

export interface TaskApiTransport {
  /** What the calls go to, for messages: `the TaskApi function 'x'`, `the TaskApi at https://…/v1/`. */
  readonly description: string;
  /** The wire response of one request; rejects with a ServiceError when the TaskApi cannot answer. */
  call(request: TaskApiRequest): Promise<TaskApiResponse>;
}

/**
 * `Name: message` of anything thrown, with the network code a fetch failure keeps in its cause.
 * Duck-typed: fetch's errors come from another realm under some runners (instanceof Error fails).
 */
export function describeError(error: unknown): string {
  const e = error as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } } | null;
  if (e === null || typeof e !== 'object' || typeof e.name !== 'string') return String(error);
  const text = typeof e.message === 'string' && e.message !== '' ? `${e.name}: ${e.message}` : e.name;
  const code = typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  if (code && !text.includes(code)) return `${text} (${code}${typeof e.cause?.message === 'string' ? `: ${e.cause.message}` : ''})`;
  return text;
}

/** The TaskApi's answer text → its wire response; a ServiceError naming `who` when it is not one. */
export function parseTaskApiResponse(text: string, who: string): TaskApiResponse {
  let response: TaskApiResponse;
  try {
    response = JSON.parse(text) as TaskApiResponse;
  } catch (error) {
    throw new ServiceError(`${who} answered something that is not JSON: '${text.slice(0, 200)}'`, { cause: error });
  }
  if (!isWireResponse(response)) {
    throw new ServiceError(`${who} answered without 'ok': '${text.slice(0, 200)}'`);
  }
  return response;
}

export function isWireResponse(value: unknown): value is TaskApiResponse {
  return value !== null && typeof value === 'object' && typeof (value as { ok?: unknown }).ok === 'boolean';
}

export interface LambdaTaskApiOptions {
  readonly lambda: LambdaClient;
  readonly functionName: string;
  /** Where the calls go, for messages (`region us-east-1 at http://127.0.0.1:4566`). */
  readonly where: () => Promise<string>;
}

/** The TaskApi function invoked directly (`lambda:Invoke`, RequestResponse): stacks without the REST API. */
export class LambdaTaskApi implements TaskApiTransport {
  public readonly description: string;

  public constructor(private readonly options: LambdaTaskApiOptions) {
    this.description = `the TaskApi function '${options.functionName}'`;
  }

  public get functionName(): string {
    return this.options.functionName;
  }

  public async call(request: TaskApiRequest): Promise<TaskApiResponse> {
    const { functionName } = this.options;
    let output: InvokeCommandOutput;
    try {
      output = await this.options.lambda.send(
        new InvokeCommand({
          FunctionName: functionName,
          InvocationType: 'RequestResponse',
          Payload: new TextEncoder().encode(JSON.stringify(request)),
        }),
      );
    } catch (error) {
      throw new ServiceError(`cannot invoke ${this.description} (${await this.options.where()}): ${describeError(error)}`, {
        cause: error,
      });
    }
    const text = output.Payload ? new TextDecoder().decode(output.Payload) : '';
    if (output.FunctionError) {
      let detail = text;
      try {
        const failure = JSON.parse(text) as { errorType?: string; errorMessage?: string };
        if (failure.errorMessage !== undefined) detail = `${failure.errorType ?? 'Error'}: ${failure.errorMessage}`;
      } catch {
        // Not JSON: keep the text.
      }
      throw new ServiceError(`${this.description} failed (${output.FunctionError}): ${detail}`, {
        details: { functionError: output.FunctionError },
      });
    }
    return parseTaskApiResponse(text, this.description);
  }
}
