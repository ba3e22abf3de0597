/** Defaults of the SDK and CLI, apart from the client so the CLI can show them without loading the AWS SDK. */
/** The stack output that names the TaskApi function (the direct `lambda:Invoke` path of stacks without a REST API). */
export const TASK_API_OUTPUT = 'TaskApiFunctionName';
/** The stack output with the URL of the TaskApi's REST API stage (`https://<apiId>.execute-api.<region>.<suffix>/<stage>/`). */
export const TASK_API_URL_OUTPUT = 'TaskApiUrl';
export const DEFAULT_STACK = 'AsyncTaskDemo';
/** Environment variable read when no `endpoint` option is given. */
export const ENDPOINT_ENV = 'ASYNCTASK_ENDPOINT';
/** Credentials and region used against a local endpoint when the environment has none. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;
export const LOCAL_REGION = 'us-east-1';
