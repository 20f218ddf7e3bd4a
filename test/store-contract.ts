/**
 * The store contract's conformance suite: every Store implementation runs it (see
 * sqlite-store.test.ts and mongo-store.test.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newLearnerState } from '../src/engine/state.js';
import { FORMER_PARTICIPANT_NAME, newGroupState, type GroupState } from '../src/engine/group.js';
import type { Address, LearnerKey } from '../src/messages.js';
import { EMPTY_EXPORT, type CertificateRecord, type ConversationKey, type Store } from '../src/store/store.js';
import { dashboardReadsContract } from './store-dashboard-contract.js';

const T0 = new Date('2026-03-02T09:00:00Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

/** A group with a team quiz running, in which `userId` (and `otherId`) answered the first question. */
function runningQuiz(userId: string, name: string, otherId?: string): GroupState {
  return {
    ...newGroupState('en'),
    quiz: {
      id: 'q',
      itemIds: ['i1', 'i2'],
      index: 1,
      seconds: 30,
      openedAt: T0.toISOString(),
      closesAt: at(1).toISOString(),
      participants: { [userId]: name, ...(otherId ? { [otherId]: 'Ola' } : {}) },
      scores: { [userId]: { name, points: 12, correct: 1, answered: 1 }, ...(otherId ? { [otherId]: { name: 'Ola', points: 7, correct: 1, answered: 1 } } : {}) },
    },
  };
}

export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`${name}: store contract`, () => {
    let store: Store;
    // A fresh namespace per test, so that implementations sharing a server do not see each other's data.
    let n = 0;
    let learner: LearnerKey;
    let address: Address;
    let group: ConversationKey;
    let groupAddress: Address;

    beforeEach(async () => {
      store = await open();
      n += 1;
      const suffix = `${Date.now().toString(36)}-${n}`;
      learner = { channel: 'telegram', userId: `u-${suffix}` };
      address = { channel: 'telegram', conversationId: `c-${suffix}`, kind: 'direct' };
      group = { channel: 'slack', conversationId: `g-${suffix}` };
      groupAddress = { channel: 'slack', conversationId: group.conversationId, kind: 'group', ref: { team: 'T1' } };
    });
    afterEach(async () => {
      await store.close();
    });

    it('stores a new learner and reads it back', async () => {
      expect(await store.getLearner(learner)).toBeNull();
      const state = newLearnerState(T0, 'fr', 'Amina');
      expect(await store.commitLearner({ key: learner, expectedVersion: 0, state, address, nudgeAt: at(60), eventId: `e1-${learner.userId}`, now: T0 })).toBe('committed');
      const rec = await store.getLearner(learner);
      expect(rec).not.toBeNull();
      expect(rec!.version).toBe(1);
      expect(rec!.state).toEqual(state);
      expect(rec!.address).toEqual(address);
      expect(rec!.nudgeAt?.toISOString()).toBe(at(60).toISOString());
      expect(rec!.key).toEqual(learner);
    });

    it('refuses a write based on a stale version, and keeps the newer state', async () => {
      const s1 = newLearnerState(T0, 'en');
      await store.commitLearner({ key: learner, expectedVersion: 0, state: s1, address, nudgeAt: null, now: T0 });
      const s2 = { ...s1, lang: 'es' as const };
      expect(await store.commitLearner({ key: learner, expectedVersion: 1, state: s2, address, nudgeAt: null, now: at(1) })).toBe('committed');
      const s3 = { ...s1, lang: 'fr' as const };
      expect(await store.commitLearner({ key: learner, expectedVersion: 1, state: s3, address, nudgeAt: null, now: at(2) })).toBe('conflict');
      const rec = await store.getLearner(learner);
      expect(rec!.version).toBe(2);
      expect(rec!.state.lang).toBe('es');
    });

    it('refuses a second insert of the same learner', async () => {
      const s = newLearnerState(T0, 'en');
      expect(await store.commitLearner({ key: learner, expectedVersion: 0, state: s, address, nudgeAt: null, now: T0 })).toBe('committed');
      expect(await store.commitLearner({ key: learner, expectedVersion: 0, state: { ...s, lang: 'fr' }, address, nudgeAt: null, now: T0 })).toBe('conflict');
      expect((await store.getLearner(learner))!.state.lang).toBe('en');
    });

    it('applies an event once: the same event id is a duplicate, and a conflict does not use the id up', async () => {
      const s = newLearnerState(T0, 'en');
      const eventId = `evt-${learner.userId}`;
      await store.commitLearner({ key: learner, expectedVersion: 0, state: s, address, nudgeAt: null, now: T0 });
      // A conflicting write with the event id rolls back entirely...
      expect(await store.commitLearner({ key: learner, expectedVersion: 7, state: s, address, nudgeAt: null, eventId, now: T0 })).toBe('conflict');
      expect(await store.isProcessed(learner.channel, eventId)).toBe(false);
      // ...so the retry with the right version applies it...
      expect(await store.commitLearner({ key: learner, expectedVersion: 1, state: { ...s, lang: 'fr' }, address, nudgeAt: null, eventId, now: T0 })).toBe('committed');
      expect(await store.isProcessed(learner.channel, eventId)).toBe(true);
      // ...and a second delivery of the same event changes nothing.
      expect(await store.commitLearner({ key: learner, expectedVersion: 2, state: { ...s, lang: 'es' }, address, nudgeAt: null, eventId, now: T0 })).toBe('duplicate');
      const rec = await store.getLearner(learner);
      expect(rec!.version).toBe(2);
      expect(rec!.state.lang).toBe('fr');
    });

    it('lets exactly one of many concurrent writers of the same version win', async () => {
      const s = newLearnerState(T0, 'en');
      await store.commitLearner({ key: learner, expectedVersion: 0, state: s, address, nudgeAt: null, now: T0 });
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.commitLearner({ key: learner, expectedVersion: 1, state: { ...s, displayName: `w${i}` }, address, nudgeAt: null, now: T0 })),
      );
      expect(results.filter((r) => r === 'committed')).toHaveLength(1);
      expect(results.filter((r) => r === 'conflict')).toHaveLength(19);
    });

    it('marks events processed once', async () => {
      const id = `m-${learner.userId}`;
      expect(await store.isProcessed('slack', id)).toBe(false);
      expect(await store.markProcessed('slack', id, T0)).toBe(true);
      expect(await store.markProcessed('slack', id, T0)).toBe(false);
      expect(await store.isProcessed('slack', id)).toBe(true);
      // Ids are per channel.
      expect(await store.isProcessed('telegram', id)).toBe(false);
    });

    it('finds learners due for a nudge, earliest first, and only those, with the nudge time that was due', async () => {
      const keys = [0, 1, 2, 3].map((i) => ({ channel: 'console' as const, userId: `${learner.userId}-${i}` }));
      const nudges = [at(30), at(-10), null, at(5)];
      for (const [i, key] of keys.entries())
        await store.commitLearner({ key, expectedVersion: 0, state: newLearnerState(T0, 'en'), address: { ...address, channel: 'console' }, nudgeAt: nudges[i]!, now: T0 });
      const mine = <T extends { key: LearnerKey }>(rs: T[]) => rs.filter((r) => r.key.userId.startsWith(`${learner.userId}-`));
      const first = mine(await store.claimDueLearners(at(10), 1, at(60)));
      expect(first.map((r) => [r.key.userId, r.nudgeAt.toISOString()])).toEqual([[keys[1]!.userId, at(-10).toISOString()]]);
      const rest = mine(await store.claimDueLearners(at(10), 100, at(60)));
      expect(rest.map((r) => [r.key.userId, r.nudgeAt.toISOString()])).toEqual([[keys[3]!.userId, at(5).toISOString()]]);
    });

    it('claims due learners once: a second claim before the lease ends finds none of them', async () => {
      const keys = [0, 1, 2].map((i) => ({ channel: 'console' as const, userId: `${learner.userId}-c${i}` }));
      for (const [i, key] of keys.entries())
        await store.commitLearner({ key, expectedVersion: 0, state: newLearnerState(T0, 'en'), address: { ...address, channel: 'console' }, nudgeAt: i < 2 ? at(-i) : at(30), now: T0 });
      const mine = (rs: { key: LearnerKey }[]) => rs.map((r) => r.key.userId).filter((u) => u.startsWith(`${learner.userId}-c`));
      const claimed = await store.claimDueLearners(at(1), 1000, at(15));
      expect(mine(claimed).sort()).toEqual([keys[0]!.userId, keys[1]!.userId]);
      expect(mine(await store.claimDueLearners(at(2), 1000, at(15)))).toEqual([]);
      const rec = await store.getLearner(keys[0]!);
      expect(rec!.nudgeAt?.toISOString()).toBe(at(15).toISOString());
      expect(rec!.version).toBe(1);
      // After the lease, they are found again.
      expect(mine(await store.claimDueLearners(at(16), 1000, at(30))).sort()).toEqual([keys[0]!.userId, keys[1]!.userId]);
    });

    it('stores group quizzes with version checks, and finds questions due to close', async () => {
      const state = newGroupState('en');
      expect(await store.getGroup(group)).toBeNull();
      expect(await store.commitGroup({ key: group, expectedVersion: 0, state, address: groupAddress, closesAt: at(1), nextQuizAt: null, eventId: `g1-${group.conversationId}`, now: T0 })).toBe('committed');
      expect(await store.commitGroup({ key: group, expectedVersion: 0, state, address: groupAddress, closesAt: at(1), nextQuizAt: null, now: T0 })).toBe('conflict');
      expect(await store.commitGroup({ key: group, expectedVersion: 1, state, address: groupAddress, closesAt: at(1), nextQuizAt: null, eventId: `g1-${group.conversationId}`, now: T0 })).toBe('duplicate');
      const rec = await store.getGroup(group);
      expect(rec).toMatchObject({ version: 1, state, address: groupAddress });
      expect((await store.groupsDue(at(0), 100)).some((k) => k.conversationId === group.conversationId)).toBe(false);
      expect((await store.groupsDue(at(2), 100)).some((k) => k.conversationId === group.conversationId)).toBe(true);
      expect(await store.commitGroup({ key: group, expectedVersion: 1, state, address: groupAddress, closesAt: null, nextQuizAt: null, now: T0 })).toBe('committed');
      expect((await store.groupsDue(at(2), 100)).some((k) => k.conversationId === group.conversationId)).toBe(false);
    });

    it('finds groups whose weekly quiz is due, earliest first, and only those', async () => {
      const keys = [0, 1, 2, 3].map((i) => ({ channel: 'slack' as const, conversationId: `${group.conversationId}-w${i}` }));
      const next = [at(30), at(-10), null, at(5)];
      for (const [i, key] of keys.entries())
        await store.commitGroup({ key, expectedVersion: 0, state: newGroupState('en'), address: { ...groupAddress, conversationId: key.conversationId }, closesAt: null, nextQuizAt: next[i]!, now: T0 });
      const mine = (ks: ConversationKey[]) => ks.map((k) => k.conversationId).filter((id) => id.startsWith(`${group.conversationId}-w`));
      expect(mine(await store.groupQuizzesDue(at(10), 100))).toEqual([keys[1]!.conversationId, keys[3]!.conversationId]);
      expect(await store.groupQuizzesDue(at(10), 1)).toHaveLength(1);
      // Questions closing and quizzes starting are found apart.
      expect(mine(await store.groupsDue(at(100), 100))).toEqual([]);
      // A commit that moves the start on, or clears it, takes the group off the list.
      expect(await store.commitGroup({ key: keys[1]!, expectedVersion: 1, state: newGroupState('en'), address: groupAddress, closesAt: at(11), nextQuizAt: at(60), now: at(1) })).toBe('committed');
      expect(await store.commitGroup({ key: keys[3]!, expectedVersion: 1, state: newGroupState('en'), address: groupAddress, closesAt: null, nextQuizAt: null, now: at(1) })).toBe('committed');
      expect(mine(await store.groupQuizzesDue(at(10), 100))).toEqual([]);
      expect(mine(await store.groupQuizzesDue(at(100), 100))).toEqual([keys[0]!.conversationId, keys[1]!.conversationId]);
      expect(mine(await store.groupsDue(at(100), 100))).toEqual([keys[1]!.conversationId]);
      // A stale version does not move it.
      expect(await store.commitGroup({ key: keys[0]!, expectedVersion: 0, state: newGroupState('en'), address: groupAddress, closesAt: null, nextQuizAt: null, now: at(1) })).toBe('conflict');
      expect(mine(await store.groupQuizzesDue(at(30), 100))).toEqual([keys[0]!.conversationId]);
    });

    it('records each member answer once, and never loses one when many arrive at once', async () => {
      const base = { key: group, quizId: 'q1', question: 0, at: T0 };
      expect(await store.recordGroupAnswer({ ...base, userId: 'a', displayName: 'Ana', option: 1, eventId: `${group.conversationId}-e1` })).toBe('recorded');
      expect(await store.recordGroupAnswer({ ...base, userId: 'a', displayName: 'Ana', option: 1, eventId: `${group.conversationId}-e1` })).toBe('duplicate');
      expect(await store.recordGroupAnswer({ ...base, userId: 'a', displayName: 'Ana', option: 2, eventId: `${group.conversationId}-e2` })).toBe('already_answered');
      // A refused answer's event counts as applied: its redelivery is a duplicate.
      expect(await store.isProcessed(group.channel, `${group.conversationId}-e2`)).toBe(true);
      expect(await store.recordGroupAnswer({ ...base, userId: 'a', displayName: 'Ana', option: 2, eventId: `${group.conversationId}-e2` })).toBe('duplicate');
      const many = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          store.recordGroupAnswer({ ...base, userId: `m${i}`, displayName: `Member ${i}`, option: i % 3, at: new Date(T0.getTime() + i), eventId: `${group.conversationId}-m${i}` }),
        ),
      );
      expect(many.every((r) => r === 'recorded')).toBe(true);
      const answers = await store.listGroupAnswers(group, 'q1', 0);
      expect(answers).toHaveLength(301);
      expect(answers.find((a) => a.userId === 'a')).toMatchObject({ option: 1, displayName: 'Ana' });
      expect(await store.listGroupAnswers(group, 'q1', 1)).toEqual([]);
      // The tally a tap reads instead: how many answered this question, and whether this member did.
      expect(await store.groupAnswerTally(group, 'q1', 0, 'a')).toEqual({ count: 301, mine: true });
      expect(await store.groupAnswerTally(group, 'q1', 0, 'm299')).toEqual({ count: 301, mine: true });
      expect(await store.groupAnswerTally(group, 'q1', 0, 'z')).toEqual({ count: 301, mine: false });
      expect(await store.groupAnswerTally(group, 'q1', 1, 'a')).toEqual({ count: 0, mine: false });
      expect(await store.groupAnswerTally(group, 'other-quiz', 0, 'a')).toEqual({ count: 0, mine: false });
      expect(await store.groupAnswerTally({ ...group, conversationId: `${group.conversationId}-elsewhere` }, 'q1', 0, 'a')).toEqual({ count: 0, mine: false });
    });

    it('adds scores as increments and ranks the leaderboard', async () => {
      await store.addGroupScores(group, [
        { userId: 'a', displayName: 'Ana', points: 12, answered: 1, correct: 1 },
        { userId: 'b', displayName: 'Ben', points: 0, answered: 1, correct: 0 },
      ]);
      await Promise.all([
        store.addGroupScores(group, [{ userId: 'b', displayName: 'Ben', points: 15, answered: 1, correct: 1 }]),
        store.addGroupScores(group, [{ userId: 'b', displayName: 'Ben', points: 11, answered: 1, correct: 1 }]),
      ]);
      await store.commitGroup({ key: group, expectedVersion: 0, state: newGroupState('en'), address: groupAddress, closesAt: null, nextQuizAt: null, scores: [{ userId: 'c', displayName: 'Chi', points: 5, answered: 1, correct: 1 }], now: T0 });
      const board = await store.leaderboard(group, 10);
      expect(board.map((r) => [r.userId, r.points, r.answered, r.correct])).toEqual([
        ['b', 26, 3, 2],
        ['a', 12, 1, 1],
        ['c', 5, 1, 1],
      ]);
      expect(await store.leaderboard(group, 1)).toHaveLength(1);
    });

    it('exports every field stored about a learner: state, next nudge, names with team answers, scores and running quizzes', async () => {
      const key: LearnerKey = { channel: 'slack', userId: `x-${learner.userId}` };
      await store.commitLearner({ key, expectedVersion: 0, state: newLearnerState(T0, 'en', 'Xu'), address: { ...address, channel: 'slack' }, nudgeAt: at(5), now: T0 });
      await store.recordGroupAnswer({ key: group, quizId: 'q', question: 0, userId: key.userId, displayName: 'Xu Wei', option: 2, at: T0, eventId: `x-${group.conversationId}` });
      await store.addGroupScores(group, [{ userId: key.userId, displayName: 'Xu Wei', points: 10, answered: 1, correct: 1 }]);
      await store.commitGroup({ key: group, expectedVersion: 0, state: runningQuiz(key.userId, 'Xu Wei'), address: groupAddress, closesAt: at(1), nextQuizAt: null, now: T0 });
      const data = await store.exportLearner(key);
      expect(data.learner).toMatchObject({ channel: 'slack', userId: key.userId, nudgeAt: at(5).toISOString(), updatedAt: T0.toISOString() });
      expect(data.learner?.state.displayName).toBe('Xu');
      expect(data.groupAnswers).toEqual([{ conversationId: group.conversationId, quizId: 'q', question: 0, option: 2, displayName: 'Xu Wei', at: T0.toISOString() }]);
      expect(data.groupScores).toEqual([{ conversationId: group.conversationId, displayName: 'Xu Wei', points: 10, answered: 1, correct: 1 }]);
      expect(data.runningQuizzes).toEqual([{ conversationId: group.conversationId, quizId: 'q', displayName: 'Xu Wei', points: 12, correct: 1, answered: 1 }]);
    });

    it('forgets a learner everywhere, keeping their team answers and points as a former participant with no id or name', async () => {
      const key: LearnerKey = { channel: 'slack', userId: `x-${learner.userId}` };
      const other = `o-${learner.userId}`;
      const eventId = `act:1700000000.1:${key.userId}:a1:1700000001.2`;
      await store.commitLearner({ key, expectedVersion: 0, state: newLearnerState(T0, 'en', 'Xu'), address: { ...address, channel: 'slack' }, nudgeAt: at(5), eventId, now: T0 });
      await store.recordGroupAnswer({ key: group, quizId: 'q', question: 0, userId: key.userId, displayName: 'Xu Wei', option: 2, at: T0, eventId: `x-${group.conversationId}` });
      await store.recordGroupAnswer({ key: group, quizId: 'q', question: 0, userId: other, displayName: 'Ola', option: 1, at: T0, eventId: `o-${group.conversationId}` });
      await store.addGroupScores(group, [
        { userId: key.userId, displayName: 'Xu Wei', points: 10, answered: 1, correct: 1 },
        { userId: other, displayName: 'Ola', points: 7, answered: 1, correct: 1 },
      ]);
      await store.commitGroup({ key: group, expectedVersion: 0, state: runningQuiz(key.userId, 'Xu Wei', other), address: groupAddress, closesAt: at(1), nextQuizAt: null, now: T0 });

      await store.forgetLearner(key);
      await store.forgetLearner(key); // twice: erasing is idempotent
      expect(await store.getLearner(key)).toBeNull();
      expect(await store.exportLearner(key)).toEqual(EMPTY_EXPORT);
      expect((await store.claimDueLearners(at(10), 1000, at(60))).some((r) => r.key.userId === key.userId)).toBe(false);
      // The team's results are unchanged; the member is now "a former participant", linked to no one.
      const answers = await store.listGroupAnswers(group, 'q', 0);
      const former = answers.find((a) => a.userId !== other)!;
      expect(former).toMatchObject({ displayName: FORMER_PARTICIPANT_NAME, option: 2 });
      expect(former.userId).not.toContain(key.userId);
      expect(answers.find((a) => a.userId === other)).toMatchObject({ displayName: 'Ola' });
      const board = await store.leaderboard(group, 10);
      expect(board.map((r) => [r.displayName, r.points])).toEqual([[FORMER_PARTICIPANT_NAME, 10], ['Ola', 7]]);
      const record = await store.getGroup(group);
      expect(record!.version).toBe(2);
      expect(JSON.stringify(record)).not.toContain(key.userId);
      expect(JSON.stringify(record)).not.toContain('Xu');
      // The running quiz counts the former participant under the same id as their answer, so "everyone answered" still holds.
      expect(record!.state.quiz!.participants).toEqual({ [former.userId]: FORMER_PARTICIPANT_NAME, [other]: 'Ola' });
      expect(record!.state.quiz!.scores[former.userId]).toMatchObject({ name: FORMER_PARTICIPANT_NAME, points: 12 });
      // A platform's retry of an event already applied is still recognised (its id is kept, hashed).
      expect(await store.isProcessed('slack', eventId)).toBe(true);
      // Another member is untouched.
      expect((await store.exportLearner({ channel: 'slack', userId: other })).groupScores).toHaveLength(1);
    });

    it('prunes old processed event ids', async () => {
      const old = `old-${learner.userId}`;
      const fresh = `fresh-${learner.userId}`;
      await store.markProcessed('telegram', old, new Date('2000-01-01T00:00:00Z'));
      await store.markProcessed('telegram', fresh, T0);
      expect(await store.pruneProcessed(new Date('2001-01-01T00:00:00Z'))).toBeGreaterThanOrEqual(1);
      expect(await store.isProcessed('telegram', old)).toBe(false);
      expect(await store.isProcessed('telegram', fresh)).toBe(true);
    });

    it('keeps an inbound event once in the inbox, in order, until it is applied; a retry waits', async () => {
      const item = (id: string, minute: number) => ({ channel: 'telegram' as const, eventId: `${id}-${learner.userId}`, lane: `learner:${learner.userId}`, payload: `{"id":"${id}"}`, receivedAt: at(minute) });
      expect(await store.inboxAdd(item('a', 0))).toBe(true);
      expect(await store.inboxAdd(item('b', 0))).toBe(true);
      expect(await store.inboxAdd(item('a', 1))).toBe(false); // the platform's redelivery
      const mine = async (minute: number) => (await store.inboxPending(at(minute), 10_000)).filter((r) => r.lane === `learner:${learner.userId}`);
      const pending = await mine(0);
      expect(pending.map((r) => r.payload)).toEqual(['{"id":"a"}', '{"id":"b"}']);
      expect(pending[0]!.seq).toBeLessThan(pending[1]!.seq);
      await store.inboxRetry(pending[0]!.seq, at(5));
      const retried = await mine(1);
      expect(retried[0]).toMatchObject({ payload: '{"id":"a"}', attempts: 1, availableAt: at(5) });
      await store.inboxApplied(pending[0]!.seq, at(5));
      await store.inboxApplied(pending[1]!.seq, at(5));
      expect(await mine(6)).toEqual([]);
    });

    it('lets one owner at a time claim an inbox lane: renewed by its owner, taken over once run out, given back', async () => {
      const lane = `learner:telegram:${learner.userId}`;
      expect(await store.inboxClaimLane(lane, 'p1', at(0), at(1))).toBe(true);
      // Another process leaves it alone while the claim runs; its owner renews it.
      expect(await store.inboxClaimLane(lane, 'p2', at(0), at(1))).toBe(false);
      expect(await store.inboxClaimLane(lane, 'p1', at(0), at(2))).toBe(true);
      expect(await store.inboxClaimLane(lane, 'p2', at(1), at(3))).toBe(false);
      // The owner died: once its claim has run out, another takes it over, and the old owner cannot take it back.
      expect(await store.inboxClaimLane(lane, 'p2', at(2), at(4))).toBe(true);
      expect(await store.inboxClaimLane(lane, 'p1', at(3), at(4))).toBe(false);
      // Given back only by its owner; then free for anyone.
      await store.inboxReleaseLane(lane, 'p1');
      expect(await store.inboxClaimLane(lane, 'p3', at(3), at(5))).toBe(false);
      await store.inboxReleaseLane(lane, 'p2');
      expect(await store.inboxClaimLane(lane, 'p3', at(3), at(5))).toBe(true);
      await store.inboxReleaseLane(lane, 'p3');
    });

    it('writes a reply to the outbox in the same step as the change that produced it, and sends each row once', async () => {
      const reply = { channel: 'telegram' as const, conversationId: address.conversationId, payload: '{"reply":1}' };
      const state = newLearnerState(T0, 'en');
      expect(await store.commitLearner({ key: learner, expectedVersion: 0, state, address, nudgeAt: null, eventId: `o1-${learner.userId}`, outbox: [reply], now: T0 })).toBe('committed');
      // A conflicting write and a duplicate event write nothing to the outbox.
      expect(await store.commitLearner({ key: learner, expectedVersion: 0, state, address, nudgeAt: null, outbox: [{ ...reply, payload: '{"reply":"conflict"}' }], now: T0 })).toBe('conflict');
      expect(await store.commitLearner({ key: learner, expectedVersion: 1, state, address, nudgeAt: null, eventId: `o1-${learner.userId}`, outbox: [{ ...reply, payload: '{"reply":"dup"}' }], now: T0 })).toBe('duplicate');
      // A read-only event's reply goes with its processed mark, once.
      expect(await store.markProcessed('telegram', `o2-${learner.userId}`, T0, [{ ...reply, payload: '{"reply":2}' }])).toBe(true);
      expect(await store.markProcessed('telegram', `o2-${learner.userId}`, T0, [{ ...reply, payload: '{"reply":"again"}' }])).toBe(false);
      await store.outboxAdd([{ ...reply, payload: '{"reply":3}' }], at(1));
      const mine = async (minute: number) => (await store.outboxDue(at(minute), 10_000)).filter((r) => r.conversationId === address.conversationId);
      const due = await mine(1);
      expect(due.map((r) => r.payload)).toEqual(['{"reply":1}', '{"reply":2}', '{"reply":3}']);
      // One of two senders wins a row; a retry moves it on; done rows are not returned again.
      expect(await store.outboxClaim(due[0]!, at(2))).toBe(true);
      expect(await store.outboxClaim(due[0]!, at(2))).toBe(false);
      await store.outboxDone(due[0]!.id, at(1));
      await store.outboxRetry(due[1]!.id, at(10));
      const later = await mine(1);
      expect(later.map((r) => [r.payload, r.attempts])).toEqual([
        ['{"reply":2}', 1],
        ['{"reply":3}', 0],
      ]);
      expect(later[0]!.availableAt).toEqual(at(10));
    });

    it('reads the outbox lane by lane: a burst of nudges or one channel\'s backlog never hides another lane\'s rows', async () => {
      // Start from an empty outbox (rows other tests left are sent).
      for (const r of await store.outboxDue(at(100), 10_000)) await store.outboxDone(r.id, at(100));
      const row = (channel: 'telegram' | 'slack', name: string, proactive?: boolean) => ({ channel, conversationId: `lane-${name}-${learner.userId}`, payload: JSON.stringify({ name }), ...(proactive ? { proactive } : {}) });
      await store.outboxAdd(['p1', 'p2', 'p3', 'p4', 'p5'].map((n) => row('telegram', n, true)), at(1));
      await store.outboxAdd([row('telegram', 'r1')], at(1));
      await store.outboxAdd([row('slack', 's1')], at(1));
      const due = await store.outboxDue(at(2), 3);
      // The three oldest nudges, and the replies written after all five: oldest first.
      expect(due.map((r) => JSON.parse(r.payload).name)).toEqual(['p1', 'p2', 'p3', 'r1', 's1']);
      expect(due.map((r) => r.proactive ?? false)).toEqual([true, true, true, false, false]);
      expect([...due].sort((a, b) => a.id - b.id)).toEqual(due);
      // The proactive lanes may be read shorter than the replies'.
      expect((await store.outboxDue(at(2), 3, 2)).map((r) => JSON.parse(r.payload).name)).toEqual(['p1', 'p2', 'r1', 's1']);
      for (const r of await store.outboxDue(at(100), 10_000)) await store.outboxDone(r.id, at(100));
    });

    it('erases a forgotten learner\'s unapplied events and owed replies', async () => {
      await store.commitLearner({ key: learner, expectedVersion: 0, state: newLearnerState(T0, 'en'), address, nudgeAt: null, now: T0 });
      const lane = `learner:${learner.channel}:${learner.userId}`;
      await store.inboxAdd({ channel: 'telegram', eventId: `f1-${learner.userId}`, lane, payload: '{"text":"secret"}', receivedAt: T0 });
      await store.outboxAdd([{ channel: 'telegram', conversationId: address.conversationId, payload: '{"reply":"secret"}' }], T0);
      await store.forgetLearner(learner);
      expect((await store.inboxPending(at(1), 10_000)).filter((r) => r.lane === lane)).toEqual([]);
      expect((await store.outboxDue(at(1), 10_000)).filter((r) => r.conversationId === address.conversationId)).toEqual([]);
    });

    it('keeps a certificate written with a learner commit, shows it in the export, revokes it once, and erases its holder and name on forget', async () => {
      const id = `cert-${learner.userId}`;
      const cert: CertificateRecord = {
        id,
        learner,
        achievement: 'module:m1',
        title: 'Module 1',
        lang: 'fr',
        name: 'Amina Diallo',
        jwt: 'header.payload.signature',
        hash: 'ab'.repeat(32),
        issuedAt: T0,
        revokedAt: null,
      };
      expect(await store.getCertificate(id)).toBeNull();
      const state = newLearnerState(T0, 'fr');
      expect(await store.commitLearner({ key: learner, expectedVersion: 0, state, address, nudgeAt: null, certificates: [cert], eventId: `c-${id}`, now: T0 })).toBe('committed');
      expect(await store.getCertificate(id)).toEqual(cert);
      expect((await store.exportLearner(learner)).certificates).toEqual([
        { id, achievement: 'module:m1', title: 'Module 1', lang: 'fr', name: 'Amina Diallo', issuedAt: T0.toISOString(), revokedAt: null, credential: 'header.payload.signature' },
      ]);

      expect(await store.revokeCertificate(id, at(5))).toBe(true);
      expect(await store.revokeCertificate(id, at(6))).toBe(false);
      expect(await store.revokeCertificate(`no-such-${id}`, at(6))).toBe(false);
      expect((await store.getCertificate(id))!.revokedAt).toEqual(at(5));

      await store.forgetLearner(learner);
      expect(await store.getCertificate(id)).toEqual({ ...cert, learner: null, name: null, jwt: null, revokedAt: at(5) });
      expect((await store.exportLearner(learner)).certificates).toEqual([]);
    });

    it('keeps xAPI statements written with a learner commit until they are marked sent, leasing each claim', async () => {
      const row = (i: number) => ({ id: `x${i}-${learner.userId}`, learner, statement: JSON.stringify({ n: i }), createdAt: at(i) });
      const before = await store.xapiPending();
      const state = newLearnerState(T0, 'en');
      expect(await store.commitLearner({ key: learner, expectedVersion: 0, state, address, nudgeAt: null, xapi: [row(1), row(2)], eventId: `x-${learner.userId}`, now: T0 })).toBe('committed');
      expect(await store.commitLearner({ key: learner, expectedVersion: 1, state, address, nudgeAt: null, xapi: [row(3)], now: at(3) })).toBe('committed');
      // A refused commit leaves nothing to send.
      expect(await store.commitLearner({ key: learner, expectedVersion: 1, state, address, nudgeAt: null, xapi: [row(9)], now: at(9) })).toBe('conflict');
      expect(await store.xapiPending()).toBe(before + 3);
      const mine = (rows: { id: string }[]) => rows.filter((r) => r.id.endsWith(learner.userId)).map((r) => r.id);
      const first = await store.claimXapi(at(10), 1000, at(12));
      expect(mine(first)).toEqual([row(1).id, row(2).id, row(3).id]);
      expect(first.find((r) => r.id === row(1).id)).toEqual(row(1));
      // Leased: the next claim before the lease ends finds none of them; after it, all again.
      expect(mine(await store.claimXapi(at(11), 1000, at(13)))).toEqual([]);
      await store.markXapiSent([row(1).id], at(11));
      expect(mine(await store.claimXapi(at(12), 1000, at(14)))).toEqual([row(2).id, row(3).id]);
      expect(await store.xapiPending()).toBe(before + 2);
      // Sent rows are pruned after their time; /forget deletes the rest, sent or not.
      expect(await store.pruneXapi(at(20))).toBeGreaterThanOrEqual(1);
      await store.forgetLearner(learner);
      expect(await store.xapiPending()).toBe(before);
      expect(mine(await store.claimXapi(at(30), 1000, at(31)))).toEqual([]);
    });

    it('links accounts into one person in one step, takes a link code once, unlinks with a copy, and forgets the links', async () => {
      const other = (c: 'slack' | 'teams', n: number): LearnerKey => ({ channel: c, userId: `${c}-${n}-${learner.userId}` });
      const [s1, s2, s3] = [other('slack', 1), other('teams', 2), other('slack', 3)];
      expect(await store.resolveAccount(learner)).toEqual(learner);
      const st = (lang: 'en' | 'fr' | 'es') => newLearnerState(T0, lang);
      for (const k of [learner, s1, s2]) await store.commitLearner({ key: k, expectedVersion: 0, state: st('en'), address, nudgeAt: null, now: T0 });

      // Codes: once, not after they expire, a new one replaces the old.
      await store.saveLinkCode(`A${n}CODE`.slice(0, 6), learner, at(10));
      await store.saveLinkCode(`B${n}CODE`.slice(0, 6), learner, at(10));
      expect(await store.takeLinkCode(`A${n}CODE`.slice(0, 6), at(1))).toBeNull();
      expect(await store.takeLinkCode(`B${n}CODE`.slice(0, 6), at(1))).toEqual(learner);
      expect(await store.takeLinkCode(`B${n}CODE`.slice(0, 6), at(1))).toBeNull();
      await store.saveLinkCode(`C${n}CODE`.slice(0, 6), learner, at(10));
      expect(await store.takeLinkCode(`C${n}CODE`.slice(0, 6), at(11))).toBeNull();

      // A stale version of either record: nothing is written.
      expect(await store.linkAccounts({ primary: learner, expectedVersion: 7, state: st('fr'), address, nudgeAt: null, secondary: s1, secondaryVersion: 1, secondaryAddress: address, now: at(2) })).toBe('conflict');
      expect(await store.resolveAccount(s1)).toEqual(s1);
      expect(await store.linkAccounts({ primary: learner, expectedVersion: 1, state: st('fr'), address, nudgeAt: at(30), secondary: s1, secondaryVersion: 1, secondaryAddress: address, now: at(2) })).toBe('committed');
      expect((await store.getLearner(learner))!.state.lang).toBe('fr');
      expect((await store.getLearner(learner))!.version).toBe(2);
      expect(await store.getLearner(s1)).toBeNull();
      expect(await store.resolveAccount(s1)).toEqual(learner);
      // A person joining with its own linked account brings it along.
      await store.commitLearner({ key: s3, expectedVersion: 0, state: st('es'), address, nudgeAt: null, now: T0 });
      expect(await store.linkAccounts({ primary: s2, expectedVersion: 1, state: st('es'), address, nudgeAt: null, secondary: s3, secondaryVersion: 1, secondaryAddress: address, now: at(3) })).toBe('committed');
      expect(await store.linkAccounts({ primary: learner, expectedVersion: 2, state: st('fr'), address, nudgeAt: null, secondary: s2, secondaryVersion: 2, secondaryAddress: address, now: at(4) })).toBe('committed');
      expect(await store.resolveAccount(s3)).toEqual(learner);
      expect((await store.linkedAccounts(learner)).map((a) => a.key)).toEqual(expect.arrayContaining([s1, s2, s3]));
      expect((await store.linkedAccounts(learner))[0]!.address).toEqual(address);
      expect(await store.linkedAccounts(learner)).toHaveLength(3);

      // Unlinking gives the account its own record; a second unlink does nothing.
      expect(await store.unlinkAccount(s1, { state: st('es'), address, nudgeAt: null, now: at(5) })).toBe(true);
      expect(await store.resolveAccount(s1)).toEqual(s1);
      expect((await store.getLearner(s1))!.state.lang).toBe('es');
      expect(await store.unlinkAccount(s1, { state: st('en'), address, nudgeAt: null, now: at(6) })).toBe(false);
      expect((await store.getLearner(s1))!.state.lang).toBe('es');

      // Forgetting the person removes its links.
      await store.forgetLearner(learner);
      expect(await store.resolveAccount(s2)).toEqual(s2);
      expect(await store.resolveAccount(s3)).toEqual(s3);
      expect(await store.linkedAccounts(learner)).toEqual([]);
    });

    it('answers a ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
  dashboardReadsContract(name, open);
}
