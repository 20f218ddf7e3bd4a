/**
 * The inbox worker: applies accepted events (the durable inbox) through the runtime, in the order
 * they were accepted per lane (a learner, a group), lanes in parallel. An event that fails to apply
 * stays in the inbox and is tried again after a backoff; the events behind it in its lane wait for
 * it. On start-up, whatever was accepted and not applied (a crash) is applied first.
 *
 * Several processes may run a worker on one store: a worker claims a lane in the store (a lease,
 * renewed before each event) before it applies that lane's events, so one lane's events are never
 * applied by two processes at once and keep their order; a killed worker's lanes are taken over
 * once its claims run out.
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { ErrorSink, LearningBot } from './bot.js';
import { decodeInbox } from './durable.js';
import { PassRunner } from '../scheduling/passes.js';
import type { InboxRow } from '../store/store.js';

export interface InboxWorkerOptions {
  bot: LearningBot;
  store: Store;
  onError: ErrorSink;
  /** How often the inbox is read when nothing wakes the worker (default 1 s). */
  pollMs?: number;
  /** First backoff after a failed apply, doubled each time up to a minute (default 1 s). */
  retryMs?: number;
  batch?: number;
  /** How long a lane claim lasts without renewal (default 10 s): a killed worker's lanes wait this long. */
  laneLeaseMs?: number;
}

export class InboxWorker {
  private readonly owner = randomUUID();
  /** Lanes this worker is applying now. */
  private readonly busy = new Set<string>();
  private readonly running = new Set<Promise<unknown>>();
  /** A pass found a lane busy here: read the inbox again when a lane is done. */
  private afterLane = false;
  private readonly passes: PassRunner;

  constructor(private readonly opts: InboxWorkerOptions) {
    this.passes = new PassRunner(() => this.pass(), (err) => opts.onError(err, { where: 'inbox-pass' }));
  }

  start(): void {
    this.passes.start(this.opts.pollMs ?? 1000);
  }

  /** Reads the inbox now (an event was accepted). */
  kick(): void {
    this.passes.kick();
  }

  private async pass(): Promise<void> {
    const { bot, store } = this.opts;
    const now = bot.now();
    const rows = await store.inboxPending(now, this.opts.batch ?? 500);
    // Each lane's rows, in order, up to the first that is backing off (the rest wait behind it).
    const lanes = new Map<string, InboxRow[]>();
    const blocked = new Set<string>();
    for (const row of rows) {
      if (blocked.has(row.lane)) continue;
      if (row.availableAt > now) {
        blocked.add(row.lane);
        continue;
      }
      const list = lanes.get(row.lane) ?? [];
      list.push(row);
      lanes.set(row.lane, list);
    }
    for (const [lane, list] of lanes) {
      if (this.busy.has(lane)) {
        // Being applied here: read again once that is done.
        this.afterLane = true;
        continue;
      }
      this.busy.add(lane);
      const work = this.applyLane(lane, list).finally(() => {
        this.busy.delete(lane);
        if (this.afterLane) {
          this.afterLane = false;
          this.kick();
        }
      });
      this.running.add(work);
      void work.finally(() => this.running.delete(work));
    }
  }

  /** Applies one lane's rows in order under a claim in the store; stops at a failure (the rest wait behind it). */
  private async applyLane(lane: string, rows: InboxRow[]): Promise<void> {
    const { bot, store, onError } = this.opts;
    const lease = this.opts.laneLeaseMs ?? 10_000;
    const claim = () => store.inboxClaimLane(lane, this.owner, bot.now(), new Date(bot.now().getTime() + lease));
    try {
      for (const row of rows) {
        if (this.passes.stopped) return;
        // Claimed (or renewed) before each event: another process holding the lane keeps it.
        if (!(await claim())) return;
        try {
          const { inbound, target } = decodeInbox(row.payload);
          await bot.apply(inbound, target);
          await store.inboxApplied(row.seq, bot.now());
        } catch {
          // Reported by the runtime (with an apology to the learner); try again later.
          const backoff = Math.min(60_000, (this.opts.retryMs ?? 1000) * 2 ** row.attempts);
          await store.inboxRetry(row.seq, new Date(bot.now().getTime() + backoff)).catch((e: unknown) => onError(e, { where: 'inbox-retry' }));
          return;
        }
      }
    } catch (err) {
      onError(err, { where: 'inbox-lane' });
    } finally {
      await store.inboxReleaseLane(lane, this.owner).catch((e: unknown) => onError(e, { where: 'inbox-release' }));
    }
  }

  /** Waits until everything read so far is applied (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.passes.running || this.running.size) {
      await this.passes.settled();
      await Promise.allSettled([...this.running]);
    }
  }

  async stop(): Promise<void> {
    await this.passes.stop();
    await this.idle();
  }
}
