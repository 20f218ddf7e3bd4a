/**
 * Hands one due nudge to the runtime, the same way whether BullMQ or the in-process scheduler runs
 * it: the runner's part only (counting outcomes). The decision and the learner's record are the
 * runtime's ({@link LearningBot.nudge}): a nudge is an internal event on the learner's own path.
 *
 * With the durable outbox (the app), the runtime records the nudge and its outbox row in one commit
 * and the outbox sender sends it, paced to the platform's limit there. Without it (a runtime built
 * without `enableDurable`), this service sends the nudge itself through `deliver`, paced by `pacer`,
 * with `marks` covering a retry.
 */
import { PlatformError } from '../errors.js';
import type { NudgeKind } from '../learning/nudges.js';
import type { Metrics } from '../metrics.js';
import type { Delivery, DirectNudge, LearningBot, NudgeJob, NudgeOutcome, SentMarks } from '../runtime/bot.js';
import type { Pacer } from './pacer.js';

export { nudgeJobId, type NudgeJob, type NudgeOutcome, type SentMarks } from '../runtime/bot.js';

/** "Sent" marks in this process's memory, for a runtime without the durable outbox (tests). */
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

export interface NudgeServiceOptions {
  bot: LearningBot;
  metrics?: Metrics;
  /** Without the durable outbox only: how the nudge is sent. */
  deliver?: (d: Delivery) => Promise<unknown>;
  /** Without the durable outbox only: where "sent" marks live. */
  marks?: SentMarks;
  /** Without the durable outbox only: paces sends to each platform's limit (see pacer.ts); none: send at once. */
  pacer?: Pacer;
}

export class NudgeService {
  constructor(private readonly opts: NudgeServiceOptions) {}

  /**
   * Delivers the nudge if it is still due. Throws a retryable {@link PlatformError} when the
   * platform failed in a way worth retrying (the caller retries, honouring `retryAfterSec`).
   */
  async deliver(job: NudgeJob): Promise<NudgeOutcome> {
    const { pacer, deliver, marks } = this.opts;
    try {
      const direct: DirectNudge | undefined =
        deliver && marks
          ? {
              marks,
              send: async (address, messages) => {
                await pacer?.wait(job.channel);
                try {
                  await deliver({ address, messages });
                } catch (err) {
                  if (err instanceof PlatformError && err.status === 429) await pacer?.pause(job.channel, (err.retryAfterSec ?? 1) * 1000);
                  throw err;
                }
              },
            }
          : undefined;
      const outcome = await this.opts.bot.nudge(job, direct);
      this.opts.metrics?.nudges.inc({ channel: job.channel, outcome });
      return outcome;
    } catch (err) {
      this.opts.metrics?.nudges.inc({ channel: job.channel, outcome: 'failed' });
      throw err;
    }
  }
}
