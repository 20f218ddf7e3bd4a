/**
 * The inbox worker: applies accepted events (the durable inbox) through the runtime, in the order
 * they were accepted per lane (a learner, a group), lanes in parallel. An event that fails to apply
 * stays in the inbox and is tried again after a backoff; the events behind it in its lane wait for
 * it. On start-up, whatever was accepted and not applied (a crash) is applied first.
 */
import type { Store } from '../store/store.js';
import type { ErrorSink, LearningBot } from './bot.js';
import { decodeInbox } from './durable.js';
import { KeyedMutex } from './mutex.js';

export interface InboxWorkerOptions {
  bot: LearningBot;
  store: Store;
  onError: ErrorSink;
  /** How often the inbox is read when nothing wakes the worker (default 1 s). */
  pollMs?: number;
  /** First backoff after a failed apply, doubled each time up to a minute (default 1 s). */
  retryMs?: number;
  batch?: number;
}

export class InboxWorker {
  private readonly lanes = new KeyedMutex();
  private readonly inFlight = new Set<number>();
  private readonly running = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private passing: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: InboxWorkerOptions) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.opts.pollMs ?? 1000);
    this.timer.unref();
    this.kick();
  }

  /** Reads the inbox now (an event was accepted). */
  kick(): void {
    if (this.stopped) return;
    if (this.passing) {
      this.again = true;
      return;
    }
    this.passing = this.pass()
      .catch((err: unknown) => this.opts.onError(err, { where: 'inbox-pass' }))
      .finally(() => {
        this.passing = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async pass(): Promise<void> {
    const { bot, store } = this.opts;
    const now = bot.now();
    const rows = await store.inboxPending(now, this.opts.batch ?? 500);
    const blocked = new Set<string>();
    for (const row of rows) {
      // A lane waits behind an event that is backing off, or being applied.
      if (blocked.has(row.lane)) continue;
      if (row.availableAt > now) {
        blocked.add(row.lane);
        continue;
      }
      if (this.inFlight.has(row.seq)) continue;
      this.inFlight.add(row.seq);
      const work = this.lanes.run(row.lane, async () => {
        if (this.stopped) return;
        try {
          const { inbound, target } = decodeInbox(row.payload);
          await bot.apply(inbound, target);
          await store.inboxApplied(row.seq, bot.now());
        } catch {
          // Reported by the runtime (with an apology to the learner); try again later.
          const backoff = Math.min(60_000, (this.opts.retryMs ?? 1000) * 2 ** row.attempts);
          await store.inboxRetry(row.seq, new Date(bot.now().getTime() + backoff)).catch((e: unknown) => this.opts.onError(e, { where: 'inbox-retry' }));
        } finally {
          this.inFlight.delete(row.seq);
        }
      });
      this.running.add(work);
      void work.finally(() => this.running.delete(work));
    }
  }

  /** Waits until everything read so far is applied (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.passing || this.running.size) {
      await this.passing;
      await Promise.allSettled([...this.running]);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.idle();
  }
}
