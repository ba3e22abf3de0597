/** The asynctask SDK: AsyncTaskClient, its options, bulk actions, dead letters, and the task model's types and typed errors. */
export * from '../lambda/model';
export * from './bulk';
export * from './client';
export * from './dead-letters';
export * from './errors';
export { parseTimeExpression, TIME_EXPRESSION_RULE } from './time';
