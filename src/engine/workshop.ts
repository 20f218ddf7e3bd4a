/**
 * Workshop mode, the pure part: a live session in a room, run by a trainer. A workshop question is
 * a group question with a trainer in charge: the trainer's actions (show a card, ask, close, reveal,
 * next, end) are events for the workshop's record; a participant's answer is an event on the
 * participant's own learner record, so it feeds their own FSRS reviews in the same commit.
 *
 * Nothing here does I/O: state, event and `now` in; new state and what to tell whom out.
 *
 * ```ts
 * const state = newWorkshop(course, { title: 'Kigali, day 1', lessonIds: ['m1-why-a-toolkit'], lang: 'en' }, now);
 * const r = handleTrainerEvent(state, { type: 'next' }, now); // the first step opens
 * participantMessages(course, r.state, ref, 'fr');           // what a French participant sees
 * ```
 */
import type { Course, QuizItem } from '../content/course.js';
import { correctIndices } from '../content/course.js';
import type { Choice, InboundEvent, Outbound, RichText } from '../messages.js';
import { plain } from '../messages.js';
import { scheduleAnswer } from '../learning/review.js';
import { quizOptions } from './engine.js';
import { t } from './i18n.js';
import type { Lang, LearnerState } from './state.js';

/** One step of the session: a lesson card shown to everyone, or a question everyone answers. */
export type WorkshopStep = { kind: 'card'; lessonId: string; card: number } | { kind: 'question'; itemId: string };

export type WorkshopPhase = 'lobby' | 'card' | 'open' | 'closed' | 'revealed' | 'ended';

export interface WorkshopState {
  schema: 1;
  title: string;
  /** The language of the trainer's pages and the board (participants each get their own). */
  lang: Lang;
  lessonIds: string[];
  steps: WorkshopStep[];
  /** The current step; -1 in the lobby. */
  index: number;
  phase: WorkshopPhase;
  /** When the current step was shown (a question: when it opened). */
  shownAt?: string;
  closedAt?: string;
  endedAt?: string;
  /**
   * Increases each time participants are owed a new post (a step shown, a reveal, the end). Each
   * participant's row keeps the last one delivered, so a post is owed until it has gone out: a
   * restart resends what was not delivered, and nothing twice.
   */
  post: number;
}

/** The trainer's actions, from the control page. */
export type TrainerEvent =
  | { type: 'next' }
  | { type: 'go'; index: number }
  | { type: 'close' }
  | { type: 'reveal' }
  | { type: 'end' };

export interface TrainerResult {
  state: WorkshopState;
  /** False when the event changed nothing (a second tap on "close", a step that does not exist). */
  changed: boolean;
}

export interface NewWorkshop {
  title: string;
  lessonIds: string[];
  lang: Lang;
}

/** Item types a room can answer with one tap (multiple-answer items need ticks and a submit: left to the learner's own quizzes). */
export function isWorkshopItem(item: QuizItem): boolean {
  return item.type === 'single' || item.type === 'truefalse';
}

/** The session's plan from the chosen lessons: each lesson's cards, then its one-tap questions. */
export function planSteps(course: Course, lessonIds: string[]): WorkshopStep[] {
  return lessonIds.flatMap((id) => {
    const lesson = course.lessons.get(id);
    if (!lesson) return [];
    return [
      ...lesson.cards.map((_, card) => ({ kind: 'card' as const, lessonId: id, card })),
      ...lesson.items.filter(isWorkshopItem).map((item) => ({ kind: 'question' as const, itemId: item.id })),
    ];
  });
}

/** Checks a new workshop's fields; returns the reason (an interface text key) it cannot be made, or null. */
export function checkNewWorkshop(course: Course, w: NewWorkshop): 'workshop.error_title' | 'workshop.error_lessons' | null {
  if (!w.title.trim() || w.title.length > 120) return 'workshop.error_title';
  if (!w.lessonIds.length || w.lessonIds.some((id) => !course.lessons.has(id))) return 'workshop.error_lessons';
  if (!planSteps(course, w.lessonIds).some((s) => s.kind === 'question')) return 'workshop.error_lessons';
  return null;
}

export function newWorkshop(course: Course, w: NewWorkshop): WorkshopState {
  return { schema: 1, title: w.title.trim(), lang: w.lang, lessonIds: w.lessonIds, steps: planSteps(course, w.lessonIds), index: -1, phase: 'lobby', post: 0 };
}

/** The step on screen, if any. */
export function currentStep(state: WorkshopState): WorkshopStep | undefined {
  return state.index >= 0 ? state.steps[state.index] : undefined;
}

function show(state: WorkshopState, index: number, now: Date): WorkshopState {
  const step = state.steps[index]!;
  const { closedAt: _closed, ...rest } = state;
  return { ...rest, index, phase: step.kind === 'card' ? 'card' : 'open', shownAt: now.toISOString(), post: state.post + 1 };
}

/**
 * Applies a trainer's action. "next" shows the next step (or ends after the last); "go" jumps to
 * any step; "close" stops answers; "reveal" closes (if open) and shows the answer; "end" ends the
 * session. An action that does not fit the phase changes nothing.
 */
export function handleTrainerEvent(state: WorkshopState, event: TrainerEvent, now: Date): TrainerResult {
  const same = { state, changed: false };
  if (state.phase === 'ended') return same;
  const at = now.toISOString();
  switch (event.type) {
    case 'next':
      if (state.phase === 'open') return same; // close (or reveal) first: a question is never skipped by a double tap
      if (state.index + 1 >= state.steps.length) return handleTrainerEvent(state, { type: 'end' }, now);
      return { state: show(state, state.index + 1, now), changed: true };
    case 'go':
      if (!Number.isInteger(event.index) || event.index < 0 || event.index >= state.steps.length || state.phase === 'open') return same;
      return { state: show(state, event.index, now), changed: true };
    case 'close':
      if (state.phase !== 'open') return same;
      return { state: { ...state, phase: 'closed', closedAt: at }, changed: true };
    case 'reveal':
      if (state.phase !== 'open' && state.phase !== 'closed') return same;
      return { state: { ...state, phase: 'revealed', closedAt: state.closedAt ?? at, post: state.post + 1 }, changed: true };
    case 'end':
      return { state: { ...state, phase: 'ended', endedAt: at, ...(state.phase === 'open' ? { closedAt: at } : {}), post: state.post + 1 }, changed: true };
  }
}

// ---- participants ---------------------------------------------------------------------------

/** Where a participant's answer button points: the workshop, the step, the option. */
export interface WorkshopAnswerAction {
  workshopId: string;
  step: number;
  option: number;
}

/** Button data of a workshop answer ("1|w|<workshop>|<step>|<option>", well within Telegram's 64 bytes). */
export function encodeWorkshopAnswer(a: WorkshopAnswerAction): string {
  return ['1', 'w', a.workshopId, a.step, a.option].join('|');
}

export function decodeWorkshopAnswer(data: string): WorkshopAnswerAction | undefined {
  const m = /^1\|w\|([\w-]{6,32})\|(\d{1,4})\|(\d{1,2})$/.exec(data);
  return m ? { workshopId: m[1]!, step: Number(m[2]), option: Number(m[3]) } : undefined;
}

/** Join codes: 6 characters without look-alikes (no 0/O, 1/I/L). */
export const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const CODE = /^[A-HJKMNP-Z2-9]{6}$/;

export function isJoinCode(s: string): boolean {
  return CODE.test(s);
}

/**
 * Whether a participant's message is a request to join a workshop, and with which code:
 * `join CODE` typed in any chat, `/join CODE`, or Telegram's deep link (`/start ws-CODE`).
 */
export function joinRequest(event: InboundEvent): string | undefined {
  const code = (s: string) => {
    const c = s.trim().toUpperCase();
    return isJoinCode(c) ? c : undefined;
  };
  if (event.type === 'text') {
    const m = /^\s*join\s+(\S+)\s*$/i.exec(event.text);
    return m ? code(m[1]!) : undefined;
  }
  if (event.type === 'command') {
    if (event.command === 'join') return code(event.args);
    if (event.command === 'start') {
      const m = /^ws-(\S+)$/i.exec(event.args.trim());
      return m ? code(m[1]!) : undefined;
    }
  }
  return undefined;
}

/** What a participant is told about their own answer when the trainer reveals. */
export interface OwnAnswer {
  option: number;
  correct: boolean;
}

/**
 * What a participant sees of the current step, in their language: a card, a question with answer
 * buttons (while it is open), the answer and explanation (after the reveal), or the end.
 */
export function participantMessages(course: Course, state: WorkshopState, workshopId: string, lang: Lang, own?: OwnAnswer, totals?: { right: number; answered: number }): Outbound[] {
  const view = course.in(lang);
  if (state.phase === 'ended') {
    return [{ kind: 'text', text: plain(t(lang, 'workshop.ended', { title: state.title, right: totals?.right ?? 0, answered: totals?.answered ?? 0 })) }];
  }
  const step = currentStep(state);
  if (!step) return [{ kind: 'text', text: plain(t(lang, 'workshop.waiting', { title: state.title })) }];
  if (step.kind === 'card') {
    const lesson = view.lessons.get(step.lessonId)!;
    return [{ kind: 'card', lessonTitle: lesson.title, index: step.card + 1, total: lesson.cards.length, body: lesson.cards[step.card]!, choices: [] }];
  }
  const item = view.items.get(step.itemId)!;
  const options = quizOptions(lang, item);
  const heading = t(lang, 'workshop.question_heading', { title: state.title, index: questionNumber(state, state.index), total: questionCount(state) });
  if (state.phase === 'open') {
    const choices: Choice[] = options.map((o, i) => ({
      label: item.type === 'truefalse' ? o.text : o.key,
      data: encodeWorkshopAnswer({ workshopId, step: state.index, option: i }),
    }));
    return [{ kind: 'quiz', itemId: item.id, heading, question: item.question, options, multiple: false, choices }];
  }
  if (state.phase === 'closed') return [{ kind: 'text', text: plain(t(lang, 'workshop.closed_wait')) }];
  const right = correctIndices(item);
  return [
    {
      kind: 'feedback',
      correct: !!own?.correct,
      heading: own ? t(lang, own.correct ? 'workshop.you_right' : 'workshop.you_wrong') : t(lang, 'workshop.you_none'),
      answer: right.map((i) => `${options[i]!.key}. ${options[i]!.text}`),
      answerLabel: t(lang, right.length > 1 ? 'feedback.answers' : 'feedback.answer'),
      explanation: item.explanation,
      right,
      picked: own ? [own.option] : [],
      question: item.question,
      options,
      choices: [],
    },
  ];
}

/** 1-based number of the question at step `index` among the session's questions. */
export function questionNumber(state: WorkshopState, index: number): number {
  return state.steps.slice(0, index + 1).filter((s) => s.kind === 'question').length;
}

export function questionCount(state: WorkshopState): number {
  return state.steps.filter((s) => s.kind === 'question').length;
}

export interface ParticipantAnswerResult {
  /** The learner's new state: the item's FSRS card scheduled from this answer. */
  learner: LearnerState;
  /** Whether the answer is right (kept with the answer, for the board and the podium). */
  correct: boolean;
  itemId: string;
  messages: Outbound[];
}

/**
 * A participant taps an answer. Accepted only while that very step is the open question; then the
 * answer is scheduled as a review of the item in the learner's own FSRS cards (the workshop's
 * answers become their reviews), and the learner hears that it is recorded (not yet whether it
 * is right: that is the trainer's reveal). Anything else gets a notice and changes nothing.
 */
export function participantAnswer(
  course: Course,
  workshop: WorkshopState,
  learner: LearnerState,
  action: WorkshopAnswerAction,
  now: Date,
  retention: number,
): ParticipantAnswerResult | { notice: Outbound } {
  const lang = learner.lang;
  const step = workshop.steps[action.step];
  if (workshop.index !== action.step || workshop.phase !== 'open' || step?.kind !== 'question') {
    return { notice: { kind: 'notice', text: t(lang, 'workshop.not_open'), reason: 'closed' } };
  }
  const item = course.items.get(step.itemId)!;
  if (action.option >= item.options.length) return { notice: { kind: 'notice', text: t(lang, 'workshop.not_open'), reason: 'closed' } };
  const correct = correctIndices(item).length === 1 && correctIndices(item)[0] === action.option;
  const elapsedMs = workshop.shownAt ? Math.max(0, now.getTime() - new Date(workshop.shownAt).getTime()) : 0;
  const card = scheduleAnswer(learner.reviews[item.id], { correct, elapsedMs, wrongTries: 0 }, now, retention);
  const at = now.toISOString();
  const next: LearnerState = { ...learner, reviews: { ...learner.reviews, [item.id]: card }, lastSeenAt: at, lastLearnedAt: at };
  const key = quizOptions(lang, item)[action.option]!;
  const label = item.type === 'truefalse' ? key.text : key.key;
  return { learner: next, correct, itemId: item.id, messages: [{ kind: 'notice', text: t(lang, 'workshop.recorded', { option: label }), reason: 'recorded' }] };
}

// ---- the board ------------------------------------------------------------------------------

/** One participant's standing, for the podium. */
export interface Standing {
  name: string;
  right: number;
  answered: number;
}

/** A question's result, for "the items the room found hardest". */
export interface ItemResult {
  itemId: string;
  question: string;
  right: number;
  answered: number;
}

/** Everything the projector shows, in the board's language. Plain JSON, sent to the board as it changes. */
export interface BoardView {
  title: string;
  code: string;
  phase: WorkshopPhase;
  joined: number;
  /** Present on a question step. */
  question?: {
    number: number;
    total: number;
    text: string;
    options: { key: string; text: string; count: number; correct?: boolean }[];
    answered: number;
    explanation?: string;
  };
  card?: { lessonTitle: string; index: number; total: number; body: RichText };
  /** At the end: the top three, and the items the room found hardest (lowest right share first). */
  podium?: Standing[];
  hardest?: ItemResult[];
}

/** Answers to the current question, counted per option. */
export interface Tally {
  counts: number[];
  answered: number;
}

export interface BoardInput {
  code: string;
  joined: number;
  tally?: Tally;
  standings?: Standing[];
  results?: ItemResult[];
}

/** The board's content for the current state (pure; the web layer sends it as JSON). */
export function boardView(course: Course, state: WorkshopState, input: BoardInput): BoardView {
  const lang = state.lang;
  const view = course.in(lang);
  const base: BoardView = { title: state.title, code: input.code, phase: state.phase, joined: input.joined };
  if (state.phase === 'ended') {
    const podium = [...(input.standings ?? [])].sort((a, b) => b.right - a.right || b.answered - a.answered || a.name.localeCompare(b.name)).slice(0, 3);
    const hardest = [...(input.results ?? [])]
      .filter((r) => r.answered > 0)
      .sort((a, b) => a.right / a.answered - b.right / b.answered || b.answered - a.answered)
      .slice(0, 3)
      .map((r) => ({ ...r, question: view.items.get(r.itemId)?.question ?? r.question }));
    return { ...base, podium, hardest };
  }
  const step = currentStep(state);
  if (!step) return base;
  if (step.kind === 'card') {
    const lesson = view.lessons.get(step.lessonId)!;
    return { ...base, card: { lessonTitle: lesson.title, index: step.card + 1, total: lesson.cards.length, body: lesson.cards[step.card]! } };
  }
  const item = view.items.get(step.itemId)!;
  const revealed = state.phase === 'revealed';
  const right = correctIndices(item);
  const tally = input.tally ?? { counts: [], answered: 0 };
  return {
    ...base,
    question: {
      number: questionNumber(state, state.index),
      total: questionCount(state),
      text: item.question,
      options: quizOptions(lang, item).map((o, i) => ({ key: o.key, text: o.text, count: tally.counts[i] ?? 0, ...(revealed ? { correct: right.includes(i) } : {}) })),
      answered: tally.answered,
      ...(revealed ? { explanation: item.explanation } : {}),
    },
  };
}

/** Whether an option is a right answer of the item (for results computed from stored answers). */
export function isRightOption(course: Course, itemId: string, option: number): boolean {
  const item = course.items.get(itemId);
  return !!item && correctIndices(item).length === 1 && correctIndices(item)[0] === option;
}
