/**
 * The pure workshop engine: the plan, the trainer's actions phase by phase, what participants see
 * in their language, answers that become the participant's own FSRS card, and the board's view.
 */
import { describe, expect, it } from 'vitest';
import { newLearnerState } from '../src/engine/state.js';
import {
  boardView,
  checkNewWorkshop,
  decodeWorkshopAnswer,
  encodeWorkshopAnswer,
  handleTrainerEvent,
  joinRequest,
  newWorkshop,
  participantAnswer,
  participantMessages,
  planSteps,
  type WorkshopState,
} from '../src/engine/workshop.js';
import { fixtureCourse } from './helpers.js';

const course = fixtureCourse();
const T0 = new Date('2026-03-02T09:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

function run(state: WorkshopState, ...events: Parameters<typeof handleTrainerEvent>[1][]): WorkshopState {
  return events.reduce((s, e, i) => handleTrainerEvent(s, e, at(i + 1)).state, state);
}

describe('workshop plan and trainer actions', () => {
  it('plans each lesson’s cards, then its one-tap questions (no multiple-answer items)', () => {
    const steps = planSteps(course, ['l1']);
    expect(steps.filter((s) => s.kind === 'card')).toHaveLength(3);
    expect(steps.filter((s) => s.kind === 'question').map((s) => (s.kind === 'question' ? s.itemId : ''))).toEqual(['l1-q1', 'l1-q2', 'l1-q4']);
    expect(checkNewWorkshop(course, { title: ' ', lessonIds: ['l1'], lang: 'en' })).toBe('workshop.error_title');
    expect(checkNewWorkshop(course, { title: 'Day 1', lessonIds: ['nope'], lang: 'en' })).toBe('workshop.error_lessons');
    expect(checkNewWorkshop(course, { title: 'Day 1', lessonIds: [], lang: 'en' })).toBe('workshop.error_lessons');
    expect(checkNewWorkshop(course, { title: 'Day 1', lessonIds: ['l1'], lang: 'en' })).toBeNull();
  });

  it('moves through the phases; an action that does not fit changes nothing; every post is counted', () => {
    const w = newWorkshop(course, { title: 'Day 1', lessonIds: ['l1'], lang: 'fr' });
    expect(w).toMatchObject({ index: -1, phase: 'lobby', post: 0 });
    expect(handleTrainerEvent(w, { type: 'close' }, T0).changed).toBe(false);
    const card = run(w, { type: 'next' });
    expect(card).toMatchObject({ index: 0, phase: 'card', post: 1 });
    const open = run(card, { type: 'go', index: 3 });
    expect(open).toMatchObject({ index: 3, phase: 'open', post: 2 });
    // An open question is not skipped by a double tap on "next", nor jumped away from.
    expect(handleTrainerEvent(open, { type: 'next' }, T0).changed).toBe(false);
    expect(handleTrainerEvent(open, { type: 'go', index: 0 }, T0).changed).toBe(false);
    const closed = run(open, { type: 'close' });
    expect(closed).toMatchObject({ phase: 'closed', post: 2 });
    const revealed = run(closed, { type: 'reveal' });
    expect(revealed).toMatchObject({ phase: 'revealed', post: 3 });
    expect(handleTrainerEvent(revealed, { type: 'reveal' }, T0).changed).toBe(false);
    // Reveal straight from open closes too.
    expect(run(open, { type: 'reveal' })).toMatchObject({ phase: 'revealed', closedAt: at(1).toISOString() });
    // "next" after the last step ends the session; nothing moves it afterwards.
    const last = run(revealed, { type: 'next' }, { type: 'close' }, { type: 'reveal' }, { type: 'next' }, { type: 'close' }, { type: 'reveal' });
    expect(last).toMatchObject({ index: 5, phase: 'revealed' });
    const ended = run(last, { type: 'next' });
    expect(ended.phase).toBe('ended');
    expect(handleTrainerEvent(ended, { type: 'go', index: 0 }, T0).changed).toBe(false);
    expect(handleTrainerEvent(ended, { type: 'go', index: 99 }, T0).changed).toBe(false);
  });
});

describe('participants', () => {
  const open = run(newWorkshop(course, { title: 'Atelier', lessonIds: ['l1'], lang: 'en' }), { type: 'go', index: 3 });

  it('reads join requests from every channel’s way of saying them', () => {
    expect(joinRequest({ type: 'text', text: 'join ab3def' })).toBe('AB3DEF');
    expect(joinRequest({ type: 'text', text: '  JOIN AB3DEF ' })).toBe('AB3DEF');
    expect(joinRequest({ type: 'command', command: 'join', args: 'AB3DEF' })).toBe('AB3DEF');
    expect(joinRequest({ type: 'command', command: 'start', args: 'ws-AB3DEF' })).toBe('AB3DEF');
    expect(joinRequest({ type: 'command', command: 'start', args: '' })).toBeUndefined();
    expect(joinRequest({ type: 'text', text: 'join us for lunch' })).toBeUndefined();
    expect(joinRequest({ type: 'text', text: 'join AB0DEF' })).toBeUndefined(); // 0 is not in the code alphabet
  });

  it('encodes answer buttons within Telegram’s 64 bytes and refuses anything else', () => {
    const data = encodeWorkshopAnswer({ workshopId: 'AbCdEfGhIjKl', step: 12, option: 3 });
    expect(Buffer.byteLength(data)).toBeLessThanOrEqual(64);
    expect(decodeWorkshopAnswer(data)).toEqual({ workshopId: 'AbCdEfGhIjKl', step: 12, option: 3 });
    expect(decodeWorkshopAnswer('1|w|x|1|1')).toBeUndefined();
    expect(decodeWorkshopAnswer('1|a|l1-q1|0')).toBeUndefined();
  });

  it('shows each participant the question in their own language, with one button per option', () => {
    const fr = participantMessages(course, open, 'AbCdEfGhIjKl', 'fr')[0]!;
    const en = participantMessages(course, open, 'AbCdEfGhIjKl', 'en')[0]!;
    if (fr.kind !== 'quiz' || en.kind !== 'quiz') throw new Error('not a question');
    expect(fr.heading).toContain('question 1 sur 3');
    expect(fr.question).toBe(course.item('l1-q1', 'fr')!.question);
    expect(en.question).toBe(course.item('l1-q1', 'en')!.question);
    expect(fr.choices.map((c) => decodeWorkshopAnswer(c.data)?.option)).toEqual([0, 1, 2]);
  });

  it('turns an answer into the participant’s own review card, and refuses one for a closed or other step', () => {
    const learner = newLearnerState(T0, 'es');
    const r = participantAnswer(course, open, learner, { workshopId: 'w', step: 3, option: 1 }, at(20), 0.9);
    if (!('learner' in r)) throw new Error('refused');
    expect(r.correct).toBe(true);
    expect(r.learner.reviews['l1-q1']).toMatchObject({ seen: 1, right: 1 });
    expect(new Date(r.learner.reviews['l1-q1']!.due).getTime()).toBeGreaterThan(at(20).getTime());
    expect(r.messages[0]).toMatchObject({ kind: 'notice', reason: 'recorded' });
    const wrong = participantAnswer(course, open, learner, { workshopId: 'w', step: 3, option: 0 }, at(20), 0.9);
    expect('learner' in wrong && wrong.learner.reviews['l1-q1']).toMatchObject({ seen: 1, right: 0 });
    expect(participantAnswer(course, open, learner, { workshopId: 'w', step: 4, option: 0 }, at(20), 0.9)).toMatchObject({ notice: { reason: 'closed' } });
    expect(participantAnswer(course, run(open, { type: 'close' }), learner, { workshopId: 'w', step: 3, option: 1 }, at(20), 0.9)).toMatchObject({ notice: { reason: 'closed' } });
    expect(participantAnswer(course, open, learner, { workshopId: 'w', step: 3, option: 9 }, at(20), 0.9)).toMatchObject({ notice: { reason: 'closed' } });
  });

  it('reveals the answer, the explanation and whether the participant was right', () => {
    const revealed = run(open, { type: 'reveal' });
    const [m] = participantMessages(course, revealed, 'w', 'fr', { option: 0, correct: false });
    expect(m).toMatchObject({ kind: 'feedback', correct: false, right: [1], picked: [0], explanation: course.item('l1-q1', 'fr')!.explanation });
  });
});

describe('the board', () => {
  it('shows live counts, then the right answer, then the podium and the hardest items', () => {
    const open = run(newWorkshop(course, { title: 'Day 1', lessonIds: ['l1'], lang: 'en' }), { type: 'go', index: 3 });
    const live = boardView(course, open, { code: 'AB3DEF', joined: 4, tally: { counts: [1, 2, 0], answered: 3 } });
    expect(live.question).toMatchObject({ number: 1, total: 3, answered: 3 });
    expect(live.question!.options.map((o) => o.count)).toEqual([1, 2, 0]);
    expect(live.question!.options.some((o) => o.correct !== undefined)).toBe(false);
    expect(live.question!.explanation).toBeUndefined();
    const shown = boardView(course, run(open, { type: 'reveal' }), { code: 'AB3DEF', joined: 4, tally: { counts: [1, 2, 0], answered: 3 } });
    expect(shown.question!.options.map((o) => o.correct)).toEqual([false, true, false]);
    expect(shown.question!.explanation).toBeTruthy();
    const ended = boardView(course, run(open, { type: 'end' }), {
      code: 'AB3DEF',
      joined: 4,
      standings: [
        { name: 'Ana', right: 2, answered: 3 },
        { name: 'Ben', right: 3, answered: 3 },
        { name: 'Cy', right: 1, answered: 3 },
        { name: 'Di', right: 0, answered: 1 },
      ],
      results: [
        { itemId: 'l1-q1', question: '', right: 3, answered: 4 },
        { itemId: 'l1-q2', question: '', right: 1, answered: 4 },
        { itemId: 'l1-q4', question: '', right: 2, answered: 4 },
      ],
    });
    expect(ended.podium!.map((p) => p.name)).toEqual(['Ben', 'Ana', 'Cy']);
    expect(ended.hardest!.map((h) => h.itemId)).toEqual(['l1-q2', 'l1-q4', 'l1-q1']);
    expect(ended.hardest![0]!.question).toBe(course.item('l1-q2', 'en')!.question);
  });
});
