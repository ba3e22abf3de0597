/**
 * The contract shared with the Python runtime helper: the committed
 * runtime/python/asynctask_contract.json must be exactly what the model generates now, and the
 * model's own values must reach it unchanged. (test/python/test_contract.py checks the helper's
 * side: that it takes every value from the file.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildContract, CONTRACT_FILE, REGENERATE_COMMAND, renderContract } from '../../../lambda/model/contract';
import {
  CONTAINER_ENV,
  CONTAINER_EXIT_CODE,
  isoTime,
  MAX_ERROR_MESSAGE_CHARS,
  MAX_PAYLOAD_BYTES,
  RESULT_KEY_FORMAT,
  TaskStatus,
  TRANSITIONS,
} from '../../../lambda/model';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Every leaf path where `committed` and `generated` disagree, as `path: committed X, model Y`. */
function differences(committed: unknown, generated: unknown, at = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  if (isObject(committed) && isObject(generated) && Array.isArray(committed) === Array.isArray(generated)) {
    const keys = [...new Set([...Object.keys(committed), ...Object.keys(generated)])];
    return keys.flatMap((key) => differences(committed[key], generated[key], at === '' ? key : `${at}.${key}`));
  }
  if (JSON.stringify(committed) === JSON.stringify(generated)) return [];
  const show = (v: unknown) => (v === undefined ? 'absent' : JSON.stringify(v));
  return [`${at || '(root)'}: committed ${show(committed)}, model ${show(generated)}`];
}

/** The report a failing comparison prints: which keys differ and how to regenerate. */
function contractReport(committedText: string): string {
  let committed: unknown;
  try {
    committed = JSON.parse(committedText);
  } catch (error) {
    return `${CONTRACT_FILE} is not JSON (${(error as Error).message}); regenerate it: ${REGENERATE_COMMAND}`;
  }
  const found = differences(committed, buildContract());
  if (found.length > 0) {
    return `${CONTRACT_FILE} differs from lambda/model at ${found.length} key(s):\n  ${found.join('\n  ')}\nregenerate it: ${REGENERATE_COMMAND}`;
  }
  if (committedText !== renderContract()) {
    return `${CONTRACT_FILE} has the model's values but not the generated layout; regenerate it: ${REGENERATE_COMMAND}`;
  }
  return '';
}

describe('contract shared with the Python runtime helper', () => {
  test('the committed file is what the model generates', () => {
    const file = path.join(ROOT, CONTRACT_FILE);
    expect(fs.existsSync(file)).toBe(true);
    expect(contractReport(fs.readFileSync(file, 'utf8'))).toBe('');
  });

  test('fails if a value differs, naming the key and the command that regenerates the file', () => {
    const changed = JSON.parse(renderContract());
    changed.limits.maxErrorMessageChars = MAX_ERROR_MESSAGE_CHARS - 96;
    delete changed.env.local.taskArn;
    expect(contractReport(JSON.stringify(changed, null, 2))).toBe(
      `${CONTRACT_FILE} differs from lambda/model at 2 key(s):\n` +
        '  env.local.taskArn: committed absent, model "ASYNCTASK_LOCAL_TASK_ARN"\n' +
        `  limits.maxErrorMessageChars: committed ${MAX_ERROR_MESSAGE_CHARS - 96}, model ${MAX_ERROR_MESSAGE_CHARS}\n` +
        `regenerate it: ${REGENERATE_COMMAND}`,
    );
  });

  test('fails if the file is not JSON or only its layout differs', () => {
    expect(contractReport('{')).toMatch(
      /^runtime\/python\/asynctask_contract\.json is not JSON \(.+\); regenerate it: npx tsx scripts\/gen-contract\.ts$/,
    );
    expect(contractReport(JSON.stringify(buildContract()))).toBe(
      `${CONTRACT_FILE} has the model's values but not the generated layout; regenerate it: ${REGENERATE_COMMAND}`,
    );
  });

  test("carries the model's own values", () => {
    const contract = buildContract();
    expect(contract.env.container).toEqual(CONTAINER_ENV);
    expect(contract.statuses).toEqual(TaskStatus);
    expect(contract.transitions.Running).toEqual(TRANSITIONS.Running);
    expect(contract.limits).toMatchObject({
      maxPayloadBytes: MAX_PAYLOAD_BYTES,
      maxErrorMessageChars: MAX_ERROR_MESSAGE_CHARS,
    });
    expect(contract.resultKeyFormat).toBe(RESULT_KEY_FORMAT);
    expect(contract.exitCodes).toEqual(CONTAINER_EXIT_CODE);
    for (const sample of contract.time.samples) expect(sample.iso).toBe(isoTime(sample.epochMs));
  });
});
