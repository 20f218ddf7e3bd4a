/**
 * The MongoDB store against a real server: the shared store contract, plus what only several
 * connections show. Runs when MONGODB_URI is set (each run in a database of its own, dropped
 * afterwards); otherwise says so in one line. Connecting to a server that is not there is tested
 * always.
 */
import type { Connection } from 'mongoose';
import { afterAll, describe, expect, it } from 'vitest';
import { MongoConnectError, MongoStore } from '../src/store/mongo.js';
import { openStore } from '../src/store/open.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { newLearnerState } from '../src/engine/state.js';
import { newGroupState } from '../src/engine/group.js';
import type { MongoModels } from '../src/store/mongo-schemas.js';
import { storeContract } from './store-contract.js';

const uri = process.env.MONGODB_URI ?? '';
const dbName = `digit4sd_test_${process.pid}_${Date.now().toString(36)}`;
/** Why the suites below are reported as skipped, in their name and on the console. */
const SKIP_REASON = 'skipped: MONGODB_URI is not set (point it at a MongoDB server to run them)';
if (!uri) console.log(`MongoStore contract tests ${SKIP_REASON}`);

describe('MongoStore without a server', () => {
  it('fails to connect with an error that says how to fix it, and leaves nothing open', async () => {
    const err = await MongoStore.connect('mongodb://127.0.0.1:9/x', { serverSelectionTimeoutMS: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoConnectError);
    expect((err as Error).message).toMatch(/ECONNREFUSED|connect/);
    expect((err as Error).message).toMatch(/Fix: check that MONGODB_URI/);
  });

  it('is the store openStore chooses when MONGODB_URI is set', async () => {
    const config = loadConfig({ MONGODB_URI: 'mongodb://127.0.0.1:9/x?serverSelectionTimeoutMS=300', DATA_DIR: '/nonexistent-digit4sd' });
    await expect(openStore(config, createLogger('silent'))).rejects.toBeInstanceOf(MongoConnectError);
  });
});

describe.skipIf(!uri)(`MongoStore on a server${uri ? '' : ` (${SKIP_REASON})`}`, () => {
  // The contract's events are dated March 2026; a long TTL keeps the server's TTL monitor from
  // removing them in the middle of a test once that date is more than 7 days past.
  const open = () => MongoStore.connect(uri, { dbName, serverSelectionTimeoutMS: 5000, processedTtlSeconds: 100 * 365 * 86_400 });
  afterAll(async () => {
    const store = await open();
    await store.dropDatabase();
    await store.close();
  });

  storeContract('MongoStore', open);

  it('creates the inbox\'s unique key at connect, not on each inboxAdd', async () => {
    // A database of its own: nothing has been accepted into its inbox yet.
    const store = await MongoStore.connect(uri, { dbName: `${dbName}_idx`, serverSelectionTimeoutMS: 5000 });
    try {
      const db = (store as unknown as { conn: Connection }).conn.db!;
      const key = (await db.collection('inbox').indexes()).find((i) => i.name === 'inbox_key');
      expect(key).toMatchObject({ key: { channel: 1, eventId: 1 }, unique: true });
      const item = { channel: 'telegram' as const, eventId: 'ev-1', lane: 'learner:telegram:1', payload: '{}', receivedAt: new Date('2026-03-02T09:00:00Z') };
      expect(await store.inboxAdd(item)).toBe(true);
      expect(await store.inboxAdd(item)).toBe(false);
    } finally {
      await store.dropDatabase();
      await store.close();
    }
  });

  describe('MongoStore: several processes on one database', () => {
    const T0 = new Date('2026-03-02T09:00:00Z');
    const address = { channel: 'console' as const, conversationId: 'c', kind: 'direct' as const };

    it('lets exactly one of two connections win the same version, and treats a redelivery there as a duplicate', async () => {
      const [a, b] = [await open(), await open()];
      try {
        const key = { channel: 'console' as const, userId: `two-${Date.now()}` };
        const s = newLearnerState(T0, 'en');
        await a.commitLearner({ key, expectedVersion: 0, state: s, address, nudgeAt: null, now: T0 });
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).commitLearner({ key, expectedVersion: 1, state: { ...s, displayName: `w${i}` }, address, nudgeAt: null, eventId: `ev-${key.userId}-${i}`, now: T0 })),
        );
        expect(results.filter((r) => r === 'committed')).toHaveLength(1);
        const winner = results.indexOf('committed');
        expect(await (winner % 2 ? b : a).commitLearner({ key, expectedVersion: 2, state: s, address, nudgeAt: null, eventId: `ev-${key.userId}-${winner}`, now: T0 })).toBe('duplicate');
        expect((await b.getLearner(key))!.version).toBe(2);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('claims each due learner for one connection only, and returns only what it claimed', async () => {
      const [a, b] = await Promise.all([open(), open()]);
      try {
        const keys = Array.from({ length: 40 }, (_, i) => ({ channel: 'telegram' as const, userId: `claim-${i}` }));
        for (const key of keys) {
          await a.commitLearner({ key, expectedVersion: 0, state: newLearnerState(T0, 'en'), address: { ...address, channel: 'telegram' }, nudgeAt: T0, now: T0 });
        }
        const lease = new Date(T0.getTime() + 60_000);
        const [ca, cb] = await Promise.all([a.claimDueLearners(T0, 100, lease), b.claimDueLearners(T0, 100, lease)]);
        const ids = [...ca, ...cb].map((d) => d.key.userId).filter((id) => id.startsWith('claim-'));
        expect(ids.sort()).toEqual(keys.map((k) => k.userId).sort());
        expect(new Set(ids).size).toBe(ids.length);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('relays owed messages a dead process left in a document once, whichever connection reads the outbox, and never a sent one again', async () => {
      const [a, b] = [await open(), await open()];
      try {
        const key = { channel: 'telegram' as const, userId: `relay-${Date.now()}` };
        const conversationId = `conv-${key.userId}`;
        await a.commitLearner({ key, expectedVersion: 0, state: newLearnerState(T0, 'en'), address: { ...address, channel: 'telegram', conversationId }, nudgeAt: null, now: T0 });
        // As a process that died right after its conditional write: the owed rows are still in the learner document.
        const models = (a as unknown as { m: MongoModels }).m;
        const left = [1, 2].map((n) => ({ token: `tok-${key.userId}-${n}`, channel: 'telegram', conversationId, payload: `{"n":${n}}`, createdAt: T0 }));
        await models.Learner.updateOne({ channel: key.channel, userId: key.userId }, { $push: { pendingOutbox: { $each: left } } });
        const mine = async (s: MongoStore) => (await s.outboxDue(new Date(T0.getTime() + 60_000), 10_000)).filter((r) => r.conversationId === conversationId);
        const [ra, rb] = await Promise.all([mine(a), mine(b)]);
        expect(ra.map((r) => r.payload)).toEqual(['{"n":1}', '{"n":2}']);
        expect(rb.map((r) => r.id)).toEqual(ra.map((r) => r.id));
        expect((await models.Learner.findOne({ channel: key.channel, userId: key.userId }).lean())!.pendingOutbox ?? []).toEqual([]);
        // Sent; then the same rows show up in a document again (a relay that died before removing them): not owed again.
        await a.outboxDone(ra[0]!.id, T0);
        await models.Learner.updateOne({ channel: key.channel, userId: key.userId }, { $push: { pendingOutbox: { $each: [left[0]!] } } });
        expect((await mine(b)).map((r) => r.payload)).toEqual(['{"n":2}']);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('gives an inbox lane to one of two connections claiming it at once', async () => {
      const [a, b] = [await open(), await open()];
      try {
        const lane = `learner:telegram:lane-${Date.now()}`;
        const until = new Date(T0.getTime() + 10_000);
        const won = await Promise.all([a, b, a, b].map((s, i) => s.inboxClaimLane(lane, `owner-${i}`, T0, until)));
        expect(won.filter(Boolean)).toHaveLength(1);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('adds a group commit\'s points exactly once, whichever connection closes the question', async () => {
      const [a, b] = [await open(), await open()];
      try {
        const group = { channel: 'slack' as const, conversationId: `g-${Date.now()}` };
        const groupAddress = { channel: 'slack' as const, conversationId: group.conversationId, kind: 'group' as const };
        await a.commitGroup({ key: group, expectedVersion: 0, state: newGroupState('en'), address: groupAddress, closesAt: null, nextQuizAt: null, now: T0 });
        const scores = [{ userId: 'u1', displayName: 'Ana', points: 12, answered: 1, correct: 1 }];
        const results = await Promise.all([a, b, a, b].map((s) => s.commitGroup({ key: group, expectedVersion: 1, state: newGroupState('en'), address: groupAddress, closesAt: null, nextQuizAt: null, scores, now: T0 })));
        expect(results.filter((r) => r === 'committed')).toHaveLength(1);
        expect(await b.leaderboard(group, 10)).toEqual(scores);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
});
