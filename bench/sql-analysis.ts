#!/usr/bin/env node
/**
 * Benchmark of sql-log-analysis against pt-query-digest (run by hand: `npx tsx
 * bench/sql-analysis.ts [--gb 1] [--processes N]`; not part of `npm test`). The measuring is done
 * by bench/sql-analysis.py, in Python: the code measured is the Python worker, which it imports
 * and runs in a child process whose own getrusage gives the peak memory of the worker and of its
 * forked parser processes — from Node only the whole tree's time would be visible. This wrapper
 * only runs it, so every benchmark of the project starts the same way.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const script = path.join(__dirname, 'sql-analysis.py');
const run = spawnSync('python3', [script, ...process.argv.slice(2)], { stdio: 'inherit' });
if (run.error) {
  process.stderr.write(`could not run python3 ${script}: ${run.error.message}\n`);
  process.exit(1);
}
process.exit(run.status ?? 1);
