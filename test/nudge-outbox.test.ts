/**
 * Nudges through the durable outbox: a due nudge is recorded (state, next nudge time, the
 * dashboard's record) and queued (its outbox row) in ONE commit, then sent by the outbox sender. A
 * bot killed with SIGKILL between that commit and the send sends the nudge exactly once after its
 * restart, on the embedded store without Redis; a learner who blocked the bot is marked unreachable
 * once, from the outbox sender's refusal.
 */
import type { ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import pino from 'pino';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { TelegramAdapter } from '../adapters/telegram/adapter.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { newLearnerState } from '../src/engine/state.js';
import { formatHhmm } from '../src/learning/localtime.js';
import { plain, type LearnerKey, type Outbound } from '../src/messages.js';
import { LearningBot, nudgeJobId } from '../src/runtime/bot.js';
import { decodeOutbox, nudgeRows, outboxRows } from '../src/runtime/durable.js';
import { PlatformError } from '../src/errors.js';
import { Redis, removePrefix } from '../src/scheduling/bullmq.js';
import { NudgeService } from '../src/scheduling/delivery.js';
import { InProcessScheduler } from '../src/scheduling/in-process.js';
import { OutboxSender } from '../src/scheduling/outbox.js';
import { MemoryPacer } from '../src/scheduling/pacer.js';
import type { LearnerCommit } from '../src/store/store.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { drained } from './drained.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { fixtureCourse } from './helpers.js';
import { startFixture } from './fixture-process.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A Telegram learner whose daily reminder fell due a minute ago (quiet hours off). */
async function seedDue(store: SqliteStore, fake: FakeTelegram, id: number): Promise<LearnerKey> {
  const now = new Date();
  fake.message({ id, is_bot: false, first_name: `L${id}` }, '/start'); // Telegram knows the chat
  const state = newLearnerState(new Date(now.getTime() - 2 * 86_400_000), 'en');
  const minutes = now.getUTCHours() * 60 + now.getUTCMinutes();
  state.nudges = { ...state.nudges, remindAt: formatHhmm((minutes + 1439) % 1440), remindDays: [0, 1, 2, 3, 4, 5, 6], remindSetAt: state.createdAt, quietStart: '00:00', quietEnd: '00:00' };
  const key: LearnerKey = { channel: 'telegram', userId: String(id) };
  await store.commitLearner({ key, expectedVersion: 0, state, address: { channel: 'telegram', conversationId: String(id), kind: 'direct' }, nudgeAt: new Date(now.getTime() - 60_000), now });
  return key;
}

async function fakeTelegram(): Promise<FakeTelegram> {
  const fake = new FakeTelegram();
  await fake.start();
  cleanups.push(() => fake.stop());
  return fake;
}

/** A durable runtime on an in-memory store, its outbox sender sending through the real Telegram adapter. */
function durableBot(fake: FakeTelegram) {
  const store = new SqliteStore(':memory:');
  const errors: { err: unknown; where: unknown }[] = [];
  const onError = (err: unknown, context: Record<string, unknown>) => void errors.push({ err, where: context.where });
  const bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, onError });
  const telegram = new TelegramAdapter({ token: fake.token, apiRoot: fake.apiRoot }, { port: bot, http: express(), logger: pino({ level: 'silent' }), now: bot.now });
  const outbox = new OutboxSender({ store, channel: () => telegram, onError, now: bot.now, pacer: new MemoryPacer(), onRefused: (_row, payload, err) => bot.nudgeRefused(payload, err) });
  let woken = 0;
  bot.enableDurable(
    () => undefined,
    () => (woken++, outbox.kick()),
  );
  const scheduler = new InProcessScheduler({ bot, service: new NudgeService({ bot }), onError });
  cleanups.push(async () => {
    await scheduler.stop();
    await outbox.stop();
    await store.close();
  });
  return { store, bot, outbox, scheduler, errors, woken: () => woken };
}

describe('a nudge in the durable outbox', () => {
  it('is written in the same commit as the state that records it, and sent after it, once', async () => {
    const fake = await fakeTelegram();
    const t = durableBot(fake);
    const key = await seedDue(t.store, fake, 810_001);
    // Watch the commits: the nudge's one write must carry both the state and the message.
    const commits: LearnerCommit[] = [];
    const commit = t.store.commitLearner.bind(t.store);
    t.store.commitLearner = async (c) => {
      commits.push(c);
      // After the commit and before any send: the row is in the store and the state says the nudge went out.
      const outcome = await commit(c);
      expect(fake.callsOf('sendMessage')).toHaveLength(0);
      return outcome;
    };
    // Nothing sends before the outbox does: the outbox sender is not started yet.
    expect(await t.scheduler.runOnce()).toEqual(['sent']);
    expect(commits).toHaveLength(1);
    const [c] = commits;
    const jobId = c!.state.nudges.lastNudgeJob!;
    expect(jobId).toMatch(/^nudge-telegram-/);
    expect(c!.outbox).toHaveLength(1);
    expect(decodeOutbox(c!.outbox![0]!.payload)).toMatchObject({ address: { channel: 'telegram', conversationId: '810001', kind: 'direct' }, learner: key, messages: [{ kind: 'text' }] });
    expect(c!.activity).toEqual([expect.objectContaining({ type: 'nudge', event: 'sent' })]);
    // In the store: the state records the nudge and the row waits; nothing was sent.
    const rec = await t.store.getLearner(key);
    expect(rec!.state.nudges.lastNudgeJob).toBe(jobId);
    expect(rec!.state.nudges.unanswered).toBe(1);
    expect(rec!.nudgeAt!.getTime()).toBeGreaterThan(Date.now() + 3_600_000);
    const rows = await t.store.outboxDue(new Date(), 10);
    expect(rows.map((r) => decodeOutbox(r.payload).learner)).toEqual([key]);
    expect(fake.callsOf('sendMessage')).toHaveLength(0);
    // The same job again (a retried BullMQ job, a second scan) finds it recorded: no second row.
    expect(await t.bot.nudge({ channel: 'telegram', userId: key.userId, plannedAt: Number(jobId.split('-').at(-1)) })).toBe('sent');
    expect(nudgeJobId({ channel: 'telegram', userId: key.userId, plannedAt: Number(jobId.split('-').at(-1)) })).toBe(jobId);
    expect(await t.store.outboxDue(new Date(), 10)).toHaveLength(1);
    // The commit woke the outbox sender; once it runs, the nudge goes out once and the row is done.
    expect(t.woken()).toBeGreaterThanOrEqual(1);
    t.outbox.start();
    await fake.until(() => fake.sentTo(810_001).length === 1, 10_000, 'the nudge');
    await vi.waitFor(async () => expect(await t.store.outboxDue(new Date(), 10)).toEqual([]), { timeout: 5000 });
    expect(fake.sentTo(810_001)).toHaveLength(1);
    expect(fake.lastTo(810_001).html).toMatch(/Time for today/);
    expect(t.errors).toEqual([]);
  });

  it('marks a learner who blocked the bot unreachable once, from the outbox\'s refusal', async () => {
    const fake = await fakeTelegram();
    const t = durableBot(fake);
    const blocked = await seedDue(t.store, fake, 810_002);
    const ok = await seedDue(t.store, fake, 810_003);
    fake.block(810_002);
    t.outbox.start();
    expect(await t.scheduler.runOnce()).toEqual(['sent', 'sent']);
    await fake.until(() => fake.sentTo(810_003).length === 1, 10_000, 'the reachable nudge');
    await vi.waitFor(async () => expect((await t.store.getLearner(blocked))!.state.nudges.unreachable).toBe(true), { timeout: 10_000 });
    await vi.waitFor(async () => expect(await t.store.outboxDue(new Date(), 10)).toEqual([]), { timeout: 5000 });
    const rec = await t.store.getLearner(blocked);
    expect(rec!.nudgeAt).toBeNull();
    // The dashboard's records: the nudge recorded and queued, then the refusal, once.
    const events = async (key: LearnerKey) => (await t.store.exportLearner(key)).activity.map((a) => a.type === 'nudge' && a.event);
    expect(await events(blocked)).toEqual(['sent', 'unreachable']);
    expect(await events(ok)).toEqual(['sent']);
    expect((await t.store.getLearner(ok))!.state.nudges.unreachable).toBeFalsy();
    // The refusal was tried once (403 is not retried), reported once; a second word of it changes nothing.
    expect(fake.callsOf('sendMessage').filter((c) => Number(c.payload.chat_id) === 810_002)).toHaveLength(1);
    expect(t.errors.map((e) => e.where)).toEqual(['outbox-send']);
    await t.bot.nudgeRefused({ address: { channel: 'telegram', conversationId: '810002', kind: 'direct' }, messages: [], learner: blocked }, t.errors[0]!.err);
    expect(await events(blocked)).toEqual(['sent', 'unreachable']);
  });
});

describe('the outbox sender and proactive rows', () => {
  const address = (i: number) => ({ channel: 'console' as const, conversationId: `c${i}`, kind: 'direct' as const });
  const text = (s: string): Outbound[] => [{ kind: 'text', text: plain(s) }];

  it('paces nudge rows to the platform\'s global rate (no second holds more), and not the replies', async () => {
    const store = new SqliteStore(':memory:');
    cleanups.push(() => store.close());
    const now = new Date();
    for (let i = 0; i < 30; i++) await store.outboxAdd(nudgeRows(address(i), text(`nudge ${i}`), { channel: 'console', userId: `u${i}` }), now);
    await store.outboxAdd(outboxRows(address(99), text('a reply')), now);
    const sends: { at: number; conversation: string }[] = [];
    const waits: string[] = [];
    const pacer = new MemoryPacer({ console: { max: 20, durationMs: 1000 } });
    const outbox = new OutboxSender({
      store,
      channel: () => ({ send: async (a) => void sends.push({ at: performance.now(), conversation: a.conversationId }) }),
      onError: (err) => { throw err; },
      now: () => new Date(),
      pacer: { wait: (c) => (waits.push(c), pacer.wait(c)), pause: (c, ms) => pacer.pause(c, ms) },
    });
    cleanups.push(() => outbox.stop());
    outbox.start();
    await vi.waitFor(() => expect(sends).toHaveLength(31), { timeout: 10_000 });
    await outbox.idle();
    // Each row once; only the 30 nudges waited for a slot.
    expect(new Set(sends.map((s) => s.conversation)).size).toBe(31);
    expect(waits).toHaveLength(30);
    const nudgeTimes = sends.filter((s) => s.conversation !== 'c99').map((s) => s.at);
    for (const t of nudgeTimes) expect(nudgeTimes.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(20);
    expect(Math.max(...nudgeTimes) - Math.min(...nudgeTimes)).toBeGreaterThanOrEqual(1000);
  });

  it('starts at most a second\'s worth of nudges per pass and sends the rest in the next, each once; a 429 pushes the slots back', async () => {
    const store = new SqliteStore(':memory:');
    cleanups.push(() => store.close());
    const now = new Date();
    // 45 Telegram nudges: the platform's global rate is 30 a second.
    for (let i = 0; i < 45; i++) await store.outboxAdd(nudgeRows({ channel: 'telegram', conversationId: String(i), kind: 'direct' }, text(`nudge ${i}`), { channel: 'telegram', userId: String(i) }), now);
    const sent: string[] = [];
    const paused: number[] = [];
    let inFlight = 0;
    let most = 0;
    let first = true;
    const outbox = new OutboxSender({
      store,
      channel: () => ({
        send: async (a) => {
          if (first) {
            first = false;
            throw new PlatformError({ platform: 'telegram', method: 'sendMessage', status: 429, retryAfterSec: 1, description: 'Too Many Requests' });
          }
          inFlight++;
          most = Math.max(most, inFlight);
          await new Promise((r) => setImmediate(r));
          inFlight--;
          sent.push(a.conversationId);
        },
      }),
      onError: () => undefined,
      now: () => new Date(),
      retryMs: 10,
      pacer: { wait: async () => undefined, pause: async (_c, ms) => void paused.push(ms) },
    });
    cleanups.push(() => outbox.stop());
    outbox.start();
    await vi.waitFor(() => expect(sent).toHaveLength(45), { timeout: 10_000 });
    await outbox.idle();
    expect(new Set(sent).size).toBe(45);
    expect(most).toBeLessThanOrEqual(30);
    expect(paused).toEqual([1000]);
  });
});

describe('a bot killed between a nudge\'s commit and its send', () => {
  async function startBot(dataDir: string, fake: FakeTelegram, extra: string[] = []): Promise<ChildProcess> {
    const settings = [`TELEGRAM_BOT_TOKEN=${fake.token}`, `TELEGRAM_API_ROOT=${fake.apiRoot}`, 'TELEGRAM_WEBHOOK_URL=https://bot.example.org/tg', 'TELEGRAM_WEBHOOK_SECRET=nudge-secret', 'NUDGE_INTERVAL_MS=200', ...extra];
    return (await startFixture('test/fixtures/durable-bot.ts', [dataDir, ...settings], cleanups)).child;
  }

  it('sends the nudge exactly once after the restart, on the embedded store without Redis', async () => {
    const fake = await fakeTelegram();
    const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-nudge-outbox-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const chats = [820_001, 820_002, 820_003];
    {
      const store = new SqliteStore(join(dataDir, 'digit4sd.sqlite'));
      for (const chat of chats) await seedDue(store, fake, chat);
      await store.close();
    }
    // Telegram is down: the nudges are recorded and queued, and every send fails (retryably).
    fake.failAll('sendMessage', { error_code: 500, description: 'Internal Server Error' });
    const first = await startBot(dataDir, fake);
    const db = new Database(join(dataDir, 'digit4sd.sqlite'), { readonly: true, fileMustExist: true });
    cleanups.push(async () => void db.close());
    const recorded = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM learners WHERE json_extract(state, '$.nudges.lastNudgeJob') IS NOT NULL");
    const queued = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM outbox WHERE done_at IS NULL');
    await vi.waitFor(() => expect(recorded.get()!.n).toBe(3), { timeout: 20_000, interval: 20 });
    expect(queued.get()!.n).toBe(3);
    // The sender has tried (and failed): the crash falls between the commit and a successful send.
    await fake.until(() => fake.callsOf('sendMessage').length >= 1, 20_000, 'a first (failed) send');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    expect(chats.map((c) => fake.sentTo(c).length)).toEqual([0, 0, 0]);
    expect(queued.get()!.n).toBe(3);

    // Telegram is back, the bot starts again: each nudge goes out once, from its outbox row.
    fake.recover('sendMessage');
    await startBot(dataDir, fake);
    await fake.until(() => chats.every((c) => fake.sentTo(c).length >= 1), 30_000, 'every nudge after the restart');
    await drained(dataDir);
    // Nothing more is owed: the outbox is empty and each learner's next nudge is a day away.
    const next = db.prepare<[], { nudge_at: number | null }>('SELECT nudge_at FROM learners').all();
    expect(next.every((r) => r.nudge_at !== null && r.nudge_at > Date.now() + 3_600_000)).toBe(true);
    for (const chat of chats) {
      expect(fake.sentTo(chat), `chat ${chat}`).toHaveLength(1);
      expect(fake.lastTo(chat).html).toMatch(/Time for today/);
    }
    expect(fake.problems).toEqual([]);
  }, 90_000);

  it('a worker process alone (ROLE=worker, REDIS_URL) sends the nudge rows it writes, once each', async () => {
    const fake = await fakeTelegram();
    const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-nudge-worker-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const prefix = `nudgeow${randomUUID().slice(0, 8)}`;
    const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    cleanups.push(async () => (await removePrefix(redis, prefix), redis.disconnect()));
    const chats = [830_001, 830_002];
    {
      const store = new SqliteStore(join(dataDir, 'digit4sd.sqlite'));
      for (const chat of chats) await seedDue(store, fake, chat);
      await store.close();
    }
    // No web process runs: the worker's BullMQ scan finds the learners, the runtime queues the
    // nudges in the outbox, and the worker's own outbox sender sends them.
    await startBot(dataDir, fake, [`REDIS_URL=${inject('redisUrl')}`, `QUEUE_PREFIX=${prefix}`, 'ROLE=worker']);
    await fake.until(() => chats.every((c) => fake.sentTo(c).length >= 1), 45_000, 'every nudge from the worker');
    await drained(dataDir);
    for (const chat of chats) expect(fake.sentTo(chat), `chat ${chat}`).toHaveLength(1);
  }, 90_000);
});
