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
