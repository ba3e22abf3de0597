/**
 * Construct prop errors as aws-cdk-lib's own `ValidationError` (its name, the message, and the
 * construct it is attached to, which the CDK prints with the error). Its constructor takes the
 * name as a branded literal type; every name passed here is a literal of this library.
 */
import { ValidationError } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Names of the validation errors this library throws. */
export type AsyncTaskValidationErrorName =
  | 'InvalidAsyncTaskServiceProps'
  | 'InvalidTaskHttpApiProps'
  | 'InvalidTaskFunctionProps'
  | 'DuplicateTaskFunctionName'
  | 'InvalidTaskTriggerProps'
  | 'InvalidDemoContext';

/** A `ValidationError` named `name`, attached to `scope`. */
export function validationError(name: AsyncTaskValidationErrorName, message: string, scope: IConstruct): ValidationError {
  return new ValidationError(name as ConstructorParameters<typeof ValidationError>[0], message, scope);
}
