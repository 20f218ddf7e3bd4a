/**
 * The SQLite -> MongoDB migration. Reading the embedded store and mapping its rows is tested
 * always: the documents it yields must give back, through the MongoDB store's own mapping, exactly
 * what the SQLite store returns, and must pass the MongoDB schemas. Writing into MongoDB (twice,
 * to show it is idempotent) runs when MONGODB_URI is set.
 */
import Database from 'better-sqlite3';
import mongoose from 'mongoose';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLearnerState, type LearnerState } from '../src/engine/state.js';
import { newGroupState, type GroupState } from '../src/engine/group.js';
import type { Address, LearnerKey } from '../src/messages.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { MongoStore } from '../src/store/mongo.js';
import { defineModels, toGroupAnswer, toGroupRecord, toLearnerRecord, toScoreRow, toCertificateRecord } from '../src/store/mongo-schemas.js';
import { MigrationError, countRows, migrateSqlite, openSqliteSource, readEventIdKey, readSqlite, renderProgress, type MigrationItem } from '../src/store/migrate.js';
import { eventIdHasher } from '../src/store/event-ids.js';
import type { CertificateRecord, ConversationKey } from '../src/store/store.js';

const T0 = new Date('2026-03-02T09:00:00.000Z');
const dir = mkdtempSync(join(tmpdir(), 'digit4sd-migrate-'));
const path = join(dir, 'digit4sd.sqlite');
const conn = mongoose.createConnection();
const models = defineModels(conn);
afterAll(async () => {
  await conn.close();
  rmSync(dir, { recursive: true, force: true });
});

const ana: LearnerKey = { channel: 'telegram', userId: '1001' };
const ben: LearnerKey = { channel: 'slack', userId: 'U.BEN' };
const group: ConversationKey = { channel: 'slack', conversationId: 'C-team' };
const groupAddress: Address = { channel: 'slack', conversationId: 'C-team', kind: 'group', ref: { team: 'T1' } };

function anaState(): LearnerState {
  const s = newLearnerState(T0, 'fr', 'Ana');
  s.lessons = { l1: { status: 'done', lastScore: { correct: 4, total: 4 }, completedAt: T0.toISOString() }, 'm2.l3': { status: 'in_progress' } };
  s.position = { kind: 'card', lessonId: 'l2', index: 1 };
  return s;
}

const benCertificate: CertificateRecord = {
  id: '6f7b0a52-1c7e-4a8b-9d0e-3f2a1b4c5d6e',
  learner: ben,
  achievement: 'module:m1',
  title: 'Módulo 1',
  lang: 'es',
  name: 'Benito Juárez',
  jwt: 'h.p.s',
  hash: 'cd'.repeat(32),
  issuedAt: T0,
  revokedAt: null,
};

const groupState: GroupState = {
  ...newGroupState('en'),
  quiz: { id: 'qz', itemIds: ['l1-q1', 'l1-q2'], index: 1, seconds: 30, openedAt: T0.toISOString(), closesAt: new Date(T0.getTime() + 30_000).toISOString(), participants: { 'U.BEN': 'Ben', U2: 'Chi' }, scores: {} },
  stats: { 'l1-q1': { asked: 1, right: 1 } },
  schedule: { day: 5, time: '15:00', tz: 'Europe/Paris', next: '2026-03-06T14:00:00.000Z' },
};

/** An embedded store with a bit of everything, written through the store contract. */
beforeAll(async () => {
  const s = new SqliteStore(path);
  await s.commitLearner({ key: ana, expectedVersion: 0, state: newLearnerState(T0, 'en'), address: { channel: 'telegram', conversationId: '1001', kind: 'direct' }, nudgeAt: null, eventId: 'tg-1', now: T0 });
  await s.commitLearner({ key: ana, expectedVersion: 1, state: anaState(), address: { channel: 'telegram', conversationId: '1001', kind: 'direct' }, nudgeAt: new Date(T0.getTime() + 3_600_000), eventId: 'tg-2', now: T0, activity: [{ type: 'lesson_started', at: T0.toISOString(), lessonId: 'l2' }, { type: 'item_answered', at: T0.toISOString(), itemId: 'l1-q1', lessonId: 'l1', mode: 'review', options: [1], correct: true, firstTry: false, durationMs: 4000, predictedRecall: 0.87, daysSinceSeen: 2.5 }] });
  await s.commitLearner({ key: ben, expectedVersion: 0, state: newLearnerState(T0, 'es', 'Ben'), address: { channel: 'slack', conversationId: 'D1', kind: 'direct', ref: { team: 'T1' } }, nudgeAt: null, now: T0 });
  await s.commitLearner({ key: ben, expectedVersion: 1, state: newLearnerState(T0, 'es', 'Ben'), address: { channel: 'slack', conversationId: 'D1', kind: 'direct', ref: { team: 'T1' } }, nudgeAt: null, certificates: [benCertificate], now: T0 });
  await s.markProcessed('slack', 'ev-read-only', T0);
  await s.commitGroup({ key: group, expectedVersion: 0, state: groupState, address: groupAddress, closesAt: new Date(T0.getTime() + 30_000), nextQuizAt: new Date(groupState.schedule!.next), eventId: 'sl-quiz', now: T0 });
  await s.recordGroupAnswer({ key: group, quizId: 'qz', question: 0, userId: 'U.BEN', displayName: 'Ben', option: 1, at: T0, eventId: 'sl-a1' });
  await s.recordGroupAnswer({ key: group, quizId: 'qz', question: 0, userId: 'U2', displayName: 'Chi', option: 0, at: new Date(T0.getTime() + 5), eventId: 'sl-a2' });
  await s.addGroupScores(group, [{ userId: 'U.BEN', displayName: 'Ben', points: 14, answered: 1, correct: 1 }, { userId: 'U2', displayName: 'Chi', points: 0, answered: 1, correct: 0 }]);
  await s.addGroupScores(group, [{ userId: 'U.BEN', displayName: 'Ben', points: 11, answered: 1, correct: 1 }]);
  await s.close();
});

function readAll(): MigrationItem[] {
  const db = openSqliteSource(path);
  try {
    return [...readSqlite(db)];
  } finally {
    db.close();
  }
}

type DocOf = { [I in MigrationItem as I['kind']]: I['doc'] };
const ofKind = <K extends keyof DocOf>(items: MigrationItem[], kind: K): DocOf[K][] => items.filter((i) => i.kind === kind).map((i) => i.doc as DocOf[K]);

describe('migration: reading the embedded store', () => {
  it('counts and yields every row of every table', () => {
    const db = openSqliteSource(path);
    // 2 learners, 6 processed events (tg-1, tg-2, ev-read-only, sl-quiz, sl-a1, sl-a2), 1 group, 2 answers, 2 score rows, 2 activity records, 1 certificate.
    expect(countRows(db)).toBe(16);
    db.close();
  });

  it('maps each row to the document the MongoDB store would hold, giving back what the SQLite store returns', async () => {
    const items = readAll();
    const sqlite = new SqliteStore(path);
    try {
      const learners = ofKind(items, 'learner');
      expect(learners.map((d) => toLearnerRecord(d))).toEqual([await sqlite.getLearner(ben), await sqlite.getLearner(ana)].sort((a, b) => a!.key.channel.localeCompare(b!.key.channel)));
      expect(learners.find((d) => d.userId === ana.userId)).toMatchObject({ version: 2, recentEvents: [] });
      expect(ofKind(items, 'group').map((d) => toGroupRecord(d))).toEqual([await sqlite.getGroup(group)]);
      // Activity records keep a stable id (learner, version, place in the commit) and every field.
      expect(ofKind(items, 'activity')).toEqual([
        { _id: `telegram:2:0:${ana.userId}`, channel: 'telegram', userId: ana.userId, at: T0, type: 'lesson_started', lang: 'fr', lessonId: 'l2' },
        { _id: `telegram:2:1:${ana.userId}`, channel: 'telegram', userId: ana.userId, at: T0, type: 'item_answered', lang: 'fr', lessonId: 'l1', itemId: 'l1-q1', mode: 'review', options: '1', correct: true, first: false, durationMs: 4000, predicted: 0.87, daysSince: 2.5 },
      ]);
      expect(ofKind(items, 'group')[0]!.closesAt).toEqual(new Date(T0.getTime() + 30_000));
      expect(ofKind(items, 'group')[0]!.nextQuizAt).toEqual(new Date('2026-03-06T14:00:00Z'));
      expect(ofKind(items, 'answer').map(toGroupAnswer)).toEqual(await sqlite.listGroupAnswers(group, 'qz', 0));
      expect(ofKind(items, 'score').map(toScoreRow).sort((a, b) => b.points - a.points)).toEqual(await sqlite.leaderboard(group, 10));
      // Event ids are stored hashed under the file's key, which the migration hands to the MongoDB store.
      const source = openSqliteSource(path);
      const hash = eventIdHasher(readEventIdKey(source)!);
      source.close();
      const ids = ['ev-read-only', 'sl-a1', 'sl-a2', 'sl-quiz', 'tg-1', 'tg-2'];
      expect(ofKind(items, 'processed').map((d) => d.eventId).sort()).toEqual(ids.map(hash).sort());
      for (const e of ofKind(items, 'processed')) expect(e.at).toEqual(e.eventId === hash('sl-a2') ? new Date(T0.getTime() + 5) : T0);
      expect(ofKind(items, 'certificate').map(toCertificateRecord)).toEqual([await sqlite.getCertificate(benCertificate.id)]);
    } finally {
      await sqlite.close();
    }
  });

  it('yields documents that pass the MongoDB schemas', async () => {
    const model = { learner: models.Learner, processed: models.ProcessedEvent, group: models.Group, answer: models.GroupAnswer, score: models.GroupScore, activity: models.Activity, certificate: models.Certificate } as const;
    for (const item of readAll()) await expect(new model[item.kind](item.doc).validate(), `${item.kind} document`).resolves.toBeUndefined();
  });

  it('yields the same documents every time, so that writing them again changes nothing', () => {
    expect(readAll()).toEqual(readAll());
  });

  it('says which setting to fix when there is no embedded store, and rejects rows it cannot map', async () => {
    expect(() => openSqliteSource(join(dir, 'missing', 'digit4sd.sqlite'))).toThrow(/set DATA_DIR/);
    const badPath = join(dir, 'bad.sqlite');
    await new SqliteStore(badPath).close();
    const raw = new Database(badPath);
    raw.prepare("INSERT INTO learners (channel, user_id, version, state, address, updated_at, nudge_at) VALUES ('fax', 'u', 1, '{}', '{}', 0, NULL)").run();
    raw.prepare("INSERT INTO groups VALUES ('slack', 'g', 1, '{not json', '{}', NULL, NULL)").run();
    raw.close();
    const db = openSqliteSource(badPath);
    expect(() => [...readSqlite(db)]).toThrow(MigrationError);
    expect(() => [...readSqlite(db)]).toThrow(/learners row fax\/u: unknown channel "fax"/);
    db.close();
    const fixed = new Database(badPath);
    fixed.prepare("DELETE FROM learners WHERE channel = 'fax'").run();
    fixed.close();
    const db2 = openSqliteSource(badPath);
    expect(() => [...readSqlite(db2)]).toThrow(/groups row slack\/g: the stored JSON does not parse/);
    db2.close();
  });

  it('hands the documents to the target in batches and reports progress', async () => {
    const seen: number[] = [];
    const progress: [number, number][] = [];
    const db = openSqliteSource(path);
    const summary = await migrateSqlite(
      db,
      {
        importBatch: async (items) => {
          seen.push(items.length);
          return { written: items.length, keptNewer: 0 };
        },
      },
      { batchSize: 5, onProgress: (done, total) => progress.push([done, total]) },
    );
    db.close();
    expect(seen).toEqual([5, 5, 5, 1]);
    expect(progress).toEqual([[0, 16], [5, 16], [10, 16], [15, 16], [16, 16]]);
    expect(summary).toEqual({ read: 16, written: 16, keptNewer: 0 });
  });

  it('draws a progress bar', () => {
    expect(renderProgress(0, 10, 10)).toBe('[----------]   0%  0/10');
    expect(renderProgress(5, 10, 10)).toBe('[#####-----]  50%  5/10');
    expect(renderProgress(10, 10, 10)).toBe('[##########] 100%  10/10');
    expect(renderProgress(0, 0, 4)).toBe('[####] 100%  0/0');
  });
});

const uri = process.env.MONGODB_URI ?? '';
const SKIP_REASON = 'skipped: MONGODB_URI is not set (point it at a MongoDB server to run it)';
if (!uri) console.log(`migration into MongoDB ${SKIP_REASON}`);
{
  describe.skipIf(!uri)(`migration into MongoDB${uri ? '' : ` (${SKIP_REASON})`}`, () => {
    const dbName = `digit4sd_migrate_${process.pid}_${Date.now().toString(36)}`;
    afterAll(async () => {
      const store = await MongoStore.connect(uri, { dbName, processedTtlSeconds: 100 * 365 * 86_400 });
      await store.dropDatabase();
      await store.close();
    });

    it('moves everything without loss, and a second run gives the same result (no doubled scores)', async () => {
      // As `npm run migrate` does: the embedded store's event-id key goes along.
      const source = openSqliteSource(path);
      const eventIdKey = readEventIdKey(source)!;
      source.close();
      const store = await MongoStore.connect(uri, { dbName, processedTtlSeconds: 100 * 365 * 86_400, eventIdKey });
      const sqlite = new SqliteStore(path);
      try {
        for (let run = 0; run < 2; run++) {
          const db = openSqliteSource(path);
          const summary = await migrateSqlite(db, store, { batchSize: 4 });
          db.close();
          expect(summary).toEqual({ read: 16, written: 16, keptNewer: 0 });
          for (const key of [ana, ben]) expect(await store.getLearner(key)).toEqual(await sqlite.getLearner(key));
          expect(await store.getGroup(group)).toEqual(await sqlite.getGroup(group));
          expect(await store.listGroupAnswers(group, 'qz', 0)).toEqual(await sqlite.listGroupAnswers(group, 'qz', 0));
          expect(await store.leaderboard(group, 10)).toEqual(await sqlite.leaderboard(group, 10));
          for (const id of ['tg-1', 'tg-2', 'ev-read-only']) expect(await store.isProcessed(id.startsWith('tg') ? 'telegram' : 'slack', id)).toBe(true);
          expect(await store.exportLearner(ben)).toEqual(await sqlite.exportLearner(ben));
          expect(await store.getCertificate(benCertificate.id)).toEqual(benCertificate);
        }
        // The bot ran on MongoDB since: a third run keeps the newer learner.
        const rec = (await store.getLearner(ana))!;
        expect(await store.commitLearner({ key: ana, expectedVersion: rec.version, state: { ...rec.state, lang: 'es' }, address: rec.address, nudgeAt: null, now: T0 })).toBe('committed');
        const db = openSqliteSource(path);
        expect((await migrateSqlite(db, store)).keptNewer).toBe(1);
        db.close();
        expect((await store.getLearner(ana))!.state.lang).toBe('es');
        // Retries of events applied before the move are still recognised after it.
        expect(await store.commitLearner({ key: ana, expectedVersion: rec.version + 1, state: rec.state, address: rec.address, nudgeAt: null, eventId: 'tg-2', now: T0 })).toBe('duplicate');
      } finally {
        await sqlite.close();
        await store.close();
      }
    });
  });
}
