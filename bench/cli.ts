/**
 * The benchmarks' command lines: `--name N` pairs, each a whole number ≥ 1, over the script's
 * defaults. A name it does not have, or a value that is not such a number, is refused with the
 * script's usage and the pair given.
 */
export function parseWholeNumberOptions<O extends Record<string, number>>(script: string, argv: readonly string[], defaults: O): O {
  const options = { ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    const value = Number(argv[i + 1]);
    const known = argv[i].startsWith('--') && name in options;
    if (!known || !Number.isInteger(value) || value < 1) {
      const usage = Object.keys(defaults)
        .map((key) => `[--${key} N]`)
        .join(' ');
      const why = known ? 'the value must be a whole number ≥ 1' : `no option ${argv[i]}`;
      throw new Error(`usage: ${script} ${usage} (bad '${argv[i]} ${argv[i + 1] ?? ''}': ${why})`);
    }
    (options as Record<string, number>)[name] = value;
  }
  return options;
}

/** Runs a benchmark's `main`: exit 0 when it ends, 1 with its stack on stderr when it throws. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`bench failed: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
