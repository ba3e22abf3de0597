/** Where the task console listens by default; apart from the server so the CLI can name them without loading it. */
export const DEFAULT_CONSOLE_PORT = 4567;
export const DEFAULT_CONSOLE_HOST = '127.0.0.1';
