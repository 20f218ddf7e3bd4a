/**
 * Team quizzes in group conversations (Telegram groups, Slack channels, Teams channels). The quiz
 * belongs to the conversation; each member's answer is stored as its own record by the runtime, and
 * this module only decides: which items to ask, whether an answer counts, and what to say when a
 * question closes. Pure, like the learner engine.
 */
import type { Course, QuizItem } from '../content/course.js';
import { correctIndices } from '../content/course.js';
import type { Choice, Outbound, RichText } from '../messages.js';
import { plain } from '../messages.js';
import { encodeAction } from './actions.js';
import { t } from './i18n.js';
import { quizOptions } from './engine.js';
import type { Lang } from './state.js';
import type { GroupAnswer, ScoreRow } from '../store/store.js';

export interface GroupQuiz {
  id: string;
  moduleId?: string;
  itemIds: string[];
  /** The open question (0-based). */
  index: number;
  seconds: number;
  openedAt: string;
  closesAt: string;
  /** Members who answered any question of this quiz: once they all answered, a question closes early. */
  participants: Record<string, string>;
  /** This quiz's running scores. */
  scores: Record<string, { name: string; points: number; correct: number; answered: number }>;
}

export interface GroupState {
  schema: 1;
  lang: Lang;
  quiz: GroupQuiz | null;
  /** How the team has done on each item: team quizzes favour the items it gets wrong most. */
  stats: Record<string, { asked: number; right: number }>;
  /** Weekly team quiz ("fri 15:00" in `tz`), when a channel schedules one. */
  schedule?: { day: number; time: string; tz: string } | null;
}

export interface GroupOptions {
  /** Seconds each question stays open. */
  questionSeconds: number;
  /** Questions in a team quiz when none is asked for. */
  defaultSize: number;
  maxSize: number;
}

export const DEFAULT_GROUP_OPTIONS: GroupOptions = { questionSeconds: 30, defaultSize: 5, maxSize: 10 };

/** Points for a right answer: 10, plus up to 5 for speed. */
export function pointsFor(answeredAt: Date, openedAt: Date, seconds: number): number {
  const used = Math.max(0, answeredAt.getTime() - openedAt.getTime()) / 1000;
  return 10 + Math.max(0, Math.round(5 * (1 - used / seconds)));
}

export function newGroupState(lang: Lang): GroupState {
  return { schema: 1, lang, quiz: null, stats: {} };
}

/** A deterministic pseudo-random order, seeded by the quiz id (the engine stays pure). */
function seededShuffle<T>(xs: T[], seed: string): T[] {
  let h = 2166136261;
  for (const ch of seed) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
    const j = h % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Picks items for a team quiz: the team's weakest items first, then ones it has not seen, then the rest. */
export function pickGroupItems(course: Course, stats: GroupState['stats'], moduleId: string | undefined, n: number, seed: string): QuizItem[] {
  const pool = course.sequence
    .filter((l) => !moduleId || l.moduleId === moduleId)
    .flatMap((l) => l.items)
    .filter((i) => i.type !== 'multiple');
  const shuffled = seededShuffle(pool, seed);
  const rate = (i: QuizItem) => {
    const s = stats[i.id];
    return s && s.asked ? s.right / s.asked : undefined;
  };
  const weak = shuffled.filter((i) => (rate(i) ?? 1) < 0.75).sort((a, b) => rate(a)! - rate(b)!);
  const unseen = shuffled.filter((i) => rate(i) === undefined);
  const rest = shuffled.filter((i) => (rate(i) ?? -1) >= 0.75);
  return [...weak, ...unseen, ...rest].slice(0, n);
}

export interface GroupResult {
  state: GroupState;
  messages: Outbound[];
  /** Score increments for the conversation's running leaderboard. */
  scores: ScoreRow[];
}

/** `/quiz [module] [n]` in a group. `quizId` must be unique in the conversation (the runtime makes it). */
export function startGroupQuiz(course: Course, opts: GroupOptions, state: GroupState, args: string, quizId: string, now: Date): GroupResult {
  const lang = state.lang;
  if (state.quiz) return { state, messages: [{ kind: 'text', text: plain(t(lang, 'group.quiz_running')) }, questionMessage(course, state, state.quiz)], scores: [] };
  let moduleId: string | undefined;
  let n = opts.defaultSize;
  for (const word of args.split(/\s+/).filter(Boolean)) {
    if (/^\d+$/.test(word)) n = Math.min(opts.maxSize, Math.max(1, Number(word)));
    else {
      const wanted = word.toLowerCase();
      const byNumber = /^\d$/.test(wanted.replace(/^m/, '')) ? course.modules[Number(wanted.replace(/^m/, '')) - 1] : undefined;
      const found = course.module(wanted) ?? byNumber;
      if (!found) return { state, messages: [{ kind: 'text', text: plain(t(lang, 'group.unknown_module', { module: word, max: course.modules.length })) }], scores: [] };
      moduleId = found.id;
    }
  }
  const items = pickGroupItems(course, state.stats, moduleId, n, quizId);
  const quiz: GroupQuiz = {
    id: quizId,
    ...(moduleId ? { moduleId } : {}),
    itemIds: items.map((i) => i.id),
    index: 0,
    seconds: opts.questionSeconds,
    openedAt: now.toISOString(),
    closesAt: new Date(now.getTime() + opts.questionSeconds * 1000).toISOString(),
    participants: {},
    scores: {},
  };
  const next: GroupState = { ...state, quiz };
  return {
    state: next,
    messages: [{ kind: 'text', text: plain(t(lang, 'group.quiz_intro', { count: items.length, seconds: opts.questionSeconds })) }, questionMessage(course, next, quiz)],
    scores: [],
  };
}

function questionMessage(course: Course, state: GroupState, quiz: GroupQuiz): Outbound {
  const item = course.items.get(quiz.itemIds[quiz.index]!)!;
  const options = quizOptions(state.lang, item);
  const choices: Choice[] = options.map((o, i) => ({
    label: item.type === 'truefalse' ? o.text : o.key,
    data: encodeAction({ type: 'group_answer', quizId: quiz.id, question: quiz.index, option: i }),
  }));
  return {
    kind: 'quiz',
    itemId: item.id,
    heading: `${t(state.lang, 'group.question_heading', { index: quiz.index + 1, total: quiz.itemIds.length })} · ⏱ ${quiz.seconds}s`,
    question: item.question,
    options,
    multiple: false,
    choices,
  };
}

/** Whether an answer button still applies: 'open', or why not. */
export function answerStatus(state: GroupState | null, quizId: string, question: number, now: Date): 'open' | 'closed' {
  const q = state?.quiz;
  if (!q || q.id !== quizId || q.index !== question || new Date(q.closesAt) < now) return 'closed';
  return 'open';
}

/** Whether everyone who has joined this quiz has answered the open question. */
export function everyoneAnswered(state: GroupState, answers: GroupAnswer[]): boolean {
  const members = Object.keys(state.quiz?.participants ?? {});
  if (!members.length) return false;
  const answered = new Set(answers.map((a) => a.userId));
  return members.every((m) => answered.has(m));
}

/**
 * Closes the open question with its answers: reveals the answer, scores it, and opens the next
 * question or ends the quiz.
 */
export function closeQuestion(course: Course, state: GroupState, answers: GroupAnswer[], now: Date): GroupResult {
  const quiz = state.quiz;
  if (!quiz) return { state, messages: [], scores: [] };
  const lang = state.lang;
  const item = course.items.get(quiz.itemIds[quiz.index]!)!;
  const right = correctIndices(item);
  const options = quizOptions(lang, item);
  const openedAt = new Date(quiz.openedAt);
  const participants = { ...quiz.participants };
  const scores = structuredClone(quiz.scores);
  const rows: ScoreRow[] = [];
  const winners: string[] = [];
  for (const a of [...answers].sort((x, y) => x.at.getTime() - y.at.getTime())) {
    participants[a.userId] = a.displayName;
    const ok = right.includes(a.option);
    const points = ok ? pointsFor(a.at, openedAt, quiz.seconds) : 0;
    const s = (scores[a.userId] ??= { name: a.displayName, points: 0, correct: 0, answered: 0 });
    s.points += points;
    s.correct += ok ? 1 : 0;
    s.answered += 1;
    rows.push({ userId: a.userId, displayName: a.displayName, points, answered: 1, correct: ok ? 1 : 0 });
    if (ok) winners.push(a.displayName);
  }
  const stat = state.stats[item.id] ?? { asked: 0, right: 0 };
  const stats = { ...state.stats, [item.id]: { asked: stat.asked + answers.length, right: stat.right + winners.length } };

  const reveal: RichText = [
    { type: 'paragraph', spans: [{ text: t(lang, 'group.reveal', { answer: right.map((i) => `${options[i]!.key}. ${options[i]!.text}`).join('; ') }), bold: true }] },
    { type: 'paragraph', spans: [{ text: item.explanation }] },
    {
      type: 'paragraph',
      spans: [{ text: answers.length ? t(lang, 'group.right_count', { right: winners.length, total: answers.length }) : t(lang, 'group.nobody') }],
    },
  ];
  if (winners.length) reveal.push({ type: 'paragraph', spans: [{ text: t(lang, 'group.right_names', { names: winners.join(', ') }) }] });
  const messages: Outbound[] = [{ kind: 'text', text: reveal }];

  if (quiz.index + 1 < quiz.itemIds.length) {
    const nextQuiz: GroupQuiz = {
      ...quiz,
      index: quiz.index + 1,
      openedAt: now.toISOString(),
      closesAt: new Date(now.getTime() + quiz.seconds * 1000).toISOString(),
      participants,
      scores,
    };
    const next: GroupState = { ...state, quiz: nextQuiz, stats };
    messages.push(questionMessage(course, next, nextQuiz));
    return { state: next, messages, scores: rows };
  }
  messages.push({ kind: 'text', text: scoreTable(lang, t(lang, 'group.final'), Object.entries(scores).map(([userId, s]) => ({ userId, displayName: s.name, ...s }))) });
  return { state: { ...state, quiz: null, stats }, messages, scores: rows };
}

/** A ranked score table. */
export function scoreTable(lang: Lang, title: string, rows: ScoreRow[]): RichText {
  const ranked = [...rows].sort((a, b) => b.points - a.points || b.correct - a.correct || a.displayName.localeCompare(b.displayName));
  return [
    { type: 'paragraph', spans: [{ text: title, bold: true }] },
    ...(ranked.length
      ? ranked.map((r, i) => ({
          type: 'bullet' as const,
          spans: [{ text: t(lang, 'group.score_line', { rank: i + 1, name: r.displayName, points: r.points, correct: r.correct, answered: r.answered }) }],
        }))
      : [{ type: 'paragraph' as const, spans: [{ text: t(lang, 'group.leaderboard_empty') }] }]),
  ];
}

/** The running leaderboard message. */
export function leaderboardMessage(lang: Lang, rows: ScoreRow[]): Outbound {
  return { kind: 'text', text: scoreTable(lang, t(lang, 'group.leaderboard'), rows) };
}
