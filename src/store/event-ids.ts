/**
 * Event ids are stored only as a keyed hash: some platforms' ids name a person (a Slack button
 * event's id carries the user id), and the processed-event records outlive a learner's /forget for
 * up to a week. The key is random, made once per database and kept in it, so that every process
 * sharing the database hashes alike, and a stored hash cannot be matched to a guessed id without it.
 */
import { createHmac, randomBytes } from 'node:crypto';

/** A new random key for {@link eventIdHasher}. */
export function newEventIdKey(): string {
  return randomBytes(32).toString('base64url');
}

/** HMAC-SHA256 of an event id under `key`, 128 bits in base64url: what the stores keep. */
export function eventIdHasher(key: string): (eventId: string) => string {
  return (eventId) => createHmac('sha256', key).update(eventId).digest('base64url').slice(0, 22);
}
