/**
 * How fast nudges may go out on each platform, across conversations. A nudge goes to a learner's own
 * conversation and never more than one at a time, so the per-conversation limits (Telegram 1/s per
 * chat, Slack about 1/s per channel, Teams 7/s per conversation) are never approached by nudges; the
 * outbox sender's pacer (and the delivery queues' fetching) enforce the per-bot limits:
 * - Telegram: about 30 messages a second per bot.
 * - Slack: no published per-app figure across channels beyond 1/s per channel and a workspace-wide
 *   allowance; 10/s keeps well inside it.
 * - Teams: 50 requests a second per app per tenant; 30/s leaves room for replies.
 */
import type { Channel } from '../messages.js';

export const DELIVERY_RATE: Record<Channel, { max: number; durationMs: number }> = {
  telegram: { max: 30, durationMs: 1000 },
  slack: { max: 10, durationMs: 1000 },
  teams: { max: 30, durationMs: 1000 },
  console: { max: 100, durationMs: 1000 },
};

/** How long a claimed learner stays claimed before a scan may find them again. */
export const CLAIM_LEASE_MS = 15 * 60_000;
