/**
 * Delivers one nudge to one learner, the same way whether BullMQ or the in-process scheduler runs
 * it. The learner's own state decides whether a nudge is due (so a repeated job finds nothing to
 * do once the nudge is recorded), and a "sent" mark written right after the platform accepted the
 * message covers a crash between the send and the state write: a retried job then records the
 * nudge without sending it again.
 */
import { createHash } from 'node:crypto';
import { nudgeMessage } from '../engine/nudge-message.js';
import { PlatformError } from '../errors.js';
import type { Channel } from '../messages.js';
import type { Delivery, LearningBot } from '../runtime/bot.js';
import type { Metrics } from '../metrics.js';
import type { Pacer } from './pacer.js';
import { afterNudge, nextNudgeAt, nudgeDue, DEFAULT_NUDGE_POLICY, type NudgeKind, type NudgePolicy } from './nudges.js';
import { local } from './localtime.js';
import type { ActivityRecord, NudgeEvent } from '../engine/activity.js';

/** The dashboard's record of a nudge, at the hour of the learner's local day (written with the state). */
function nudgeRecord(event: NudgeEvent, now: Date, timezone: string): ActivityRecord[] {
  return [{ type: 'nudge', at: now.toISOString(), event, localHour: local(now, timezone).hour }];
}

/** One nudge to deliver: who, and the nudge time the scan found (part of the job's identity). */
export interface NudgeJob {
  channel: Channel;
  userId: string;
  plannedAt: number;
}

/** A stable job id without ':' (BullMQ forbids it in custom ids) and without raw user ids. */
export function nudgeJobId(job: NudgeJob): string {
  const who = createHash('sha256').update(`${job.channel}\u0000${job.userId}`).digest('base64url').slice(0, 22);
  return `nudge-${job.channel}-${who}-${job.plannedAt}`;
}

/** Where "this job's message was sent" marks live (Redis with BullMQ; memory in-process). */
export interface SentMarks {
  get(jobId: string): Promise<NudgeKind | null>;
  set(jobId: string, kind: NudgeKind): Promise<void>;
}

export class MemorySentMarks implements SentMarks {
  private readonly marks = new Map<string, NudgeKind>();
  async get(jobId: string): Promise<NudgeKind | null> {
    return this.marks.get(jobId) ?? null;
  }
  async set(jobId: string, kind: NudgeKind): Promise<void> {
    this.marks.set(jobId, kind);
    // Marks matter only for a retry within minutes; keep the map small.
    if (this.marks.size > 10_000) this.marks.delete(this.marks.keys().next().value!);
  }
}

export type NudgeOutcome = 'sent' | 'skipped' | 'unreachable';

export interface NudgeServiceOptions {
  bot: LearningBot;
  deliver: (d: Delivery) => Promise<void>;
  marks: SentMarks;
  policy?: NudgePolicy;
  metrics?: Metrics;
  /** Paces sends to each platform's limit (see pacer.ts); none: send at once. */
  pacer?: Pacer;
}

const MAX_ATTEMPTS = 10;

export class NudgeService {
  private readonly policy: NudgePolicy;
  constructor(private readonly opts: NudgeServiceOptions) {
    this.policy = opts.policy ?? DEFAULT_NUDGE_POLICY;
  }

  /**
   * Delivers the nudge if it is still due. Throws {@link PlatformError} when the platform failed in
   * a way worth retrying (the caller retries, honouring `retryAfterSec`).
   */
  async deliver(job: NudgeJob): Promise<NudgeOutcome> {
    try {
      const outcome = await this.attempt(job);
      this.opts.metrics?.nudges.inc({ channel: job.channel, outcome });
      return outcome;
    } catch (err) {
      this.opts.metrics?.nudges.inc({ channel: job.channel, outcome: 'failed' });
      throw err;
    }
  }

  private async attempt(job: NudgeJob): Promise<NudgeOutcome> {
    const { bot } = this.opts;
    const key = { channel: job.channel, userId: job.userId };
    const jobId = nudgeJobId(job);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const record = await bot.store.getLearner(key);
      if (!record) return 'skipped';
      const now = bot.now();
      if (record.state.nudges.lastNudgeJob === jobId) return 'sent';
      let sent = await this.opts.marks.get(jobId);
      const due = sent ? undefined : nudgeDue(record.state, now, this.policy, bot.course.items);
      if (!sent && !due) {
        // Nothing to send now (settings changed, or already delivered): just plan the next one.
        const outcome = await bot.store.commitLearner({ ...base(record), state: record.state, nudgeAt: nextNudgeAt(record.state, now, this.policy), now });
        if (outcome === 'conflict') continue;
        return 'skipped';
      }
      if (!sent && due) {
        const lastBeforePause = record.state.nudges.unanswered + 1 >= this.policy.maxUnanswered;
        const message = nudgeMessage(bot.course, record.state, due.kind, due.dueCount, lastBeforePause);
        try {
          await this.opts.pacer?.wait(job.channel);
          await this.opts.deliver({ address: record.address, messages: [message] });
        } catch (err) {
          if (err instanceof PlatformError && err.status === 429) await this.opts.pacer?.pause(job.channel, (err.retryAfterSec ?? 1) * 1000);
          if (err instanceof PlatformError && err.unreachable) {
            const state = { ...record.state, nudges: { ...record.state.nudges, unreachable: true } };
            const outcome = await bot.store.commitLearner({ ...base(record), state, nudgeAt: null, now, activity: nudgeRecord('unreachable', now, state.nudges.timezone) });
            if (outcome === 'conflict') continue;
            return 'unreachable';
          }
          throw err;
        }
        await this.opts.marks.set(jobId, due.kind);
        sent = due.kind;
      }
      const state = afterNudge(record.state, sent!, now, jobId);
      const outcome = await bot.store.commitLearner({ ...base(record), state, nudgeAt: nextNudgeAt(state, now, this.policy), now, activity: nudgeRecord('sent', now, state.nudges.timezone) });
      if (outcome === 'conflict') continue;
      return 'sent';
    }
    throw new Error(`could not record the nudge for ${jobId}: the learner record kept changing`);
  }
}

function base(record: { key: { channel: Channel; userId: string }; version: number; address: import('../messages.js').Address }) {
  return { key: record.key, expectedVersion: record.version, address: record.address };
}
