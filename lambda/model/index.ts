/** The task model, written once: imported by constructs, handlers, local runtime, SDK and CLI. */
export * from './api';
export * from './audit';
export * from './config';
export * from './cost';
export * from './destination';
export * from './errors';
export * from './execution';
export * from './http';
export * from './payload';
export * from './record';
export * from './registry';
export * from './statuses';
export * from './table';
export * from './task-id';
export * from './trigger';
