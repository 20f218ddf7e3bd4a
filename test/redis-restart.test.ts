/**
 * Redis restarted while nudges are being delivered (issue 17): none lost, none doubled.
 *
 * Each case runs its own redis-server on a free port, a real nudge worker process
 * (test/fixtures/nudge-worker.ts) on an embedded store, and the Telegram fake slowed so that the
 * restart lands mid-delivery. Redis is stopped (SIGTERM) and started again on the same port while
 * nudges are being sent:
 * - without persistence (how the tests and a bare `redis-server` run it), Redis comes back empty: the
 *   jobs still waiting are gone, and their learners stay claimed until the claim lease lapses; the
 *   next scan after that (here: on a clock moved past the lease) enqueues them again;
 * - with append-only persistence (as docker-compose.yml runs it), the waiting jobs come back and the
 *   worker finishes them by itself.
 * Either way every learner gets exactly one nudge, recorded once in the store. Those two cases run
 * the BullMQ delivery of a runtime without the outbox (each job sends); the app's own path (each job
 * commits its nudge with an outbox row, the outbox sender sends it, paced through Redis) has a case
 * of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { newLearnerState } from '../src/engine/state.js';
import { formatHhmm } from '../src/learning/localtime.js';
import { LearningBot } from '../src/runtime/bot.js';
import { BullNudgeScheduler } from '../src/scheduling/bullmq.js';
import { CLAIM_LEASE_MS } from '../src/scheduling/limits.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { fixtureCourse } from './helpers.js';
import { answers } from './redis-server.js';
import { startFixture, type Fixture } from './fixture-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'digit4sd-redis-restart-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const N = 40;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}

function exited(child: ChildProcess): Promise<unknown> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
}

/** Waits for `cond`, checking every 50 ms, failing after `ms`. */
async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A private redis-server on `port`, its files in `dir`; `appendonly`: persistence as in docker-compose.yml. */
async function startRedis(port: number, dir: string, appendonly: boolean): Promise<ChildProcess> {
  const persistence = appendonly ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no'];
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...persistence, '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  try {
    await until(() => answers(`redis://127.0.0.1:${port}`), 10_000, `redis-server on port ${port}`);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** The nudge worker process (serves the Telegram delivery queue; no scan). */
function startWorker(path: string, redisUrl: string, prefix: string, fake: FakeTelegram, durable: boolean): Promise<Fixture> {
  // Durable: 10 a second, so that 40 nudges take a few seconds and the restart lands among them.
  const mode = durable ? ['durable', '10'] : [];
  return startFixture('test/fixtures/nudge-worker.ts', [path, redisUrl, prefix, fake.apiRoot, fake.token, ...mode], cleanups);
}

/** `n` Telegram learners whose daily reminder fell due a minute ago. */
async function seed(store: SqliteStore, fake: FakeTelegram, n: number): Promise<number[]> {
  const now = new Date();
  const chats: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = 800_000 + i;
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

/** A private Redis, and a way to stop it as an operator would (SIGTERM: a clean shutdown) and start it again on the same port. */
async function privateRedis(appendonly: boolean) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmp, appendonly ? 'aof-' : 'plain-'));
  let redis = await startRedis(port, dir, appendonly);
  // Stopped last (registered first): the clients close while it still answers.
  cleanups.push(async () => {
    if (redis.exitCode === null && redis.signalCode === null) {
      redis.kill('SIGKILL');
      await exited(redis);
    }
  });
  const restart = async () => {
    redis.kill('SIGTERM');
    await exited(redis);
    redis = await startRedis(port, dir, appendonly);
  };
  return { url: `redis://127.0.0.1:${port}`, dir, restart };
}

async function setup(appendonly: boolean, durable = false) {
  const { url: redisUrl, dir, restart: restartRedis } = await privateRedis(appendonly);
  const fake = new FakeTelegram();
  await fake.start();
  // Slow enough that 40 nudges, 5 at a time, take a few seconds: the restart lands among them.
  fake.latencyMs = 250;
  const path = join(dir, 'bot.sqlite');
  const store = new SqliteStore(path);
  // The scanning side, in this process, on a clock the test moves (to let the claim lease lapse).
  let skewMs = 0;
  const errors: unknown[] = [];
  const bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, onError: (e) => errors.push(e), now: () => new Date(Date.now() + skewMs) });
  const scheduler = new BullNudgeScheduler({ redisUrl, prefix: 'restart', bot, onError: (e) => errors.push(e), channels: ['telegram'], deliver: false, scan: false });
  const chats = await seed(store, fake, N);
  cleanups.push(async () => {
    await scheduler.close(2_000);
    await store.close();
    await fake.stop();
  });
  const worker = await startWorker(path, redisUrl, 'restart', fake, durable);

  const recorded = async () => {
    let n = 0;
    for (const chat of chats) if ((await store.getLearner({ channel: 'telegram', userId: String(chat) }))!.state.nudges.lastReminderAt) n++;
    return n;
  };
  const accepted = () => fake.sent.length;
  const queued = async () => {
    const c = await scheduler.deliveryQueues.get('telegram')!.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(c).reduce((a, b) => a + b, 0);
  };
  // Nudge rows committed and not yet sent (the app's path; always none without the outbox).
  const unsent = async () => (await store.outboxDue(new Date(Date.now() + skewMs), 1000)).length;
  return { fake, chats, scheduler, worker, errors, restartRedis, recorded, accepted, queued, unsent, moveClock: (ms: number) => (skewMs += ms) };
}

/** Every learner recorded, the queue and the outbox empty, then nothing more sent within a bounded window: one nudge each. */
async function expectExactlyOnce(t: Awaited<ReturnType<typeof setup>>): Promise<void> {
  await until(async () => (await t.recorded()) === N, 20_000, 'every learner\'s nudge recorded in the store');
  await until(async () => (await t.queued()) === 0, 10_000, 'the delivery queue drained');
  await until(async () => (await t.unsent()) === 0, 20_000, 'the outbox drained');
  const settled = t.accepted();
  await t.fake.until(() => t.accepted() > settled, 1_000).then(
    () => undefined,
    () => undefined, // nothing more arrived within the window: what we want
  );
  for (const chat of t.chats) expect(t.fake.sentTo(chat), `chat ${chat}`).toHaveLength(1);
  expect(t.accepted()).toBe(N);
}

describe('Redis restarted while nudges are being delivered', () => {
  it('without persistence: the lost jobs come back when their claim lease lapses; every learner nudged exactly once', async () => {
    const t = await setup(false);
    expect(await t.scheduler.scan()).toBe(N);
    await t.fake.until(() => t.accepted() >= 8, 15_000, '8 nudges before the restart');
    await t.restartRedis();
    const atRestart = t.accepted();
    expect(atRestart).toBeLessThan(N);
    // Redis came back empty: the waiting jobs are gone, and their learners are still claimed, so a
    // scan now finds nobody...
    expect(await t.scheduler.scan()).toBe(0);
    // ...until the lease lapses: then the scan enqueues every learner not yet nudged (a learner
    // whose nudge was in flight may be claimed too; the worker then finds it recorded and skips it).
    t.moveClock(CLAIM_LEASE_MS + 60_000);
    const recordedBefore = await t.recorded();
    const again = await t.scheduler.scan();
    expect(again).toBeGreaterThan(0);
    expect(again).toBeLessThanOrEqual(N - recordedBefore);
    console.log(`Redis restart without persistence: ${atRestart} of ${N} sent by the restart, ${again} enqueued again after the lease`);
    await expectExactlyOnce(t);
  }, 30_000);

  it('with append-only persistence: the waiting jobs survive and the worker finishes them; every learner nudged exactly once', async () => {
    const t = await setup(true);
    expect(await t.scheduler.scan()).toBe(N);
    await t.fake.until(() => t.accepted() >= 8, 15_000, '8 nudges before the restart');
    await t.restartRedis();
    const atRestart = t.accepted();
    expect(atRestart).toBeLessThan(N);
    console.log(`Redis restart with append-only persistence: ${atRestart} of ${N} sent by the restart`);
    // Nothing is re-enqueued by hand: the worker alone finishes the batch.
    await expectExactlyOnce(t);
    expect(await t.scheduler.scan()).toBe(0);
  }, 30_000);

  it('the app\'s path, without persistence: nudges committed with their outbox rows are sent after the restart; every learner nudged exactly once', async () => {
    const t = await setup(false, true);
    expect(await t.scheduler.scan()).toBe(N);
    await t.fake.until(() => t.accepted() >= 8, 15_000, '8 nudges before the restart');
    await t.restartRedis();
    const atRestart = t.accepted();
    expect(atRestart).toBeLessThan(N);
    console.log(`Redis restart on the outbox path: ${atRestart} of ${N} sent by the restart`);
    // Nothing is enqueued again: what was committed is in the store's outbox, and the sender goes on once its pacer answers.
    await expectExactlyOnce(t);
    expect(await t.scheduler.scan()).toBe(0);
  }, 30_000);

  it('without persistence: the scan\'s job scheduler, gone with the data, is registered again, so scans go on', async () => {
    const redis = await privateRedis(false);
    const store = new SqliteStore(join(redis.dir, 'bot.sqlite'));
    const bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, onError: () => {} });
    const scheduler = new BullNudgeScheduler({ redisUrl: redis.url, prefix: 'restart', bot, onError: () => {}, channels: ['telegram'], deliver: false, scanEveryMs: 60_000 });
    cleanups.push(async () => {
      await scheduler.close(2_000);
      await store.close();
    });
    await scheduler.start();
    expect(await scheduler.scanQueue.getJobScheduler('scan')).toBeDefined();
    await redis.restart();
    await until(async () => (await scheduler.scanQueue.getJobScheduler('scan')) !== undefined, 10_000, 'the scan\'s job scheduler registered again');
  }, 20_000);
});
