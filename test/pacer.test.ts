import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { MemoryPacer, RedisPacer, SteadyPacer, gapMs, type Pacer, type PacerClock } from '../src/scheduling/pacer.js';
import { removePrefix } from '../src/scheduling/bullmq.js';

let redis: Redis;
const prefix = `pacer-${Date.now().toString(36)}`;
beforeAll(() => {
  redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await removePrefix(redis, prefix);
  redis.disconnect();
});

const rates = { telegram: { max: 20, durationMs: 1000 } };
const gap = gapMs(rates.telegram);

describe('pacing sends', () => {
  it('leaves a little more than 1/rate between slots', () => {
    expect(gapMs({ max: 30, durationMs: 1000 })).toBeGreaterThan(1000 / 30);
    expect(gapMs({ max: 30, durationMs: 1000 })).toBeLessThan((1000 / 30) * 1.03);
  });

  it('spaces concurrent sends evenly in one process (on a fake clock)', async () => {
    const waits: number[] = [];
    const clock: PacerClock = { now: () => 1_000, sleep: async (ms) => void waits.push(ms) };
    const pacer = new MemoryPacer(rates, clock);
    await Promise.all(Array.from({ length: 6 }, () => pacer.wait('telegram')));
    // All asked at the same instant: each waits one gap more than the one before.
    expect(waits).toEqual([0, 1, 2, 3, 4, 5].map((i) => i * gap));
  });

  it('waits out a pause in one process (on a fake clock)', async () => {
    const waits: number[] = [];
    const pacer = new MemoryPacer(rates, { now: () => 1_000, sleep: async (ms) => void waits.push(ms) });
    await pacer.pause('telegram', 300);
    await pacer.wait('telegram');
    expect(waits).toEqual([300]);
    // A pause shorter than the slot already reserved changes nothing.
    await pacer.pause('telegram', 10);
    await pacer.wait('telegram');
    expect(waits[1]).toBeCloseTo(300 + gap, 6);
  });

  it('spaces concurrent sends one gap apart across processes, through Redis (slots on Redis\'s clock; no wall-time wait)', async () => {
    const sleep = async () => undefined;
    const a = new RedisPacer(redis, prefix, rates, { sleep });
    const b = new RedisPacer(redis, prefix, rates, { sleep });
    const slots = (await Promise.all([a, b, a, b, a, b].map((p) => p.reserve('telegram')))).sort((x, y) => x - y);
    const gapUs = Math.round(gap * 1000);
    // Every slot is at least one gap after the one before (later ones may start later, never sooner).
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!, `slot ${i}`).toBeGreaterThanOrEqual(gapUs);
  });

  it('waits out a pause across processes, through Redis', async () => {
    const pacer = new RedisPacer(redis, `${prefix}-pause`, rates, { sleep: async () => undefined });
    const [sec, usec] = await redis.time();
    const before = Number(sec) * 1_000_000 + Number(usec);
    await pacer.pause('telegram', 300);
    // The next slot is at least 300 ms (on Redis's clock) after the pause was asked for.
    expect((await pacer.reserve('telegram')) - before).toBeGreaterThanOrEqual(300_000);
    await removePrefix(redis, `${prefix}-pause`);
  });

  it('keeps one process steady: a wake-up that comes late moves the next ones back instead of letting two sends bunch (on a fake clock)', async () => {
    let t = 0;
    const clock: PacerClock = { now: () => t, sleep: async (ms) => void (t += ms) };
    // The slots a shared pacer gives: one gap apart; the second one wakes 25 ms late (a busy event loop).
    const slots = [0, gap, 2 * gap, 3 * gap];
    const late = [0, 25, 0, 0];
    let i = 0;
    const inner: Pacer = {
      wait: async () => {
        const k = i++;
        t = Math.max(t, slots[k]! + late[k]!);
      },
      pause: async () => undefined,
    };
    const steady = new SteadyPacer(inner, rates, clock);
    const wakes: number[] = [];
    for (let k = 0; k < slots.length; k++) {
      await steady.wait('telegram');
      wakes.push(t);
    }
    expect(wakes).toEqual([0, gap + 25, 2 * gap + 25, 3 * gap + 25]);
    // Without it, the third send would leave gap - 25 ms after the second.
    for (let k = 1; k < wakes.length; k++) expect(wakes[k]! - wakes[k - 1]!).toBeGreaterThanOrEqual(gap);
  });
});
