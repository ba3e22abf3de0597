/**
 * Runs a local runtime in its own process for the persistence tests (which kill it with
 * SIGKILL): `tsx test/e2e/runtime-process.ts '<json StartRuntimeOptions>'`. Prints one line
 * `E2E-READY {"endpoint", "outputs"}` once it serves, and stops cleanly on SIGTERM / SIGINT.
 */
import { startRuntime } from '../../local/runtime';

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof startRuntime>[0];
  const runtime = await startRuntime({ ...options, log: (m) => process.stderr.write(`asynctask dev: ${m}\n`) });
  process.stdout.write(`E2E-READY ${JSON.stringify({ endpoint: runtime.endpoint, port: runtime.port, outputs: runtime.outputs })}\n`);
  const stop = () => {
    runtime.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`stop failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
