import { describe, expect, inject, it } from 'vitest';
import { answers, findOrStartRedis } from './redis-server.js';

describe('finding Redis for the tests', () => {
  it('uses the first candidate that answers', async () => {
    const found = await findOrStartRedis(['redis://127.0.0.1:1', inject('redisUrl')]);
    expect(found).toMatchObject({ url: inject('redisUrl'), started: false });
  });

  it('starts its own redis-server on a free port when none answers, and stops it', async () => {
    const own = await findOrStartRedis(['redis://127.0.0.1:1']);
    expect(own.started).toBe(true);
    expect(own.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(await answers(own.url)).toBe(true);
    await own.stop();
    expect(await answers(own.url)).toBe(false);
  });
});
