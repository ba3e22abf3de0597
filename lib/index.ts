/** The asynctask construct library: the service, the two kinds of task function, their runners, destinations and the quota checks. */
export * from './async-task-service';
export * from './container-task-function';
export * from './destinations';
export * from './errors';
export * from './interfaces';
export * from './lambda-task-function';
export * from './quotas';
export * from './state-machine';
export * from './task-function';
