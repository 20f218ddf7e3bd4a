/**
 * Nudges on BullMQ against real Redis (each test on its own key prefix, removed afterwards), sent
 * through the real Telegram adapter to a local fake of the Bot API.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { TelegramAdapter } from '../adapters/telegram/adapter.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { newLearnerState } from '../src/engine/state.js';
import { LearningBot } from '../src/runtime/bot.js';
import { BullNudgeScheduler, Redis, RedisSentMarks, removePrefix } from '../src/scheduling/bullmq.js';
import { NudgeService } from '../src/scheduling/delivery.js';
import { RedisPacer } from '../src/scheduling/pacer.js';
import { formatHhmm } from '../src/learning/localtime.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { fixtureCourse } from './helpers.js';
import { startFixture } from './fixture-process.js';

const redisUrl = inject('redisUrl');
const tmp = mkdtempSync(join(tmpdir(), 'digit4sd-bull-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const logger = pino({ level: 'silent' });
let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
});
afterAll(() => redis.disconnect());

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const dropPrefix = (prefix: string) => removePrefix(redis, prefix);

/** A store with `n` Telegram learners whose daily reminder fell due a minute ago. */
async function seed(store: SqliteStore, fake: FakeTelegram, n: number, offset = 0): Promise<number[]> {
  const now = new Date();
  const chats: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = 700_000 + offset + i;
    fake.message({ id, is_bot: false, first_name: `L${i}` }, '/start'); // Telegram knows the chat
    const state = newLearnerState(new Date(now.getTime() - 2 * 86_400_000), 'en');
    const minutes = now.getUTCHours() * 60 + now.getUTCMinutes();
    state.nudges = { ...state.nudges, remindAt: formatHhmm((minutes + 1439) % 1440), remindDays: [0, 1, 2, 3, 4, 5, 6], remindSetAt: state.createdAt, quietStart: '00:00', quietEnd: '00:00' };
    await store.commitLearner({
      key: { channel: 'telegram', userId: String(id) },
      expectedVersion: 0,
      state,
      address: { channel: 'telegram', conversationId: String(id), kind: 'direct' },
      nudgeAt: new Date(now.getTime() - 60_000),
      now,
    });
    chats.push(id);
  }
  return chats;
}

async function setup(opts: { workers?: boolean; rate?: number } = {}) {
  const prefix = `test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const fake = new FakeTelegram();
  await fake.start();
  const path = join(tmp, `${prefix}.sqlite`);
  const store = new SqliteStore(path);
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  const bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, onError });
  const telegram = new TelegramAdapter({ token: fake.token, apiRoot: fake.apiRoot }, { port: bot, http: express(), logger, now: bot.now });
  const service = new NudgeService({ bot, deliver: (d) => telegram.send(d.address, d.messages), marks: new RedisSentMarks(redis, prefix), pacer: new RedisPacer(redis, prefix, { telegram: { max: opts.rate ?? 100, durationMs: 1000 } }) });
  const scheduler = new BullNudgeScheduler({
    redisUrl,
    prefix,
    bot,
    service,
    onError,
    channels: ['telegram'],
    scanEveryMs: 60_000,
    deliver: opts.workers ?? true,
    rates: { telegram: { max: opts.rate ?? 100, durationMs: 1000 } },
  });
  cleanups.push(async () => {
    await scheduler.close(5_000);
    await dropPrefix(prefix);
    await store.close();
    await fake.stop();
  });
  return { prefix, fake, store, path, bot, scheduler, errors };
}

const sentCount = (fake: FakeTelegram) => fake.callsOf('sendMessage').length;

describe('nudges on BullMQ', () => {
  it('enqueues one job per due learner with an idempotent id, and nothing for learners due later', async () => {
    const t = await setup({ workers: false });
    await seed(t.store, t.fake, 20);
    // Ten more learners with nudges next week: they cost nothing in Redis.
    for (let i = 0; i < 10; i++)
      await t.store.commitLearner({ key: { channel: 'telegram', userId: `later-${i}` }, expectedVersion: 0, state: newLearnerState(new Date(), 'en'), address: { channel: 'telegram', conversationId: `later-${i}`, kind: 'direct' }, nudgeAt: new Date(Date.now() + 7 * 86_400_000), now: new Date() });
    expect(await t.scheduler.scan()).toBe(20);
    // A second scan finds them claimed: nothing new.
    expect(await t.scheduler.scan()).toBe(0);
    const queue = t.scheduler.deliveryQueues.get('telegram')!;
    expect(await queue.getJobCountByTypes('waiting')).toBe(20);
    const jobs = await queue.getJobs(['waiting']);
    expect(new Set(jobs.map((j) => j.id)).size).toBe(20);
    expect(jobs.every((j) => /^nudge-telegram-[\w-]+-\d+$/.test(j.id!))).toBe(true);
    // Re-adding the same jobs (a scan after a lease expired) is a no-op.
    await queue.addBulk(jobs.map((j) => ({ name: 'nudge', data: j.data, opts: { jobId: j.id! } })));
    expect(await queue.getJobCountByTypes('waiting')).toBe(20);
    const keys = await redis.keys(`${t.prefix}:*`);
    expect(keys.some((k) => k.includes('later'))).toBe(false);
  });

  it('delivers every nudge once through the platform and records it', async () => {
    const t = await setup();
    const chats = await seed(t.store, t.fake, 30);
    await t.scheduler.start();
    expect(await t.scheduler.scan()).toBe(30);
    await t.fake.until(() => sentCount(t.fake) >= 30, 15_000, '30 nudges');
    await new Promise((r) => setTimeout(r, 300));
    expect(sentCount(t.fake)).toBe(30);
    for (const chat of chats) expect(t.fake.sentTo(chat)).toHaveLength(1);
    expect(t.fake.lastTo(chats[0]!).html).toMatch(/Time for today&#39;s lesson|Time for today's lesson/);
    const rec = await t.store.getLearner({ channel: 'telegram', userId: String(chats[0]) });
    expect(rec!.state.nudges.unanswered).toBe(1);
    expect(rec!.state.nudges.lastReminderAt).toBeDefined();
    expect(rec!.nudgeAt!.getTime()).toBeGreaterThan(Date.now() + 3_600_000);
    expect(t.errors).toEqual([]);
  });

  it('honours the platform\'s retry_after on HTTP 429 and loses nothing', async () => {
    const t = await setup();
    const chats = await seed(t.store, t.fake, 5);
    t.fake.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 2', parameters: { retry_after: 2 } });
    await t.scheduler.start();
    const started = Date.now();
    await t.scheduler.scan();
    await t.fake.until(() => sentCount(t.fake) >= 6, 20_000, 'all nudges after the 429');
    // The queue slept for the platform's 2 seconds before sending again.
    const calls = t.fake.callsOf('sendMessage');
    expect(calls).toHaveLength(6);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    for (const chat of chats) expect(t.fake.sentTo(chat)).toHaveLength(1);
  });

  it('marks a learner who blocked the bot as unreachable instead of retrying', async () => {
    const t = await setup();
    const [blocked, ok] = await seed(t.store, t.fake, 2);
    t.fake.block(blocked!);
    await t.scheduler.start();
    await t.scheduler.scan();
    await t.fake.until(() => t.fake.sentTo(ok!).length === 1, 10_000, 'the reachable nudge');
    let rec = await t.store.getLearner({ channel: 'telegram', userId: String(blocked) });
    for (let i = 0; i < 50 && !rec!.state.nudges.unreachable; i++) {
      await new Promise((r) => setTimeout(r, 100));
      rec = await t.store.getLearner({ channel: 'telegram', userId: String(blocked) });
    }
    expect(rec!.state.nudges.unreachable).toBe(true);
    expect(rec!.nudgeAt).toBeNull();
    // The dashboard's records, written with each state: one unreachable, one sent.
    const events = async (userId: number) => (await t.store.exportLearner({ channel: 'telegram', userId: String(userId) })).activity.map((a) => a.type === 'nudge' && a.event);
    expect(await events(blocked!)).toEqual(['unreachable']);
    let okEvents = await events(ok!);
    for (let i = 0; i < 50 && !okEvents.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      okEvents = await events(ok!);
    }
    expect(okEvents).toEqual(['sent']);
  });
});

describe('a worker process killed mid-batch', () => {
  async function startWorker(t: { path: string; prefix: string; fake: FakeTelegram }): Promise<ChildProcess> {
    return (await startFixture('test/fixtures/nudge-worker.ts', [t.path, redisUrl, t.prefix, t.fake.apiRoot, t.fake.token], cleanups)).child;
  }

  it('loses no nudge when killed with SIGKILL and restarted; repeats at most the messages in flight at the kill', async () => {
    const t = await setup({ workers: false });
    const chats = await seed(t.store, t.fake, 150);
    expect(await t.scheduler.scan()).toBe(150);
    const first = await startWorker(t);
    await t.fake.until(() => sentCount(t.fake) >= 40, 20_000, '40 nudges before the kill');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const atKill = sentCount(t.fake);
    expect(atKill).toBeLessThan(150);
    // A new worker takes over the stalled jobs and the rest.
    await startWorker(t);
    await t.fake.until(() => new Set(t.fake.callsOf('sendMessage').map((c) => c.payload.chat_id)).size >= 150, 60_000, 'every learner nudged');
    const perChat = new Map<number, number>();
    for (const c of t.fake.callsOf('sendMessage')) perChat.set(Number(c.payload.chat_id), (perChat.get(Number(c.payload.chat_id)) ?? 0) + 1);
    for (const chat of chats) expect(perChat.get(chat), `chat ${chat}`).toBeGreaterThanOrEqual(1);
    const repeats = [...perChat.values()].reduce((n, v) => n + v - 1, 0);
    console.log(`SIGKILL mid-batch: ${atKill} sent before the kill, ${repeats} sent twice`);
    // The worker runs 5 jobs at a time: only a message the platform accepted in the instant
    // before the kill can be sent again.
    expect(repeats).toBeLessThanOrEqual(5);
  }, 90_000);

  it('finishes its jobs on SIGTERM: nothing lost, nothing sent twice', async () => {
    const t = await setup({ workers: false });
    const chats = await seed(t.store, t.fake, 100, 1000);
    await t.scheduler.scan();
    const first = await startWorker(t);
    await t.fake.until(() => sentCount(t.fake) >= 20, 20_000, '20 nudges before SIGTERM');
    first.kill('SIGTERM');
    const code = await new Promise((r) => first.once('exit', r));
    expect(code).toBe(0);
    await startWorker(t);
    await t.fake.until(() => sentCount(t.fake) >= 100, 60_000, 'every learner nudged');
    await new Promise((r) => setTimeout(r, 500));
    for (const chat of chats) expect(t.fake.sentTo(chat), `chat ${chat}`).toHaveLength(1);
  }, 90_000);
});

describe('the app with REDIS_URL', () => {
  it('runs nudges on BullMQ, checks Redis in /readyz and reports queue depth in /metrics', async () => {
    const { startApp } = await import('../src/app.js');
    const { loadConfig } = await import('../src/config.js');
    const prefix = `app-${Date.now().toString(36)}`;
    const config = loadConfig({ PORT: '0', DATA_DIR: join(tmp, prefix), REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, CONSOLE: 'false' });
    const app = await startApp({ config, logger, lessonsDir: join(process.cwd(), 'test/fixtures/course') });
    cleanups.push(async () => {
      await app.stop();
      await dropPrefix(prefix);
    });
    const port = (app.server!.address() as { port: number }).port;
    const ready = await (await fetch(`http://127.0.0.1:${port}/readyz`)).json();
    expect(ready).toEqual({ status: 'ready', checks: { store: 'ok', redis: 'ok' } });
    // The job scheduler for the scan is registered under the prefix.
    expect((await redis.keys(`${prefix}:nudge-scan:*`)).length).toBeGreaterThan(0);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/digit4sd_nudge_queue_depth/);
  });
});
