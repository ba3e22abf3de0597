/** Stand-in for local/dev in the CLI tests: prints the options `asynctask dev` passed and exits 7. */
export async function runDev(options: Record<string, unknown>): Promise<number> {
  process.stdout.write(`${JSON.stringify(options)}\n`);
  return 7;
}
