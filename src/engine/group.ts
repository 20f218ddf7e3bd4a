/**
 * Team quizzes in group conversations (Telegram groups, Slack channels, Teams channels). The quiz
 * belongs to the conversation; each member's answer is stored as its own record. Every group event
 * goes through {@link handleGroupEvent}: pure, like the learner engine (state, the open question's
 * answers, the event and `now` in; new state, the reply, what to post in the group and effects out).
 *
 * ```ts
 * const r = handleGroupEvent(course, opts, { state, answers, event: { type: 'inbound', inbound }, now });
 * ```
 */
import type { Course, QuizItem } from '../content/course.js';
import { correctIndices } from '../content/course.js';
import type { Choice, Inbound, Outbound, PostedRefs, QuestionRef, QuizMessage, RichText } from '../messages.js';
import { questionKey, tallyKey } from '../messages.js';
import { plain } from '../messages.js';
import { decodeAction, encodeAction } from './actions.js';
import { t } from './i18n.js';
import { quizOptions } from './engine.js';
import { parseDays } from './nudge-commands.js';
import { isLang, type Lang } from './state.js';
import { atLocalTime, canonicalTimeZone, formatHhmm, isValidTimeZone, local, parseHhmm } from '../learning/localtime.js';

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

/** One member's answer to one team-quiz question, as stored. */
export interface GroupAnswer {
  userId: string;
  displayName: string;
  option: number;
  at: Date;
}

/** How many answers the open question has, and whether the member tapping gave one: all a tap needs to know while it cannot close the question. */
export interface AnswerTally {
  count: number;
  mine: boolean;
}

/** A member's points in a conversation's running leaderboard (or an increment of them). */
export interface ScoreRow {
  userId: string;
  displayName: string;
  points: number;
  answered: number;
  correct: number;
}

/**
 * Messages the group is owed: posts in the conversation (a quiz's introduction and question, a
 * reveal, the next question, the final scores), kept in the group's state until the channel has
 * delivered them, so that a failed or interrupted send never skips a reveal or stalls the quiz.
 */
export interface OwedPost {
  /** Unique in the conversation. */
  id: string;
  messages: Outbound[];
  /** When it was planned (ISO). */
  since: string;
  /** Set while one process sends it; another may take it over after this time (ISO). */
  claimedUntil?: string;
}

export interface GroupState {
  schema: 1;
  lang: Lang;
  quiz: GroupQuiz | null;
  /** Posts not delivered yet, oldest first. */
  owed?: OwedPost[];
  /** Platform ids of the running quiz's question messages, as the channel reported them (so that any process can close them). */
  posted?: PostedRefs;
  /**
   * The running tally of who has answered, in channels that post one (Teams): the question it
   * shows, how many answers it showed last, its message, and while one process sends it, until when.
   */
  tally?: GroupTally;
  /** How the team has done on each item: team quizzes favour the items it gets wrong most. */
  stats: Record<string, { asked: number; right: number }>;
  /** Weekly team quiz ("fri 15:00" in `tz`), when a channel schedules one. */
  schedule?: GroupSchedule | null;
}

/** The running tally's bookkeeping (see {@link GroupState.tally}): no names, only a count and a claim. */
export interface GroupTally {
  /** The question it shows. */
  question: QuestionRef;
  /** How many answers the last tally sent showed. */
  shown: number;
  /** The platform's id of the tally message, once posted (edited in place from then on). */
  ref?: string;
  /** Set while one process sends it; another may take it over after this time (ISO). */
  claimedUntil?: string;
}

/** A weekly team quiz, set with `/schedule fri 15:00 Africa/Nairobi`. */
export interface GroupSchedule {
  /** Local day of the week: 0 = Sunday ... 6 = Saturday (as learners' reminder days). */
  day: number;
  /** Local start time, "HH:MM" (24-hour). */
  time: string;
  /** IANA time zone of `day` and `time`. */
  tz: string;
  /**
   * The next start (ISO instant). Kept in the state, so that every write of the group indexes it
   * (the store's `nextQuizAt`) and the process that starts the quiz moves it on in the same write.
   */
  next: string;
}

export interface GroupOptions {
  /** Seconds each question stays open. */
  questionSeconds: number;
  /** Questions in a team quiz when none is asked for. */
  defaultSize: number;
  maxSize: number;
  /**
   * A scheduled quiz found due later than this after its time (the bot was down) is skipped, not
   * started late; the schedule moves on to the next week.
   */
  scheduleGraceMinutes: number;
}

export const DEFAULT_GROUP_OPTIONS: GroupOptions = { questionSeconds: 30, defaultSize: 5, maxSize: 10, scheduleGraceMinutes: 60 };

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
  /** What to post in the group (the runtime appends it to the state's owed posts). */
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
    teamQuestion: questionRef(quiz),
  };
}

function questionRef(quiz: GroupQuiz): QuestionRef {
  return { quizId: quiz.id, index: quiz.index, itemId: quiz.itemIds[quiz.index]! };
}

/** Whether an answer button still applies: 'open', or why not. */
export function answerStatus(state: GroupState | null, quizId: string, question: number, now: Date): 'open' | 'closed' {
  const q = state?.quiz;
  if (!q || q.id !== quizId || q.index !== question || new Date(q.closesAt) < now) return 'closed';
  return 'open';
}

/**
 * Whether a tap, given the open question's tally, might be the last answer everyone who joined owes
 * (then the runtime reads every answer, so that the engine can close the question). While fewer
 * than all but one of the joined members have answered, it cannot be: the tally is enough.
 */
export function tapMayClose(state: GroupState | null, tally: AnswerTally): boolean {
  const members = Object.keys(state?.quiz?.participants ?? {}).length;
  return members > 0 && tally.count + 1 >= members;
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
    if (ok) winners.push(shownName(lang, a.displayName));
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
  // The plan: the closed question's buttons go first, then the reveal.
  const shown = questionMessage(course, state, quiz) as QuizMessage;
  const messageRef = state.posted?.[questionKey(questionRef(quiz))];
  const messages: Outbound[] = [
    { kind: 'close', teamQuestion: questionRef(quiz), shown: { ...shown, choices: [] }, ...(messageRef ? { messageRef } : {}) },
    { kind: 'text', text: reveal },
  ];

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
          spans: [{ text: t(lang, 'group.score_line', { rank: i + 1, name: shownName(lang, r.displayName), points: r.points, correct: r.correct, answered: r.answered }) }],
        }))
      : [{ type: 'paragraph' as const, spans: [{ text: t(lang, 'group.leaderboard_empty') }] }]),
  ];
}

/**
 * The name kept for a member who erased their data with /forget: none. Their answers and points stay
 * (the team's results do not change) under an anonymous id, and are shown as "a former participant".
 */
export const FORMER_PARTICIPANT_NAME = '';

/** A member's name as shown in the group: "a former participant" for an erased one. */
export function shownName(lang: Lang, displayName: string): string {
  return displayName === FORMER_PARTICIPANT_NAME ? t(lang, 'group.former_participant') : displayName;
}

/**
 * The group state with one member erased (/forget): in the running quiz, their id becomes
 * `anonymousId` (the same one their stored answers get, so that "everyone answered" still counts
 * them) and their name is dropped. Returns the same object when the member is not in it.
 */
export function forgetGroupMember(state: GroupState, userId: string, anonymousId: string): GroupState {
  const quiz = state.quiz;
  if (!quiz || (!(userId in quiz.participants) && !(userId in quiz.scores))) return state;
  const rename = <V>(record: Record<string, V>, erase: (v: V) => V): Record<string, V> =>
    Object.fromEntries(Object.entries(record).map(([id, v]) => (id === userId ? [anonymousId, erase(v)] : [id, v])));
  return {
    ...state,
    quiz: {
      ...quiz,
      participants: rename(quiz.participants, () => FORMER_PARTICIPANT_NAME),
      scores: rename(quiz.scores, (s) => ({ ...s, name: FORMER_PARTICIPANT_NAME })),
    },
  };
}

/** What a group's running quiz keeps about one member (for /mydata), or null. */
export function groupMemberData(state: GroupState, userId: string): { quizId: string; displayName: string; points: number; correct: number; answered: number } | null {
  const quiz = state.quiz;
  if (!quiz || (!(userId in quiz.participants) && !(userId in quiz.scores))) return null;
  const score = quiz.scores[userId];
  return { quizId: quiz.id, displayName: quiz.participants[userId] ?? score?.name ?? '', points: score?.points ?? 0, correct: score?.correct ?? 0, answered: score?.answered ?? 0 };
}

/** The running leaderboard message. */
export function leaderboardMessage(lang: Lang, rows: ScoreRow[]): Outbound {
  return { kind: 'text', text: scoreTable(lang, t(lang, 'group.leaderboard'), rows) };
}

// ---- Weekly schedule ----

/**
 * The two times the store indexes for a group: when it next needs the runtime (its open question
 * closes, or an owed post is to be sent or taken over), and when the weekly quiz next starts.
 */
export function groupDueTimes(state: GroupState): { closesAt: Date | null; nextQuizAt: Date | null } {
  const times = [
    ...(state.quiz ? [new Date(state.quiz.closesAt).getTime()] : []),
    ...(state.owed ?? []).map((o) => new Date(o.claimedUntil ?? o.since).getTime()),
    // A tally a sender claimed and never released (it crashed, or the platform failed): sent again once the claim lapses.
    ...(state.tally?.claimedUntil ? [new Date(state.tally.claimedUntil).getTime()] : []),
  ];
  return {
    closesAt: times.length ? new Date(Math.min(...times)) : null,
    nextQuizAt: state.schedule ? new Date(state.schedule.next) : null,
  };
}

/**
 * The first start of a weekly schedule strictly after `after`: local wall-clock time in the
 * schedule's zone, so it stays at 15:00 across daylight-saving changes. A start time skipped by a
 * spring-forward change moves to the next valid minute.
 */
export function nextWeeklyStart(schedule: Pick<GroupSchedule, 'day' | 'time' | 'tz'>, after: Date): Date {
  const minutes = parseHhmm(schedule.time);
  if (minutes === undefined) throw new Error(`invalid schedule time "${schedule.time}"`);
  let day = local(after, schedule.tz);
  for (let i = 0; i < 8; i++, day = day.plus({ days: 1 })) {
    if (day.weekday % 7 !== schedule.day) continue;
    const at = atLocalTime(day, minutes);
    if (at > after) return at;
  }
  // Eight consecutive days hold two of each weekday, so one of them is after `after`.
  throw new Error('unreachable: no weekly start within eight days');
}

/** One day name (English, French or Spanish, as reminders accept them), or undefined. */
function parseDay(word: string): number | undefined {
  const days = parseDays(word);
  return days?.length === 1 ? days[0] : undefined;
}

/** What `/schedule ...` asks for. */
export type ScheduleRequest =
  | { kind: 'show' }
  | { kind: 'off' }
  | { kind: 'set'; day: number; time: string; tz?: string }
  | { kind: 'usage' }
  | { kind: 'bad_tz'; tz: string };

/** Parses the arguments of `/schedule`: "fri 15:00", "friday 15:00 Africa/Nairobi", "off", or nothing. */
export function parseScheduleArgs(args: string): ScheduleRequest {
  const words = args.trim().split(/\s+/).filter(Boolean);
  if (!words.length) return { kind: 'show' };
  if (words.length === 1 && ['off', 'stop', 'none'].includes(words[0]!.toLowerCase())) return { kind: 'off' };
  let day: number | undefined;
  let minutes: number | undefined;
  const rest: string[] = [];
  for (const word of words) {
    const m = minutes === undefined ? parseHhmm(word) : undefined;
    const d = m === undefined && day === undefined ? parseDay(word) : undefined;
    if (m !== undefined) minutes = m;
    else if (d !== undefined) day = d;
    else rest.push(word);
  }
  if (day === undefined || minutes === undefined || rest.length > 1) return { kind: 'usage' };
  const tz = rest[0];
  if (tz !== undefined && !isValidTimeZone(tz)) return { kind: 'bad_tz', tz };
  return { kind: 'set', day, time: formatHhmm(minutes), ...(tz !== undefined ? { tz: canonicalTimeZone(tz) } : {}) };
}

/** "every Friday at 15:00 (Africa/Nairobi), next on 6 March", in the group's language. */
function describeSchedule(lang: Lang, s: GroupSchedule): string {
  const next = local(new Date(s.next), s.tz).setLocale(lang);
  return t(lang, 'group.schedule_on', { day: next.toFormat('cccc'), time: s.time, tz: s.tz, date: next.toLocaleString({ day: 'numeric', month: 'long' }) });
}

/**
 * `/schedule fri 15:00 [zone]` sets the group's weekly team quiz (the zone defaults to the one set
 * before, else UTC), `/schedule off` removes it, `/schedule` shows it. The state is returned
 * unchanged (the same object) when nothing changes.
 */
export function scheduleGroupQuiz(state: GroupState, args: string, now: Date): GroupResult {
  const lang = state.lang;
  const reply = (text: string, next: GroupState = state): GroupResult => ({ state: next, messages: [{ kind: 'text', text: plain(text) }], scores: [] });
  const req = parseScheduleArgs(args);
  switch (req.kind) {
    case 'show':
      return reply(state.schedule ? describeSchedule(lang, state.schedule) : t(lang, 'group.schedule_none'));
    case 'usage':
      return reply(t(lang, 'group.schedule_usage'));
    case 'bad_tz':
      return reply(t(lang, 'group.schedule_bad_tz', { tz: req.tz }));
    case 'off':
      return state.schedule ? reply(t(lang, 'group.schedule_off'), { ...state, schedule: null }) : reply(t(lang, 'group.schedule_none'));
    case 'set': {
      const tz = req.tz ?? state.schedule?.tz ?? 'UTC';
      const schedule: GroupSchedule = { day: req.day, time: req.time, tz, next: nextWeeklyStart({ day: req.day, time: req.time, tz }, now).toISOString() };
      return reply(describeSchedule(lang, schedule), { ...state, schedule });
    }
  }
}

/**
 * Starts the scheduled weekly quiz if it is due at `now`, as `/quiz` would (default size), and moves
 * the schedule to its next week. Returns null when it is not due. A quiz that is found more than
 * `scheduleGraceMinutes` late, or while another quiz is running, is skipped: the schedule moves on
 * and nothing is posted.
 */
export function startScheduledQuiz(course: Course, opts: GroupOptions, state: GroupState, quizId: string, now: Date): GroupResult | null {
  const schedule = state.schedule;
  if (!schedule || new Date(schedule.next) > now) return null;
  const moved: GroupState = { ...state, schedule: { ...schedule, next: nextWeeklyStart(schedule, now).toISOString() } };
  const late = now.getTime() - new Date(schedule.next).getTime() > opts.scheduleGraceMinutes * 60_000;
  if (late || state.quiz) return { state: moved, messages: [], scores: [] };
  return startGroupQuiz(course, opts, moved, '', quizId, now);
}

// ---- One event ----

/** What happens to a group: a member's event, or the runtime's tick (a question's time is up, a weekly quiz is due). */
export type GroupEvent = { type: 'inbound'; inbound: Inbound } | { type: 'tick' };

/** Work the runtime does for the engine, inside the same lock, before the commit. */
export type GroupEffect =
  /** Store this member's answer (an insert of its own; the store refuses a second one per member and question). */
  | { type: 'record_answer'; quizId: string; question: number; userId: string; displayName: string; option: number }
  /** Append the running leaderboard (read from the store) to the reply. */
  | { type: 'leaderboard' };

export interface GroupTurn {
  /** The group's state, or null for a conversation the bot has not seen. */
  state: GroupState | null;
  /**
   * The answers to the open question so far (empty when none is open), read inside the group's
   * lock. A tick needs all of them; an inbound event may bring only their tally when
   * {@link tapMayClose} says that it cannot close the question.
   */
  answers: GroupAnswer[] | AnswerTally;
  event: GroupEvent;
  now: Date;
  /** The open question's id for a new quiz (unique in the conversation; the runtime makes it). */
  quizId: string;
}

export interface GroupTurnResult {
  /** The new state. New posts are appended to its `owed`. */
  state: GroupState;
  /** Whether the state changed (and must be written). */
  changed: boolean;
  /** The reply to the member who sent the event (notices, short answers). */
  reply: Outbound[];
  scores: ScoreRow[];
  effects: GroupEffect[];
}

/**
 * Handles one group event: validates a team-quiz answer (the open question, an option it has, a
 * member who has not answered yet), closes a question whose time is up or that everyone has
 * answered, starts a due weekly quiz, and answers commands. Pure: a forged or late answer changes
 * nothing and records nothing.
 */
export function handleGroupEvent(course: Course, opts: GroupOptions, turn: GroupTurn): GroupTurnResult {
  const { now, event } = turn;
  const hint = event.type === 'inbound' ? event.inbound.languageHint?.slice(0, 2).toLowerCase() : undefined;
  const state = turn.state ?? newGroupState(isLang(hint) ? hint : 'en');
  const lang = state.lang;
  const result = (next: GroupState, reply: Outbound[], posts: Outbound[] = [], scores: ScoreRow[] = [], effects: GroupEffect[] = []): GroupTurnResult => {
    const written = posts.length ? owe(next, posts, now) : next;
    return { state: written, changed: written !== state, reply, scores, effects };
  };
  const text = (key: string, vars?: Record<string, string | number>): Outbound => ({ kind: 'text', text: plain(t(lang, key, vars)) });
  const notice = (key: string, reason: 'closed' | 'already_answered' | 'refused'): Outbound => ({ kind: 'notice', text: t(lang, key), reason });

  if (event.type === 'tick') {
    const quiz = state.quiz;
    if (quiz && !Array.isArray(turn.answers)) throw new Error('a tick needs every answer to the open question, not their tally');
    if (quiz && Array.isArray(turn.answers) && (new Date(quiz.closesAt) <= now || everyoneAnswered(state, turn.answers))) {
      const closed = closeQuestion(course, state, turn.answers, now);
      return result(closed.state, [], closed.messages, closed.scores);
    }
    const started = startScheduledQuiz(course, opts, state, turn.quizId, now);
    return started ? result(started.state, [], started.messages) : result(state, []);
  }

  const { inbound } = event;
  const ev = inbound.event;
  if (ev.type === 'choice') {
    const action = decodeAction(ev.data);
    if (action?.type !== 'group_answer') return result(state, [notice('group.closed', 'closed')]);
    const quiz = state.quiz;
    if (answerStatus(state, action.quizId, action.question, now) === 'closed' || !quiz) return result(state, [notice('group.closed', 'closed')]);
    const item = course.items.get(quiz.itemIds[quiz.index]!);
    if (!item || !Number.isInteger(action.option) || action.option < 0 || action.option >= item.options.length) return result(state, [notice('group.refused', 'refused')]);
    const userId = inbound.learner.userId;
    const all = Array.isArray(turn.answers) ? turn.answers : undefined;
    if (all ? all.some((a) => a.userId === userId) : (turn.answers as AnswerTally).mine) return result(state, [notice('group.already', 'already_answered')]);
    const displayName = inbound.displayName ?? userId;
    const reply: Outbound[] = [
      {
        kind: 'notice',
        text: t(lang, 'group.recorded', { option: String.fromCharCode(65 + action.option) }),
        reason: 'recorded',
        teamQuestion: questionRef(quiz),
      },
    ];
    const effects: GroupEffect[] = [{ type: 'record_answer', quizId: quiz.id, question: quiz.index, userId, displayName, option: action.option }];
    // With only a tally, this answer cannot be everyone's last (see tapMayClose).
    const answers = all ? [...all, { userId, displayName, option: action.option, at: now }] : undefined;
    if (answers && everyoneAnswered(state, answers)) {
      const closed = closeQuestion(course, state, answers, now);
      return result(closed.state, reply, closed.messages, closed.scores, effects);
    }
    return result(state, reply, [], [], effects);
  }
  if (ev.type === 'command') {
    const command = ev.command.toLowerCase();
    if (command === 'quiz') {
      if (state.quiz) return result(state, [text('group.quiz_running')]);
      const started = startGroupQuiz(course, opts, state, ev.args, turn.quizId, now);
      // A bad argument changes nothing and is answered to the sender; a started quiz is posted in the group.
      return started.state === state ? result(state, started.messages) : result(started.state, [], started.messages);
    }
    if (command === 'schedule') {
      const scheduled = scheduleGroupQuiz(state, ev.args, now);
      return result(scheduled.state, scheduled.messages);
    }
    if (command === 'leaderboard') return result(state, [], [], [], [{ type: 'leaderboard' }]);
    if (command === 'start' || command === 'help') return result(state, [text('welcome.group')]);
    return result(state, [text('group.only_private', { command })]);
  }
  return result(state, [text('welcome.group')]);
}

/** Appends posts the group is owed. */
function owe(state: GroupState, messages: Outbound[], now: Date): GroupState {
  const owed = state.owed ?? [];
  const id = `${now.getTime().toString(36)}-${owed.length}-${messages.length}-${state.quiz?.index ?? 'x'}`;
  return { ...state, owed: [...owed, { id, messages, since: now.toISOString() }] };
}

/**
 * The state with one owed post delivered (or given up): removed, and the ids of the question
 * messages it posted kept (for the running quiz only).
 */
export function withoutOwed(state: GroupState, id: string, refs: PostedRefs = {}): GroupState {
  const owed = (state.owed ?? []).filter((o) => o.id !== id);
  const next: GroupState = { ...state, owed };
  if (!owed.length) delete next.owed;
  const quizId = state.quiz?.id;
  const posted = Object.fromEntries(Object.entries({ ...state.posted, ...refs }).filter(([k]) => quizId !== undefined && k.startsWith(`${quizId}:`)));
  if (Object.keys(posted).length) next.posted = posted;
  else delete next.posted;
  return next;
}

/** The first owed post free to send at `now` (not claimed by another sender, or its claim has lapsed). */
export function nextOwed(state: GroupState, now: Date): OwedPost | undefined {
  const first = state.owed?.[0];
  return first && (!first.claimedUntil || new Date(first.claimedUntil) <= now) ? first : undefined;
}

/** The state with an owed post claimed by a sender until `until`. */
export function claimOwed(state: GroupState, id: string, until: Date): GroupState {
  return { ...state, owed: (state.owed ?? []).map((o) => (o.id === id ? { ...o, claimedUntil: until.toISOString() } : o)) };
}

// ---- the running tally (channels without private notices) ----------------------------------

/** At most this many names in a tally message; the rest are counted ("and 12 more"). */
export const TALLY_NAMES = 40;

/**
 * At least this long between two sends of a group's tally: a burst of answers is shown in a few
 * edits, and the tally takes at most 15 of the 60 messages Teams allows a conversation in 30 s, so
 * that a reveal or the next question never waits behind it.
 */
export const TALLY_SPACING_MS = 2000;

/**
 * The questions whose answers a tally look reads: the tally's own question (until it shows all of
 * them, even once it has closed: its last answer may have closed it) and the open question.
 */
export function tallyQuestions(state: GroupState): QuestionRef[] {
  const open = state.quiz ? questionRef(state.quiz) : undefined;
  const own = state.tally?.question;
  return [...(own ? [own] : []), ...(open && (!own || questionKey(own) !== questionKey(open)) ? [open] : [])];
}

/**
 * Claims the tally for one sender until `until`, given how many answers each question of
 * {@link tallyQuestions} has (`counts`, by {@link questionKey}): its own question while it shows
 * fewer than it has, else the open question (a new tally) once it has answers and its time is not
 * up. Null when there is nothing to send, or another sender holds the tally.
 */
export function claimTally(state: GroupState, counts: Record<string, number>, now: Date, until: Date): { state: GroupState; question: QuestionRef; messageRef?: string } | null {
  const tally = state.tally;
  if (tally?.claimedUntil && new Date(tally.claimedUntil) > now) return null;
  const claim = (next: GroupTally) => ({ state: { ...state, tally: { ...next, claimedUntil: until.toISOString() } }, question: next.question, ...(next.ref ? { messageRef: next.ref } : {}) });
  if (tally && (counts[questionKey(tally.question)] ?? 0) > tally.shown) return claim(tally);
  const quiz = state.quiz;
  if (!quiz || new Date(quiz.closesAt) <= now) return null;
  const open = questionRef(quiz);
  if (tally && questionKey(tally.question) === questionKey(open)) return null;
  return (counts[questionKey(open)] ?? 0) > 0 ? claim({ question: open, shown: 0 }) : null;
}

/**
 * The state once the tally of `question` showing `shown` answers was sent (or given up): the count
 * kept, the message's platform id kept where the channel reported one, and the claim held until
 * `holdUntil` ({@link TALLY_SPACING_MS} on), when the group's clock looks again.
 */
export function tallySent(state: GroupState, question: QuestionRef, shown: number, refs: PostedRefs, holdUntil: Date): GroupState {
  const tally = state.tally;
  if (!tally || questionKey(tally.question) !== questionKey(question)) return state;
  const ref = refs[tallyKey(question)] ?? tally.ref;
  return { ...state, tally: { question: tally.question, shown: Math.max(shown, tally.shown), ...(ref ? { ref } : {}), claimedUntil: holdUntil.toISOString() } };
}

/**
 * The state with a lapsed claim on a tally that has nothing new to show dropped (so that the group's
 * clock stops coming back for it); null when there is none.
 */
export function tallyIdle(state: GroupState, now: Date): GroupState | null {
  const tally = state.tally;
  if (!tally?.claimedUntil || new Date(tally.claimedUntil) > now) return null;
  const { claimedUntil: _lapsed, ...rest } = tally;
  return { ...state, tally: rest };
}

/** The tally message: who has answered `question` so far, in the group's language (names only, never options). */
export function tallyMessage(lang: Lang, question: QuestionRef, names: string[], messageRef?: string): Extract<Outbound, { kind: 'tally' }> {
  const shown = names.slice(0, TALLY_NAMES).map((n) => shownName(lang, n));
  const more = names.length - shown.length;
  return {
    kind: 'tally',
    teamQuestion: question,
    text: t(lang, 'group.tally', { count: names.length, names: shown.join(', '), more }),
    count: names.length,
    ...(messageRef ? { messageRef } : {}),
  };
}
