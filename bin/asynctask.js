#!/usr/bin/env node
// The `asynctask` CLI entry: loads the TypeScript sources through tsx (no build step).
require('tsx/cjs');
require('../client/cli')
  .run(process.argv)
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`asynctask: ${error?.stack ?? error}\n`);
      process.exitCode = 1;
    },
  );
