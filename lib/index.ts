/** The asynctask construct library: the service, the two kinds of task function, their runners, destinations, the Kafka and SQS triggers, the task API (REST, IAM-authorized) and its grants, and the quota checks. */
export * from './async-task-service';
export * from './container-task-function';
export * from './destinations';
export * from './errors';
export * from './interfaces';
export * from './kafka-task-trigger';
export * from './lambda-task-function';
export * from './quotas';
export * from './sqs-task-trigger';
export * from './state-machine';
export * from './task-function';
export * from './task-http-api';
export * from './trigger-base';
