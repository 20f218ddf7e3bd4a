/**
 * The embedded scheduler, used when REDIS_URL is not set: one process finds due learners every
 * `intervalMs` and delivers their nudges itself, paced by the service's pacer. Same delivery code and
 * same guarantees as the BullMQ scheduler, for a single process.
 *
 * No error of a pass ever leaves it: a failing claim (the store is down) or a failing reschedule is
 * reported to the error sink and the next pass tries again. The bot keeps running.
 */
import { PlatformError } from '../errors.js';
import type { LearningBot, ErrorSink } from '../runtime/bot.js';
import type { NudgeJob, NudgeOutcome, NudgeService } from './delivery.js';
import { CLAIM_LEASE_MS } from './limits.js';

export interface InProcessOptions {
  bot: LearningBot;
  service: NudgeService;
  onError: ErrorSink;
  intervalMs?: number;
  /** Learners claimed per pass. */
  batch?: number;
}

export class InProcessScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<NudgeOutcome[]> | undefined;
  private stopped = false;

  constructor(private readonly opts: InProcessOptions) {}

  start(): void {
    const every = this.opts.intervalMs ?? 30_000;
    this.timer = setInterval(() => void this.runOnce(), every);
    this.timer.unref();
  }

  /** One pass: claim due learners and deliver their nudges. Returns the outcomes (for tests); never rejects. */
  async runOnce(): Promise<NudgeOutcome[]> {
    if (this.running) return [];
    this.running = this.pass().catch((err: unknown) => {
      this.opts.onError(err, { where: 'nudge-scan' });
      return [];
    });
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }

  private async pass(): Promise<NudgeOutcome[]> {
    const { bot, service } = this.opts;
    const now = bot.now();
    const claimed = await bot.store.claimDueLearners(now, this.opts.batch ?? 500, new Date(now.getTime() + CLAIM_LEASE_MS));
    const outcomes: NudgeOutcome[] = [];
    for (const record of claimed) {
      if (this.stopped) break;
      const job: NudgeJob = { channel: record.key.channel, userId: record.key.userId, plannedAt: record.nudgeAt.getTime() };
      try {
        outcomes.push(await service.deliver(job));
      } catch (err) {
        // Retryable trouble (the runtime handles refusals for good): try this learner again after
        // the platform's wait, or a minute. If even that fails, the claim's lease brings them back.
        const waitMs = err instanceof PlatformError && err.retryAfterSec ? err.retryAfterSec * 1000 : 60_000;
        this.opts.onError(err, { where: 'nudge-delivery', channel: job.channel, retryInMs: waitMs });
        await bot.rescheduleNudge(record.key, new Date(bot.now().getTime() + waitMs)).catch((e: unknown) => this.opts.onError(e, { where: 'nudge-reschedule', channel: job.channel }));
      }
    }
    return outcomes;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
