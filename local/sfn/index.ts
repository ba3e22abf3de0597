/** Step Functions on the local runtime (see docs/local-stepfunctions.md). */
export { contextObject, prepareDefinition, taskStates, validateDefinition } from './asl';
export {
  type ExecutionCost,
  type ExecutionRecord,
  type ExecutionStatus,
  executionCost,
  type HistoryEvent,
  type LocalStateMachine,
  RESTART_ERROR,
  StepFunctionsService,
  type StepFunctionsServiceDeps,
} from './service';
export { parseResource, TaskDispatcher, TaskError } from './tasks';
