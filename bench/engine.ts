/**
 * `npm run bench:engine`: the engine and the embedded store under a mixed load, in process.
 *
 * LEARNERS learners (default 10,000) each take a lesson: they start, read the cards, answer the
 * quiz (picking an option, sometimes the wrong one), ask for /review and /progress now and then.
 * EVENTS events (default 60,000) are applied through the runtime (lock, read, engine, one commit)
 * on a fresh SQLite store, CONCURRENCY learners at a time (default 1,8,64: one pass each; each learner's events in order, as the
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
const CONCURRENCY = (process.env.CONCURRENCY ?? '1,8,64').split(',').map(Number);

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

interface Run {
  concurrency: number;
  events: number;
  rate: number;
  p50: number;
  p99: number;
}

/**
 * One pass: every learner (a fresh set for each pass, so each pass starts lessons from the beginning)
 * takes `perLearner` events, `concurrency` learners at a time. The latency of an event is its own work
 * plus the wait behind the events in flight before it, so it is reported per load.
 */
async function pass(concurrency: number, offset: number): Promise<Run> {
  const learners = Array.from({ length: LEARNERS }, (_, i) => offset + i);
  const latencies: number[] = [];
  const start = performance.now();
  await pool(learners, concurrency, async (user) => {
    let last: Outbound[] | undefined;
    for (let step = 0; step < perLearner; step++) {
      const t0 = performance.now();
      last = await bot.handle(inbound(user, nextEvent(last, step)));
      latencies.push(performance.now() - t0);
    }
  });
  const seconds = (performance.now() - start) / 1000;
  const run = { concurrency, events: latencies.length, rate: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  process.stdout.write(`engine: ${run.events} events, ${concurrency} in flight: ${fmt(run.rate, 0)}/s, p50 ${fmt(run.p50)} ms, p99 ${fmt(run.p99)} ms, errors ${errors}\n`);
  return run;
}

const runs: Run[] = [];
for (const [i, c] of CONCURRENCY.entries()) runs.push(await pass(c, i * LEARNERS));
const bytes = statSync(join(dir, 'digit4sd.sqlite')).size;
await store.close();
rmSync(dir, { recursive: true, force: true });

record(
  'engine',
  'Engine and embedded store',
  `LEARNERS=${LEARNERS} EVENTS=${EVENTS} CONCURRENCY=${CONCURRENCY.join(',')} npm run bench:engine`,
  [
    `${EVENTS} events from ${LEARNERS} learners per pass (start, cards, quiz answers, /review, /progress), through the runtime (lock, read, engine, one commit) on one SQLite store (synchronous=${process.env.SQLITE_SYNCHRONOUS === 'full' ? 'full' : 'normal'}), one pass per load: 1, 8 and 64 events in flight. Latency is an event's own work plus its wait behind the others in flight, so it grows with the load while the rate stays the process's.`,
    '',
    '| events in flight | events a second (target ≥ 5,000) | latency p50 | latency p99 (target < 10 ms) |',
    '| --- | --- | --- | --- |',
    ...runs.map((r) => `| ${r.concurrency} | ${fmt(r.rate, 0)} | ${fmt(r.p50)} ms | ${fmt(r.p99)} ms |`),
    '',
    `Stored bytes per learner (SQLite file / learners): ${fmt(bytes / (LEARNERS * runs.length), 0)}. Errors: ${errors}.`,
  ].join('\n'),
);
