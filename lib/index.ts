/** The asynctask construct library: the service, the two kinds of task function and destinations. */
export * from './async-task-service';
export * from './container-task-function';
export * from './destinations';
export * from './lambda-task-function';
export * from './state-machine';
export * from './task-function';
