/**
 * Errors only the SDK raises (they never travel on the TaskApi wire), in the model's one
 * hierarchy so the CLI maps them to exit codes like every other error.
 */
import { AsyncTaskError } from '../lambda/model';

/** The TaskApi cannot be located: the stack, or its `TaskApiFunctionName` output, is missing. */
export class TaskApiNotFoundError extends AsyncTaskError {
  public override name = 'TaskApiNotFound';
  public override readonly statusCode = 404;
}

/** `waitFor` gave up before the task reached a terminal status. */
export class WaitTimeoutError extends AsyncTaskError {
  public override name = 'WaitTimeout';
}

/** A redrive named a message that is not on the failure queue (any more). */
export class DeadLetterNotFoundError extends AsyncTaskError {
  public override name = 'DeadLetterNotFound';
  public override readonly statusCode = 404;
  public override readonly exitCode = 3;
}
