/**
 * The values the Python runtime helper (runtime/python/asynctask_runtime.py) shares with the
 * TypeScript model, assembled from the model's own constants. scripts/gen-contract.ts writes them
 * to runtime/python/asynctask_contract.json, which the helper loads at import time, and
 * test/unit/model/contract.test.ts fails when the committed file differs from what this builds.
 * A value the helper needs from TypeScript belongs here, never as a literal in the Python.
 */
import { CONTAINER_ENV, CONTAINER_EXIT_CODE, LOCAL_ENV, LOG_ENV, RESULT_KEY_FORMAT } from './execution';
import {
  ERROR_MESSAGE_ELLIPSIS,
  EVENT_ATTRIBUTE,
  ITEM_ATTRIBUTE,
  MAX_ERROR_MESSAGE_CHARS,
  MAX_PAYLOAD_BYTES,
  PROGRESS_ATTRIBUTE,
} from './record';
import { TaskStatus, TRANSITIONS } from './statuses';
import { isoTime, TABLE } from './table';

/** Where the generated file lives, relative to the repository root. */
export const CONTRACT_FILE = 'runtime/python/asynctask_contract.json';

export const REGENERATE_COMMAND = 'npx tsx scripts/gen-contract.ts';

/**
 * Instants whose stored form (isoTime) the helper's clock formatting must reproduce: the epoch,
 * a whole second, and a fraction of a millisecond, which both sides drop rather than round.
 */
const TIME_SAMPLES_MS = [0, 1_764_072_000_000, 1_764_072_000_123.9];

export function buildContract() {
  return {
    $comment: `Generated from lambda/model by scripts/gen-contract.ts; do not edit. Regenerate: ${REGENERATE_COMMAND}`,
    env: {
      /** Set on every container attempt by the state machine and the construct. */
      container: { ...CONTAINER_ENV },
      log: { ...LOG_ENV },
      local: { ...LOCAL_ENV },
    },
    statuses: { ...TaskStatus },
    /** Target status → statuses the helper may move a task from. It only ever writes Running. */
    transitions: {
      [TaskStatus.Running]: [...TRANSITIONS.Running],
    },
    table: {
      partitionKey: TABLE.partitionKey,
      sortKey: TABLE.sortKey,
      statusKey: TABLE.statusKey,
      separator: TABLE.separator,
    },
    /** Attributes the helper reads (status, owner, deadline, payload) and writes. */
    item: {
      status: ITEM_ATTRIBUTE.status,
      executionArn: ITEM_ATTRIBUTE.executionArn,
      deadline: ITEM_ATTRIBUTE.deadline,
      taskPayload: ITEM_ATTRIBUTE.taskPayload,
      runnerId: ITEM_ATTRIBUTE.runnerId,
      logStream: ITEM_ATTRIBUTE.logStream,
      events: ITEM_ATTRIBUTE.events,
      progress: ITEM_ATTRIBUTE.progress,
      taskErrorMessage: ITEM_ATTRIBUTE.taskErrorMessage,
    },
    /** Fields of the events the helper writes (Running); `caller` is only on events a request writes. */
    event: { status: EVENT_ATTRIBUTE.status, at: EVENT_ATTRIBUTE.at, detail: EVENT_ATTRIBUTE.detail },
    progress: { ...PROGRESS_ATTRIBUTE },
    limits: {
      /** The result becomes the record's returnPayload. */
      maxPayloadBytes: MAX_PAYLOAD_BYTES,
      maxErrorMessageChars: MAX_ERROR_MESSAGE_CHARS,
      errorMessageEllipsis: ERROR_MESSAGE_ELLIPSIS,
    },
    resultKeyFormat: RESULT_KEY_FORMAT,
    exitCodes: { ...CONTAINER_EXIT_CODE },
    time: {
      samples: TIME_SAMPLES_MS.map((epochMs) => ({ epochMs, iso: isoTime(epochMs) })),
    },
  };
}

export type Contract = ReturnType<typeof buildContract>;

/** The file's exact text: two-space JSON and a final newline, so regenerating is byte-stable. */
export function renderContract(contract: Contract = buildContract()): string {
  return `${JSON.stringify(contract, null, 2)}\n`;
}
