/**
 * Serves the console app over HTTP with @hono/node-server: on 127.0.0.1 by default, port 0 for
 * any free port. On a loopback address the console answers only to Host headers naming it
 * (127.0.0.1:<port>, localhost:<port>, [::1]:<port>). A port that is taken is an error naming it.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { AsyncTaskClient } from '../client/client';
import { AsyncTaskError } from '../lambda/model';
import { createConsoleApp } from './app';
import { DEFAULT_CONSOLE_HOST, DEFAULT_CONSOLE_PORT } from './defaults';

export { DEFAULT_CONSOLE_HOST, DEFAULT_CONSOLE_PORT } from './defaults';

/** The console's port is taken (or the address cannot be had). */
export class ConsoleListenError extends AsyncTaskError {
  public override name = 'ConsoleListenError';
}

export interface StartConsoleOptions {
  readonly client: AsyncTaskClient;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 4567 */
  readonly port?: number;
  /** What the console is connected to, shown on every page. */
  readonly label: string;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface RunningConsole {
  /** `http://127.0.0.1:4567/` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export async function startConsole(options: StartConsoleOptions): Promise<RunningConsole> {
  const host = options.host ?? DEFAULT_CONSOLE_HOST;
  const requested = options.port ?? DEFAULT_CONSOLE_PORT;
  let port = requested;
  const loopback = LOOPBACK.has(host);
  const app = createConsoleApp({
    client: options.client,
    label: options.label,
    ...(options.now ? { now: options.now } : {}),
    ...(loopback ? { allowedHosts: () => [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`] } : {}),
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: requested, hostname: host }) as Server;
    s.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(
          new ConsoleListenError(
            `port ${requested} on ${host} is already in use; give the console another port (--port N, or --console-port N for dev)`,
            {
              cause: error,
            },
          ),
        );
      } else {
        reject(new ConsoleListenError(`the console cannot listen on ${host}:${requested}: ${error.message}`, { cause: error }));
      }
    });
    s.once('listening', () => resolve(s));
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${urlHost(host)}:${port}/`;
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections (a browser's) would hold close() open.
        server.closeAllConnections?.();
      }),
  };
}
