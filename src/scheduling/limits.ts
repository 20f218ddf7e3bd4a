/**
 * How fast nudges may go out on each platform (messages a second, across conversations). One
 * conversation gets at most one nudge at a time, so the per-conversation limits (Telegram 1/s,
 * Slack about 1/s per channel, Teams 7/s per conversation) are never approached by nudges; the
 * per-bot limits below are what the delivery queues enforce.
 */
import type { Channel } from '../messages.js';

export const DELIVERY_RATE: Record<Channel, { max: number; durationMs: number }> = {
  telegram: { max: 30, durationMs: 1000 },
  slack: { max: 1, durationMs: 1000 },
  teams: { max: 7, durationMs: 1000 },
  console: { max: 100, durationMs: 1000 },
};

/** How long a claimed learner stays claimed before a scan may find them again. */
export const CLAIM_LEASE_MS = 15 * 60_000;
