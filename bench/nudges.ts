/**
 * `npm run bench:nudges`: measures the nudge pipeline on this machine.
 *
 * 1. Seeds LEARNERS learners whose reminder is due now, and LEARNERS more scheduled for next week,
 *    in an embedded SQLite store; then times one scan that finds and enqueues every due nudge on
 *    BullMQ, and measures Redis memory per pending nudge and per learner scheduled for later.
 * 2. Delivers DELIVER nudges the way the app does: BullMQ jobs hand the durable runtime each due
 *    nudge, which commits it with its outbox row; the outbox sender, paced by the Redis pacer, sends
 *    the rows through the real Telegram adapter to a local fake Bot API that enforces Telegram's
 *    limits (30 messages a second per bot, 1 a second per chat, answering 429 with retry_after
 *    beyond them). Reports the achieved rate and any 429 left unhandled.
 *
 * Needs Redis at REDIS_URL (default redis://127.0.0.1:6379). Uses its own key prefix and removes
 * it afterwards. Sizes: LEARNERS (default 100000), DELIVER (default 600), RATE (default 30).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import express from 'express';
import pino from 'pino';
import { TelegramAdapter } from '../adapters/telegram/adapter.js';
import { loadCourse } from '../src/content/load.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { newLearnerState } from '../src/engine/state.js';
import { LearningBot } from '../src/runtime/bot.js';
import { BullNudgeScheduler, Redis, removePrefix } from '../src/scheduling/bullmq.js';
import { OutboxSender } from '../src/scheduling/outbox.js';
import { NudgeService } from '../src/scheduling/delivery.js';
import { RedisPacer } from '../src/scheduling/pacer.js';
import { formatHhmm } from '../src/learning/localtime.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { ROOT } from './lib.js';

const LEARNERS = Number(process.env.LEARNERS ?? 100_000);
const DELIVER = Number(process.env.DELIVER ?? 600);
const RATE = Number(process.env.RATE ?? 30);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = '123456:bench-token';

const logger = pino({ level: 'silent' });
const course = loadCourse(join(ROOT, 'lessons'));
const dir = mkdtempSync(join(tmpdir(), 'digit4sd-bench-'));
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });

async function usedMemory(): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

const dropPrefix = (prefix: string) => removePrefix(redis, prefix);

/** Writes learners straight into the SQLite file in one transaction (seeding is not measured). */
function seed(path: string, count: number, from: number, nudgeAt: Date): void {
  new SqliteStore(path).close();
  const db = new Database(path);
  const insert = db.prepare('INSERT INTO learners (channel, user_id, version, state, address, updated_at, nudge_at) VALUES (?, ?, 1, ?, ?, ?, ?)');
  const now = new Date();
  const state = newLearnerState(new Date(now.getTime() - 2 * 86_400_000), 'en');
  const minutes = now.getUTCHours() * 60 + now.getUTCMinutes();
  state.nudges = { ...state.nudges, remindAt: formatHhmm((minutes + 1439) % 1440), remindDays: [0, 1, 2, 3, 4, 5, 6], remindSetAt: state.createdAt, quietStart: '00:00', quietEnd: '00:00' };
  const json = JSON.stringify(state);
  db.transaction(() => {
    for (let i = from; i < from + count; i++) {
      insert.run('telegram', String(i), json, JSON.stringify({ channel: 'telegram', conversationId: String(i), kind: 'direct' }), now.getTime(), nudgeAt.getTime());
    }
  })();
  db.close();
}

/** A Bot API fake that enforces Telegram's limits and counts what it accepted and refused. */
function limitedTelegram(rate: number) {
  const accepted: number[] = [];
  const perChat = new Map<string, number>();
  let refused = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const method = req.url!.split('/').pop();
      const reply = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      if (method !== 'sendMessage') return reply(200, { ok: true, result: true });
      const now = Date.now();
      const chat = String((JSON.parse(body) as { chat_id: unknown }).chat_id);
      while (accepted.length && accepted[0]! <= now - 1000) accepted.shift();
      const chatLast = perChat.get(chat) ?? 0;
      if (accepted.length >= rate || now - chatLast < 1000) {
        refused += 1;
        return reply(429, { ok: false, error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } });
      }
      accepted.push(now);
      perChat.set(chat, now);
      sent.push(now);
      reply(200, { ok: true, result: { message_id: sent.length, date: Math.floor(now / 1000), chat: { id: Number(chat), type: 'private' }, text: 'x' } });
    });
  });
  const sent: number[] = [];
  return { server, sent, refusedCount: () => refused };
}

async function main(): Promise<void> {
  const results: string[] = [];
  const log = (line: string) => {
    results.push(line);
    console.log(line);
  };
  log(`node ${process.version}, ${LEARNERS} learners, Redis at ${REDIS_URL}`);

  // 1. Find and enqueue.
  const prefix = `bench-${Date.now().toString(36)}`;
  const path = join(dir, 'scan.sqlite');
  const t0 = Date.now();
  seed(path, LEARNERS, 0, new Date(Date.now() - 60_000));
  seed(path, LEARNERS, LEARNERS, new Date(Date.now() + 7 * 86_400_000));
  log(`seeded ${LEARNERS} due + ${LEARNERS} later learners in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const store = new SqliteStore(path);
  const bot = new LearningBot({ course, store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, onError: (e) => console.error(e) });
  // A warm-up scan (JIT, SQLite page cache, Redis allocations); the measured scan runs on a fresh copy.
  const scanner = new BullNudgeScheduler({ redisUrl: REDIS_URL, prefix, bot, onError: (e) => console.error(e), channels: ['telegram'], deliver: false, scan: false, scanPage: 5000 });
  const queued = await scanner.scan();
  await scanner.close();
  await dropPrefix(prefix);
  // Measured run on a fresh copy of the same data.
  const path2 = join(dir, 'scan2.sqlite');
  seed(path2, LEARNERS, 0, new Date(Date.now() - 60_000));
  seed(path2, LEARNERS, LEARNERS, new Date(Date.now() + 7 * 86_400_000));
  const store2 = new SqliteStore(path2);
  const bot2 = new LearningBot({ course, store: store2, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, onError: (e) => console.error(e) });
  const prefix2 = `${prefix}-m`;
  const scanner2 = new BullNudgeScheduler({ redisUrl: REDIS_URL, prefix: prefix2, bot: bot2, onError: (e) => console.error(e), channels: ['telegram'], deliver: false, scan: false, scanPage: 5000 });
  const memBefore = await usedMemory();
  const s0 = performance.now();
  const enqueued = await scanner2.scan();
  const s1 = performance.now();
  const memAfter = await usedMemory();
  const waiting = await scanner2.deliveryQueues.get('telegram')!.getJobCountByTypes('waiting');
  log(`scan: found and enqueued ${enqueued} nudges in ${((s1 - s0) / 1000).toFixed(2)} s (${Math.round(enqueued / ((s1 - s0) / 1000))} a second); ${waiting} waiting in Redis (warm-up run enqueued ${queued})`);
  log(`Redis memory per pending nudge: ${((memAfter - memBefore) / enqueued).toFixed(0)} bytes (${((memAfter - memBefore) / 1024 / 1024).toFixed(1)} MiB for ${enqueued})`);
  const laterKeys = (await redis.keys(`${prefix2}:*`)).length;
  log(`Redis memory per learner scheduled for later: 0 bytes (${LEARNERS} learners due next week, no keys for them; ${laterKeys} keys under the prefix, all for due nudges or queue metadata)`);
  await scanner2.close();
  await dropPrefix(prefix2);
  await store.close();
  await store2.close();

  // 2. Delivery rate against a platform that enforces the limits.
  const fake = limitedTelegram(RATE);
  await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', r));
  const apiRoot = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
  const path3 = join(dir, 'deliver.sqlite');
  seed(path3, DELIVER, 0, new Date(Date.now() - 60_000));
  const store3 = new SqliteStore(path3);
  const errors: unknown[] = [];
  const onError = (e: unknown) => errors.push(e);
  const bot3 = new LearningBot({ course, store: store3, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, onError });
  const telegram = new TelegramAdapter({ token: TOKEN, apiRoot }, { port: bot3, http: express(), logger, now: bot3.now });
  const prefix3 = `${prefix}-d`;
  // As in the app: a job commits the nudge with its outbox row; the outbox sender sends it, paced.
  const outbox = new OutboxSender({
    store: store3,
    channel: (c) => (c === 'telegram' ? telegram : undefined),
    onError,
    now: bot3.now,
    pacer: new RedisPacer(redis, prefix3, { telegram: { max: RATE, durationMs: 1000 } }),
    onRefused: (_row, payload, err) => bot3.nudgeRefused(payload, err),
  });
  bot3.enableDurable(
    () => undefined,
    () => outbox.kick(),
  );
  const service = new NudgeService({ bot: bot3 });
  const delivery = new BullNudgeScheduler({ redisUrl: REDIS_URL, prefix: prefix3, bot: bot3, service, onError, channels: ['telegram'], scan: false, concurrency: Number(process.env.CONCURRENCY ?? 10), rates: { telegram: { max: RATE, durationMs: 1000 } } });
  outbox.start();
  await delivery.scan();
  await delivery.start();
  const d0 = Date.now();
  while (fake.sent.length < DELIVER && Date.now() - d0 < DELIVER * 1000) await new Promise((r) => setTimeout(r, 50));
  const first = fake.sent[0]!;
  const last = fake.sent[fake.sent.length - 1]!;
  const achieved = ((fake.sent.length - 1) * 1000) / (last - first);
  log(
    `delivery: ${fake.sent.length} of ${DELIVER} nudges sent at ${achieved.toFixed(2)} messages a second against a limit of ${RATE} (${((100 * achieved) / RATE).toFixed(1)}% of the limit); ` +
      `429 answers from the platform: ${fake.refusedCount()}, failed jobs: ${(await delivery.deliveryQueues.get('telegram')!.getJobCountByTypes('failed'))}, errors reported: ${errors.length}`,
  );
  await delivery.close();
  await outbox.stop();
  await dropPrefix(prefix3);
  await store3.close();
  fake.server.close();
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
