/**
 * Reconciler (scheduled, every few minutes): repairs tasks whose execution ended without a
 * final write and frees concurrency slots of ended executions. Returns what it did.
 */
import { serviceConfig } from '../lib/env';
import { log } from '../lib/log';
import { type ReconcileSummary, reconcile } from '../lib/reconcile';

export async function handler(_event?: unknown): Promise<ReconcileSummary> {
  const summary = await reconcile(serviceConfig());
  log(summary.errors > 0 ? 'warn' : 'info', 'reconcile pass done', { ...summary });
  return summary;
}
