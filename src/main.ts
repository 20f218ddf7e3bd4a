/**
 * Entry point: `npm start`. Reads the configuration and the course (stopping with a clear message
 * if either is wrong), starts the bot, and shuts down cleanly on SIGINT/SIGTERM.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { ContentError } from './content/load.js';
import { createLogger, safeError } from './logger.js';
import { DataDirError } from './data-dir.js';
import { SettingError } from './errors.js';
import pino from 'pino';

/** How long a shutdown may take before the watchdog ends the process (the README promises 10 s). */
const SHUTDOWN_DEADLINE_MS = 8_000;

/**
 * The course shipped with the code: `lessons/` at the project root, found from this file whether it
 * runs from `src/main.ts` (tsx) or from the compiled `dist/src/main.js`.
 */
function shippedLessonsDir(): string {
  const candidates = ['../lessons', '../../lessons'].map((rel) => resolve(fileURLToPath(new URL(rel, import.meta.url))));
  return candidates.find((dir) => existsSync(resolve(dir, 'modules.yml'))) ?? candidates[0]!;
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  // In the console chat, logs go to stderr and only warnings show, so that the chat stays readable.
  const logger = config.console
    ? createLogger(['trace', 'debug', 'info'].includes(config.logLevel) ? 'warn' : config.logLevel, pino.destination(2))
    : createLogger(config.logLevel);
  const lessonsDir = config.lessonsDir ?? shippedLessonsDir();
  // Signals are heard from the start: one that comes while the bot starts (a Redis that never
  // answers can hold start-up) stops it as soon as it has started, within the same deadline.
  let running: Awaited<ReturnType<typeof startApp>> | undefined;
  let stopping = false;
  let pendingSignal: string | undefined;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A watchdog: whatever hangs (a dead Redis, a stuck request), the process ends within the deadline.
    setTimeout(() => {
      logger.error({ signal, deadlineMs: SHUTDOWN_DEADLINE_MS }, 'shutdown did not finish in time; exiting now (unfinished nudge jobs are retried by another worker)');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    try {
      await running?.stop();
    } catch (err) {
      logger.error({ error: safeError(err) }, 'shutdown failed');
      process.exitCode = 1;
    }
    // Handles left open (reconnect timers, sockets) must not keep a stopped bot alive.
    if (signal !== 'end of input') process.exit();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal while stopping: stop waiting.
    if (stopping) process.exit(1);
    if (!running) {
      // Still starting: stop once started (the watchdog bounds the wait).
      if (!pendingSignal) {
        pendingSignal = signal;
        logger.info({ signal }, 'shutting down once started');
        setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
      }
      return;
    }
    void shutdown(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let app;
  try {
    app = await startApp({ config, logger, lessonsDir, stdin: process.stdin, stdout: process.stdout, ansi: !!process.stdout.isTTY, consoleWidth: () => process.stdout.columns });
  } catch (err) {
    if (err instanceof ContentError) {
      console.error(err.message);
      console.error('The bot will not start on invalid lessons: fix the files above (npm run lessons:check shows the same list).');
      process.exitCode = 1;
      return;
    }
    if (err instanceof DataDirError || err instanceof SettingError) {
      console.error(err.message);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  running = app;
  if (pendingSignal) {
    await shutdown(pendingSignal);
    return;
  }
  if (app.console) {
    if (process.stdin.isTTY) process.stdout.write('DiGIT4SD Learning Bot: type a number to pick a choice, or a /command (/help lists them). Ctrl-D quits.\n');
    await app.console.line('/start');
    await app.console.finished();
    await shutdown('end of input');
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
