/**
 * Delivery rules for the Bot Connector API, independent of the SDK that makes the calls:
 * - {@link toPlatformError} translates a failed call, once, into a {@link PlatformError};
 * - {@link withRetry} retries what Microsoft says to retry (HTTP 429, 412, 502, 504) with
 *   exponential backoff and jitter, honouring Retry-After, a bounded number of times;
 * - {@link ConversationPacer} keeps each conversation under Teams' per-bot, per-conversation rate
 *   limits (7 messages a second, 8 in 2 s, 60 in 30 s, 1800 an hour), so that 429s stay rare.
 */
import { PlatformError } from '../../src/errors.js';

/** Statuses Microsoft advises retrying with backoff for bots in Teams. */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 412, 502, 504]);

interface HttpishError {
  statusCode?: unknown;
  status?: unknown;
  code?: unknown;
  message?: unknown;
  response?: { headers?: { get?: (name: string) => string | undefined | null } | Record<string, unknown> };
}

function header(err: HttpishError, name: string): string | undefined {
  const headers = err.response?.headers;
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get: (n: string) => string | undefined | null }).get(name) ?? undefined;
  const raw = (headers as Record<string, unknown>)[name] ?? (headers as Record<string, unknown>)[name.toLowerCase()];
  return typeof raw === 'string' ? raw : undefined;
}

/** Seconds from a Retry-After header (seconds or an HTTP date), if present and sensible. */
export function parseRetryAfter(value: string | undefined, now: Date = new Date()): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now.getTime()) / 1000);
}

/**
 * Translates a failure of a Bot Connector call into a {@link PlatformError}. 403 and 404 mean the
 * conversation is gone for the bot (uninstalled, blocked, deleted): `unreachable`.
 */
export function toPlatformError(err: unknown, method: string): PlatformError {
  if (err instanceof PlatformError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as HttpishError;
  const rawStatus = e.statusCode ?? e.status;
  const status = typeof rawStatus === 'number' && rawStatus > 0 ? rawStatus : undefined;
  const retryAfterSec = parseRetryAfter(header(e, 'retry-after'));
  const description = status ? `HTTP ${status}` : typeof e.code === 'string' ? e.code : err instanceof Error ? err.message : String(err);
  return new PlatformError({
    platform: 'teams',
    method,
    ...(status ? { status } : {}),
    ...(retryAfterSec !== undefined ? { retryAfterSec } : {}),
    unreachable: status === 403 || status === 404,
    description,
    cause: err,
  });
}

export interface RetryOptions {
  /** Attempts in all, the first one included (default 4). */
  attempts: number;
  /** First backoff in ms, doubled each time (default 1000). */
  baseMs: number;
  /** Longest wait between attempts in ms (default 30000); a longer Retry-After gives up instead. */
  maxMs: number;
  sleep: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY: RetryOptions = {
  attempts: 4,
  baseMs: 1000,
  maxMs: 30_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Runs `call`, translating its failure with {@link toPlatformError}, and retries the statuses in
 * {@link RETRY_STATUSES} with exponential backoff and jitter (or Retry-After when it is longer).
 * Throws the last {@link PlatformError}.
 */
export async function withRetry<T>(method: string, call: () => Promise<T>, opts: RetryOptions = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const error = toPlatformError(err, method);
      if (attempt >= opts.attempts || error.status === undefined || !RETRY_STATUSES.has(error.status)) throw error;
      const backoff = opts.baseMs * 2 ** (attempt - 1);
      const wait = Math.max(backoff * (0.8 + Math.random() * 0.4), (error.retryAfterSec ?? 0) * 1000);
      if (wait > opts.maxMs) throw error;
      await opts.sleep(wait);
    }
  }
}

/** Teams' documented limits for one bot in one conversation: at most `max` messages in `ms`. */
export const TEAMS_CONVERSATION_LIMITS: readonly { ms: number; max: number }[] = [
  { ms: 1000, max: 7 },
  { ms: 2000, max: 8 },
  { ms: 30_000, max: 60 },
  { ms: 3_600_000, max: 1800 },
];

/**
 * Spaces out sends per conversation so that no window of {@link TEAMS_CONVERSATION_LIMITS} is
 * exceeded. Sends to one conversation also run one at a time, in order.
 */
export class ConversationPacer {
  private readonly sent = new Map<string, number[]>();
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = DEFAULT_RETRY.sleep,
    private readonly limits = TEAMS_CONVERSATION_LIMITS,
  ) {}

  /** How long to wait before the next send to `conversationId` (0 when it may go now). */
  delayFor(conversationId: string): number {
    const now = this.now();
    const longest = Math.max(...this.limits.map((l) => l.ms));
    const times = (this.sent.get(conversationId) ?? []).filter((t) => t > now - longest);
    this.sent.set(conversationId, times);
    let wait = 0;
    for (const { ms, max } of this.limits) {
      const inWindow = times.filter((t) => t > now - ms);
      if (inWindow.length >= max) wait = Math.max(wait, inWindow[inWindow.length - max]! + ms - now);
    }
    return wait;
  }

  /** Runs `send` for `conversationId` once the limits allow, after earlier sends to it. */
  run<T>(conversationId: string, send: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(conversationId) ?? Promise.resolve();
    const next = previous.then(
      () => this.paced(conversationId, send),
      () => this.paced(conversationId, send),
    );
    const tail = next.catch(() => undefined);
    this.chains.set(conversationId, tail);
    void tail.then(() => {
      if (this.chains.get(conversationId) === tail) this.chains.delete(conversationId);
    });
    return next;
  }

  private async paced<T>(conversationId: string, send: () => Promise<T>): Promise<T> {
    for (let wait = this.delayFor(conversationId); wait > 0; wait = this.delayFor(conversationId)) await this.sleep(wait);
    this.sent.get(conversationId)!.push(this.now());
    return send();
  }
}
