/** The asynctask SDK: AsyncTaskClient, its options, and the task model's types and typed errors. */
export * from '../lambda/model';
export * from './client';
export * from './errors';
export { parseTimeExpression, TIME_EXPRESSION_RULE } from './time';
