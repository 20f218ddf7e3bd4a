/**
 * Renders neutral messages as Slack Block Kit: sections in mrkdwn, buttons in actions blocks,
 * context lines for headings and progress. Also builds the App Home view. Pure: no I/O here.
 *
 * ```ts
 * const { text, blocks } = renderMessage(outbound, { where: 'direct', command: '/digit4sd' });
 * await client.chat.postMessage({ channel, text, blocks });
 * ```
 */
import { createHash } from 'node:crypto';
import type { types } from '@slack/bolt';
import type { Course } from '../../src/content/course.js';
import { encodeAction } from '../../src/engine/actions.js';
import { DEFAULT_ENGINE_OPTIONS, LEARNER_COMMANDS, typicalMinutes } from '../../src/engine/engine.js';
import { describeDays, t } from '../../src/engine/i18n.js';
import type { Lang, LearnerState } from '../../src/engine/state.js';
import type { Choice, ModuleProgress, Outbound, QuizOption, RichText, Span } from '../../src/messages.js';
import { toPlainText } from '../../src/messages.js';
import { reviewStatus } from '../../src/learning/review.js';

export type KnownBlock = types.KnownBlock;
export type HomeView = types.HomeView;

/** A message ready for chat.postMessage / chat.update: blocks plus the notification text. */
export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

export interface RenderContext {
  /** A direct message with the bot, or a channel. Command hints are phrased for each. */
  where: 'direct' | 'group';
  /** The slash command's name, e.g. "/digit4sd". */
  command: string;
}

/** Every action_id the bot puts on a button starts with this. */
export const ACTION_PREFIX = 'd4sd:';

/** Slack limits (https://api.slack.com/reference/block-kit). */
const SECTION_MAX = 3000;
const BUTTON_LABEL_MAX = 75;
const ACTIONS_MAX = 25;
const FALLBACK_MAX = 3000;

const GROUP_WORDS = new Set(['quiz', 'leaderboard', 'help', 'start', 'schedule']);
const DIRECT_WORDS = new Set<string>(LEARNER_COMMANDS);

/**
 * The engine's strings name commands as Telegram does ("/next", "/quiz"). Slack has one slash
 * command with sub-commands in channels, and plain words in a direct message.
 */
export function slackCommands(text: string, ctx: RenderContext): string {
  return text.replace(/(^|[\s("'“])\/([a-z]+)\b/g, (whole, pre: string, word: string) => {
    if (ctx.where === 'group' && (GROUP_WORDS.has(word) || DIRECT_WORDS.has(word))) return `${pre}\`${ctx.command} ${word}\``;
    if (ctx.where === 'direct' && DIRECT_WORDS.has(word)) return `${pre}\`${word}\``;
    return whole;
  });
}

/**
 * Makes text inert in Slack's mrkdwn (blocks and notification text alike): the three control
 * characters become entities, so that `<!channel>` or `<@U123>` in a display name mentions no one;
 * the formatting markers `*`, `~` and backticks become look-alike characters, and so does `_` where
 * it could open or close italics (at a word's edge: "Dar_es_Salaam" keeps its underscores), so that
 * a name such as `*boss*` shows as typed rather than in bold. Slack has no backslash escape.
 */
export function escapeMrkdwn(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\*/g, '\u2217')
    .replace(/~/g, '\u223C')
    .replace(/`/g, '\u02CB')
    .replace(/(^|[^\p{L}\p{N}])_|_(?=$|[^\p{L}\p{N}_])/gu, (m) => m.replace('_', '\uFF3F'));
}

function spanToMrkdwn(s: Span, ctx: RenderContext): string {
  const [, lead = '', core = '', trail = ''] = /^(\s*)([\s\S]*?)(\s*)$/.exec(s.text) ?? [];
  if (!core) return s.text;
  // Escaped first: the command hints' backticks are formatting the bot adds.
  let out = slackCommands(escapeMrkdwn(core), ctx);
  if (s.href && /^https?:\/\//.test(s.href)) out = `<${s.href.replace(/[<>|]/g, encodeURIComponent)}|${out.replace(/\|/g, '¦')}>`;
  // mrkdwn markers must touch the words they wrap, so whitespace stays outside them.
  if (s.bold) out = `*${out}*`;
  if (s.italic) out = `_${out}_`;
  return `${lead}${out}${trail}`;
}

/** Rich text as mrkdwn, one line per paragraph, bullets with "•". */
export function richToMrkdwn(rich: RichText, ctx: RenderContext): string {
  return rich.map((b) => (b.type === 'bullet' ? '• ' : '') + b.spans.map((s) => spanToMrkdwn(s, ctx)).join('')).join('\n');
}

/** Sections for a long mrkdwn text, split at line ends to stay under Slack's 3000 characters. */
function sections(mrkdwn: string): KnownBlock[] {
  const out: KnownBlock[] = [];
  let current = '';
  const flush = () => {
    if (current.trim()) out.push({ type: 'section', text: { type: 'mrkdwn', text: current } });
    current = '';
  };
  for (const line of mrkdwn.split('\n')) {
    for (let i = 0; i < Math.max(1, line.length); i += SECTION_MAX - 1) {
      const piece = line.slice(i, i + SECTION_MAX - 1);
      if (current.length + piece.length + 1 > SECTION_MAX) flush();
      current = current ? `${current}\n${piece}` : piece;
    }
  }
  flush();
  return out;
}

function context(mrkdwn: string): KnownBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: mrkdwn.slice(0, SECTION_MAX) }] };
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** A short fingerprint of what a message shows, so that a re-rendered message gets new action ids. */
function fingerprint(parts: unknown): string {
  return createHash('sha1').update(JSON.stringify(parts)).digest('base64url').slice(0, 8);
}

/**
 * Buttons as actions blocks (25 a block). Each action_id is unique in its message and changes when
 * the message's content changes, so that a double tap on one rendering can be told from a tap on
 * the next one.
 */
export function actionsBlocks(choices: Choice[], ctx: RenderContext, salt: unknown = ''): KnownBlock[] {
  const print = fingerprint([choices, salt]);
  const out: KnownBlock[] = [];
  for (let start = 0; start < choices.length; start += ACTIONS_MAX) {
    out.push({
      type: 'actions',
      elements: choices.slice(start, start + ACTIONS_MAX).map((c, j) => ({
        type: 'button' as const,
        action_id: `${ACTION_PREFIX}${start + j}:${print}`,
        text: { type: 'plain_text' as const, text: truncate(slackCommands(c.label, ctx).replace(/`/g, ''), BUTTON_LABEL_MAX), emoji: true },
        value: c.data,
      })),
    });
  }
  return out;
}

function optionLines(options: QuizOption[], right?: Set<string>): string {
  return options
    .map((o) => {
      const tick = o.ticked === undefined ? '' : o.ticked ? '☑ ' : '☐ ';
      const mark = right ? (right.has(o.key) ? ' ✅' : '') : '';
      return `${tick}*${o.key}.* ${escapeMrkdwn(o.text)}${mark}`;
    })
    .join('\n');
}

function progressBar(done: number, total: number): string {
  const width = 10;
  const full = total ? Math.round((width * done) / total) : 0;
  return '▓'.repeat(full) + '░'.repeat(width - full);
}

function moduleBlocks(modules: ModuleProgress[]): KnownBlock[] {
  return modules.flatMap((m) => [
    { type: 'section', text: { type: 'mrkdwn', text: `${m.status === 'done' ? '✅' : m.status === 'in_progress' ? '▶️' : '⚪'} *${escapeMrkdwn(m.title)}*` } } as KnownBlock,
    context(`${progressBar(m.lessonsDone, m.lessonsTotal)}  ${m.lessonsDone}/${m.lessonsTotal}`),
  ]);
}

/** The notification text: plain, but Slack parses it as mrkdwn too, so it is escaped like the blocks. */
function fallback(m: Outbound): string {
  const text = (() => {
    switch (m.kind) {
      case 'text':
        return toPlainText(m.text);
      case 'card':
        return `${m.lessonTitle} (${m.index}/${m.total})\n${toPlainText(m.body)}`;
      case 'quiz':
        return `${m.heading}\n${m.question}`;
      case 'feedback':
        return `${m.correct ? '✅' : '❌'} ${m.heading}`;
      case 'progress':
        return m.heading;
      case 'notice':
      case 'tally':
        return m.text;
      case 'data':
        return m.filename;
      case 'file':
        return m.caption;
      case 'close':
        return `${m.shown.heading}\n${m.shown.question}`;
      case 'erased':
        return '';
    }
  })();
  return truncate(escapeMrkdwn(text), FALLBACK_MAX);
}

/** Renders one neutral message as a Slack message. */
export function renderMessage(m: Outbound, ctx: RenderContext): SlackMessage {
  const blocks: KnownBlock[] = [];
  const mrk = (s: string) => slackCommands(escapeMrkdwn(s), ctx);
  switch (m.kind) {
    case 'text':
      blocks.push(...sections(richToMrkdwn(m.text, ctx)), ...actionsBlocks(m.choices ?? [], ctx));
      break;
    case 'card':
      blocks.push(
        context(`📘 *${escapeMrkdwn(m.lessonTitle)}* · ${m.index}/${m.total}`),
        ...sections(richToMrkdwn(m.body, ctx)),
        ...actionsBlocks(m.choices, ctx, [m.lessonTitle, m.index]),
      );
      break;
    case 'quiz':
      blocks.push(
        context(mrk(m.heading)),
        { type: 'section', block_id: `quiz:${m.itemId}`.slice(0, 255), text: { type: 'mrkdwn', text: truncate(`*${mrk(m.question)}*`, SECTION_MAX) } },
        ...sections(optionLines(m.options)),
        ...actionsBlocks(m.choices, ctx, [m.itemId, m.options]),
      );
      break;
    case 'feedback':
      blocks.push(...feedbackBlocks(m, ctx));
      break;
    case 'progress':
      blocks.push(
        { type: 'header', text: { type: 'plain_text', text: truncate(m.heading, 150), emoji: true } },
        ...moduleBlocks(m.modules),
        ...sections(richToMrkdwn(m.summary, ctx)),
        ...actionsBlocks(m.choices ?? [], ctx, m.modules),
      );
      break;
    case 'notice':
    case 'tally':
      blocks.push(...sections(mrk(m.text)));
      break;
    case 'data':
      blocks.push(...sections(`📎 ${escapeMrkdwn(m.filename)}`));
      break;
    case 'file':
      blocks.push(...sections(`📎 ${escapeMrkdwn(m.caption)}`));
      break;
    case 'close':
      return renderClosedQuestion(m.shown, ctx);
    case 'erased':
      // A step for the delivery, never posted.
      return { text: '', blocks: [] };
  }
  return { text: fallback(m), blocks };
}

/** "Answer" or "Answers" in the learner's language, when the engine gives it. */
function answerLabel(m: Extract<Outbound, { kind: 'feedback' }>): string {
  return m.answerLabel;
}

function feedbackBlocks(m: Extract<Outbound, { kind: 'feedback' }>, ctx: RenderContext): KnownBlock[] {
  return [
    { type: 'section', text: { type: 'mrkdwn', text: `${m.correct ? '✅' : '❌'} *${escapeMrkdwn(m.heading)}*` } },
    ...sections(`*${escapeMrkdwn(answerLabel(m))}:* ${escapeMrkdwn(m.answer.join('; '))}`),
    ...sections(escapeMrkdwn(m.explanation)),
    ...actionsBlocks(m.choices, ctx, [m.question, m.correct]),
  ];
}

/**
 * The answered question with its result, to replace the question message in place: the question,
 * the options with the right ones marked, then the feedback and its buttons.
 */
export function renderAnsweredQuiz(m: Extract<Outbound, { kind: 'feedback' }>, ctx: RenderContext): SlackMessage {
  const right = new Set(m.right.map((i) => m.options[i]?.key ?? ''));
  return {
    text: fallback(m),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: truncate(`*${escapeMrkdwn(m.question)}*`, SECTION_MAX) } },
      ...sections(optionLines(m.options, right)),
      { type: 'divider' },
      ...feedbackBlocks(m, ctx),
    ],
  };
}

/** A team-quiz question whose answers are closed: the same question, without its buttons. */
export function renderClosedQuestion(m: Extract<Outbound, { kind: 'quiz' }>, ctx: RenderContext): SlackMessage {
  const open = renderMessage(m, ctx);
  return { text: open.text, blocks: [...open.blocks.filter((b) => b.type !== 'actions'), context('⏱ ✔')] };
}

/** What the App Home tab shows for one learner. */
export interface HomeInput {
  course: Course;
  /** The learner's state, or null for someone who has not started. */
  state: LearnerState | null;
  now: Date;
  /** The interface language when the learner has no state yet. */
  lang: Lang;
  command: string;
}

/** The App Home view: progress per module, items due, reminder settings and a Continue button. */
export function homeView(input: HomeInput): HomeView {
  const { state, now } = input;
  const lang = state?.lang ?? input.lang;
  // Module titles and lesson times in the learner's language.
  const course = input.course.in(lang);
  const ctx: RenderContext = { where: 'direct', command: input.command };
  const tr = (key: string, vars?: Record<string, string | number>) => slackCommands(escapeMrkdwn(t(lang, key, vars)), ctx);
  const blocks: KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: t(lang, 'welcome.title'), emoji: true } }];
  const modules: ModuleProgress[] = course.modules.map((m) => {
    const done = m.lessons.filter((l) => state?.lessons[l.id]?.status === 'done').length;
    const any = m.lessons.some((l) => state?.lessons[l.id]);
    return { moduleId: m.id, title: m.title, lessonsDone: done, lessonsTotal: m.lessons.length, status: done === m.lessons.length ? 'done' : any ? 'in_progress' : 'not_started' };
  });
  const done = modules.reduce((n, m) => n + m.lessonsDone, 0);
  if (!state || !Object.keys(state.lessons).length) {
    blocks.push(...sections(tr('welcome.how', { modules: course.modules.length, lessons: course.sequence.length, minutes: typicalMinutes(course) })));
    blocks.push(...actionsBlocks([{ label: t(lang, 'btn.begin'), data: encodeAction({ type: 'start_module', moduleId: course.modules[0]!.id }) }], ctx, 'home'));
  } else {
    blocks.push(...sections(`*${tr('progress.title')}*\n${tr('progress.lessons', { done, total: course.sequence.length })}`));
    blocks.push(...actionsBlocks([{ label: t(lang, 'btn.continue'), data: encodeAction({ type: 'resume' }) }, { label: t(lang, 'btn.review'), data: encodeAction({ type: 'review' }) }], ctx, 'home'));
  }
  blocks.push({ type: 'divider' }, ...moduleBlocks(modules));
  if (state) {
    const status = reviewStatus(state.reviews, now, { timezone: state.nudges.timezone, retention: DEFAULT_ENGINE_OPTIONS.retention, known: course.items });
    const n = state.nudges;
    blocks.push(
      { type: 'divider' },
      ...sections(tr('progress.due', { now: status.dueNow.length, later: status.laterToday, week: status.nextSevenDays })),
      ...sections(
        [
          `*${tr('settings.title')}*`,
          `• ${n.remindAt ? tr('settings.reminder_on', { time: n.remindAt, days: describeDays(lang, n.remindDays) }) : tr('settings.reminder_off')}`,
          `• ${tr('settings.timezone', { tz: n.timezone })}`,
          `• ${tr('settings.quiet', { start: n.quietStart, end: n.quietEnd })}`,
          ...(n.paused ? [`• ${tr('settings.paused')}`] : []),
        ].join('\n'),
      ),
    );
  }
  return { type: 'home', blocks: blocks.slice(0, 100) };
}
