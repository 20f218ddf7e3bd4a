import { describe, expect, it } from 'vitest';
import { ChatPacer, Pace } from '../src/scheduling/chat-pacing.js';
import { DEFAULT_THROTTLE } from '../adapters/telegram/adapter.js';

/** A clock whose sleeps advance it at once: no wall time passes. */
function fakeClock() {
  let t = 0;
  return { now: () => t, sleep: async (ms: number) => void (t += ms), advance: (ms: number) => void (t += ms) };
}

describe('pacing per chat (Telegram limits)', () => {
  it('spaces starts evenly with minTime', () => {
    const p = new Pace({ minTime: 34 });
    expect([p.reserve(0), p.reserve(0), p.reserve(0), p.reserve(200)]).toEqual([0, 34, 68, 200]);
  });

  it('keeps at most `reservoir` starts in any sliding interval, and minTime between them (a group: 20 a minute, 1 a second)', () => {
    const p = new Pace(DEFAULT_THROTTLE.group!);
    const starts = Array.from({ length: 22 }, () => p.reserve(0));
    expect(starts.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => i * 1000));
    // The 21st waits for the first to leave the minute; the 22nd for the second.
    expect(starts.slice(20)).toEqual([60_000, 61_000]);
    for (let i = 20; i < starts.length; i++) expect(starts[i]! - starts[i - 20]!).toBeGreaterThanOrEqual(60_000);
  });

  it('lets a private chat burst 4 messages, then one a second as its tokens come back', () => {
    const p = new Pace(DEFAULT_THROTTLE.out!);
    expect(Array.from({ length: 6 }, () => p.reserve(0))).toEqual([0, 0, 0, 0, 1000, 2000]);
    // After a quiet 10 s the bucket is full again (4 at most).
    expect(Array.from({ length: 5 }, () => p.reserve(12_000))).toEqual([12_000, 12_000, 12_000, 12_000, 13_000]);
  });

  it('runs one chat\'s calls one at a time and in order, other chats beside them, all on the global spacing', async () => {
    const clock = fakeClock();
    const pacer = new ChatPacer({ global: { minTime: 34 }, group: { maxConcurrent: 1 }, out: { maxConcurrent: 1 } }, clock);
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const call = (chat: string, n: number) =>
      pacer.schedule(chat, async () => {
        running += 1;
        most = Math.max(most, running);
        log.push(`${chat}:${n}@${clock.now()}`);
        await Promise.resolve();
        running -= 1;
        return n;
      });
    const results = await Promise.all([call('7', 1), call('7', 2), call('-5', 1), call('7', 3)]);
    expect(results).toEqual([1, 2, 1, 3]);
    expect(log.filter((l) => l.startsWith('7:')).map((l) => l.split('@')[0])).toEqual(['7:1', '7:2', '7:3']);
    const times = log.map((l) => Number(l.split('@')[1])).sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(34);
    expect(most).toBe(1);
  });

  it('goes on with a chat after a call that failed', async () => {
    const pacer = new ChatPacer({ out: { maxConcurrent: 1 } }, fakeClock());
    await expect(pacer.schedule('9', async () => Promise.reject(new Error('429')))).rejects.toThrow('429');
    await expect(pacer.schedule('9', async () => 'sent')).resolves.toBe('sent');
  });
});
