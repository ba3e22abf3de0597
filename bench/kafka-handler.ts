/**
 * The Kafka benchmark's task function: counts the records of its batch (the trigger's payload, an
 * array in `batch` mode) and returns the count and no more, so the figures measure the trigger,
 * the state machine and the destination, not the work, and the success record stays small.
 */
export async function handler(event: unknown): Promise<{ records: number }> {
  return { records: Array.isArray(event) ? event.length : 1 };
}
