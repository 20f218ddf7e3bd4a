/**
 * The console channel's factory, as `src/app.ts` wires it when the console chat runs:
 *
 * ```ts
 * const console = createConsoleChannel({ input: process.stdin, output: process.stdout, handle: (i) => port.handle(i) });
 * ```
 */
import { ConsoleAdapter, type ConsoleOptions } from './adapter.js';

export { ConsoleAdapter, parseConsoleLine, type ConsoleOptions } from './adapter.js';

export function createConsoleChannel(options: ConsoleOptions): ConsoleAdapter {
  return new ConsoleAdapter(options);
}
