import { describe, expect, it } from 'vitest';
import {
  claimTally,
  closeQuestion,
  DEFAULT_GROUP_OPTIONS,
  FORMER_PARTICIPANT_NAME,
  groupDueTimes,
  handleGroupEvent,
  newGroupState,
  pickGroupItems,
  pointsFor,
  startGroupQuiz,
  tallyIdle,
  tallyMessage,
  tallyQuestions,
  tallySent,
  tapMayClose,
  type GroupAnswer,
  type GroupState,
} from '../src/engine/group.js';
import { tallyKey } from '../src/messages.js';
import { encodeAction } from '../src/engine/actions.js';
import { choice, fixtureCourse, inbound } from './helpers.js';

describe('team quiz items', () => {
  const course = fixtureCourse();

  it('favour what the team gets wrong most often, then what it has not seen, and leave out multiple-answer items', () => {
    const stats = { 'l1-q4': { asked: 4, right: 0 }, 'l2-q1': { asked: 4, right: 2 }, 'l1-q1': { asked: 4, right: 4 } };
    const items = pickGroupItems(course, stats, undefined, 9, 'seed').map((i) => i.id);
    expect(items.slice(0, 2)).toEqual(['l1-q4', 'l2-q1']);
    expect(items.at(-1)).toBe('l1-q1');
    expect(items.some((id) => id.endsWith('-q3'))).toBe(false);
    // One module only, and the same seed gives the same order.
    const m2 = pickGroupItems(course, {}, 'm2', 3, 'seed').map((i) => i.id);
    expect(m2.every((id) => id.startsWith('l3-'))).toBe(true);
    expect(pickGroupItems(course, {}, 'm2', 3, 'seed').map((i) => i.id)).toEqual(m2);
  });

  it('give 10 points for a right answer plus up to 5 for speed', () => {
    const opened = new Date('2026-03-02T09:00:00Z');
    expect(pointsFor(opened, opened, 30)).toBe(15);
    expect(pointsFor(new Date(opened.getTime() + 15_000), opened, 30)).toBe(13);
    expect(pointsFor(new Date(opened.getTime() + 30_000), opened, 30)).toBe(10);
  });
});

describe('a tap with only the tally of answers so far', () => {
  const course = fixtureCourse();
  const now = new Date('2026-03-02T09:00:00Z');
  const started = startGroupQuiz(course, DEFAULT_GROUP_OPTIONS, newGroupState('en'), '2', 'qz', now).state;
  // Three members joined on an earlier question.
  const state: GroupState = { ...started, quiz: { ...started.quiz!, participants: { a: 'Ana', b: 'Ben', c: 'Chen' } } };
  const tap = (user: string, answers: GroupAnswer[] | { count: number; mine: boolean }) =>
    handleGroupEvent(course, DEFAULT_GROUP_OPTIONS, {
      state,
      answers,
      event: { type: 'inbound', inbound: inbound(choice(encodeAction({ type: 'group_answer', quizId: 'qz', question: 0, option: 0 })), { user, group: 'room', name: user.toUpperCase() }) },
      now,
      quizId: 'unused',
    });
  const answer = (userId: string): GroupAnswer => ({ userId, displayName: userId, option: 1, at: now });

  it('needs every answer only when the tap may be the last one owed by those who joined', () => {
    expect(tapMayClose(state, { count: 0, mine: false })).toBe(false);
    expect(tapMayClose(state, { count: 1, mine: false })).toBe(false);
    expect(tapMayClose(state, { count: 2, mine: false })).toBe(true);
    // Nobody has joined yet (a quiz's first question): only its time closes it.
    expect(tapMayClose(started, { count: 500, mine: false })).toBe(false);
  });

  it('records the answer, names only this member, and does not close the question', () => {
    const r = tap('a', { count: 1, mine: false });
    expect(r.effects).toEqual([{ type: 'record_answer', quizId: 'qz', question: 0, userId: 'a', displayName: 'A', option: 0 }]);
    expect(r.reply).toMatchObject([{ kind: 'notice', reason: 'recorded' }]);
    expect(r.changed).toBe(false);
    expect(r.state.owed ?? []).toEqual([]);
  });

  it('answers "already answered" when the tally says this member answered, recording nothing', () => {
    const r = tap('a', { count: 1, mine: true });
    expect(r.effects).toEqual([]);
    expect(r.reply).toMatchObject([{ kind: 'notice', reason: 'already_answered' }]);
  });

  it('closes the question on the last answer owed when given every answer, as before', () => {
    const r = tap('c', [answer('a'), answer('b')]);
    expect(r.changed).toBe(true);
    expect(r.state.quiz?.index).toBe(1);
    expect(r.state.owed?.[0]?.messages.map((m) => m.kind)).toEqual(['close', 'text', 'quiz']);
  });

  it('refuses a tick with only a tally: closing needs every answer', () => {
    expect(() => handleGroupEvent(course, DEFAULT_GROUP_OPTIONS, { state, answers: { count: 3, mine: false }, event: { type: 'tick' }, now, quizId: 'x' })).toThrow(/every answer/);
  });
});

describe('the running tally of who has answered (channels without private notices)', () => {
  const course = fixtureCourse();
  const now = new Date('2026-03-02T09:00:00Z');
  const later = (s: number) => new Date(now.getTime() + s * 1000);
  const state = startGroupQuiz(course, DEFAULT_GROUP_OPTIONS, newGroupState('en'), '2', 'qz', now).state;
  const q0 = { quizId: 'qz', index: 0, itemId: state.quiz!.itemIds[0]! };
  const k0 = 'qz:0';

  it('is claimed by one sender at a time, once the open question has answers', () => {
    expect(claimTally(state, { [k0]: 0 }, now, later(60))).toBeNull();
    const first = claimTally(state, { [k0]: 2 }, now, later(60))!;
    expect(first.question).toEqual(q0);
    expect(first.messageRef).toBeUndefined();
    expect(first.state.tally).toEqual({ question: q0, shown: 0, claimedUntil: later(60).toISOString() });
    // Another sender finds it held until the claim lapses (a crashed sender's claim is taken over).
    expect(claimTally(first.state, { [k0]: 3 }, later(30), later(90))).toBeNull();
    expect(claimTally(first.state, { [k0]: 3 }, later(61), later(120))?.question).toEqual(q0);
    // The group's clock comes back to a held claim, so that a failed send is tried again.
    expect(groupDueTimes(first.state).closesAt!.getTime()).toBeLessThanOrEqual(later(60).getTime());
  });

  it('keeps the message it posted and what it showed, waits a spacing, and is claimed again only when answers came', () => {
    const claimed = claimTally(state, { [k0]: 2 }, now, later(60))!;
    const sent = tallySent(claimed.state, q0, 2, { [tallyKey(q0)]: 'act-7' }, later(2));
    expect(sent.tally).toEqual({ question: q0, shown: 2, ref: 'act-7', claimedUntil: later(2).toISOString() });
    // Held for the spacing after a send, whoever asks; the group's clock comes back when it ends.
    expect(claimTally(sent, { [k0]: 3 }, later(1), later(61))).toBeNull();
    expect(groupDueTimes(sent).closesAt).toEqual(later(2));
    // Then nothing new: the lapsed hold is dropped, so the clock stops coming back.
    expect(claimTally(sent, { [k0]: 2 }, later(3), later(63))).toBeNull();
    expect(tallyIdle(sent, later(1))).toBeNull();
    expect(tallyIdle(sent, later(3))!.tally).toEqual({ question: q0, shown: 2, ref: 'act-7' });
    expect(groupDueTimes(tallyIdle(sent, later(3))!).closesAt).toEqual(new Date(state.quiz!.closesAt));
    // A new answer: claimed again, to edit the same message; an edit reports no new id, and the one it had stays.
    const again = claimTally(sent, { [k0]: 3 }, later(3), later(63))!;
    expect(again.messageRef).toBe('act-7');
    expect(tallySent(again.state, q0, 3, {}, later(5)).tally).toMatchObject({ question: q0, shown: 3, ref: 'act-7' });
  });

  it("finishes a closed question's tally before starting the next question's", () => {
    const claimed = claimTally(state, { [k0]: 1 }, now, later(60))!;
    const shownOne = tallySent(claimed.state, q0, 1, { [tallyKey(q0)]: 'act-1' }, later(1));
    const answers: GroupAnswer[] = [
      { userId: 'a', displayName: 'Ana', option: 0, at: later(1) },
      { userId: 'b', displayName: 'Ben', option: 1, at: later(2) },
    ];
    const next = closeQuestion(course, shownOne, answers, later(3)).state;
    const q1 = { quizId: 'qz', index: 1, itemId: next.quiz!.itemIds[1]! };
    expect(tallyQuestions(next)).toEqual([q0, q1]);
    // The second answer closed question 1 before its tally showed it: that comes first, in place.
    const last = claimTally(next, { [k0]: 2, 'qz:1': 1 }, later(4), later(64))!;
    expect(last.question).toEqual(q0);
    expect(last.messageRef).toBe('act-1');
    const done = tallySent(last.state, q0, 2, {}, later(6));
    // Then the open question gets a tally of its own.
    const fresh = claimTally(done, { [k0]: 2, 'qz:1': 1 }, later(7), later(67))!;
    expect(fresh.question).toEqual(q1);
    expect(fresh.messageRef).toBeUndefined();
    // A question whose time is up starts no new tally (its reveal is coming).
    expect(claimTally(done, { [k0]: 2, 'qz:1': 1 }, later(3 + 31), later(95))).toBeNull();
  });

  it("names who answered in the group's language, never what they chose, and counts the rest past 40", () => {
    const names = Array.from({ length: 45 }, (_, i) => `M${i + 1}`);
    const en = tallyMessage('en', q0, names.slice(0, 2), 'act-3');
    expect(en).toEqual({ kind: 'tally', teamQuestion: q0, text: 'Answered so far (2): M1, M2', count: 2, messageRef: 'act-3' });
    expect(tallyMessage('en', q0, names).text).toMatch(/^Answered so far \(45\): M1, M2, .*, M40 and 5 more$/);
    expect(tallyMessage('fr', q0, [FORMER_PARTICIPANT_NAME, 'Ana']).text).toBe('Ont déjà répondu (2)\u00a0: un ancien participant, Ana');
    expect(tallyMessage('es', q0, names).text).toMatch(/^Ya han respondido \(45\): M1, .* y 5 más$/);
  });
});
