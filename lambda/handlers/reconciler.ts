/**
 * Reconciler (scheduled, every few minutes): repairs tasks whose execution ended without a
 * final write, delivers records whose finalizer died, and frees concurrency slots of ended
 * executions. Returns what it did.
 */
import { serviceConfig } from '../lib/env';
import { type LambdaContext, logger, startRequest } from '../lib/logger';
import { type ReconcileSummary, reconcile } from '../lib/reconcile';

export async function handler(_event?: unknown, context?: LambdaContext): Promise<ReconcileSummary> {
  startRequest(context);
  const summary = await reconcile(serviceConfig());
  if (summary.errors > 0) logger.warn('reconcile pass done', { ...summary });
  else logger.info('reconcile pass done', { ...summary });
  return summary;
}
