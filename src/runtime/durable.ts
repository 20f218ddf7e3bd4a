/**
 * What the durable inbox and outbox rows hold, as JSON. An inbox row is an inbound event accepted
 * before the platform got its 2xx; an outbox row is a reply (or any message the bot owes) written
 * in the same commit as the state change that produced it.
 *
 * `ReplyTarget` is whatever a channel needs to answer in place later (Telegram: the tapped message
 * and the callback query that stops the spinner); it is the channel's own plain JSON.
 */
import type { Address, Inbound, LearnerKey, Outbound } from '../messages.js';
import type { OutboxInsert } from '../store/store.js';

export type ReplyTarget = Record<string, string | number | boolean | null>;

export interface InboxPayload {
  inbound: Omit<Inbound, 'at'> & { at: string };
  target?: ReplyTarget;
}

export interface OutboxPayload {
  address: Address;
  messages: Outbound[];
  target?: ReplyTarget;
  /**
   * Present on a nudge's row (a message the bot sends on its own initiative): whose nudge it is, so
   * that a platform's "this user cannot be reached" marks that learner. Its row is written
   * `proactive` (paced to the platform's global limit, read in a lane of its own). A raw platform
   * id: never logged.
   */
  learner?: LearnerKey;
}

export function encodeInbox(inbound: Inbound, target?: ReplyTarget): string {
  const payload: InboxPayload = { inbound: { ...inbound, at: inbound.at.toISOString() }, ...(target ? { target } : {}) };
  return JSON.stringify(payload);
}

export function decodeInbox(json: string): { inbound: Inbound; target?: ReplyTarget } {
  const p = JSON.parse(json) as InboxPayload;
  return { inbound: { ...p.inbound, at: new Date(p.inbound.at) }, ...(p.target ? { target: p.target } : {}) };
}

/** The outbox row for a reply; none when there is nothing to send and no target to answer. */
export function outboxRows(address: Address, messages: Outbound[], target?: ReplyTarget): OutboxInsert[] {
  if (!messages.length && !target) return [];
  const payload: OutboxPayload = { address, messages, ...(target ? { target } : {}) };
  return [{ channel: address.channel, conversationId: address.conversationId, payload: JSON.stringify(payload) }];
}

/** A nudge's outbox row: its message to the learner's reminder address, with the learner's key (see {@link OutboxPayload.learner}). */
export function nudgeRows(address: Address, messages: Outbound[], learner: LearnerKey): OutboxInsert[] {
  const payload: OutboxPayload = { address, messages, learner };
  return [{ channel: address.channel, conversationId: address.conversationId, payload: JSON.stringify(payload), proactive: true }];
}

export function decodeOutbox(json: string): OutboxPayload {
  return JSON.parse(json) as OutboxPayload;
}

/** The lane an inbound event is applied in: its learner, or its group conversation. */
export function laneOf(inbound: Inbound): string {
  return inbound.address.kind === 'group' ? `group:${inbound.address.channel}:${inbound.address.conversationId}` : `learner:${inbound.learner.channel}:${inbound.learner.userId}`;
}
