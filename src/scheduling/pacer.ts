/**
 * Paces platform sends evenly: each send takes the next free slot, one every `gap` milliseconds, so
 * no sliding second ever holds more than the platform's limit. The Redis pacer shares its slots
 * across every worker process (the slot counter lives in Redis and uses Redis's clock); the memory
 * pacer does the same inside one process.
 *
 * Why not only BullMQ's limiter: it counts jobs per fixed window, so a limit of 30 per second lets a
 * burst at the end of one window meet a burst at the start of the next (60 in a second), and when
 * set to one job per gap its own fetch latency costs about 5% of the rate (see BENCHMARKS.md).
 */
import type { Redis } from 'ioredis';
import type { Channel } from '../messages.js';
import { DELIVERY_RATE } from './limits.js';

export interface Pacer {
  /** Waits for this channel's next send slot. */
  wait(channel: Channel): Promise<void>;
  /** Pushes this channel's next slot at least `ms` into the future (a platform said to wait). */
  pause(channel: Channel, ms: number): Promise<void>;
}

/**
 * Milliseconds between sends for a rate. The small margin absorbs timer and network jitter: a send
 * that leaves a millisecond late must not bring a 31st message into someone's sliding second.
 */
export function gapMs(rate: { max: number; durationMs: number }): number {
  return (rate.durationMs / rate.max) * 1.02;
}

/** The clock a pacer waits on: tests pass a fake one, so that no wall time passes. */
export interface PacerClock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const REAL_CLOCK: PacerClock = {
  now: () => performance.now(),
  sleep: (ms) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve()),
};

/**
 * Reserves a slot: returns how many microseconds to wait for it, and the slot itself (microseconds
 * on the server's clock, so that tests can check the spacing exactly). Uses the server's clock.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nextSlot = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nextSlot)
redis.call('SET', KEYS[1], tostring(slot + tonumber(ARGV[1])), 'PX', 600000)
return {tostring(slot - now), tostring(slot)}
`;

/** Moves the next slot to at least now + ARGV[1] microseconds. */
const PAUSE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nextSlot = tonumber(redis.call('GET', KEYS[1]) or '0')
local resume = now + tonumber(ARGV[1])
if resume > nextSlot then redis.call('SET', KEYS[1], tostring(resume), 'PX', 600000) end
return 0
`;

export class RedisPacer implements Pacer {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly rates: Partial<typeof DELIVERY_RATE> = {},
    private readonly clock: Pick<PacerClock, 'sleep'> = REAL_CLOCK,
  ) {}

  private key(channel: Channel): string {
    return `${this.prefix}:pace:${channel}`;
  }

  async wait(channel: Channel): Promise<void> {
    await this.reserve(channel);
  }

  /** Waits for the next slot; returns it (microseconds on Redis's clock). */
  async reserve(channel: Channel): Promise<number> {
    const gap = Math.round(gapMs({ ...DELIVERY_RATE, ...this.rates }[channel]!) * 1000);
    const [waitUs, slotUs] = (await this.redis.eval(RESERVE, 1, this.key(channel), gap)) as [string, string];
    await this.clock.sleep(Number(waitUs) / 1000);
    return Number(slotUs);
  }

  async pause(channel: Channel, ms: number): Promise<void> {
    await this.redis.eval(PAUSE, 1, this.key(channel), Math.round(ms * 1000));
  }
}

export class MemoryPacer implements Pacer {
  private readonly next = new Map<Channel, number>();
  constructor(
    private readonly rates: Partial<typeof DELIVERY_RATE> = {},
    private readonly clock: PacerClock = REAL_CLOCK,
  ) {}

  async wait(channel: Channel): Promise<void> {
    const now = this.clock.now();
    const slot = Math.max(now, this.next.get(channel) ?? 0);
    this.next.set(channel, slot + gapMs({ ...DELIVERY_RATE, ...this.rates }[channel]!));
    await this.clock.sleep(slot - now);
  }

  async pause(channel: Channel, ms: number): Promise<void> {
    const resume = this.clock.now() + ms;
    if (resume > (this.next.get(channel) ?? 0)) this.next.set(channel, resume);
  }
}

/**
 * Keeps one process's sends steady on top of a pacer's slots: one reservation at a time per channel,
 * and at least one gap between two wake-ups here. A slot is only a time to wake up: when the event
 * loop was busy and a send leaves late, the next slot (already due) would follow it within a few
 * milliseconds, and 31 sends would fall into one sliding second (the benchmark saw a send 25 ms late
 * and the next 9 ms after it). With this, a late wake-up moves the next ones back by as much.
 */
export class SteadyPacer implements Pacer {
  private readonly chains = new Map<Channel, Promise<number | undefined>>();

  constructor(
    private readonly pacer: Pacer,
    private readonly rates: Partial<typeof DELIVERY_RATE> = {},
    private readonly clock: PacerClock = REAL_CLOCK,
  ) {}

  wait(channel: Channel): Promise<void> {
    const gap = gapMs({ ...DELIVERY_RATE, ...this.rates }[channel]!);
    const previous = this.chains.get(channel) ?? Promise.resolve(undefined);
    const next = previous.then(async (last) => {
      await this.pacer.wait(channel);
      const since = last === undefined ? gap : this.clock.now() - last;
      if (since < gap) await this.clock.sleep(gap - since);
      return this.clock.now();
    });
    this.chains.set(
      channel,
      next.catch(() => undefined),
    );
    return next.then(() => undefined);
  }

  pause(channel: Channel, ms: number): Promise<void> {
    return this.pacer.pause(channel, ms);
  }
}
