import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { MemoryPacer, RedisPacer, gapMs } from '../src/scheduling/pacer.js';
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

/** Release times of `n` concurrent waits, in ms from the start. */
async function releases(pacer: { wait: (c: 'telegram') => Promise<void> }, n: number): Promise<number[]> {
  const start = performance.now();
  return Promise.all(Array.from({ length: n }, () => pacer.wait('telegram').then(() => performance.now() - start))).then((t) => t.sort((a, b) => a - b));
}

describe('pacing sends', () => {
  it('leaves a little more than 1/rate between slots', () => {
    expect(gapMs({ max: 30, durationMs: 1000 })).toBeGreaterThan(1000 / 30);
    expect(gapMs({ max: 30, durationMs: 1000 })).toBeLessThan((1000 / 30) * 1.03);
  });

  for (const [name, make] of [
    ['in one process', () => new MemoryPacer(rates)],
    ['across processes, through Redis', () => new RedisPacer(redis, prefix, rates)],
  ] as const) {
    it(`spaces concurrent sends evenly ${name}`, async () => {
      const gap = gapMs(rates.telegram);
      const times = await releases(make(), 6);
      // Never two sends closer than one gap (timers never fire early; allow 2 ms of clock rounding).
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!, `send ${i}`).toBeGreaterThanOrEqual(gap - 2);
    });

    it(`waits out a pause ${name}`, async () => {
      const pacer = make();
      await pacer.pause('telegram', 300);
      const [first] = await releases(pacer, 1);
      expect(first).toBeGreaterThanOrEqual(290);
    });
  }

  it('shares one schedule between two Redis pacers, as two worker processes would', async () => {
    const a = new RedisPacer(redis, `${prefix}-shared`, rates);
    const b = new RedisPacer(redis, `${prefix}-shared`, rates);
    const start = performance.now();
    const times = (await Promise.all([a, b, a, b].map((p) => p.wait('telegram').then(() => performance.now() - start)))).sort((x, y) => x - y);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(gapMs(rates.telegram) - 2);
    await removePrefix(redis, `${prefix}-shared`);
  });
});
