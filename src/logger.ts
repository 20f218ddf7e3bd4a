/**
 * Structured JSON logs (pino) that carry no personal data: no message texts, and user ids only as
 * a short keyed hash (`hashId`, HMAC-SHA256 with the deployment's secret), enough to follow one
 * learner through the logs and useless to anyone without the key.
 */
import { createHmac, randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { service: 'digit4sd-bot' }, redact: { paths: ['text', '*.text', 'token', '*.token'], remove: true } }, destination);
}

/**
 * The key of {@link hashId}. Until {@link setLogHashKey} is called (at start-up, with LOG_HASH_KEY or
 * the key kept in DATA_DIR) it is random for this process: never a fixed, public salt.
 */
let logHashKey: Buffer = randomBytes(32);

/** Sets the key of {@link hashId} (once, at start-up: see `loadLogHashKey`). */
export function setLogHashKey(key: Buffer): void {
  logHashKey = key;
}

/** A short, stable, non-reversible id for logs: HMAC-SHA256 keyed with the deployment's secret. */
export function hashId(id: string): string {
  return createHmac('sha256', logHashKey).update(id).digest('base64url').slice(0, 12);
}

/**
 * The loggable fields of an error: its type, message, stack and our structured fields. Platform
 * errors carry the request payload (a message's text) and response bodies; those are left out.
 */
export function safeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err).slice(0, 200) };
  const out: Record<string, unknown> = { type: err.name, message: err.message, stack: err.stack };
  for (const key of ['platform', 'method', 'status', 'retryAfterSec', 'unreachable', 'code', 'error_code'] as const) {
    const value = (err as unknown as Record<string, unknown>)[key];
    if (value !== undefined && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')) out[key] = value;
  }
  if (err.cause instanceof Error) out.cause = { type: err.cause.name, message: err.cause.message };
  return out;
}
