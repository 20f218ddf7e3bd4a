/**
 * Nudges on BullMQ (used when REDIS_URL is set). Two kinds of queue:
 * - `nudge-scan`: a job scheduler runs a scan every `scanEveryMs`; the scan claims the learners
 *   whose nudge time has come (an indexed query: its cost grows with who is due now) and enqueues
 *   one delivery job per nudge, with an idempotent job id. Redis holds only the work that is due
 *   now, never a job per learner scheduled for later.
 * - `nudge-<channel>`: one delivery queue per platform, each with its own rate limiter (a BullMQ
 *   limiter covers a whole queue). Each job hands the runtime the due nudge: with the durable
 *   outbox (the app) it is recorded and queued in one commit and the outbox sender sends it (paced,
 *   retried, an unreachable learner marked). Without it (tests, `bench:nudges`) the job sends it: a
 *   429 puts the queue to sleep for the platform's retry-after; an unreachable learner is marked,
 *   not retried; other failures retry with backoff.
 */
import { Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { PlatformError } from '../errors.js';
import type { Channel } from '../messages.js';
import type { ErrorSink, LearningBot } from '../runtime/bot.js';
import { nudgeJobId, type NudgeJob, type NudgeService, type SentMarks } from './delivery.js';
import type { NudgeKind } from '../learning/nudges.js';
import { CLAIM_LEASE_MS, DELIVERY_RATE } from './limits.js';

export interface BullNudgeOptions {
  redisUrl: string;
  /** Key prefix in Redis; each test uses its own. */
  prefix?: string;
  bot: LearningBot;
  service?: NudgeService;
  onError: ErrorSink;
  /** Channels whose delivery queues this process serves. */
  channels: Channel[];
  scanEveryMs?: number;
  /** Learners claimed per page of a scan. */
  scanPage?: number;
  /** Concurrent deliveries per channel in this process. */
  concurrency?: number;
  rates?: Partial<typeof DELIVERY_RATE>;
  /** Run the scan scheduler and worker in this process (default true). */
  scan?: boolean;
  /** Run the delivery workers in this process (default true). */
  deliver?: boolean;
  /**
   * How long a running job stays locked to its worker, and how often workers look for jobs whose
   * worker died (BullMQ's defaults: 30 s each). A killed worker's jobs run again within about their sum.
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /**
   * Given every queue and worker, to listen to their connection errors (see `RedisStatus`): without
   * a listener, each reconnect attempt while Redis is away prints a stack trace.
   */
  watch?: (emitter: { on(event: 'error', listener: (err: Error) => void): unknown }) => void;
}

/** Redis connection options for BullMQ from a redis:// URL. */
export function connectionFrom(url: string): ConnectionOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** "Sent" marks in Redis, kept two days, for a runtime without the durable outbox (tests, `bench:nudges`); the app needs none. */
export class RedisSentMarks implements SentMarks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}
  async get(jobId: string): Promise<NudgeKind | null> {
    return (await this.redis.get(`${this.prefix}:sent:${jobId}`)) as NudgeKind | null;
  }
  async set(jobId: string, kind: NudgeKind): Promise<void> {
    await this.redis.set(`${this.prefix}:sent:${jobId}`, kind, 'EX', 2 * 86_400);
  }
}

const JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential' as const, delay: 5_000 },
  // Completed jobs are kept a day, so that a repeated scan cannot enqueue the same nudge again.
  removeOnComplete: { age: 86_400 },
  removeOnFail: { age: 7 * 86_400 },
};

export class BullNudgeScheduler {
  readonly prefix: string;
  readonly scanQueue: Queue;
  readonly deliveryQueues = new Map<Channel, Queue>();
  private readonly workers: Worker[] = [];
  private readonly connection: ConnectionOptions;
  private closed = false;

  constructor(private readonly opts: BullNudgeOptions) {
    this.prefix = opts.prefix ?? 'digit4sd';
    this.connection = connectionFrom(opts.redisUrl);
    this.scanQueue = new Queue('nudge-scan', { connection: this.connection, prefix: this.prefix });
    for (const channel of opts.channels) {
      this.deliveryQueues.set(channel, new Queue(`nudge-${channel}`, { connection: this.connection, prefix: this.prefix, defaultJobOptions: JOB_OPTIONS }));
    }
    for (const queue of [this.scanQueue, ...this.deliveryQueues.values()]) opts.watch?.(queue);
  }

  private addWorker(worker: Worker): void {
    this.opts.watch?.(worker);
    this.workers.push(worker);
  }

  /** Starts the scan scheduler and the workers this process runs. */
  async start(): Promise<void> {
    const { opts } = this;
    if (opts.scan !== false) {
      // Waits for Redis if it is away at start-up; closed meanwhile, it starts nothing.
      const registerScan = () => this.scanQueue.upsertJobScheduler('scan', { every: opts.scanEveryMs ?? 30_000 }, { name: 'scan', opts: { removeOnComplete: true, removeOnFail: 100 } });
      await registerScan();
      if (this.closed) return;
      // A Redis restarted without persistence comes back empty, the scan's job scheduler with it, and
      // no scan would run again: register it again (idempotent) each time the connection is ready.
      (await this.scanQueue.getBackend().client).on('ready', () => {
        if (!this.closed) registerScan().catch((err: unknown) => opts.onError(err, { where: 'nudge-scan' }));
      });
      this.addWorker(
        new Worker('nudge-scan', async () => this.scan(), { connection: this.connection, prefix: this.prefix, concurrency: 1 }).on('failed', (_job, err) =>
          opts.onError(err, { where: 'nudge-scan' }),
        ),
      );
    }
    if (opts.deliver !== false) {
      if (!opts.service) throw new Error('delivery workers need a NudgeService');
      for (const channel of opts.channels) {
        const rate = { ...DELIVERY_RATE, ...opts.rates }[channel]!;
        const queue = this.deliveryQueues.get(channel)!;
        const worker: Worker = new Worker(`nudge-${channel}`, (job: Job<NudgeJob>) => this.deliverJob(queue, job), {
          connection: this.connection,
          prefix: this.prefix,
          concurrency: opts.concurrency ?? 10,
          ...(opts.lockDurationMs ? { lockDuration: opts.lockDurationMs } : {}),
          ...(opts.stalledIntervalMs ? { stalledInterval: opts.stalledIntervalMs } : {}),
          // A coarse bound on fetching; the sends themselves are spaced evenly by the outbox sender's
          // pacer (without the durable outbox: the service's).
          limiter: { max: rate.max, duration: rate.durationMs },
        });
        worker.on('failed', (job, err) => opts.onError(err, { where: 'nudge-delivery', channel, attempts: job?.attemptsMade }));
        this.addWorker(worker);
      }
    }
  }

  private async deliverJob(queue: Queue, job: Job<NudgeJob>): Promise<string> {
    try {
      return await this.opts.service!.deliver(job.data);
    } catch (err) {
      if (err instanceof PlatformError && err.status === 429) {
        // The platform said how long to wait: pause this queue that long and retry the job then,
        // without using up one of its attempts.
        await queue.rateLimit((err.retryAfterSec ?? 1) * 1000);
        throw Worker.RateLimitError();
      }
      throw err;
    }
  }

  /**
   * Claims every learner due now, page by page, and enqueues their delivery jobs. Returns how many
   * jobs were enqueued.
   */
  async scan(): Promise<number> {
    const { bot } = this.opts;
    const page = this.opts.scanPage ?? 5000;
    let total = 0;
    // Claiming the next page overlaps with enqueueing the previous one (SQLite and Redis work in parallel).
    let inFlight: Promise<void> = Promise.resolve();
    for (;;) {
      const now = bot.now();
      const claimed = await bot.store.claimDueLearners(now, page, new Date(now.getTime() + CLAIM_LEASE_MS));
      await inFlight;
      if (!claimed.length) break;
      const byChannel = new Map<Channel, { name: string; data: NudgeJob; opts: { jobId: string } }[]>();
      for (const r of claimed) {
        const data: NudgeJob = { channel: r.key.channel, userId: r.key.userId, plannedAt: r.nudgeAt.getTime() };
        const list = byChannel.get(data.channel) ?? [];
        list.push({ name: 'nudge', data, opts: { jobId: nudgeJobId(data) } });
        byChannel.set(data.channel, list);
      }
      inFlight = (async () => {
        for (const [channel, jobs] of byChannel) {
          const queue = this.deliveryQueues.get(channel);
          if (!queue) {
            this.opts.onError(new Error(`no delivery queue for channel ${channel}`), { where: 'nudge-scan', channel, learners: jobs.length });
            continue;
          }
          await queue.addBulk(jobs);
          total += jobs.length;
        }
      })();
      if (claimed.length < page) {
        await inFlight;
        break;
      }
    }
    return total;
  }

  /** Jobs waiting or running per delivery queue (for /metrics). */
  async depth(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [channel, q] of this.deliveryQueues) {
      const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      out[channel] = Object.values(c).reduce((a, b) => a + b, 0);
    }
    return out;
  }

  /**
   * Stops the workers: each finishes its running jobs within `deadlineMs`; after that the jobs are
   * left to stall and another worker takes them over (nothing is lost).
   */
  async close(deadlineMs = 10_000): Promise<void> {
    this.closed = true;
    const graceful = Promise.all(this.workers.map((w) => w.close()));
    const timedOut = await Promise.race([graceful.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), deadlineMs).unref())]);
    if (timedOut) await Promise.all(this.workers.map((w) => w.close(true)));
    await Promise.all([this.scanQueue.close(), ...[...this.deliveryQueues.values()].map((q) => q.close())]);
  }

  /** Removes every key of this scheduler's queues (tests and benchmarks clean up with it). */
  async obliterate(): Promise<void> {
    for (const q of [this.scanQueue, ...this.deliveryQueues.values()]) await q.obliterate({ force: true });
  }
}

/** Removes every key under `prefix` (queues and sent marks): for tests, benchmarks and decommissioning. */
export async function removePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

export { Redis };
