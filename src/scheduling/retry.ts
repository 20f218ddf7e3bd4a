/**
 * The one error policy for platform calls, on every channel, replies and proactive sends alike:
 * a retryable failure ({@link PlatformError.retryable}: 429 with its retry-after, 5xx, a network
 * error) is tried again with exponential backoff and jitter, or after the platform's retry-after
 * when that is longer, a bounded number of times; anything else (blocked by the user, bad request,
 * a render error) stops at once. Each adapter translates its platform's failures into
 * {@link PlatformError} once (its `toPlatformError`) and calls through {@link withRetry}.
 */
import { PlatformError } from '../errors.js';

export interface RetryOptions {
  /** Attempts in all, the first one included (default 4). */
  attempts: number;
  /** First backoff in ms, doubled each time (default 1000). */
  baseMs: number;
  /** Longest wait between attempts in ms (default 30000); a longer retry-after gives up instead. */
  maxMs: number;
  /** How to wait (tests pass a fake clock's sleep). */
  sleep: (ms: number) => Promise<void>;
  /** A random number in [0, 1) for the jitter (tests may fix it). */
  random?: () => number;
}

export const realSleep = (ms: number): Promise<void> => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseMs: 1000, maxMs: 30_000, sleep: realSleep };

/**
 * Runs `call`; translates a failure with `translate` (the adapter's `toPlatformError`) and retries
 * it while it is retryable. Throws the last {@link PlatformError}.
 */
export async function withRetry<T>(method: string, call: () => Promise<T>, translate: (err: unknown, method: string) => PlatformError, opts: RetryOptions = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const error = translate(err, method);
      if (attempt >= opts.attempts || !error.retryable) throw error;
      const backoff = opts.baseMs * 2 ** (attempt - 1);
      const wait = Math.max(backoff * (0.8 + (opts.random ?? Math.random)() * 0.4), (error.retryAfterSec ?? 0) * 1000);
      if (wait > opts.maxMs) throw error;
      await opts.sleep(wait);
    }
  }
}
