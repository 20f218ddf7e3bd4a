/**
 * What of the MongoDB store can be checked without a server: the schemas' validation, the index
 * definitions, and the mapping between documents and the store contract's types (through a real
 * BSON round trip, as the driver would send and read them).
 */
import mongoose from 'mongoose';
import { afterAll, describe, expect, it } from 'vitest';
import { newLearnerState, type LearnerState } from '../src/engine/state.js';
import { newGroupState, type GroupState } from '../src/engine/group.js';
import type { Address } from '../src/messages.js';
import {
  buildSchemas,
  defineModels,
  fromStored,
  newGroupDoc,
  newLearnerDoc,
  toAnswerDoc,
  toGroupAnswer,
  toGroupRecord,
  toLearnerRecord,
  toScoreRow,
  toStored,
} from '../src/store/mongo-schemas.js';

// A connection that never connects: models compiled on it validate and serialize locally.
const { BSON } = mongoose.mongo;
const conn = mongoose.createConnection();
const m = defineModels(conn);
afterAll(() => conn.close());

const T0 = new Date('2026-03-02T09:00:00.123Z');
const address: Address = { channel: 'teams', conversationId: 'a:1.2', kind: 'direct', ref: { serviceUrl: 'https://smba.example/emea/', 'tenant.id': 't1', bot: null, n: 3 } };

/** A state with everything nested that the engine writes, including awkward keys. */
function richState(): LearnerState {
  const s = newLearnerState(T0, 'fr', 'Amina');
  s.lessons = { l1: { status: 'done', lastScore: { correct: 3, total: 4 }, completedAt: T0.toISOString() }, 'm1.l2': { status: 'in_progress' }, '$odd': { status: 'in_progress' } };
  s.reviews = {
    'l1-q1': { due: T0.toISOString(), stability: 2.5, difficulty: 5.1, elapsed_days: 0, scheduled_days: 1, learning_steps: 0, reps: 1, lapses: 0, state: 1, last_review: T0.toISOString(), seen: 1, right: 1 },
  };
  s.position = { kind: 'quiz', mode: 'lesson', lessonId: 'l1', itemIds: ['l1-q1', 'l1-q2'], index: 1, correct: 1, selected: [0, 2], shownAt: T0.toISOString(), wrongTries: 0 };
  s.nudges = { ...s.nudges, remindAt: '08:30', snoozedUntil: T0.toISOString() };
  s.confirmingForget = false;
  return s;
}

/** What the driver would send and then read back. */
function viaBson<T>(doc: mongoose.Document): T {
  return BSON.deserialize(BSON.serialize(doc.toBSON())) as T;
}

describe('MongoDB schemas: validation', () => {
  const goodLearner = () => newLearnerDoc({ key: { channel: 'telegram', userId: '42' }, expectedVersion: 0, state: richState(), address, nudgeAt: T0, eventId: 'e1', now: T0 });

  it('accepts the documents the mapping makes', async () => {
    await expect(new m.Learner(goodLearner()).validate()).resolves.toBeUndefined();
    const group = newGroupDoc(
      { key: { channel: 'slack', conversationId: 'C1' }, expectedVersion: 0, state: newGroupState('en'), address: { channel: 'slack', conversationId: 'C1', kind: 'group' }, closesAt: null, nextQuizAt: null, now: T0 },
      { token: 't', rows: [{ userId: 'U1', displayName: 'Ana', points: 12, answered: 1, correct: 1 }] },
    );
    await expect(new m.Group(group).validate()).resolves.toBeUndefined();
    await expect(new m.ProcessedEvent({ channel: 'slack', eventId: 'Ev1', at: T0 }).validate()).resolves.toBeUndefined();
  });

  it('rejects learners with a bad channel, version, state or address', async () => {
    const bad = { ...goodLearner(), channel: 'whatsapp', version: 0, state: { schema: 2 }, address: { channel: 'telegram', conversationId: '', kind: 'dm' } };
    const err = await new m.Learner(bad).validate().catch((e: mongoose.Error.ValidationError) => e);
    expect(err).toBeInstanceOf(mongoose.Error.ValidationError);
    expect(Object.keys((err as mongoose.Error.ValidationError).errors).sort()).toEqual(['address.conversationId', 'address.kind', 'channel', 'state', 'version']);
    const { state: _state, ...noState } = goodLearner();
    await expect(new m.Learner(noState).validate()).rejects.toThrow(/state/);
    await expect(new m.Learner({ ...goodLearner(), version: 1.5 }).validate()).rejects.toThrow(/whole number/);
  });

  it('rejects fields the schema does not know, instead of dropping them silently', () => {
    expect(() => new m.Learner({ ...goodLearner(), stat: {} })).toThrow(/not in schema/);
  });

  it('rejects answers and scores with impossible numbers or missing keys', async () => {
    const answer = toAnswerDoc({ key: { channel: 'slack', conversationId: 'C1' }, quizId: 'q', question: 0, userId: 'U1', displayName: 'Ana', option: 1, at: T0, eventId: 'e' });
    await expect(new m.GroupAnswer(answer).validate()).resolves.toBeUndefined();
    await expect(new m.GroupAnswer({ ...answer, option: -1 }).validate()).rejects.toThrow(/option/);
    await expect(new m.GroupAnswer({ ...answer, question: 0.5 }).validate()).rejects.toThrow(/question/);
    await expect(new m.GroupAnswer({ ...answer, eventId: '' }).validate()).rejects.toThrow(/eventId/);
    const score = { channel: 'slack', conversationId: 'C1', userId: 'U1', displayName: 'Ana', points: 10, answered: 1, correct: 1, applied: [] };
    await expect(new m.GroupScore(score).validate()).resolves.toBeUndefined();
    await expect(new m.GroupScore({ ...score, points: -3 }).validate()).rejects.toThrow(/points/);
    await expect(new m.ProcessedEvent({ channel: 'slack', eventId: 'x' }).validate()).rejects.toThrow(/at/);
  });

  it('asks for majority write concern on every collection', () => {
    for (const schema of Object.values(buildSchemas())) expect(schema.get('writeConcern')).toEqual({ w: 'majority' });
  });
});

describe('MongoDB schemas: indexes', () => {
  const s = buildSchemas();
  const idx = (schema: mongoose.Schema) => schema.indexes().map(([keys, opts]) => [keys, opts]);

  it('defines the indexes the queries need, and only those', () => {
    expect(idx(s.learner)).toEqual([
      [{ channel: 1, userId: 1 }, { unique: true, name: 'learner_key' }],
      // The dashboard: learners seen in a period.
      [{ 'state.lastSeenAt': 1 }, { name: 'learner_last_seen' }],
      [{ nudgeAt: 1 }, { partialFilterExpression: { nudgeAt: { $exists: true } }, name: 'learner_nudge_at' }],
    ]);
    expect(idx(s.processed)).toEqual([
      [{ channel: 1, eventId: 1 }, { unique: true, name: 'processed_key' }],
      [{ at: 1 }, { expireAfterSeconds: 7 * 24 * 3600, name: 'processed_ttl' }],
    ]);
    expect(idx(s.group)).toEqual([
      [{ channel: 1, conversationId: 1 }, { unique: true, name: 'group_key' }],
      [{ closesAt: 1 }, { partialFilterExpression: { closesAt: { $exists: true } }, name: 'group_closes_at' }],
      [{ nextQuizAt: 1 }, { partialFilterExpression: { nextQuizAt: { $exists: true } }, name: 'group_next_quiz_at' }],
    ]);
    expect(idx(s.answer)).toEqual([
      [{ channel: 1, conversationId: 1, quizId: 1, question: 1, userId: 1 }, { unique: true, name: 'answer_key' }],
      [{ channel: 1, userId: 1 }, { name: 'answer_user' }],
      // The dashboard: team quizzes in a period.
      [{ at: 1 }, { name: 'answer_at' }],
    ]);
    expect(idx(s.score)).toEqual([
      [{ channel: 1, conversationId: 1, userId: 1 }, { unique: true, name: 'score_key' }],
      [{ channel: 1, userId: 1 }, { name: 'score_user' }],
    ]);
    // Activity: by learner (/mydata, /forget), and by type and time (every dashboard read).
    expect(idx(s.activity)).toEqual([
      [{ channel: 1, userId: 1, at: 1 }, { name: 'activity_user' }],
      [{ type: 1, at: 1 }, { name: 'activity_type_at' }],
    ]);
  });

  it('takes the processed-event TTL from the options', () => {
    const ttl = buildSchemas({ processedTtlSeconds: 3600 }).processed.indexes().find(([keys]) => 'at' in keys);
    expect(ttl?.[1].expireAfterSeconds).toBe(3600);
  });
});

describe('MongoDB documents <-> contract types', () => {
  it('round-trips a learner: nested state, escaped keys, dates, a null nudge', () => {
    const state = richState();
    for (const nudgeAt of [T0, null]) {
      const doc = newLearnerDoc({ key: { channel: 'teams', userId: '29:abc.def' }, expectedVersion: 0, state, address, nudgeAt, eventId: 'e1', now: T0 });
      const back = toLearnerRecord(viaBson(new m.Learner(doc)));
      expect(back).toEqual({ key: { channel: 'teams', userId: '29:abc.def' }, version: 1, state, address, updatedAt: T0, nudgeAt });
      expect(back.updatedAt).toBeInstanceOf(Date);
    }
  });

  it('stores no field name MongoDB treats specially, and keeps empty objects', () => {
    const doc = newLearnerDoc({ key: { channel: 'console', userId: 'u' }, expectedVersion: 0, state: richState(), address, nudgeAt: null, now: T0 });
    const stored = viaBson<{ state: { lessons: Record<string, unknown>; reviews: Record<string, unknown> }; nudgeAt?: Date; address: { ref: Record<string, unknown> } }>(new m.Learner(doc));
    expect(Object.keys(stored.state.lessons).sort()).toEqual(['%24odd', 'l1', 'm1%2El2']);
    expect(Object.keys(stored.address.ref)).toContain('tenant%2Eid');
    expect('nudgeAt' in stored).toBe(false);
    const fresh = newLearnerDoc({ key: { channel: 'console', userId: 'u' }, expectedVersion: 0, state: newLearnerState(T0, 'en'), address, nudgeAt: null, now: T0 });
    expect(viaBson<{ state: { lessons: unknown; reviews: unknown } }>(new m.Learner(fresh)).state).toMatchObject({ lessons: {}, reviews: {} });
  });

  it('drops undefined values as JSON would, and escapes and unescapes keys exactly', () => {
    expect(toStored({ a: undefined, b: [1, null], 'x.y': { $z: '%2E' }, '%': true })).toEqual({ b: [1, null], 'x%2Ey': { '%24z': '%2E' }, '%25': true });
    const tricky = { 'a.b': 1, $c: 2, '%2E': 3, 'd%': { 'e.$f': [{ 'g.': 'h' }] } };
    expect(fromStored(toStored(tricky))).toEqual(tricky);
    expect(() => toStored({ when: new Date() })).toThrow(/object/);
    expect(() => toStored({ n: Number.NaN })).toThrow(/NaN/);
  });

  it('round-trips a group with a running quiz, a null quiz, and pending scores', () => {
    const running: GroupState = {
      ...newGroupState('es'),
      quiz: { id: 'k1', itemIds: ['l1-q1'], index: 0, seconds: 30, openedAt: T0.toISOString(), closesAt: T0.toISOString(), participants: { 'U.1': 'Ana' }, scores: { 'U.1': { name: 'Ana', points: 12, correct: 1, answered: 1 } } },
      stats: { 'l1-q1': { asked: 2, right: 1 } },
      schedule: null,
    };
    const groupAddress: Address = { channel: 'slack', conversationId: 'C1', kind: 'group', ref: { team: 'T1' } };
    for (const state of [running, newGroupState('en')]) {
      const doc = newGroupDoc({ key: { channel: 'slack', conversationId: 'C1' }, expectedVersion: 0, state, address: groupAddress, closesAt: T0, nextQuizAt: null, eventId: 'g1', now: T0 }, null);
      const stored = viaBson<Parameters<typeof toGroupRecord>[0]>(new m.Group(doc));
      expect(toGroupRecord(stored)).toEqual({ key: { channel: 'slack', conversationId: 'C1' }, version: 1, state, address: groupAddress });
    }
    const rows = [{ userId: 'U1', displayName: 'Ana', points: 12, answered: 1, correct: 1 }];
    const withPending = viaBson<{ pendingScores: { token: string; rows: unknown[] } }>(
      new m.Group(newGroupDoc({ key: { channel: 'slack', conversationId: 'C1' }, expectedVersion: 0, state: running, address: groupAddress, closesAt: null, nextQuizAt: null, now: T0 }, { token: 'tok', rows })),
    );
    expect(withPending.pendingScores).toEqual({ token: 'tok', rows });
  });

  it('stores the next weekly quiz start as a date, and leaves it out when none is scheduled', () => {
    const next = new Date('2026-03-06T14:00:00Z');
    const state: GroupState = { ...newGroupState('fr'), schedule: { day: 5, time: '15:00', tz: 'Europe/Paris', next: next.toISOString() } };
    const groupAddress: Address = { channel: 'slack', conversationId: 'C1', kind: 'group' };
    const commit = { key: { channel: 'slack' as const, conversationId: 'C1' }, expectedVersion: 0, state, address: groupAddress, closesAt: null, nextQuizAt: next, now: T0 };
    const stored = viaBson<Parameters<typeof toGroupRecord>[0] & { nextQuizAt?: Date; closesAt?: Date }>(new m.Group(newGroupDoc(commit, null)));
    expect(stored.nextQuizAt).toEqual(next);
    expect('closesAt' in stored).toBe(false);
    expect(toGroupRecord(stored).state).toEqual(state);
    const unscheduled = viaBson<{ nextQuizAt?: Date }>(new m.Group(newGroupDoc({ ...commit, state: newGroupState('fr'), nextQuizAt: null }, null)));
    expect('nextQuizAt' in unscheduled).toBe(false);
  });

  it('round-trips answers and score rows', () => {
    const insert = { key: { channel: 'telegram' as const, conversationId: '-100' }, quizId: 'q', question: 2, userId: '7', displayName: 'Bo', option: 3, at: T0, eventId: 'cb1' };
    expect(toGroupAnswer(viaBson(new m.GroupAnswer(toAnswerDoc(insert))))).toEqual({ userId: '7', displayName: 'Bo', option: 3, at: T0 });
    const row = { userId: '7', displayName: 'Bo', points: 26, answered: 3, correct: 2 };
    expect(toScoreRow(viaBson(new m.GroupScore({ channel: 'telegram', conversationId: '-100', ...row, applied: ['t'] })))).toEqual(row);
  });
});
