/**
 * The store contract's dashboard reads, with known answers (part of the shared conformance suite:
 * `storeContract` runs it for every store). Each test seeds its own period of time, far from the
 * others', so that stores sharing a database never see each other's records.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newLearnerState, type LearnerState, type Position } from '../src/engine/state.js';
import type { ActivityRecord } from '../src/engine/activity.js';
import type { Address, Channel, LearnerKey } from '../src/messages.js';
import type { DashboardFilter } from '../src/store/dashboard.js';
import type { Store } from '../src/store/store.js';

const DAY = 86_400_000;
let window = 0;

export function dashboardReadsContract(name: string, open: () => Promise<Store>): void {
  describe(`${name}: dashboard reads`, () => {
    let store: Store;
    let W0: Date;
    let tag: string;
    const day = (d: number, minutes = 0) => new Date(W0.getTime() + d * DAY + minutes * 60_000);
    const iso = (d: number, minutes = 0) => day(d, minutes).toISOString();

    beforeEach(async () => {
      store = await open();
      window += 1;
      // A Monday, 400 days further on for every test (and every run in a shared database differs by the tag).
      W0 = new Date(Date.UTC(2031, 0, 6) + window * 364 * DAY);
      tag = `${Date.now().toString(36)}-${window}`;
    });
    afterEach(async () => {
      await store.close();
    });

    const all = (): DashboardFilter => ({ from: day(0), to: day(30) });

    async function seed(
      n: number,
      opts: { channel?: Channel; lang?: 'en' | 'fr' | 'es'; country?: string; org?: string; lastSeen?: number; position?: Position } = {},
      activity: ActivityRecord[] = [],
    ): Promise<LearnerKey> {
      const channel = opts.channel ?? 'telegram';
      const key: LearnerKey = { channel, userId: `dash-${tag}-${channel}-${n}` };
      const address: Address = { channel, conversationId: key.userId, kind: 'direct' };
      const state: LearnerState = {
        ...newLearnerState(day(0), opts.lang ?? 'en'),
        lastSeenAt: iso(opts.lastSeen ?? 1),
        ...(opts.country ? { country: opts.country } : {}),
        ...(opts.org ? { org: opts.org } : {}),
        ...(opts.position ? { position: opts.position } : {}),
      };
      expect(await store.commitLearner({ key, expectedVersion: 0, state, address, nudgeAt: null, now: day(0), activity })).toBe('committed');
      return key;
    }

    const started = (d: number, lessonId = 'l1'): ActivityRecord => ({ type: 'lesson_started', at: iso(d), lessonId });
    const completed = (d: number, correct: number, minutes: number | undefined, first = true, lessonId = 'l1'): ActivityRecord => ({
      type: 'lesson_completed',
      at: iso(d, 30),
      lessonId,
      correct,
      total: 4,
      first,
      ...(minutes !== undefined ? { durationMs: minutes * 60_000 } : {}),
    });
    const answer = (itemId: string, options: number[], correct: boolean, firstTry = true, extra: { d?: number; predicted?: number; days?: number; mode?: 'lesson' | 'review' } = {}): ActivityRecord => ({
      type: 'item_answered',
      at: iso(extra.d ?? 0, 10),
      itemId,
      lessonId: 'l1',
      mode: extra.mode ?? 'lesson',
      options,
      correct,
      firstTry,
      durationMs: 9000,
      ...(extra.predicted !== undefined ? { predictedRecall: extra.predicted, daysSinceSeen: extra.days ?? 0 } : {}),
    });

    it('counts learners seen in the period by channel, language, country and organisation, and filters by each', async () => {
      for (let i = 0; i < 3; i++) await seed(i, { country: 'KE', org: 'MinICT' });
      for (let i = 3; i < 5; i++) await seed(i, { country: 'KE' });
      for (let i = 0; i < 2; i++) await seed(i, { channel: 'slack', lang: 'fr' });
      await seed(9, { lastSeen: 40 }); // seen after the period: counted (seen since `from`, created before `to`)
      const rows = await store.learnerCounts(all());
      const sorted = rows.map((r) => [r.channel, r.lang, r.country, r.org, r.learners]).sort((a, b) => String(a).localeCompare(String(b)));
      expect(sorted).toEqual([
        ['slack', 'fr', null, null, 2],
        ['telegram', 'en', null, null, 1],
        ['telegram', 'en', 'KE', null, 2],
        ['telegram', 'en', 'KE', 'MinICT', 3],
      ]);
      expect((await store.learnerCounts({ ...all(), channel: 'slack' })).map((r) => r.learners)).toEqual([2]);
      expect((await store.learnerCounts({ ...all(), lang: 'fr' })).map((r) => r.channel)).toEqual(['slack']);
      expect((await store.learnerCounts({ ...all(), country: 'KE' })).reduce((n, r) => n + r.learners, 0)).toBe(5);
      expect((await store.learnerCounts({ ...all(), org: 'MinICT' })).reduce((n, r) => n + r.learners, 0)).toBe(3);
      // Learners last seen before the period are not in it.
      expect(await store.learnerCounts({ from: day(2), to: day(30) })).toEqual([{ channel: 'telegram', lang: 'en', country: null, org: null, learners: 1 }]);
    });

    it('gives active learners, lessons completed and answers by day and by week, not counting nudges sent as activity', async () => {
      await seed(1, {}, [started(0), answer('l1-q1', [1], true), completed(0, 3, 5), completed(8, 4, undefined, false)]);
      await seed(2, {}, [started(0), completed(1, 2, 20)]);
      await seed(3, {}, [{ type: 'nudge', at: iso(1), event: 'sent', localHour: 9 }]);
      await seed(4, { channel: 'slack' }, [started(1)]);
      const days = await store.activityByPeriod(all(), 'day');
      expect(days).toEqual([
        { period: iso(0).slice(0, 10), learners: 2, lessonsCompleted: 1, answers: 1 },
        { period: iso(1).slice(0, 10), learners: 2, lessonsCompleted: 1, answers: 0 },
        { period: iso(8).slice(0, 10), learners: 1, lessonsCompleted: 1, answers: 0 },
      ]);
      const weeks = await store.activityByPeriod(all(), 'week');
      expect(weeks).toEqual([
        { period: iso(0).slice(0, 10), learners: 3, lessonsCompleted: 2, answers: 1 },
        { period: iso(7).slice(0, 10), learners: 1, lessonsCompleted: 1, answers: 0 },
      ]);
      expect((await store.activityByPeriod({ ...all(), channel: 'slack' }, 'day')).map((r) => r.learners)).toEqual([1]);
      // A period that does not start and end at midnight UTC gives the same (a store may summarise whole days).
      const ragged = { from: new Date(day(0).getTime() - 1), to: new Date(day(30).getTime() - 1) };
      expect(await store.activityByPeriod(ragged, 'day')).toEqual(days);
      expect(await store.activityByPeriod(ragged, 'week')).toEqual(weeks);
      expect((await store.activityByPeriod({ ...ragged, channel: 'slack' }, 'day')).map((r) => r.learners)).toEqual([1]);
    });

    it('gives the lesson funnel: first starts, first completions, first-try score sums and time-to-complete buckets', async () => {
      await seed(1, {}, [started(0), completed(0, 3, 5), completed(3, 4, undefined, false)]);
      await seed(2, {}, [started(0), completed(0, 4, 10)]);
      await seed(3, {}, [started(0), completed(1, 2, 12)]);
      await seed(4, {}, [started(0), completed(2, 4, 200)]);
      await seed(5, {}, [started(0), completed(4, 1, 5000)]);
      await seed(6, {}, [started(0), started(0, 'l2')]);
      const { lessons, durations } = await store.lessonFunnel(all());
      expect(lessons.sort((a, b) => a.lessonId.localeCompare(b.lessonId))).toEqual([
        { lessonId: 'l1', started: 6, completed: 5, firstScoreSum: 14, firstScoreTotal: 20 },
        { lessonId: 'l2', started: 1, completed: 0, firstScoreSum: 0, firstScoreTotal: 0 },
      ]);
      expect(durations.sort((a, b) => a.minutes - b.minutes)).toEqual([
        { lessonId: 'l1', minutes: 5, count: 1 },
        { lessonId: 'l1', minutes: 10, count: 1 },
        { lessonId: 'l1', minutes: 12, count: 1 },
        { lessonId: 'l1', minutes: 180, count: 1 },
        { lessonId: 'l1', minutes: 4320, count: 1 },
      ]);
      // The period applies to the records' dates.
      expect((await store.lessonFunnel({ from: day(1), to: day(30) })).lessons).toEqual([{ lessonId: 'l1', started: 0, completed: 3, firstScoreSum: 7, firstScoreTotal: 12 }]);
    });

    it('gives where silent learners stopped: the card, the quiz item, or between lessons', async () => {
      const card = (index: number): Position => ({ kind: 'card', lessonId: 'l2', index });
      const quiz: Position = { kind: 'quiz', mode: 'lesson', lessonId: 'l1', itemIds: ['l1-q1', 'l1-q2', 'l1-q3'], index: 1, correct: 1, selected: [], shownAt: iso(1), wrongTries: 0 };
      await seed(1, { position: card(2), lastSeen: 1 });
      await seed(2, { position: card(2), lastSeen: 2 });
      await seed(3, { position: quiz, lastSeen: 1 });
      await seed(4, { lastSeen: 1 });
      await seed(5, { position: card(0), lastSeen: 20 }); // still active: not silent
      const rows = await store.stopPoints(all(), day(10));
      expect(rows.map((r) => [r.kind, r.lessonId, r.card, r.itemId, r.learners]).sort((a, b) => String(a).localeCompare(String(b)))).toEqual([
        ['card', 'l2', 2, null, 2],
        ['idle', null, null, null, 1],
        ['quiz', 'l1', null, 'l1-q2', 1],
      ]);
    });

    it('gives item statistics: attempts, first tries, options chosen, and the point-biserial sums', async () => {
      // First answers: A right for learners 1, 2; B right for 1, 3. Learner 1 answers A again.
      await seed(1, {}, [answer('A', [1], true), answer('B', [0, 2], true), answer('A', [1], true, false)]);
      await seed(2, {}, [answer('A', [1], true), answer('B', [1], false)]);
      await seed(3, {}, [answer('A', [2], false), answer('B', [0, 2], true)]);
      await seed(4, {}, [answer('A', [2], false), answer('B', [1], false)]);
      await seed(5, {}, [answer('A', [3], false)]); // one first answer only: no rest score
      const { items, options } = await store.itemStats(all());
      const byId = Object.fromEntries(items.map((i) => [i.itemId, i]));
      // Rest scores y: learner 1 → 1 for both; 2: A → 0, B → 1; 3: A → 1, B → 0; 4: 0.
      expect(byId.A).toEqual({ itemId: 'A', lessonId: 'l1', attempts: 6, firstTries: 5, firstTryCorrect: 2, n: 4, sx: 2, sy: 2, sxy: 1, syy: 2 });
      expect(byId.B).toEqual({ itemId: 'B', lessonId: 'l1', attempts: 4, firstTries: 4, firstTryCorrect: 2, n: 4, sx: 2, sy: 2, sxy: 1, syy: 2 });
      expect(options.map((o) => [o.itemId, o.options, o.count]).sort((a, b) => String(a).localeCompare(String(b)))).toEqual([
        ['A', '1', 2],
        ['A', '2', 2],
        ['A', '3', 1],
        ['B', '0,2', 2],
        ['B', '1', 2],
      ]);
    });

    it('gives the recall log by days since last seen and predicted recall, and nudges by local hour', async () => {
      await seed(1, {}, [
        answer('A', [1], true, false, { predicted: 0.9, days: 1.5, mode: 'review' }),
        answer('B', [1], false, false, { predicted: 0.9, days: 1.2, mode: 'review' }),
        answer('C', [1], true, false, { predicted: 0.5, days: 10.7, mode: 'review' }),
        answer('D', [1], true, true),
        { type: 'nudge', at: iso(0), event: 'sent', localHour: 9 },
        { type: 'nudge', at: iso(1), event: 'sent', localHour: 9 },
        { type: 'nudge', at: iso(1, 20), event: 'answered', localHour: 9 },
        { type: 'nudge', at: iso(2), event: 'snoozed', localHour: 20 },
      ]);
      expect(await store.recallLog(all())).toEqual([
        { days: 1, predicted: 0.9, n: 2, right: 1 },
        { days: 10, predicted: 0.5, n: 1, right: 1 },
      ]);
      const nudges = (await store.nudgeStats(all())).map((r) => [r.event, r.localHour, r.count]).sort((a, b) => String(a).localeCompare(String(b)));
      expect(nudges).toEqual([
        ['answered', 9, 1],
        ['sent', 9, 2],
        ['snoozed', 20, 1],
      ]);
    });

    it('gives team quizzes by channel and day: quizzes, players and answers', async () => {
      const group = { channel: 'slack' as const, conversationId: `team-${tag}` };
      const answerAt = async (quizId: string, question: number, userId: string, at: Date) =>
        expect(await store.recordGroupAnswer({ key: group, quizId, question, userId, displayName: userId, option: 0, at, eventId: `${group.conversationId}-${quizId}-${question}-${userId}` })).toBe('recorded');
      await answerAt('q1', 0, 'a', day(0, 1));
      await answerAt('q1', 0, 'b', day(0, 1));
      await answerAt('q1', 1, 'a', day(0, 2));
      for (const u of ['a', 'b', 'c']) await answerAt('q2', 0, u, day(3, 5));
      expect(await store.teamQuizzes(all())).toEqual([
        { channel: 'slack', day: iso(0).slice(0, 10), quizzes: 1, players: 2, answers: 3 },
        { channel: 'slack', day: iso(3).slice(0, 10), quizzes: 1, players: 3, answers: 3 },
      ]);
      expect(await store.teamQuizzes({ ...all(), channel: 'telegram' })).toEqual([]);
    });

    it('writes activity only with a committed state: a conflict or a duplicate event writes none; /mydata shows it, /forget erases it', async () => {
      const key = await seed(1, {}, [started(0)]);
      const address: Address = { channel: key.channel, conversationId: key.userId, kind: 'direct' };
      const rec = (await store.getLearner(key))!;
      const eventId = `ev-${key.userId}`;
      expect(await store.commitLearner({ key, expectedVersion: 5, state: rec.state, address, nudgeAt: null, now: day(1), eventId, activity: [completed(1, 4, 3)] })).toBe('conflict');
      expect(await store.commitLearner({ key, expectedVersion: 1, state: rec.state, address, nudgeAt: null, now: day(1), eventId, activity: [answer('A', [0], true)] })).toBe('committed');
      expect(await store.commitLearner({ key, expectedVersion: 2, state: rec.state, address, nudgeAt: null, now: day(1), eventId, activity: [answer('A', [0], true)] })).toBe('duplicate');
      const data = await store.exportLearner(key);
      expect(data.activity).toEqual([started(0), answer('A', [0], true)]);
      // Only the committed records count anywhere (the refused completion on day 1 is nowhere).
      expect(await store.activityByPeriod(all(), 'day')).toEqual([{ period: iso(0).slice(0, 10), learners: 1, lessonsCompleted: 0, answers: 1 }]);
      await store.forgetLearner(key);
      expect((await store.exportLearner(key)).activity).toEqual([]);
      expect(await store.lessonFunnel(all())).toEqual({ lessons: [], durations: [] });
      expect(await store.activityByPeriod(all(), 'day')).toEqual([]);
    });
  });
}
