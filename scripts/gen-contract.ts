/**
 * Writes runtime/python/asynctask_contract.json from the task model (lambda/model/contract.ts),
 * the one file through which the Python runtime helper gets every value it shares with
 * TypeScript. Run after changing the model: `npx tsx scripts/gen-contract.ts`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONTRACT_FILE, renderContract } from '../lambda/model/contract';

const target = path.resolve(__dirname, '..', CONTRACT_FILE);
const text = renderContract();
const before = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : undefined;
if (before === text) {
  process.stdout.write(`${CONTRACT_FILE} is up to date\n`);
} else {
  fs.writeFileSync(target, text);
  process.stdout.write(`wrote ${CONTRACT_FILE}\n`);
}
