/**
 * Two bot processes on one store: two LearningBot instances, each with its own store connection to
 * the same data (two SqliteStore instances on one file, as two processes would open it; and two
 * MongoStore connections to one database when MONGODB_URI is set). Concurrent events for one
 * learner, split across both and each delivered twice (a platform retry reaching the other
 * process), must each be applied exactly once, one after the other, with nothing lost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCourse } from '../src/content/load.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { encodeAction } from '../src/engine/actions.js';
import { LearningBot } from '../src/runtime/bot.js';
import type { Inbound, InboundEvent } from '../src/messages.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { MongoStore } from '../src/store/mongo.js';
import type { Store } from '../src/store/store.js';

const course = loadCourse(join(import.meta.dirname, 'fixtures', 'course'));
const dir = mkdtempSync(join(tmpdir(), 'digit4sd-two-engines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Counts the outcomes of learner commits, to show that the two processes really raced. */
function counting(store: Store, outcomes: Record<string, number>): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'commitLearner')
        return async (c: Parameters<Store['commitLearner']>[0]) => {
          const r = await target.commitLearner(c);
          outcomes[r] = (outcomes[r] ?? 0) + 1;
          return r;
        };
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

function twoBots(stores: [Store, Store]) {
  const errors: unknown[] = [];
  const outcomes: Record<string, number> = {};
  const bots = stores.map(
    (store) =>
      new LearningBot({
        course,
        store: counting(store, outcomes),
        engine: DEFAULT_ENGINE_OPTIONS,
        group: DEFAULT_GROUP_OPTIONS,
        onError: (err) => errors.push(err),
      }),
  ) as [LearningBot, LearningBot];
  return { bots, errors, outcomes };
}

let seq = 0;
function inbound(userId: string, id: string, event: InboundEvent): Inbound {
  return { id, learner: { channel: 'console', userId }, address: { channel: 'console', conversationId: userId, kind: 'direct' }, event, at: new Date() };
}

function runSuite(name: string, openPair: () => Promise<[Store, Store]>) {
  describe(`two engines on one ${name}`, () => {
    it('applies 20 concurrent events for one learner exactly once each, in some serial order, losing none', async () => {
      const stores = await openPair();
      const { bots, errors, outcomes } = twoBots(stores);
      try {
        const user = `learner-${++seq}-${Date.now().toString(36)}`;
        const langs = ['fr', 'es', 'en'];
        const events = Array.from({ length: 20 }, (_, i) =>
          inbound(user, `${user}-e${i}`, i % 4 === 3 ? { type: 'choice', data: encodeAction({ type: 'lang', lang: langs[i % 3]! }) } : { type: 'command', command: 'lang', args: langs[i % 3]! }),
        );
        // Every event reaches both processes (a platform retry hitting the other one), all at once:
        // one process takes them first to last, the other last to first, so they race on different events.
        const [forward, backward] = await Promise.all([
          Promise.all(events.map((e) => bots[0].handle(e))),
          Promise.all([...events].reverse().map((e) => bots[1].handle(e))).then((r) => r.reverse()),
        ]);
        expect(errors).toEqual([]);
        for (let i = 0; i < events.length; i++) {
          const answered = [forward[i]!, backward[i]!].filter((r) => r.length > 0);
          expect(answered, `event ${i} answered once`).toHaveLength(1);
        }
        // The processes did collide (a stale version was refused and retried), and every event committed once.
        expect(outcomes.conflict).toBeGreaterThan(0);
        expect(outcomes.committed).toBe(events.length);
        // Every event was one conditional write on top of the one before: the version counts them.
        const record = await stores[1].getLearner({ channel: 'console', userId: user });
        expect(record!.version).toBe(events.length);
        expect(record!.state.langChosen).toBe(true);
        for (const e of events) expect(await stores[0].isProcessed('console', e.id)).toBe(true);
        // A late retry of any of them changes nothing.
        expect(await bots[0].handle(events[7]!)).toEqual([]);
        expect((await stores[0].getLearner({ channel: 'console', userId: user }))!.version).toBe(events.length);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it('keeps a lesson walk consistent when its taps alternate between the two processes', async () => {
      const stores = await openPair();
      const { bots, errors } = twoBots(stores);
      try {
        const user = `walker-${++seq}-${Date.now().toString(36)}`;
        const taps: InboundEvent[] = [
          { type: 'choice', data: encodeAction({ type: 'lesson', lessonId: 'l1' }) },
          { type: 'choice', data: encodeAction({ type: 'next_card', lessonId: 'l1', card: 0 }) },
          { type: 'choice', data: encodeAction({ type: 'next_card', lessonId: 'l1', card: 1 }) },
        ];
        const shown: number[] = [];
        for (const [i, event] of taps.entries()) {
          const e = inbound(user, `${user}-t${i}`, event);
          // The tap and its redelivery race across both processes; only one may answer.
          const [a, b] = await Promise.all([bots[i % 2]!.handle(e), bots[(i + 1) % 2]!.handle(e)]);
          expect(errors).toEqual([]);
          const answered = [a, b].filter((r) => r.length > 0);
          expect(answered).toHaveLength(1);
          const card = answered[0]!.find((m) => m.kind === 'card');
          if (card?.kind === 'card') shown.push(card.index);
        }
        expect(shown).toEqual([1, 2, 3]);
        const record = await stores[0].getLearner({ channel: 'console', userId: user });
        expect(record!.state.position).toEqual({ kind: 'card', lessonId: 'l1', index: 2 });
        expect(record!.version).toBe(taps.length);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });
  });
}

let files = 0;
runSuite('SQLite file', async () => {
  const path = join(dir, `shared-${++files}.sqlite`);
  return [new SqliteStore(path), new SqliteStore(path)];
});

const mongoUri = process.env.MONGODB_URI;
if (mongoUri) {
  const dbName = `digit4sd_two_engines_${process.pid}_${Date.now().toString(36)}`;
  runSuite('MongoDB database', async () => [await MongoStore.connect(mongoUri, { dbName }), await MongoStore.connect(mongoUri, { dbName })]);
  afterAll(async () => {
    const store = await MongoStore.connect(mongoUri, { dbName });
    await store.dropDatabase();
    await store.close();
  });
} else {
  console.log('two-engines tests on MongoDB skipped: MONGODB_URI is not set (point it at a MongoDB server to run them)');
}
