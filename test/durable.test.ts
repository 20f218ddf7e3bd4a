/**
 * The durable inbox and outbox, end to end: a bot process killed with SIGKILL in the middle of a
 * burst of webhook updates, then started again, applies every update it acknowledged once and
 * delivers every reply once; a store write that fails while applying an answer gets the learner an
 * apology, changes nothing, and the retry succeeds.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTelegramChannel } from '../adapters/telegram/index.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { createLogger } from '../src/logger.js';
import { LearningBot } from '../src/runtime/bot.js';
import { InboxWorker } from '../src/runtime/inbox.js';
import { OutboxSender } from '../src/scheduling/outbox.js';
import { createHttpApp } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { FakeTelegram, type TgUpdate, type TgUser } from './fakes/telegram-api.js';
import { drained } from './drained.js';
import { fixtureCourse, TestClock } from './helpers.js';
import { startFixture, type Fixture } from './fixture-process.js';

const SECRET = 'durable-secret';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startBot(dataDir: string, fake: FakeTelegram): Promise<Fixture> {
  return startFixture('test/fixtures/durable-bot.ts', [dataDir, fake.apiRoot, fake.token, SECRET], cleanups);
}

/** Posts one update to the webhook; true when the bot acknowledged it (200), false when the connection died. */
async function post(port: number, update: TgUpdate): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/tg`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET }, body: JSON.stringify(update) });
    await res.text();
    return res.status === 200;
  } catch {
    return false;
  }
}

describe('the durable inbox and outbox', () => {
  it('applies every acknowledged update once and sends every reply once across a kill -9 during a burst', async () => {
    const fake = new FakeTelegram();
    await fake.start();
    cleanups.push(() => fake.stop());
    const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-durable-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));

    // 50 learners, 4 commands each, sent per learner in order, learners at once: 200 updates.
    const commands = ['/help', '/settings', '/progress', '/help'];
    const learners: TgUser[] = Array.from({ length: 50 }, (_, i) => ({ id: 5000 + i, is_bot: false, first_name: `L${i}`, language_code: 'en' }));
    const updates = new Map<number, TgUpdate[]>(learners.map((u) => [u.id, commands.map((c) => fake.message(u, c))]));
    const acknowledged = new Set<number>();

    let bot = await startBot(dataDir, fake);
    let killed = false;
    const burst = Promise.all(
      learners.map(async (u) => {
        for (const update of updates.get(u.id)!) {
          if (killed) return;
          if (await post(bot.port, update)) acknowledged.add(update.update_id);
        }
      }),
    );
    await vi.waitFor(() => expect(acknowledged.size).toBeGreaterThanOrEqual(60), { timeout: 30_000, interval: 5 });
    killed = true;
    bot.child.kill('SIGKILL');
    await new Promise((r) => bot.child.once('exit', r));
    await burst;
    const ackedAtKill = acknowledged.size;
    expect(ackedAtKill).toBeLessThan(200);

    // Started again: what was accepted is applied and answered; Telegram resends what was not acknowledged.
    bot = await startBot(dataDir, fake);
    for (const u of learners) {
      for (const update of updates.get(u.id)!) {
        if (!acknowledged.has(update.update_id) && (await post(bot.port, update))) acknowledged.add(update.update_id);
      }
    }
    expect(acknowledged.size).toBe(200);

    // Every update gets its reply (/help, /settings and /progress answer with one message each).
    await fake.until(() => learners.every((u) => fake.sentTo(u.id).length >= commands.length), 60_000, 'every reply');
    // Rows the killed process had claimed go again once their claim runs out: wait until the inbox and
    // the outbox are empty, then nothing more comes within a bounded window.
    await drained(dataDir);
    const total = () => learners.reduce((n, u) => n + fake.sentTo(u.id).length, 0);
    const sent = total();
    await new Promise((r) => setTimeout(r, 1500));
    expect(total()).toBe(sent);
    // Each reply is applied and written once. A reply the platform accepted in the instant between
    // its send and its "sent" mark (the kill) goes again after the restart: at most one per
    // conversation (one send in flight per conversation), as no platform API takes an idempotency key.
    let repeats = 0;
    for (const u of learners) {
      const texts = fake.sentTo(u.id).map((m) => m.message.text ?? '');
      expect(texts.filter((t) => /How to use this bot/.test(t)).length, `learner ${u.id}`).toBeGreaterThanOrEqual(2);
      expect(texts.length - commands.length, `learner ${u.id}`).toBeLessThanOrEqual(1);
      repeats += texts.length - commands.length;
    }
    expect(repeats).toBeLessThanOrEqual(learners.length);
    expect(fake.problems).toEqual([]);
  }, 120_000);

  it('apologises when a store write fails while applying an answer, changes nothing, and the retry succeeds', async () => {
    const fake = new FakeTelegram();
    await fake.start();
    cleanups.push(() => fake.stop());
    const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
    const store = new SqliteStore(':memory:');
    const errors: unknown[] = [];
    const onError = (err: unknown) => void errors.push(err);
    const bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, now: clock.now, onError });
    const http = createHttpApp([]);
    const channel = createTelegramChannel({ token: fake.token, apiRoot: fake.apiRoot }, { port: bot, http, logger: createLogger('silent'), now: clock.now, sleep: async (ms) => clock.advance(ms) }, { throttle: { global: {}, group: { maxConcurrent: 1 }, out: { maxConcurrent: 1 } } });
    const inbox = new InboxWorker({ bot, store, onError, retryMs: 1000 });
    const outbox = new OutboxSender({ store, channel: () => channel, onError, now: clock.now });
    bot.enableDurable(() => inbox.kick(), () => outbox.kick());
    await channel.start();
    cleanups.push(async () => {
      await channel.stop();
      await inbox.stop();
      await outbox.stop();
      await store.close();
    });
    const ana: TgUser = { id: 7001, is_bot: false, first_name: 'Ana', language_code: 'en' };
    const settle = async () => {
      for (let i = 0; i < 3; i++) {
        await inbox.idle();
        await outbox.idle();
      }
    };
    const deliver = async (update: TgUpdate) => {
      fake.push(update);
      await fake.handled(update.update_id);
      await settle();
    };
    await deliver(fake.message(ana, '/start l1'));
    // Through the cards to the first question.
    for (const label of ['Next', 'Next', 'Start the quiz']) await deliver(fake.tap(ana, fake.lastTo(ana.id), label));
    const question = fake.lastTo(ana.id);
    expect(question.message.text).toContain('Which option is right in l1 q1?');
    const before = (await store.getLearner({ channel: 'telegram', userId: String(ana.id) }))!;

    // The answer's write fails once.
    const commit = store.commitLearner.bind(store);
    let failures = 1;
    store.commitLearner = async (c) => {
      if (failures-- > 0) throw new Error('disk I/O error');
      return commit(c);
    };
    await deliver(fake.tap(ana, question, 'B'));
    expect(fake.lastTo(ana.id).message.text).toMatch(/something went wrong/i);
    const after = (await store.getLearner({ channel: 'telegram', userId: String(ana.id) }))!;
    expect(after.version).toBe(before.version);
    expect(after.state.reviews).toEqual({});

    // The inbox tries it again after its backoff: the answer is applied, its feedback shown in place.
    clock.advance(1000);
    inbox.kick();
    await settle();
    const answered = (await store.getLearner({ channel: 'telegram', userId: String(ana.id) }))!;
    expect(answered.state.reviews['l1-q1']).toMatchObject({ seen: 1, right: 1 });
    expect(question.message.text).toMatch(/✅/);
    expect(question.edits).toBeGreaterThan(0);
    expect(errors).toHaveLength(1);
  });
});
