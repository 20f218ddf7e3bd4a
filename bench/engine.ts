/**
 * `npm run bench:engine`: the engine and the embedded store under a mixed load, in process.
 *
 * LEARNERS learners (default 10,000) each take a lesson: they start, read the cards, answer the
 * quiz (picking an option, sometimes the wrong one), ask for /review and /progress now and then.
 * EVENTS events (default 60,000) are applied through the runtime (lock, read, engine, one commit)
 * on a fresh SQLite store, CONCURRENCY learners at a time (each learner's events in order, as the
 * runtime requires). Reports events a second and the p50/p99 latency of one event.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCourse } from '../src/content/load.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import type { Choice, Inbound, InboundEvent, Outbound } from '../src/messages.js';
import { LearningBot } from '../src/runtime/bot.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { fmt, percentile, pool, record, ROOT } from './lib.js';

const LEARNERS = Number(process.env.LEARNERS ?? 10_000);
const EVENTS = Number(process.env.EVENTS ?? 60_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);

const course = loadCourse(join(ROOT, 'lessons'));
const dir = mkdtempSync(join(tmpdir(), 'digit4sd-bench-engine-'));
const store = new SqliteStore(join(dir, 'digit4sd.sqlite'), { synchronous: process.env.SQLITE_SYNCHRONOUS === 'full' ? 'full' : 'normal' });
let errors = 0;
const bot = new LearningBot({
  course,
  store,
  engine: DEFAULT_ENGINE_OPTIONS,
  group: DEFAULT_GROUP_OPTIONS,
  onError: () => void (errors += 1),
});

let seq = 0;
function inbound(user: number, event: InboundEvent): Inbound {
  const userId = `bench-${user}`;
  return {
    id: `e${++seq}`,
    learner: { channel: 'console', userId },
    address: { channel: 'console', conversationId: `dm-${userId}`, kind: 'direct' },
    displayName: `Learner ${user}`,
    event,
    at: new Date(),
  };
}

/** A deterministic pseudo-random sequence, so that runs are comparable. */
let rng = 42;
const random = () => ((rng = (rng * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);

/** What a learner does next, given what the bot last said. */
function nextEvent(last: Outbound[] | undefined, step: number): InboundEvent {
  if (!last || step === 0) return { type: 'command', command: 'start', args: '' };
  const r = random();
  if (r < 0.04) return { type: 'command', command: 'review', args: '' };
  if (r < 0.07) return { type: 'command', command: 'progress', args: '' };
  const choices: Choice[] = last.flatMap((m) => ('choices' in m && m.choices ? m.choices : []));
  if (!choices.length) return { type: 'command', command: 'next', args: '' };
  // Mostly the first choice (Next, or option A); sometimes another one.
  const pick = random() < 0.7 ? choices[0]! : choices[Math.floor(random() * choices.length)]!;
  return { type: 'choice', data: pick.data };
}

const perLearner = Math.ceil(EVENTS / LEARNERS);
const learners = Array.from({ length: LEARNERS }, (_, i) => i);
const latencies: number[] = [];
const start = performance.now();
await pool(learners, CONCURRENCY, async (user) => {
  let last: Outbound[] | undefined;
  for (let step = 0; step < perLearner; step++) {
    const t0 = performance.now();
    last = await bot.handle(inbound(user, nextEvent(last, step)));
    latencies.push(performance.now() - t0);
  }
});
const seconds = (performance.now() - start) / 1000;
const events = latencies.length;
const bytes = statSync(join(dir, 'digit4sd.sqlite')).size;
await store.close();
rmSync(dir, { recursive: true, force: true });
const rate = events / seconds;
const p50 = percentile(latencies, 50);
const p99 = percentile(latencies, 99);
process.stdout.write(`engine: ${events} events in ${fmt(seconds)} s: ${fmt(rate, 0)}/s, p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms, errors ${errors}\n`);

record(
  'engine',
  'Engine and embedded store',
  `LEARNERS=${LEARNERS} EVENTS=${EVENTS} CONCURRENCY=${CONCURRENCY} npm run bench:engine`,
  [
    `${events} events from ${LEARNERS} learners (start, cards, quiz answers, /review, /progress), ${CONCURRENCY} learners at a time, through the runtime on a fresh SQLite store.`,
    '',
    '| measure | target | result |',
    '| --- | --- | --- |',
    `| events a second | ≥ 5,000 | ${fmt(rate, 0)} |`,
    `| latency p50 | | ${fmt(p50)} ms |`,
    `| latency p99 | < 10 ms | ${fmt(p99)} ms |`,
    `| stored bytes per learner (SQLite file / learners) | | ${fmt(bytes / LEARNERS, 0)} |`,
    `| errors | 0 | ${errors} |`,
  ].join('\n'),
);
