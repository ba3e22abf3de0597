/**
 * The TaskApi's HTTP face on AWS: an API Gateway REST API with `AWS_IAM` on every method, one
 * resource per route of the model's route table (lambda/model/http.ts `HTTP_ROUTES`), a Lambda
 * proxy integration to the TaskApi function, stage throttling (with per-function overrides),
 * access and execution logs, and gateway responses that answer with the TaskApi's typed error
 * body. Also the grants: which execute-api ARNs a `submit`, `read` or `operate` grant names, for
 * one function or for every function of the service. `AsyncTaskService` creates one.
 */
import { RemovalPolicy, Token } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { checkRange, type NumericBound } from '../lambda/model/config';
import { grantPath, HTTP_ROUTES, type HttpRoute, PATH_PARAMETER, TASK_API_ACCESS, type TaskApiAccess } from '../lambda/model/http';
import { validationError } from './errors';
import { acknowledge } from './nag';
import { FUNCTION_NAME_PATTERN } from './task-function';

/** The REST API's one stage: every URL and execute-api ARN of the task API has it. */
export const TASK_API_STAGE = 'v1';

/** Name of the stack output holding the stage URL (`https://<api>.execute-api.<region>.amazonaws.com/v1/`), which the SDK and CLI read. */
export const TASK_API_URL_OUTPUT = 'TaskApiUrl';

/** The IAM action every grant gives (on the ARNs of its routes only). */
export const TASK_API_INVOKE_ACTION = 'execute-api:Invoke';

/** API Gateway token-bucket throttling: requests per second, and the bucket size. */
export interface TaskApiThrottle {
  /** Steady requests per second. */
  readonly rateLimit: number;
  /** Requests allowed at once above the rate (the bucket size). */
  readonly burstLimit: number;
}

/**
 * Stage throttling when none is given. Every `submit` starts a Step Functions execution, whose
 * `StartExecution` refill rate (150 per second in most regions, 300 in the largest) the service
 * shares with its triggers and reconciler; the account's API Gateway limit (10,000 rps) is shared
 * by every API of the region. 100 rps with bursts of 200 keeps one busy caller from using up
 * either, and is far above what a person or a CLI script sends.
 */
export const DEFAULT_TASK_API_THROTTLE: TaskApiThrottle = { rateLimit: 100, burstLimit: 200 };

/** What a throttle may be: at least 1, at most API Gateway's default account limits (10,000 rps, burst 5,000), above which they would not apply. */
export const TASK_API_THROTTLE_BOUNDS: { readonly rateLimit: NumericBound; readonly burstLimit: NumericBound } = {
  rateLimit: { min: 1, max: 10_000 },
  burstLimit: { min: 1, max: 5_000 },
};

/** The REST API's props (`AsyncTaskService` passes its own props of the same names). */
export interface TaskHttpApiProps {
  /** The TaskApi function every method integrates with (Lambda proxy integration). */
  readonly handler: lambda.IFunction;
  /**
   * Name of the REST API.
   * @default - the construct id
   */
  readonly restApiName?: string;
  /**
   * Stage throttling, every method of every function.
   * @default DEFAULT_TASK_API_THROTTLE (100 requests per second, bursts of 200)
   */
  readonly apiThrottle?: TaskApiThrottle;
  /**
   * Throttling of single functions, by function name, instead of `apiThrottle`. Each named
   * function gets resources of its own (`/functions/<name>/...`, which API Gateway prefers over
   * `/functions/{functionName}/...`), so that a method setting can target them: 8 resources and
   * 8 methods per function (API Gateway allows 300 resources per API by default: 36 such
   * functions; the synth's quota check names the limit).
   * @default - every function has the stage throttling
   */
  readonly functionThrottles?: Readonly<Record<string, TaskApiThrottle>>;
  /**
   * ARN of a regional AWS WAFv2 web ACL to associate with the stage.
   * @default - no web ACL (every method needs a SigV4 signature of an allowed principal)
   */
  readonly webAclArn?: string;
  /**
   * Create the role API Gateway writes CloudWatch logs with, and set it in the account's API
   * Gateway settings (one per account and region, kept when the stack is deleted). Access and
   * execution logs need it; give `false` when the account already has one.
   * @default true
   */
  readonly cloudWatchRole?: boolean;
  /**
   * How long access and execution logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the log groups when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** A regional WAFv2 web ACL's ARN. */
const WEB_ACL_ARN = /^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\/[^/]+\/[^/]+$/;

function checkThrottle(prop: string, throttle: TaskApiThrottle | undefined): string[] {
  if (throttle === undefined) return [];
  const problems: string[] = [];
  const rate = throttle.rateLimit;
  if (!Token.isUnresolved(rate)) {
    const b = TASK_API_THROTTLE_BOUNDS.rateLimit;
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < b.min || rate > b.max) {
      problems.push(`${prop}.rateLimit must be between ${b.min} and ${b.max} inclusive (given ${rate})`);
    }
  }
  const burst = throttle.burstLimit;
  if (!Token.isUnresolved(burst)) {
    const problem = checkRange(`${prop}.burstLimit`, burst, TASK_API_THROTTLE_BOUNDS.burstLimit);
    if (problem) problems.push(problem);
  }
  return problems;
}

/** Every problem with the REST API's props, each "the prop, the value, what is allowed". */
export function checkTaskHttpApiProps(props: Pick<TaskHttpApiProps, 'apiThrottle' | 'functionThrottles' | 'webAclArn'>): string[] {
  const problems = checkThrottle('apiThrottle', props.apiThrottle);
  for (const [name, throttle] of Object.entries(props.functionThrottles ?? {})) {
    if (!FUNCTION_NAME_PATTERN.test(name)) {
      problems.push(
        `functionThrottles names '${name}', which is not a task function name: 1-64 characters, first a letter or underscore, then letters, digits, '_' or '-'`,
      );
    }
    problems.push(...checkThrottle(`functionThrottles['${name}']`, throttle));
  }
  if (props.webAclArn !== undefined && !Token.isUnresolved(props.webAclArn) && !WEB_ACL_ARN.test(props.webAclArn)) {
    problems.push(
      `webAclArn must be the ARN of a regional WAFv2 web ACL, arn:<partition>:wafv2:<region>:<account>:regional/webacl/<name>/<id> (given '${props.webAclArn}')`,
    );
  }
  return problems;
}

/** One gateway response: API Gateway's response type, the typed error name it answers with, and its status when it differs from API Gateway's. */
export interface TaskApiGatewayResponse {
  readonly type: string;
  /** A `WireError` name of lambda/model/errors.ts, or `Throttled`. */
  readonly name: string;
  /** @default - API Gateway's status of the type */
  readonly statusCode?: string;
  /** @default - API Gateway's message (`$context.error.messageString`) */
  readonly message?: string;
}

/**
 * API Gateway's own answers (refused before the TaskApi runs), each with the TaskApi's error
 * body. For an IAM-authorized API, API Gateway answers MISSING_AUTHENTICATION_TOKEN both for an
 * unsigned request and for a route that does not exist; a signed client (the SDK) only gets it
 * for the latter, which the TaskApi itself calls InvalidArgument (400), so it is 400 here too.
 */
export const TASK_API_GATEWAY_RESPONSES: readonly TaskApiGatewayResponse[] = [
  { type: 'ACCESS_DENIED', name: 'AccessDenied' },
  { type: 'UNAUTHORIZED', name: 'AccessDenied' },
  { type: 'INVALID_SIGNATURE', name: 'AccessDenied' },
  { type: 'EXPIRED_TOKEN', name: 'AccessDenied' },
  { type: 'WAF_FILTERED', name: 'AccessDenied' },
  {
    type: 'MISSING_AUTHENTICATION_TOKEN',
    name: 'InvalidArgument',
    statusCode: '400',
    message: `"no route $context.httpMethod $context.path, or the request is not signed with SigV4 (routes: ${HTTP_ROUTES.map((r) => `${r.method} ${r.path}`).join(', ')})"`,
  },
  { type: 'RESOURCE_NOT_FOUND', name: 'InvalidArgument' },
  { type: 'BAD_REQUEST_BODY', name: 'InvalidArgument' },
  { type: 'BAD_REQUEST_PARAMETERS', name: 'InvalidArgument' },
  { type: 'UNSUPPORTED_MEDIA_TYPE', name: 'InvalidArgument' },
  { type: 'REQUEST_TOO_LARGE', name: 'InvalidPayload' },
  { type: 'THROTTLED', name: 'Throttled' },
  { type: 'INTEGRATION_FAILURE', name: 'ServiceError' },
  { type: 'INTEGRATION_TIMEOUT', name: 'ServiceError' },
  { type: 'API_CONFIGURATION_ERROR', name: 'ServiceError' },
  { type: 'DEFAULT_4XX', name: 'InvalidArgument' },
  { type: 'DEFAULT_5XX', name: 'ServiceError' },
];

/**
 * The body of a gateway response: the TaskApi's `{ok: false, error: WireError}`. A gateway
 * response template is not VTL, only substitution, and `$context.error.messageString` is
 * already a JSON string (quoted and escaped: API Gateway's signature messages hold newlines),
 * so the message is that value as is and where the request went is in `details`.
 */
export function gatewayResponseBody(response: TaskApiGatewayResponse): string {
  const message = response.message ?? '$context.error.messageString';
  return (
    `{"ok":false,"error":{"name":"${response.name}","message":${message},"details":{` +
    '"responseType":"$context.error.responseType","method":"$context.httpMethod","path":"$context.path","requestId":"$context.requestId"}}}'
  );
}

/**
 * The access log line (JSON): who called (`userArn` is the IAM principal, `caller` its
 * principal id), what, and the answer.
 */
export const TASK_API_ACCESS_LOG_FORMAT: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  userArn: '$context.identity.userArn',
  caller: '$context.identity.caller',
  sourceIp: '$context.identity.sourceIp',
  httpMethod: '$context.httpMethod',
  resourcePath: '$context.resourcePath',
  path: '$context.path',
  status: '$context.status',
  responseLength: '$context.responseLength',
  requestTime: '$context.requestTime',
  errorType: '$context.error.responseType',
};

/** A method and an execute-api resource path, as a grant names them. */
export interface TaskApiGrantTarget {
  readonly method: string;
  readonly path: string;
}

/** Whether IAM's `*` (any characters, `/` included) in `pattern` makes it match every path `path` matches. */
function covers(pattern: string, path: string): boolean {
  if (pattern === path) return false;
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`).test(path);
}

/**
 * What a grant of `access` names: each route of that access, for `functionName` (a function's
 * routes only) or, without one, for every function (`*`) plus the function list. A path that
 * another path of the same method covers is left out (`GET .../tasks/*` covers
 * `GET .../tasks/*\/logs`).
 */
export function taskApiGrantTargets(access: readonly TaskApiAccess[], functionName?: string): TaskApiGrantTarget[] {
  const routes = HTTP_ROUTES.filter(
    (route) => access.includes(route.access) && (functionName === undefined || route.path.includes(`{${PATH_PARAMETER.functionName}}`)),
  );
  const targets = routes.map((route) => ({ method: route.method, path: grantPath(route, functionName ?? '*') }));
  return targets.filter(
    (target, i) =>
      targets.findIndex((t) => t.method === target.method && t.path === target.path) === i &&
      !targets.some((other) => other.method === target.method && covers(other.path, target.path)),
  );
}

/**
 * Lets `grantee` call the routes of `access` on `api`'s stage: `execute-api:Invoke` on exactly
 * their ARNs, added to the grantee's own policy (`iam.Grant.addToPrincipal`), in the grantee's
 * stack: a grantee in another stack refers to the API's stack, never the reverse.
 */
export function grantTaskApiAccess(
  grantee: iam.IGrantable,
  api: apigateway.IRestApi,
  access: readonly TaskApiAccess[],
  functionName?: string,
): iam.Grant {
  const problems: string[] = [];
  if (functionName !== undefined && !Token.isUnresolved(functionName) && !FUNCTION_NAME_PATTERN.test(functionName)) {
    problems.push(
      `functionName must be a task function name, 1-64 letters, digits, '_' or '-' starting with a letter or '_' (given '${functionName}'); omit it for every function`,
    );
  }
  const unknown = access.filter((a) => !TASK_API_ACCESS.includes(a));
  if (access.length === 0 || unknown.length > 0) {
    problems.push(`access must be one or more of ${TASK_API_ACCESS.map((a) => `'${a}'`).join(', ')} (given ${JSON.stringify(access)})`);
  }
  if (problems.length > 0) {
    throw validationError(
      'InvalidTaskHttpApiProps',
      `Invalid grant on the task API (${api.node.path}):\n  - ${problems.join('\n  - ')}`,
      api,
    );
  }
  const resourceArns = taskApiGrantTargets(access, functionName).map((t) => api.arnForExecuteApi(t.method, t.path, TASK_API_STAGE));
  return iam.Grant.addToPrincipal({ grantee, actions: [TASK_API_INVOKE_ACTION], resourceArns });
}

/** A route's resource path for one function (`{functionName}` → the name). */
function functionPath(route: HttpRoute, functionName: string): string {
  return route.path.replace(`{${PATH_PARAMETER.functionName}}`, functionName);
}

/**
 * The task API: REST API, stage `v1`, methods, logs, gateway responses, optional web ACL.
 * Construct ids are stable: `Api` (the RestApi), `AccessLogs`, `ExecutionLogs`, `WebAcl`.
 */
export class TaskHttpApi extends Construct {
  public readonly restApi: apigateway.RestApi;
  /** The stage URL, `https://<api id>.execute-api.<region>.<suffix>/v1/`. */
  public readonly url: string;
  public readonly accessLogGroup: logs.LogGroup;
  /** `API-Gateway-Execution-Logs_<api id>/v1`, made here so that it has a retention. */
  public readonly executionLogGroup: logs.LogGroup;
  public readonly apiThrottle: TaskApiThrottle;
  public readonly functionThrottles: Readonly<Record<string, TaskApiThrottle>>;

  public constructor(scope: Construct, id: string, props: TaskHttpApiProps) {
    super(scope, id);
    const problems = checkTaskHttpApiProps(props);
    if (problems.length > 0) {
      throw validationError(
        'InvalidTaskHttpApiProps',
        `Invalid props for the task API (${this.node.path}):\n  - ${problems.join('\n  - ')}`,
        this,
      );
    }
    this.apiThrottle = props.apiThrottle ?? DEFAULT_TASK_API_THROTTLE;
    this.functionThrottles = { ...props.functionThrottles };
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', { retention, removalPolicy });
    // Execution logs at ERROR only, without bodies (payloads may be confidential); per-method
    // CloudWatch metrics stay off: API Gateway's per-API metrics are free, per-method ones are
    // billed as custom metrics.
    const logging = { loggingLevel: apigateway.MethodLoggingLevel.ERROR, dataTraceEnabled: false, metricsEnabled: false };
    const methodOptions: Record<string, apigateway.MethodDeploymentOptions> = {};
    for (const [name, throttle] of Object.entries(this.functionThrottles)) {
      for (const route of HTTP_ROUTES.filter((r) => r.path !== functionPath(r, name))) {
        // A method setting replaces the stage's for that method: it repeats the logging.
        methodOptions[`${functionPath(route, name)}/${route.method}`] = {
          ...logging,
          throttlingRateLimit: throttle.rateLimit,
          throttlingBurstLimit: throttle.burstLimit,
        };
      }
    }

    this.restApi = new apigateway.RestApi(this, 'Api', {
      ...(props.restApiName !== undefined ? { restApiName: props.restApiName } : {}),
      description: 'asynctask task API: submit, list, get, logs, stats, stop, retry, exec of task functions (IAM-authorized)',
      // Callers are the SDK, the CLI and services in the region: no CloudFront hop.
      endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
      // Kept when the stack is deleted: the account setting (and other APIs) may still use it.
      ...(props.cloudWatchRole === false
        ? { cloudWatchRole: false }
        : { cloudWatchRole: true, cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN }),
      defaultMethodOptions: { authorizationType: apigateway.AuthorizationType.IAM },
      deployOptions: {
        stageName: TASK_API_STAGE,
        throttlingRateLimit: this.apiThrottle.rateLimit,
        throttlingBurstLimit: this.apiThrottle.burstLimit,
        ...logging,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: apigateway.AccessLogFormat.custom(JSON.stringify(TASK_API_ACCESS_LOG_FORMAT)),
        methodOptions,
      },
    });
    this.url = this.restApi.url;
    // RestApi adds an output `<path>Endpoint` with the same URL; the stacks that want it output
    // it under the one name the SDK reads (TASK_API_URL_OUTPUT).
    this.restApi.node.tryRemoveChild('Endpoint');

    this.executionLogGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.restApi.restApiId}/${TASK_API_STAGE}`,
      retention,
      removalPolicy,
    });
    // Made before the stage logs into it (API Gateway would make it without a retention).
    this.restApi.deploymentStage.node.addDependency(this.executionLogGroup);

    // One Lambda permission for the whole API rather than one per method.
    const integration = new apigateway.LambdaIntegration(props.handler, { proxy: true, scopePermissionToMethod: false });
    const addRoutes = (functionName?: string) => {
      for (const route of HTTP_ROUTES) {
        const path = functionName === undefined ? route.path : functionPath(route, functionName);
        if (functionName !== undefined && path === route.path) continue;
        this.restApi.root.resourceForPath(path).addMethod(route.method, integration, {
          authorizationType: apigateway.AuthorizationType.IAM,
          operationName: route.op,
        });
      }
    };
    addRoutes();
    for (const name of Object.keys(this.functionThrottles)) addRoutes(name);

    for (const response of TASK_API_GATEWAY_RESPONSES) {
      const responseId = response.type
        .toLowerCase()
        .split('_')
        .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
        .join('');
      this.restApi.addGatewayResponse(responseId, {
        type: apigateway.ResponseType.of(response.type),
        ...(response.statusCode !== undefined ? { statusCode: response.statusCode } : {}),
        templates: { 'application/json': gatewayResponseBody(response) },
      });
    }

    if (props.webAclArn !== undefined) {
      new wafv2.CfnWebACLAssociation(this, 'WebAcl', { resourceArn: this.restApi.deploymentStage.stageArn, webAclArn: props.webAclArn });
    } else {
      acknowledge(this, {
        id: 'AwsSolutions-APIG3',
        reason:
          'Every method requires a SigV4 signature of an IAM principal allowed execute-api:Invoke on it, and the stage is throttled; pass webAclArn to associate a WAFv2 web ACL as well.',
      });
    }
    acknowledge(
      this,
      {
        id: 'AwsSolutions-APIG2',
        reason:
          "The TaskApi validates every request (lambda/model/http.ts requestFromHttp: route, method, query parameter names, JSON body and its fields; then the operation's own function name, task id and payload rules) and answers with the typed InvalidArgument error; a gateway model would repeat those rules in a second place, with other messages.",
      },
      {
        id: 'AwsSolutions-COG4',
        reason:
          'Callers are IAM principals (people, CI roles, services) authorized per function and action by execute-api:Invoke policies (the grants), not Cognito users.',
      },
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          "API Gateway's account-level logging role: AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS provides for it, and it only lets API Gateway create and write log groups and streams.",
      },
    );
  }

  /** Lets `grantee` call the routes of `access` on `functionName`, or on every function (with the function list) when none is given. */
  public grant(grantee: iam.IGrantable, access: readonly TaskApiAccess[], functionName?: string): iam.Grant {
    return grantTaskApiAccess(grantee, this.restApi, access, functionName);
  }
}
