/**
 * The dialog engine for one learner: given the learner's state, the course and an inbound event,
 * it returns the new state and the messages to send. Pure: `now` is passed in, no I/O happens here,
 * and the state passed in is never mutated.
 *
 * ```ts
 * const { state, messages } = handleLearnerEvent(course, options, { state: null, inbound, now });
 * ```
 */
import type { Course, CourseView, Lesson, QuizItem } from '../content/course.js';
import { correctIndices } from '../content/course.js';
import type { Choice, Inbound, ModuleProgress, Outbound, QuizOption, RichText, Span } from '../messages.js';
import { plain } from '../messages.js';
import { recallProbability, reviewStatus, scheduleAnswer, type ReviewStatus } from '../learning/review.js';
import { local, localDay, startOfNextLocalDay } from '../learning/localtime.js';
import type { ActivityRecord, NudgeEvent } from './activity.js';
import { cleanOrg, countryName, parseCountry } from './profile.js';
import { encodeAction, decodeAction, type Action } from './actions.js';
import { LANGUAGE_NAMES, describeDays, t } from './i18n.js';
import { applyNudgeCommand, isNudgeCommand, nudgeChoice } from './nudge-commands.js';
import { achievements, certificateFilename, certificateTexts, cleanName, firstTry, issuedFor, NAME_MAX, type CertificateIssue } from './certificates.js';
import type { LearningRecord } from './records.js';
import { LINK_CODE_MINUTES, linkCode, normalizeLinkCode } from './link.js';
import { LANGS, isLang, newLearnerState, type Lang, type LearnerState, type QuizRun } from './state.js';

/** Engine settings, with defaults in {@link DEFAULT_ENGINE_OPTIONS}. */
export interface EngineOptions {
  /** FSRS desired retention (0.7 to 0.99). */
  retention: number;
  /** Questions in a /quiz practice quiz. */
  practiceSize: number;
  /** Most items served by one /review. */
  reviewSize: number;
  /** First-try score (0 to 1) a module or the course needs for its certificate (CERTIFICATE_MIN_SCORE). */
  certificateMinScore: number;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = { retention: 0.9, practiceSize: 5, reviewSize: 10, certificateMinScore: 0.7 };

/**
 * Work that the engine asks the runtime to do: `certificate` is signed and written in the same
 * commit as the state; `certificate_send` sends an issued certificate's document again; the others
 * run after the state is saved.
 */
export type Effect =
  | { type: 'forget' }
  | { type: 'export' }
  | { type: 'certificate'; issue: CertificateIssue }
  | { type: 'certificate_send'; id: string }
  /** Something learned, for the programme's learning records (xAPI), written with the state. */
  | { type: 'record'; record: LearningRecord }
  /** /link: keep this code for the person, valid {@link LINK_CODE_MINUTES} minutes, usable once. */
  | { type: 'link_code'; code: string }
  /** `link CODE` on another account: join this account to the person who holds the code (the runtime replies). */
  | { type: 'link'; code: string }
  /** /unlink: separate this account from the person (the runtime replies). */
  | { type: 'unlink' };

export interface LearnerTurn {
  /** The learner's state, or null for someone the bot has never seen. */
  state: LearnerState | null;
  inbound: Inbound;
  now: Date;
  /**
   * A fresh random id (a UUID) that the runtime draws for each turn, for whatever the turn creates
   * (a certificate's id), so that the engine stays pure.
   */
  nonce?: string;
}

export interface TurnResult {
  state: LearnerState;
  messages: Outbound[];
  effects: Effect[];
  /** What the learner did in this turn, for the dashboard (written with the state). */
  activity: ActivityRecord[];
}

/** Commands that work in a private conversation. */
export const LEARNER_COMMANDS = [
  'start', 'help', 'menu', 'next', 'quiz', 'review', 'progress', 'settings', 'lang', 'mydata', 'forget', 'stop',
  'remind', 'timezone', 'snooze', 'pause', 'resume', 'country', 'org', 'certificate', 'link', 'unlink',
] as const;

/** Per-turn working context. */
interface Turn {
  /** The course in the learner's language (lessons without a translation in English). */
  course: CourseView;
  /** The whole course, to change the view when the learner changes language. */
  full: Course;
  opts: EngineOptions;
  now: Date;
  s: LearnerState;
  out: Outbound[];
  effects: Effect[];
  activity: ActivityRecord[];
  /** Whether the event was a button on an earlier message (for in-place edits). */
  fromButton: boolean;
  nonce: string;
  /** Where the event came from (for `/remind here`). */
  address: Inbound['address'];
}

/** The file name of a learner's data export (/mydata). */
export const MYDATA_FILENAME = 'digit4sd-mydata.json';

const btn = (label: string, action: Action): Choice => ({ label, data: encodeAction(action) });

function lang(turn: Turn): Lang {
  return turn.s.lang;
}

function tr(turn: Turn, key: string, vars?: Record<string, string | number>): string {
  return t(lang(turn), key, vars);
}

function say(turn: Turn, text: string | RichText, choices?: Choice[]): void {
  turn.out.push({ kind: 'text', text: typeof text === 'string' ? plain(text) : text, ...(choices?.length ? { choices } : {}) });
}

/** Handles one event for one learner. */
export function handleLearnerEvent(course: Course, opts: EngineOptions, input: LearnerTurn): TurnResult {
  const { inbound, now } = input;
  const hint = inbound.languageHint?.slice(0, 2).toLowerCase();
  const base = input.state ? (structuredClone(input.state) as LearnerState) : newLearnerState(now, isLang(hint) ? hint : 'en', inbound.displayName);
  base.lastSeenAt = now.toISOString();
  if (inbound.displayName) base.displayName = inbound.displayName;
  const turn: Turn = {
    course: course.in(base.lang),
    full: course,
    opts,
    now,
    s: base,
    out: [],
    effects: [],
    activity: [],
    fromButton: inbound.event.type === 'choice',
    nonce: input.nonce ?? `${now.getTime().toString(36)}-${inbound.id}`,
    address: inbound.address,
  };
  // Any message from the learner counts as a reply to nudges; one within the hour is counted as answering it.
  const lastNudge = base.nudges.lastNudgeAt ? new Date(base.nudges.lastNudgeAt) : undefined;
  if (base.nudges.unanswered > 0 && lastNudge && now.getTime() - lastNudge.getTime() <= 3_600_000)
    turn.activity.push({ type: 'nudge', at: now.toISOString(), event: 'answered', localHour: local(lastNudge, base.nudges.timezone).hour });
  base.nudges.unanswered = 0;
  const ev = inbound.event;
  // A command or a button other than the profile's own ends a wait for a typed country or organisation.
  if (ev.type === 'command' || (ev.type === 'choice' && decodeAction(ev.data)?.type !== 'profile')) delete turn.s.awaiting;

  if (ev.type === 'command') {
    const command = ev.command.toLowerCase();
    if (command !== 'forget') turn.s.confirmingForget = false;
    if (command !== 'certificate') delete turn.s.certificateDraft;
    handleCommand(turn, command, ev.args.trim(), input.state === null);
  } else if (ev.type === 'choice') {
    const action = decodeAction(ev.data);
    if (!action || (action.type !== 'forget' && turn.s.confirmingForget)) turn.s.confirmingForget = false;
    if (action?.type !== 'certificate' && action?.type !== 'certificate_name') delete turn.s.certificateDraft;
    if (!action) staleButton(turn);
    else handleAction(turn, action);
  } else {
    handleText(turn, ev.text.trim(), input.state === null);
  }
  return { state: turn.s, messages: turn.out, effects: turn.effects, activity: turn.activity };
}

function recordNudge(turn: Turn, event: NudgeEvent): void {
  turn.activity.push({ type: 'nudge', at: turn.now.toISOString(), event, localHour: local(turn.now, turn.s.nudges.timezone).hour });
}

function handleCommand(turn: Turn, command: string, args: string, isNew: boolean): void {
  switch (command) {
    case 'start':
      turn.s.stopped = false;
      if (args && turn.course.lessons.has(args)) return startLesson(turn, args);
      // A link to a lesson that does not exist (any more): say so, then the welcome.
      if (args) say(turn, tr(turn, 'lesson.unknown', { id: args }));
      return welcome(turn, isNew);
    case 'help':
      return help(turn);
    case 'menu':
      return showMenu(turn);
    case 'next':
      return resume(turn);
    case 'quiz':
      return startPractice(turn);
    case 'review':
      return startReview(turn);
    case 'progress':
      return showProgress(turn);
    case 'settings':
      return showSettings(turn);
    case 'lang':
      return setLanguage(turn, args);
    case 'certificate':
      return certificateMenu(turn);
    case 'link':
      return link(turn, args);
    case 'unlink':
      turn.effects.push({ type: 'unlink' });
      return;
    case 'mydata':
      say(turn, tr(turn, 'mydata.summary', {
        lang: LANGUAGE_NAMES[turn.s.lang],
        tz: turn.s.nudges.timezone,
        lessons: Object.keys(turn.s.lessons).length,
        items: Object.keys(turn.s.reviews).length,
        reminder: turn.s.nudges.remindAt ?? 'off',
        file: MYDATA_FILENAME,
      }));
      if (turn.s.certificates?.length) say(turn, tr(turn, 'mydata.certificates', { count: turn.s.certificates.length }));
      turn.effects.push({ type: 'export' });
      return;
    case 'forget':
      turn.s.confirmingForget = true;
      return say(turn, tr(turn, 'forget.confirm'), [btn(tr(turn, 'btn.forget_yes'), { type: 'forget', confirm: true }), btn(tr(turn, 'btn.forget_no'), { type: 'forget', confirm: false })]);
    case 'country':
    case 'org':
      return profileCommand(turn, command, args);
    case 'stop':
      recordNudge(turn, 'stopped');
      turn.s.stopped = true;
      turn.s.position = turn.s.position.kind === 'quiz' && turn.s.position.mode !== 'lesson' ? { kind: 'idle' } : turn.s.position;
      return say(turn, tr(turn, 'stop.done'));
    default:
      if (command === 'remind' && /^here$/i.test(args)) {
        turn.s.nudges.reminderAddress = turn.address;
        return say(turn, tr(turn, 'link.reminders_here', { channel: turn.address.channel }));
      }
      if (isNudgeCommand(command)) {
        if (command === 'pause') recordNudge(turn, 'paused');
        if (command === 'snooze' && args.trim()) recordNudge(turn, 'snoozed');
        const reply = applyNudgeCommand(turn.s, command, args, turn.now);
        return say(turn, reply.text, reply.choices?.map((c) => btn(tr(turn, c.labelKey), c.action)));
      }
      return say(turn, tr(turn, 'unknown.command', { command }), [btn(tr(turn, 'btn.help'), { type: 'help' })]);
  }
}

function handleAction(turn: Turn, a: Action): void {
  switch (a.type) {
    case 'start_module': {
      const first = turn.course.module(a.moduleId)?.lessons[0];
      return first ? startLesson(turn, first.id) : staleButton(turn);
    }
    case 'menu':
      return showMenu(turn);
    case 'module':
      return showModule(turn, a.moduleId);
    case 'lesson':
      return turn.course.lessons.has(a.lessonId) ? startLesson(turn, a.lessonId) : staleButton(turn);
    case 'next_card': {
      const p = turn.s.position;
      if (p.kind !== 'card' || p.lessonId !== a.lessonId || p.index !== a.card) return staleButton(turn);
      return advanceCard(turn);
    }
    case 'answer':
      return answer(turn, a.itemId, a.option);
    case 'submit':
      return submit(turn, a.itemId);
    case 'continue': {
      const p = turn.s.position;
      if (p.kind !== 'quiz' || !p.answered || p.itemIds[p.index] !== a.itemId) return staleButton(turn);
      return nextQuestion(turn);
    }
    case 'resume':
      return resume(turn);
    case 'practice':
      return startPractice(turn);
    case 'review':
      return startReview(turn);
    case 'progress':
      return showProgress(turn);
    case 'learned':
      return showLearned(turn, a.page);
    case 'help':
      return help(turn);
    case 'settings':
      return showSettings(turn);
    case 'lang':
      return setLanguage(turn, a.lang);
    case 'forget':
      if (!turn.s.confirmingForget) return staleButton(turn);
      turn.s.confirmingForget = false;
      if (!a.confirm) return say(turn, tr(turn, 'forget.kept'), [btn(tr(turn, 'btn.continue'), { type: 'resume' })]);
      turn.effects.push({ type: 'forget' });
      say(turn, tr(turn, 'forget.done'));
      turn.out.push({ kind: 'erased', filename: MYDATA_FILENAME });
      // The certificates' PDFs a channel kept (the console's files in DATA_DIR) go too.
      for (const c of turn.s.certificates ?? []) turn.out.push({ kind: 'erased', filename: certificateFilename(c.achievement, c.id) });
      return;
    case 'nudge': {
      recordNudge(turn, a.choice === 'stop' ? 'stopped' : 'snoozed');
      const reply = nudgeChoice(turn.s, a.choice, turn.now);
      if (a.choice === 'stop') turn.s.nudges.remindAt = null;
      return say(turn, reply);
    }
    case 'certificate':
      return chooseCertificate(turn, a.achievement);
    case 'certificate_name':
      return confirmCertificateName(turn, a.ok);
    case 'reminders_here':
      turn.s.nudges.reminderAddress = turn.address;
      return say(turn, tr(turn, 'link.reminders_here', { channel: turn.address.channel }));
    case 'profile':
      return profileAction(turn, a.field);
    case 'group_answer':
    case 'group_join':
      // Group buttons reach the group handler; in a private chat they are stale.
      return staleButton(turn);
  }
}

function handleText(turn: Turn, text: string, isNew: boolean): void {
  if (isNew) return welcome(turn, true);
  if (!text) return say(turn, tr(turn, 'empty.text'), positionChoices(turn));
  if (turn.s.certificateDraft && !turn.s.certificateDraft.name) return takeCertificateName(turn, text);
  const typedLink = /^link\s+(\S[\S ]{3,14})$/i.exec(text);
  if (typedLink) return link(turn, typedLink[1]!);
  if (turn.s.confirmingForget) {
    turn.s.confirmingForget = false;
    return say(turn, tr(turn, 'forget.kept'), [btn(tr(turn, 'btn.continue'), { type: 'resume' })]);
  }
  if (turn.s.awaiting) return profileText(turn, turn.s.awaiting, text, true);
  const p = turn.s.position;
  // On a single-answer question, a typed letter ("b") picks that option.
  if (p.kind === 'quiz' && !p.answered) {
    const item = turn.course.items.get(p.itemIds[p.index] ?? '');
    const letter = /^([a-e])[.)]?$/i.exec(text);
    if (item && letter) {
      const option = letter[1]!.toLowerCase().charCodeAt(0) - 97;
      if (option < item.options.length) return answer(turn, item.id, option);
    }
  }
  if (/^(hi|hello|hey|bonjour|salut|hola|buenos d[ií]as)\b/i.test(text)) return welcome(turn, false);
  say(turn, tr(turn, 'unknown.text'), positionChoices(turn));
}

/** Choices that fit where the learner is: used with help and stale-button replies. */
function positionChoices(turn: Turn): Choice[] {
  return [btn(tr(turn, 'btn.continue'), { type: 'resume' }), btn(tr(turn, 'btn.menu'), { type: 'menu' }), btn(tr(turn, 'btn.help'), { type: 'help' })];
}

function staleButton(turn: Turn): void {
  say(turn, tr(turn, 'stale.button'));
  resume(turn, true);
}

function lessonsDone(turn: Turn): number {
  return turn.course.sequence.filter((l) => turn.s.lessons[l.id]?.status === 'done').length;
}

function welcome(turn: Turn, isNew: boolean): void {
  const { course } = turn;
  const done = lessonsDone(turn);
  const started = Object.keys(turn.s.lessons).length > 0;
  const text: RichText = [
    { type: 'paragraph', spans: [{ text: tr(turn, 'welcome.title'), bold: true }] },
    ...inlineParagraph(tr(turn, 'welcome.body')),
    { type: 'paragraph', spans: [{ text: tr(turn, 'welcome.how', { modules: course.modules.length, lessons: course.sequence.length, minutes: typicalMinutes(course) }) }] },
  ];
  if (!isNew && started) text.push({ type: 'paragraph', spans: [{ text: tr(turn, 'welcome.back', { done, total: course.sequence.length }) }] });
  const first = course.modules[0]!;
  const choices =
    !isNew && started
      ? [btn(tr(turn, 'btn.continue'), { type: 'resume' }), btn(tr(turn, 'btn.pick_module'), { type: 'menu' })]
      : [btn(tr(turn, 'btn.begin'), { type: 'start_module', moduleId: first.id }), btn(tr(turn, 'btn.pick_module'), { type: 'menu' })];
  turn.out.push({ kind: 'text', text, choices });
}

/** The median of the lessons' computed minutes: what "a lesson takes about N minutes" says. */
export function typicalMinutes(course: CourseView): number {
  const minutes = course.sequence.map((l) => l.minutes).sort((a, b) => a - b);
  return minutes[Math.floor(minutes.length / 2)] ?? 1;
}

/** Interface strings may use *italic* and **bold** too. */
function inlineParagraph(text: string): RichText {
  const spans: Span[] = [];
  for (const [i, part] of text.split('*').entries()) if (part) spans.push(i % 2 ? { text: part, italic: true } : { text: part });
  return [{ type: 'paragraph', spans }];
}

function help(turn: Turn): void {
  const text: RichText = [
    { type: 'paragraph', spans: [{ text: tr(turn, 'help.title'), bold: true }] },
    { type: 'paragraph', spans: [{ text: tr(turn, 'help.body') }] },
    ...tr(turn, 'help.commands')
      .split('\n')
      .map((line) => ({ type: 'bullet' as const, spans: [{ text: line }] })),
  ];
  turn.out.push({ kind: 'text', text, choices: positionChoices(turn) });
}

function moduleStatus(turn: Turn, lessons: Lesson[]): { done: number; status: ModuleProgress['status'] } {
  const done = lessons.filter((l) => turn.s.lessons[l.id]?.status === 'done').length;
  const any = lessons.some((l) => turn.s.lessons[l.id]);
  return { done, status: done === lessons.length ? 'done' : any ? 'in_progress' : 'not_started' };
}

function modulesProgress(turn: Turn): ModuleProgress[] {
  return turn.course.modules.map((m) => {
    const { done, status } = moduleStatus(turn, m.lessons);
    return { moduleId: m.id, title: m.title, lessonsDone: done, lessonsTotal: m.lessons.length, status };
  });
}

function showMenu(turn: Turn): void {
  const text: RichText = [{ type: 'paragraph', spans: [{ text: tr(turn, 'menu.title'), bold: true }] }];
  const choices: Choice[] = [];
  turn.course.modules.forEach((m, i) => {
    const { done, status } = moduleStatus(turn, m.lessons);
    const mark = tr(turn, `mark.${status}`);
    text.push({ type: 'paragraph', spans: [{ text: tr(turn, 'menu.module_line', { mark, n: i + 1, title: m.title, done, total: m.lessons.length }) }] });
    choices.push(btn(`${i + 1}. ${m.title}`, { type: 'module', moduleId: m.id }));
  });
  turn.out.push({ kind: 'text', text, choices });
}

function showModule(turn: Turn, moduleId: string): void {
  const index = turn.course.modules.findIndex((m) => m.id === moduleId);
  const m = turn.course.modules[index];
  if (!m) return staleButton(turn);
  const text: RichText = [
    { type: 'paragraph', spans: [{ text: tr(turn, 'module.title', { n: index + 1, title: m.title }), bold: true }] },
    { type: 'paragraph', spans: [{ text: m.summary, italic: true }] },
  ];
  const choices: Choice[] = [];
  for (const l of m.lessons) {
    const status = turn.s.lessons[l.id]?.status ?? 'not_started';
    const mark = tr(turn, `mark.${status}`);
    text.push({ type: 'paragraph', spans: [{ text: tr(turn, 'module.lesson_line', { mark, title: l.title, minutes: l.minutes }) }] });
    choices.push(btn(`${mark} ${l.title}`, { type: 'lesson', lessonId: l.id }));
  }
  choices.push(btn(tr(turn, 'btn.back_modules'), { type: 'menu' }));
  turn.out.push({ kind: 'text', text, choices });
}

function startLesson(turn: Turn, lessonId: string): void {
  const progress = turn.s.lessons[lessonId];
  if (!progress) turn.activity.push({ type: 'lesson_started', at: turn.now.toISOString(), lessonId });
  turn.s.lessons[lessonId] = progress?.status === 'done' ? progress : { startedAt: turn.now.toISOString(), ...progress, status: 'in_progress' };
  turn.s.position = { kind: 'card', lessonId, index: 0 };
  showCard(turn);
}

function showCard(turn: Turn): void {
  const p = turn.s.position;
  if (p.kind !== 'card') return;
  const lesson = turn.course.lessons.get(p.lessonId)!;
  const last = p.index === lesson.cards.length - 1;
  turn.s.lastLearnedAt = turn.now.toISOString();
  // Where a lesson begins, the learner sees how long it takes.
  const body: RichText = p.index === 0 ? [{ type: 'paragraph', spans: [{ text: tr(turn, 'lesson.about_minutes', { minutes: lesson.minutes }), italic: true }] }, ...lesson.cards[0]!] : lesson.cards[p.index]!;
  turn.out.push({
    kind: 'card',
    lessonTitle: lesson.title,
    index: p.index + 1,
    total: lesson.cards.length,
    body,
    choices: [
      btn(tr(turn, last ? 'btn.start_quiz' : 'btn.next'), { type: 'next_card', lessonId: lesson.id, card: p.index }),
      btn(tr(turn, 'btn.menu'), { type: 'menu' }),
    ],
  });
}

function advanceCard(turn: Turn): void {
  const p = turn.s.position;
  if (p.kind !== 'card') return;
  const lesson = turn.course.lessons.get(p.lessonId)!;
  if (p.index + 1 < lesson.cards.length) {
    turn.s.position = { ...p, index: p.index + 1 };
    return showCard(turn);
  }
  startQuiz(turn, { mode: 'lesson', lessonId: lesson.id, itemIds: lesson.items.map((i) => i.id) });
}

function startQuiz(turn: Turn, run: { mode: QuizRun['mode']; lessonId?: string; itemIds: string[] }): void {
  turn.s.position = {
    kind: 'quiz',
    mode: run.mode,
    ...(run.lessonId ? { lessonId: run.lessonId } : {}),
    itemIds: run.itemIds,
    index: 0,
    correct: 0,
    selected: [],
    shownAt: turn.now.toISOString(),
    wrongTries: 0,
  };
  showQuestion(turn);
}

/** The standard end of a multiple-answer stem in each course language: no need to add the hint then. */
const PICK_ALL = /all that apply|plusieurs réponses possibles|varias respuestas correctas/i;

/** How a quiz item's options look to the learner, in the learner's language. */
export function quizOptions(lang: Lang, item: QuizItem, selected: number[] = []): QuizOption[] {
  return item.options.map((o, i) => ({
    key: String.fromCharCode(65 + i),
    // True/false options are always "true" then "false" (the checker enforces it in every language).
    text: item.type === 'truefalse' ? t(lang, i === 0 ? 'quiz.true' : 'quiz.false') : o.text,
    ...(item.type === 'multiple' ? { ticked: selected.includes(i) } : {}),
  }));
}

function showQuestion(turn: Turn, redraw = false): void {
  const p = turn.s.position;
  if (p.kind !== 'quiz') return;
  const item = turn.course.items.get(p.itemIds[p.index]!)!;
  const options = quizOptions(lang(turn), item, p.selected);
  const choices = options.map((o, i) =>
    btn(item.type === 'multiple' ? `${o.ticked ? '☑' : '☐'} ${o.key}` : item.type === 'truefalse' ? o.text : o.key, { type: 'answer', itemId: item.id, option: i }),
  );
  if (item.type === 'multiple') choices.push(btn(tr(turn, 'btn.submit'), { type: 'submit', itemId: item.id }));
  const headingKey = p.mode === 'review' ? 'quiz.heading_review' : 'quiz.heading';
  turn.out.push({
    kind: 'quiz',
    itemId: item.id,
    heading: tr(turn, headingKey, { index: p.index + 1, total: p.itemIds.length }),
    question: item.type === 'multiple' && !PICK_ALL.test(item.question) ? `${item.question}\n${tr(turn, 'quiz.pick_all')}` : item.question,
    options,
    multiple: item.type === 'multiple',
    choices,
    ...(redraw && turn.fromButton ? { edit: 'source' as const } : {}),
  });
}

function answer(turn: Turn, itemId: string, option: number): void {
  const p = turn.s.position;
  if (p.kind !== 'quiz' || p.answered || p.itemIds[p.index] !== itemId) return staleButton(turn);
  const item = turn.course.items.get(itemId)!;
  if (option >= item.options.length) return staleButton(turn);
  if (item.type === 'multiple') {
    // Ticking toggles; the answer is given with Submit.
    const selected = p.selected.includes(option) ? p.selected.filter((o) => o !== option) : [...p.selected, option].sort();
    turn.s.position = { ...p, selected };
    return showQuestion(turn, true);
  }
  grade(turn, item, [option]);
}

function submit(turn: Turn, itemId: string): void {
  const p = turn.s.position;
  if (p.kind !== 'quiz' || p.answered || p.itemIds[p.index] !== itemId) return staleButton(turn);
  const item = turn.course.items.get(itemId)!;
  if (!p.selected.length) return say(turn, tr(turn, 'feedback.pick_one_first'));
  grade(turn, item, p.selected);
}

function grade(turn: Turn, item: QuizItem, picked: number[]): void {
  const p = turn.s.position as QuizRun;
  const right = correctIndices(item);
  const correct = right.length === picked.length && right.every((i) => picked.includes(i));
  const elapsedMs = turn.now.getTime() - new Date(p.shownAt).getTime();
  const prev = turn.s.reviews[item.id];
  turn.activity.push({
    type: 'item_answered',
    at: turn.now.toISOString(),
    itemId: item.id,
    lessonId: item.lessonId,
    mode: p.mode,
    options: [...picked].sort((a, b) => a - b),
    correct,
    firstTry: !prev,
    durationMs: Math.max(0, elapsedMs),
    ...(prev?.last_review
      ? {
          predictedRecall: recallProbability(prev, turn.now, turn.opts.retention),
          daysSinceSeen: Math.max(0, (turn.now.getTime() - new Date(prev.last_review).getTime()) / 86_400_000),
        }
      : {}),
  });
  // Wrong tries on this item since it was last answered right (this run's and earlier ones): a right
  // answer after one is rated Hard.
  const wrongTries = p.wrongTries + (prev?.wrongTries ?? 0);
  turn.s.reviews[item.id] = scheduleAnswer(prev, { correct, elapsedMs, wrongTries }, turn.now, turn.opts.retention);
  turn.s.lastLearnedAt = turn.now.toISOString();
  turn.effects.push({ type: 'record', record: { kind: 'answered', itemId: item.id, mode: p.mode, picked: [...picked].sort((a, b) => a - b), correct, durationMs: Math.max(0, elapsedMs) } });
  const last = p.index === p.itemIds.length - 1;
  turn.s.position = { ...p, answered: { correct }, correct: p.correct + (correct ? 1 : 0), wrongTries: correct ? p.wrongTries : p.wrongTries + 1 };
  const options = quizOptions(lang(turn), item, picked);
  const explanation: string[] = [];
  if (item.type === 'multiple' && !correct) {
    // Say which ticks were wrong and which right options were left out, before the explanation.
    const list = (indices: number[]) => indices.map((i) => options[i]!.key).join(', ');
    const wrongPicks = picked.filter((i) => !right.includes(i));
    const missed = right.filter((i) => !picked.includes(i));
    if (wrongPicks.length) explanation.push(tr(turn, 'feedback.wrong_picks', { picks: list(wrongPicks) }));
    if (missed.length) explanation.push(tr(turn, 'feedback.missed', { picks: list(missed) }));
  }
  explanation.push(item.explanation);
  turn.out.push({
    kind: 'feedback',
    correct,
    heading: tr(turn, correct ? 'feedback.right' : 'feedback.wrong'),
    answer: right.map((i) => `${options[i]!.key}. ${options[i]!.text}`),
    answerLabel: tr(turn, right.length > 1 ? 'feedback.answers' : 'feedback.answer'),
    explanation: explanation.join('\n'),
    right,
    picked,
    ...(turn.fromButton ? { edit: 'source' as const } : {}),
    question: item.question,
    options,
    choices: [btn(tr(turn, last ? 'btn.results' : 'btn.next_question'), { type: 'continue', itemId: item.id })],
  });
}

function nextQuestion(turn: Turn): void {
  const p = turn.s.position as QuizRun;
  if (p.index + 1 < p.itemIds.length) {
    turn.s.position = { ...p, index: p.index + 1, selected: [], shownAt: turn.now.toISOString(), wrongTries: 0 };
    delete (turn.s.position as QuizRun).answered;
    return showQuestion(turn);
  }
  finishQuiz(turn);
}

function finishQuiz(turn: Turn): void {
  const p = turn.s.position as QuizRun;
  const total = p.itemIds.length;
  turn.s.position = { kind: 'idle' };
  if (p.mode === 'lesson' && p.lessonId) {
    const lesson = turn.course.lessons.get(p.lessonId)!;
    const before = turn.s.lessons[lesson.id];
    const first = before?.status !== 'done';
    const startedAt = before?.startedAt;
    turn.activity.push({
      type: 'lesson_completed',
      at: turn.now.toISOString(),
      lessonId: lesson.id,
      correct: p.correct,
      total,
      first,
      ...(first && startedAt ? { durationMs: Math.max(0, turn.now.getTime() - new Date(startedAt).getTime()) } : {}),
    });
    const score = { correct: p.correct, total };
    turn.s.lessons[lesson.id] = { status: 'done', lastScore: score, firstScore: firstTry(before) ?? score, completedAt: turn.now.toISOString(), ...(startedAt ? { startedAt } : {}) };
    turn.effects.push({ type: 'record', record: { kind: 'lesson_completed', lessonId: lesson.id, correct: p.correct, total } });
    const lines = [tr(turn, 'lesson.done', { title: lesson.title, correct: p.correct, total })];
    if (p.correct === total) lines.push(tr(turn, 'lesson.done_perfect', { correct: p.correct, total }));
    const scoreLines = lines.splice(0);
    const module = turn.course.module(lesson.moduleId)!;
    const choices: Choice[] = [];
    if (module.lessons.every((l) => turn.s.lessons[l.id]?.status === 'done')) {
      lines.push(tr(turn, 'lesson.module_done', { n: turn.course.modules.indexOf(module) + 1, title: module.title }));
      // The lesson that completes a module (or the course) offers its certificate once earned.
      const earned = achievements(turn.course, turn.s, turn.opts.certificateMinScore).filter(
        (a) => a.earned && !issuedFor(turn.s, a.achievement) && (a.achievement === 'course' || a.achievement === `module:${module.id}`),
      );
      const offer = earned.find((a) => a.achievement === 'course') ?? earned[0];
      if (offer) {
        lines.push(tr(turn, 'certificate.offer', { scope: offer.achievement === 'course' ? 'course' : 'module' }));
        choices.push(btn(tr(turn, 'btn.certificate'), { type: 'certificate', achievement: offer.achievement }));
      }
    }
    const next = nextLessonFor(turn);
    if (next) {
      lines.push(tr(turn, 'lesson.next_up', { title: next.title, minutes: next.minutes }));
      choices.push(btn(tr(turn, 'btn.next_lesson', { title: truncate(next.title, 40) }), { type: 'lesson', lessonId: next.id }));
    } else {
      lines.push(tr(turn, 'course.done'));
      choices.push(btn(tr(turn, 'btn.review'), { type: 'review' }));
    }
    choices.push(btn(tr(turn, 'btn.menu'), { type: 'menu' }), btn(tr(turn, 'btn.progress'), { type: 'progress' }));
    // The score, then the one thing to keep, then what comes next.
    const text: RichText = [...plain(scoreLines.join('\n'))];
    if (lesson.takeaway) text.push({ type: 'paragraph', spans: [{ text: `${tr(turn, 'lesson.takeaway')} `, bold: true }, { text: lesson.takeaway }] });
    text.push(...plain(lines.join('\n')));
    // Once, after the first lesson: the two optional profile questions (going on skips them).
    if (!turn.s.profileAsked) {
      turn.s.profileAsked = true;
      text.push(...plain(tr(turn, 'profile.ask')));
      choices.push(btn(tr(turn, 'btn.profile_country'), { type: 'profile', field: 'country' }));
    }
    return say(turn, text, choices);
  }
  if (p.mode === 'review') turn.effects.push({ type: 'record', record: { kind: 'review_completed', correct: p.correct, total } });
  const key = p.mode === 'review' ? 'review.done' : 'practice.done';
  say(turn, tr(turn, key, { correct: p.correct, total }), [btn(tr(turn, 'btn.continue'), { type: 'resume' }), btn(tr(turn, 'btn.progress'), { type: 'progress' })]);
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** The lesson to take next: the first unfinished lesson after the last one finished, else the first unfinished one. */
function nextLessonFor(turn: Turn): Lesson | undefined {
  const seq = turn.course.sequence;
  const inProgress = seq.find((l) => turn.s.lessons[l.id]?.status === 'in_progress');
  if (inProgress) return inProgress;
  let lastDone = -1;
  let lastAt = '';
  seq.forEach((l, i) => {
    const at = turn.s.lessons[l.id]?.completedAt ?? '';
    if (at && at >= lastAt) [lastDone, lastAt] = [i, at];
  });
  return seq.slice(lastDone + 1).find((l) => turn.s.lessons[l.id]?.status !== 'done') ?? seq.find((l) => turn.s.lessons[l.id]?.status !== 'done');
}

/** /next: show whatever the learner was doing, or the next lesson. */
function resume(turn: Turn, quiet = false): void {
  const p = turn.s.position;
  if (p.kind === 'card') return showCard(turn);
  if (p.kind === 'quiz') {
    if (p.answered) return nextQuestion(turn);
    return showQuestion(turn);
  }
  const next = nextLessonFor(turn);
  if (next) return startLesson(turn, next.id);
  if (!quiet) say(turn, tr(turn, 'course.done'), [btn(tr(turn, 'btn.review'), { type: 'review' }), btn(tr(turn, 'btn.practice'), { type: 'practice' })]);
  else say(turn, tr(turn, 'course.done'), positionChoices(turn));
}

/** Items of lessons the learner has finished or started, weakest first. */
function learnedItems(turn: Turn): string[] {
  const items = turn.course.sequence.filter((l) => turn.s.lessons[l.id]).flatMap((l) => l.items.map((i) => i.id));
  const weakness = (id: string) => {
    const c = turn.s.reviews[id];
    return c ? c.right / Math.max(1, c.seen) : 2; // unseen items of started lessons come after the weak ones
  };
  // Stable order by weakness, then by how long since last review.
  return items
    .map((id, i) => ({ id, i, w: weakness(id), last: turn.s.reviews[id]?.last_review ?? '' }))
    .sort((a, b) => a.w - b.w || a.last.localeCompare(b.last) || a.i - b.i)
    .map((x) => x.id);
}

function startPractice(turn: Turn): void {
  const items = learnedItems(turn).slice(0, turn.opts.practiceSize);
  if (!items.length)
    return say(turn, tr(turn, 'practice.none'), [btn(tr(turn, 'btn.begin'), { type: 'start_module', moduleId: turn.course.modules[0]!.id }), btn(tr(turn, 'btn.menu'), { type: 'menu' })]);
  say(turn, tr(turn, 'practice.intro', { count: items.length }));
  startQuiz(turn, { mode: 'practice', itemIds: items });
}

/** Minutes a number of items takes, at about 15 seconds an item. */
export function minutesFor(items: number): number {
  return Math.max(1, Math.round(items / 4));
}

/** The learner's review counts and retention, as every view shows them. */
function reviewsOf(turn: Turn): ReviewStatus {
  return reviewStatus(turn.s.reviews, turn.now, { timezone: turn.s.nudges.timezone, retention: turn.opts.retention, known: turn.course.items });
}

function startReview(turn: Turn): void {
  const status = reviewsOf(turn);
  const due = status.dueNow.slice(0, turn.opts.reviewSize);
  if (due.length) {
    say(turn, tr(turn, 'review.intro', { count: due.length, minutes: minutesFor(due.length) }));
    return startQuiz(turn, { mode: 'review', itemIds: due });
  }
  // Nothing due: mix in items of started lessons that the learner has not answered yet.
  const fresh = learnedItems(turn).filter((id) => !turn.s.reviews[id]).slice(0, turn.opts.practiceSize);
  if (fresh.length) {
    say(turn, tr(turn, 'review.new_items', { count: fresh.length }));
    return startQuiz(turn, { mode: 'review', itemIds: fresh });
  }
  const next = status.nextDue;
  if (!next) return say(turn, tr(turn, 'review.nothing_yet'), [btn(tr(turn, 'btn.continue'), { type: 'resume' })]);
  say(turn, tr(turn, 'review.none', { when: relativeDay(turn, next) }), [btn(tr(turn, 'btn.continue'), { type: 'resume' }), btn(tr(turn, 'btn.practice'), { type: 'practice' })]);
}

/** "today at 15:40", "tomorrow at 09:10" or "on 3 December at 09:10", in the learner's time zone. */
function relativeDay(turn: Turn, when: Date): string {
  const tz = turn.s.nudges.timezone;
  const day =
    localDay(when, tz) === localDay(turn.now, tz)
      ? tr(turn, 'time.today')
      : localDay(when, tz) === localDay(startOfNextLocalDay(turn.now, tz), tz)
        ? tr(turn, 'time.tomorrow')
        : tr(turn, 'time.on_date', { date: when.toLocaleDateString(turn.s.lang, { timeZone: tz, day: 'numeric', month: 'long' }) });
  return tr(turn, 'time.day_at', { day, time: local(when, tz).toFormat('HH:mm') });
}

function showProgress(turn: Turn): void {
  const modules = modulesProgress(turn);
  const done = lessonsDone(turn);
  const cards = Object.values(turn.s.reviews);
  const summary: RichText = [];
  if (!done && !Object.keys(turn.s.lessons).length) {
    summary.push({ type: 'paragraph', spans: [{ text: tr(turn, 'progress.nothing') }] });
  } else {
    summary.push({ type: 'paragraph', spans: [{ text: tr(turn, 'progress.lessons', { done, total: turn.course.sequence.length }) }] });
    const seen = cards.reduce((n, c) => n + c.seen, 0);
    const right = cards.reduce((n, c) => n + c.right, 0);
    if (seen) summary.push({ type: 'paragraph', spans: [{ text: tr(turn, 'progress.accuracy', { right, seen, percent: Math.round((100 * right) / seen) }) }] });
    if (cards.length) {
      const status = reviewsOf(turn);
      summary.push({ type: 'paragraph', spans: [{ text: tr(turn, 'progress.due', { now: status.dueNow.length, later: status.laterToday, week: status.nextSevenDays }) }] });
      if (status.retention !== undefined) summary.push({ type: 'paragraph', spans: [{ text: tr(turn, 'progress.retention', { percent: Math.round(status.retention * 100) }) }] });
    }
  }
  // What you have learned: the takeaways of the last few finished lessons, newest first.
  const learned = learnedTakeaways(turn);
  const choices = [btn(tr(turn, 'btn.continue'), { type: 'resume' }), btn(tr(turn, 'btn.review'), { type: 'review' }), btn(tr(turn, 'btn.menu'), { type: 'menu' })];
  if (learned.length) {
    summary.push({ type: 'paragraph', spans: [{ text: tr(turn, 'progress.learned'), bold: true }] });
    for (const l of learned.slice(-PROGRESS_TAKEAWAYS).reverse()) summary.push({ type: 'bullet', spans: [{ text: l.takeaway! }] });
    if (learned.length > PROGRESS_TAKEAWAYS) choices.splice(1, 0, btn(tr(turn, 'btn.all_learned', { count: learned.length }), { type: 'learned', page: 0 }));
  }
  turn.out.push({ kind: 'progress', heading: tr(turn, 'progress.title'), modules, summary, choices });
}

/** Takeaways shown in /progress; the rest are a tap away. */
export const PROGRESS_TAKEAWAYS = 3;
/** Takeaways on one page of the full list (short enough for one phone message on every channel). */
export const LEARNED_PAGE = 8;

/** Finished lessons that have a takeaway, in the order they were finished (in the learner's language). */
function learnedTakeaways(turn: Turn): Lesson[] {
  return turn.course.sequence
    .filter((l) => l.takeaway && turn.s.lessons[l.id]?.status === 'done')
    .map((l, i) => ({ l, i, at: turn.s.lessons[l.id]!.completedAt ?? '' }))
    .sort((a, b) => a.at.localeCompare(b.at) || a.i - b.i)
    .map((x) => x.l);
}

/** Every takeaway of the finished lessons, in course order, a page at a time. */
function showLearned(turn: Turn, page: number): void {
  const done = turn.course.sequence.filter((l) => l.takeaway && turn.s.lessons[l.id]?.status === 'done');
  if (!done.length) return say(turn, tr(turn, 'learned.none'), [btn(tr(turn, 'btn.continue'), { type: 'resume' })]);
  const pages = Math.ceil(done.length / LEARNED_PAGE);
  const p = Math.min(Math.max(0, page), pages - 1);
  const shown = done.slice(p * LEARNED_PAGE, (p + 1) * LEARNED_PAGE);
  const text: RichText = [
    { type: 'paragraph', spans: [{ text: tr(turn, 'learned.title', { from: p * LEARNED_PAGE + 1, to: p * LEARNED_PAGE + shown.length, total: done.length }), bold: true }] },
    ...shown.map((l) => ({ type: 'bullet' as const, spans: [{ text: `${l.title}: `, bold: true }, { text: l.takeaway! }] })),
  ];
  const choices: Choice[] = [];
  if (p + 1 < pages) choices.push(btn(tr(turn, 'btn.more'), { type: 'learned', page: p + 1 }));
  choices.push(btn(tr(turn, 'btn.progress'), { type: 'progress' }), btn(tr(turn, 'btn.continue'), { type: 'resume' }));
  turn.out.push({ kind: 'text', text, choices });
}

function showSettings(turn: Turn): void {
  const n = turn.s.nudges;
  const lines = [
    tr(turn, 'settings.lang', { lang: LANGUAGE_NAMES[turn.s.lang] }),
    tr(turn, 'settings.timezone', { tz: n.timezone }),
    n.remindAt ? tr(turn, 'settings.reminder_on', { time: n.remindAt, days: describeDays(turn.s.lang, n.remindDays) }) : tr(turn, 'settings.reminder_off'),
    tr(turn, 'settings.quiet', { start: n.quietStart, end: n.quietEnd }),
  ];
  if (n.paused) lines.push(tr(turn, 'settings.paused'));
  lines.push(
    turn.s.country ? tr(turn, 'settings.country', { country: countryName(turn.s.country, turn.s.lang) }) : tr(turn, 'settings.country_none'),
    turn.s.org ? tr(turn, 'settings.org', { org: turn.s.org }) : tr(turn, 'settings.org_none'),
  );
  turn.out.push({
    kind: 'text',
    text: [{ type: 'paragraph', spans: [{ text: tr(turn, 'settings.title'), bold: true }] }, ...lines.map((l) => ({ type: 'bullet' as const, spans: [{ text: l }] }))],
    choices: [
      btn(tr(turn, 'btn.language'), { type: 'lang', lang: '' }),
      btn(tr(turn, 'btn.profile_edit'), { type: 'profile', field: 'country' }),
      btn(tr(turn, 'btn.continue'), { type: 'resume' }),
    ],
  });
}

function setLanguage(turn: Turn, code: string): void {
  const wanted = code.trim().toLowerCase().slice(0, 2);
  if (isLang(wanted)) {
    turn.s.lang = wanted;
    turn.s.langChosen = true;
    turn.course = turn.full.in(wanted);
    say(turn, tr(turn, 'lang.set'), [btn(tr(turn, 'btn.continue'), { type: 'resume' })]);
    // Mid-lesson, carry on at the same card or question, now in the new language (positions are ids
    // and indices, the same in every language).
    const p = turn.s.position;
    if (p.kind === 'card') showCard(turn);
    else if (p.kind === 'quiz' && !p.answered) showQuestion(turn);
    return;
  }
  const choices = LANGS.map((l) => btn(LANGUAGE_NAMES[l], { type: 'lang', lang: l }));
  say(turn, code.trim() ? tr(turn, 'lang.unknown', { code: code.trim() }) : tr(turn, 'lang.pick'), choices);
}

/** /certificate: the earned certificates to choose from, or what it takes to earn one. */
function certificateMenu(turn: Turn): void {
  const all = achievements(turn.course, turn.s, turn.opts.certificateMinScore);
  const earned = all.filter((a) => a.earned);
  const percent = Math.round(turn.opts.certificateMinScore * 100);
  if (!earned.length) {
    const lines = [tr(turn, 'certificate.not_yet', { percent })];
    for (const a of all.filter((x) => x.complete && !x.earned)) lines.push(tr(turn, 'certificate.below', { title: a.title, score: Math.round((a.score ?? 0) * 100), percent }));
    return say(turn, lines.join('\n'), [btn(tr(turn, 'btn.continue'), { type: 'resume' }), btn(tr(turn, 'btn.progress'), { type: 'progress' })]);
  }
  if (earned.length === 1) return chooseCertificate(turn, earned[0]!.achievement);
  // The course first, then the modules.
  const ordered = [...earned.filter((a) => a.achievement === 'course'), ...earned.filter((a) => a.achievement !== 'course')];
  say(
    turn,
    tr(turn, 'certificate.pick'),
    ordered.map((a) => btn(a.achievement === 'course' ? tr(turn, 'btn.certificate_course') : tr(turn, 'btn.certificate_module', { n: a.n ?? 1 }), { type: 'certificate', achievement: a.achievement })),
  );
}

/** One achievement chosen: send the issued certificate again, or ask for the name to print. */
function chooseCertificate(turn: Turn, achievement: string): void {
  const status = achievements(turn.course, turn.s, turn.opts.certificateMinScore).find((a) => a.achievement === achievement);
  if (!status?.earned) return staleButton(turn);
  const issued = issuedFor(turn.s, achievement);
  if (issued) {
    say(turn, tr(turn, 'certificate.again', { title: status.title }));
    turn.effects.push({ type: 'certificate_send', id: issued.id });
    return;
  }
  turn.s.certificateDraft = { achievement };
  say(turn, tr(turn, 'certificate.ask_name', { title: status.title, max: NAME_MAX }));
}

function takeCertificateName(turn: Turn, typed: string): void {
  const draft = turn.s.certificateDraft!;
  const name = cleanName(typed);
  if (!name) return say(turn, tr(turn, 'certificate.name_invalid', { max: NAME_MAX }));
  turn.s.certificateDraft = { ...draft, name };
  say(turn, [{ type: 'paragraph', spans: [{ text: tr(turn, 'certificate.confirm_name') }, { text: ` ${name}`, bold: true }] }, ...plain(tr(turn, 'certificate.confirm_final'))], [
    btn(tr(turn, 'btn.certificate_issue'), { type: 'certificate_name', ok: true }),
    btn(tr(turn, 'btn.certificate_rename'), { type: 'certificate_name', ok: false }),
  ]);
}

/** The name confirmed: the engine decides the certificate and the runtime signs and stores it in the same commit. */
function confirmCertificateName(turn: Turn, ok: boolean): void {
  const draft = turn.s.certificateDraft;
  if (!draft?.name) return staleButton(turn);
  if (!ok) {
    turn.s.certificateDraft = { achievement: draft.achievement };
    return say(turn, tr(turn, 'certificate.ask_again', { max: NAME_MAX }));
  }
  const status = achievements(turn.course, turn.s, turn.opts.certificateMinScore).find((a) => a.achievement === draft.achievement);
  delete turn.s.certificateDraft;
  if (!status?.earned || issuedFor(turn.s, draft.achievement)) return staleButton(turn);
  const issue: CertificateIssue = {
    id: turn.nonce,
    achievement: draft.achievement,
    name: draft.name,
    lang: lang(turn),
    issuedAt: turn.now.toISOString(),
    ...certificateTexts(turn.course, status, turn.opts.certificateMinScore),
    score: Math.round((status.score ?? 0) * 1000) / 1000,
  };
  turn.s.certificates = [...(turn.s.certificates ?? []), { id: issue.id, achievement: issue.achievement, issuedAt: issue.issuedAt }];
  turn.effects.push({ type: 'certificate', issue });
  turn.effects.push({ type: 'record', record: { kind: 'certificate', achievement: issue.achievement, certificateId: issue.id } });
  say(turn, tr(turn, 'certificate.issued', { title: status.title }), [btn(tr(turn, 'btn.continue'), { type: 'resume' })]);
}

/** /link: a code to type on the other channel; /link CODE (or "link CODE"): join the person who holds it. */
function link(turn: Turn, args: string): void {
  if (!args.trim()) {
    const code = linkCode(turn.nonce);
    turn.effects.push({ type: 'link_code', code });
    return say(turn, tr(turn, 'link.code', { code, minutes: LINK_CODE_MINUTES }));
  }
  const code = normalizeLinkCode(args);
  if (!code) return say(turn, tr(turn, 'link.invalid'));
  turn.effects.push({ type: 'link', code });
}

/** `/country Kenya`, `/org Ministry of ICT`; `off` clears; no argument asks for it. */
function profileCommand(turn: Turn, field: 'country' | 'org', args: string): void {
  turn.s.profileAsked = true;
  if (!args) return profileAction(turn, field);
  if (/^(off|none|clear|aucun|aucune|ninguno|ninguna)$/i.test(args)) {
    delete turn.s[field];
    return say(turn, tr(turn, `profile.${field}_cleared`));
  }
  profileText(turn, field, args, !turn.s.org);
}

function profileAction(turn: Turn, field: 'country' | 'org' | 'skip'): void {
  turn.s.profileAsked = true;
  if (field === 'skip') {
    delete turn.s.awaiting;
    return say(turn, tr(turn, 'profile.skipped'), [btn(tr(turn, 'btn.continue'), { type: 'resume' })]);
  }
  turn.s.awaiting = field;
  say(turn, tr(turn, `profile.type_${field}`), [btn(tr(turn, 'btn.profile_skip'), { type: 'profile', field: 'skip' })]);
}

/**
 * A typed country or organisation: kept if usable, else asked again (the learner may skip). After a
 * country, the organisation is asked next when `thenOrg` (the learner is answering the questions).
 */
function profileText(turn: Turn, field: 'country' | 'org', text: string, thenOrg: boolean): void {
  const skip = [btn(tr(turn, 'btn.profile_skip'), { type: 'profile', field: 'skip' })];
  if (field === 'country') {
    const code = parseCountry(text);
    if (!code) {
      turn.s.awaiting = 'country';
      return say(turn, tr(turn, 'profile.country_unknown', { text: text.slice(0, 60) }), skip);
    }
    turn.s.country = code;
    if (!thenOrg) {
      delete turn.s.awaiting;
      return say(turn, tr(turn, 'profile.country_set', { country: countryName(code, turn.s.lang) }), [btn(tr(turn, 'btn.continue'), { type: 'resume' })]);
    }
    turn.s.awaiting = 'org';
    return say(turn, `${tr(turn, 'profile.country_set', { country: countryName(code, turn.s.lang) })}\n${tr(turn, 'profile.type_org')}`, skip);
  }
  const org = cleanOrg(text);
  if (!org) {
    turn.s.awaiting = 'org';
    return say(turn, tr(turn, 'profile.type_org'), skip);
  }
  turn.s.org = org;
  delete turn.s.awaiting;
  say(turn, tr(turn, 'profile.org_set', { org }), [btn(tr(turn, 'btn.continue'), { type: 'resume' })]);
}
