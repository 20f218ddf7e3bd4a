/**
 * Wakes the durable inbox and outbox workers of every process sharing one store, through Redis
 * pub/sub: a process that accepted an event (or wrote owed messages) publishes one word, and every
 * subscribed process reads its inbox (or outbox) at once instead of on its next poll. A lost wake-up
 * (Redis away for a moment) only delays the work to the workers' slow safety poll; nothing is kept
 * in Redis, so nothing can be lost there.
 */
import type { Redis } from 'ioredis';

export type WakeTopic = 'inbox' | 'outbox';

export class RedisWake {
  private readonly channel: string;
  private subscriber: Redis | undefined;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    /** Given the subscriber connection, to listen to its errors (see `RedisStatus`). */
    private readonly watch: (subscriber: Redis) => void = () => undefined,
  ) {
    this.channel = `${prefix}:durable-wake`;
  }

  /** Subscribes (a second connection, as Redis requires) and calls `on` for every wake-up heard. */
  async start(on: (topic: WakeTopic) => void): Promise<void> {
    const sub = this.redis.duplicate();
    this.subscriber = sub;
    this.watch(sub);
    sub.on('message', (channel: string, message: string) => {
      if (channel === this.channel && (message === 'inbox' || message === 'outbox')) on(message);
    });
    try {
      await sub.subscribe(this.channel);
    } catch (err) {
      // Stopped while still waiting for a Redis that never came: nothing to report.
      if (!this.stopped) throw err;
    }
  }

  /** Tells every process's workers to look now. Never throws: a failed publish only delays the work to their poll. */
  publish(topic: WakeTopic): void {
    if (this.redis.status !== 'ready') return;
    this.redis.publish(this.channel, topic).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.subscriber?.disconnect();
    this.redis.disconnect();
  }
}
