import { describe, expect, it } from 'vitest';
import { DEFAULT_GROUP_OPTIONS, handleGroupEvent, newGroupState, pickGroupItems, pointsFor, startGroupQuiz, tapMayClose, type GroupAnswer, type GroupState } from '../src/engine/group.js';
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
    expect(r.reply).toMatchObject([{ kind: 'notice', reason: 'recorded', answered: ['A'] }]);
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
