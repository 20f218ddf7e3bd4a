/**
 * Whether Redis answers, said once per change rather than once per reconnect attempt: the ioredis
 * clients behind BullMQ retry every few hundred milliseconds while Redis is away, and each attempt
 * emits an error. Every client and queue is watched here; the first error logs one line that names
 * REDIS_URL and the fix, the next `ready` logs that Redis is back, and everything in between is quiet.
 */
import type { Logger } from './logger.js';

interface ErrorEmitter {
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(not a URL)';
  }
}

export class RedisStatus {
  private down = false;
  private readonly shown: string;
  private signalDown: () => void = () => {};
  /** Settles at the first error heard: start-up waits for Redis only until then. */
  readonly firstFailure = new Promise<void>((resolve) => {
    this.signalDown = resolve;
  });

  constructor(
    url: string,
    private readonly logger: Logger,
  ) {
    this.shown = redactUrl(url);
  }

  /** Whether the last thing heard from Redis was an error. */
  get unreachable(): boolean {
    return this.down;
  }

  /** Watches an ioredis client, a BullMQ queue or worker: its errors count as "Redis is away". */
  watch(emitter: ErrorEmitter): void {
    emitter.on('error', (err) => this.failed(err));
  }

  /** Watches an ioredis client's `ready`: Redis answers (again). */
  watchReady(client: { on(event: 'ready', listener: () => void): unknown }): void {
    client.on('ready', () => this.ready());
  }

  failed(err: Error): void {
    if (this.down) return;
    this.down = true;
    this.signalDown();
    const code = (err as NodeJS.ErrnoException).code ?? err.name;
    this.logger.error(
      { where: 'redis', redis: this.shown, code },
      `Redis does not answer at REDIS_URL (${this.shown}): ${code}. Nudges wait, and the bot reconnects by itself when Redis is back. ` +
        'Fix: start Redis there, or set REDIS_URL to a Redis this machine can reach, or unset it to schedule in-process.',
    );
  }

  ready(): void {
    if (!this.down) return;
    this.down = false;
    this.logger.info({ where: 'redis', redis: this.shown }, 'Redis answers again at REDIS_URL');
  }
}
