/**
 * Structured JSON logs (pino) that carry no personal data: no message texts, and user ids only as
 * a short salted hash (`hashId`), enough to follow one learner through the logs.
 */
import { createHash } from 'node:crypto';
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { service: 'digit4sd-bot' }, redact: { paths: ['text', '*.text', 'token', '*.token'], remove: true } }, destination);
}

const SALT = 'digit4sd';

/** A short, stable, non-reversible id for logs. */
export function hashId(id: string): string {
  return createHash('sha256').update(SALT).update(id).digest('base64url').slice(0, 12);
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
