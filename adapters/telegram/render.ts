/**
 * Renders neutral messages as Telegram messages: HTML text (every learner- or lesson-supplied
 * string escaped), split under Telegram's 4096-character limit at paragraph boundaries, with the
 * choices as an inline keyboard on the last part. Pure: no I/O, so every rule here is unit-tested.
 *
 * ```ts
 * const [message] = renderTelegram({ kind: 'text', text: plain('Hello <you>') });
 * // message.parts[0] === 'Hello &lt;you&gt;'
 * ```
 */
import type { Choice, Outbound, QuizOption, RichText, Span } from '../../src/messages.js';

/** Telegram's limit for one message's text (after entity parsing; we count the HTML, which is longer). */
export const MAX_MESSAGE_CHARS = 4096;
/** Telegram's limit for callback data, in bytes. */
export const MAX_CALLBACK_BYTES = 64;
/** Telegram's limit for the text of an answerCallbackQuery toast. */
export const MAX_TOAST_CHARS = 200;
/** Telegram's limit on a document's caption. */
export const MAX_CAPTION_CHARS = 1024;

export interface InlineButton {
  text: string;
  callback_data: string;
}

export interface InlineKeyboard {
  inline_keyboard: InlineButton[][];
}

/** One neutral message in Telegram's terms. */
export type TelegramMessage =
  /** HTML text in one or more parts (each under the limit); the keyboard goes on the last part. */
  | { type: 'text'; parts: string[]; keyboard?: InlineKeyboard }
  /** A file to send with sendDocument: text (UTF-8) or, with `base64`, binary; the caption is plain text. */
  | { type: 'document'; filename: string; content: string; base64?: boolean; caption?: string }
  /** A note for the sender only: the toast of answerCallbackQuery. */
  | { type: 'notice'; text: string }
  /** A closed team-quiz question: its message loses its keyboard (editMessageReplyMarkup). */
  | { type: 'close' };

/** Thrown for a message Telegram would refuse whatever we did (a programming error upstream). */
export class RenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RenderError';
  }
}

/** Escapes text for Telegram's HTML parse mode (only &, < and > need it outside attributes). */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttr(s: string): string {
  return escapeHtml(s).replace(/"/g, '&quot;');
}

/** Wraps already-escaped HTML in a span's tags. */
function wrap(span: Span, html: string): string {
  let out = html;
  if (span.bold) out = `<b>${out}</b>`;
  if (span.italic) out = `<i>${out}</i>`;
  if (span.href && /^https?:\/\//.test(span.href)) out = `<a href="${escapeAttr(span.href)}">${out}</a>`;
  return out;
}

/**
 * Splits `text` into pieces whose escaped, wrapped HTML stays under `max`, breaking at whitespace
 * where it can (never inside an HTML entity, since escaping happens per piece).
 */
function splitSpan(span: Span, max: number): string[] {
  const whole = wrap(span, escapeHtml(span.text));
  if (whole.length <= max) return [whole];
  const overhead = wrap(span, '').length;
  // Escaping can grow a character to 5 (&amp;): size raw pieces so that the worst case fits.
  const budget = Math.max(1, Math.floor((max - overhead) / 5));
  const pieces: string[] = [];
  let rest = span.text;
  while (rest.length > 0) {
    let cut = rest.length <= budget ? rest.length : rest.lastIndexOf(' ', budget);
    if (cut <= 0) cut = Math.min(budget, rest.length);
    // Do not cut a surrogate pair in half.
    const code = rest.charCodeAt(cut - 1);
    if (cut < rest.length && code >= 0xd800 && code <= 0xdbff) cut -= 1;
    pieces.push(wrap(span, escapeHtml(rest.slice(0, cut))));
    rest = rest.slice(cut);
  }
  return pieces;
}

/** A block as self-contained HTML fragments (each one balanced), joined without separators. */
function blockFragments(block: RichText[number], max: number): string[] {
  const prefix = block.type === 'bullet' ? '• ' : '';
  const fragments = block.spans.flatMap((s) => splitSpan(s, max - prefix.length));
  if (fragments.length) fragments[0] = prefix + fragments[0];
  else fragments.push(prefix);
  return fragments;
}

/** Rich text as HTML lines, one per block. */
export function richToHtml(rich: RichText): string {
  return rich.map((b) => blockFragments(b, Number.MAX_SAFE_INTEGER).join('')).join('\n');
}

/**
 * Packs blocks of HTML into messages under `max` characters: whole blocks together where they fit,
 * a block larger than a message over several messages (split between its fragments).
 */
export function packBlocks(blocks: string[][], max = MAX_MESSAGE_CHARS): string[] {
  const parts: string[] = [];
  let current = '';
  const flush = () => {
    if (current.trim()) parts.push(current);
    current = '';
  };
  for (const fragments of blocks) {
    const block = fragments.join('');
    const joined = current ? `${current}\n${block}` : block;
    if (joined.length <= max) {
      current = joined;
      continue;
    }
    flush();
    if (block.length <= max) {
      current = block;
      continue;
    }
    for (const f of fragments) {
      if (current.length + f.length > max) flush();
      current += f;
    }
  }
  flush();
  return parts.length ? parts : [''];
}

/** Renders rich text (with extra HTML lines before it) into message parts. */
function partsOf(headerHtml: string[], rich: RichText, max = MAX_MESSAGE_CHARS): string[] {
  const blocks: string[][] = headerHtml.map((h) => [h]);
  for (const b of rich) blocks.push(blockFragments(b, max));
  return packBlocks(blocks, max).filter((p) => p.trim() !== '');
}

/** Lays out buttons: short labels (A, B, True) side by side, long ones on their own row. */
export function keyboardOf(choices: Choice[] | undefined): InlineKeyboard | undefined {
  if (!choices?.length) return undefined;
  const rows: InlineButton[][] = [];
  let row: InlineButton[] = [];
  let rowWidth: 'short' | 'medium' | undefined;
  for (const c of choices) {
    if (Buffer.byteLength(c.data, 'utf8') > MAX_CALLBACK_BYTES) {
      throw new RenderError(`callback data of ${Buffer.byteLength(c.data, 'utf8')} bytes is over Telegram's ${MAX_CALLBACK_BYTES}`);
    }
    const button: InlineButton = { text: c.label.trim() || '·', callback_data: c.data };
    const width = [...c.label].length <= 8 ? 'short' : [...c.label].length <= 16 ? 'medium' : 'long';
    const fits = width === rowWidth && row.length < (width === 'short' ? 5 : 2);
    if (!fits && row.length) rows.push(row), (row = []);
    row.push(button);
    rowWidth = width === 'long' ? undefined : width;
    if (width === 'long') rows.push(row), (row = []);
  }
  if (row.length) rows.push(row);
  return { inline_keyboard: rows };
}

function optionLine(o: QuizOption): string {
  const tick = o.ticked === undefined ? '' : o.ticked ? '☑ ' : '☐ ';
  return `${tick}<b>${escapeHtml(o.key)}.</b> ${escapeHtml(o.text)}`;
}

/** The lines of a quiz question (heading, question, options), as HTML. */
function quizLines(heading: string | undefined, question: string, options: QuizOption[], mark?: (o: QuizOption, i: number) => string): string[] {
  const lines: string[] = [];
  if (heading) lines.push(`<b>${escapeHtml(heading)}</b>`);
  lines.push(...question.split('\n').map(escapeHtml), '');
  lines.push(...options.map((o, i) => (mark ? `${mark(o, i)} <b>${escapeHtml(o.key)}.</b> ${escapeHtml(o.text)}` : optionLine(o))));
  return lines;
}

function textMessage(parts: string[], choices: Choice[] | undefined): TelegramMessage {
  const keyboard = keyboardOf(choices);
  return { type: 'text', parts, ...(keyboard ? { keyboard } : {}) };
}

/** Renders one neutral message for sending as new Telegram message(s). */
export function renderTelegram(m: Outbound): TelegramMessage {
  switch (m.kind) {
    case 'text':
      return textMessage(partsOf([], m.text), m.choices);
    case 'card':
      return textMessage(partsOf([`<b>${escapeHtml(m.lessonTitle)}</b> · ${m.index}/${m.total}`, ''], m.body), m.choices);
    case 'quiz':
      return textMessage(packBlocks(quizLines(m.heading, m.question, m.options).map((l) => [l])), m.choices);
    case 'feedback': {
      const lines = [`${m.correct ? '✅' : '❌'} <b>${escapeHtml(m.heading)}</b>`, `${escapeHtml(m.answerLabel)}: ${m.answer.map(escapeHtml).join('; ')}`, '', ...m.explanation.split('\n').map((l) => `<i>${escapeHtml(l)}</i>`)];
      return textMessage(packBlocks(lines.map((l) => [l])), m.choices);
    }
    case 'progress': {
      const mark = { done: '✅', in_progress: '▶️', not_started: '⚪' } as const;
      const header = [
        `<b>${escapeHtml(m.heading)}</b>`,
        ...m.modules.map((p) => `${mark[p.status]} ${escapeHtml(p.title)}: ${p.lessonsDone}/${p.lessonsTotal}`),
        '',
      ];
      return textMessage(partsOf(header, m.summary), m.choices);
    }
    case 'notice':
      return { type: 'notice', text: truncate(m.text, MAX_TOAST_CHARS) };
    case 'tally':
      // Telegram answers each tap with a toast and posts no tally; sent anyway, it is a plain message.
      return textMessage([escapeHtml(m.text)], undefined);
    case 'data':
      return { type: 'document', filename: m.filename, content: m.json };
    case 'file':
      return { type: 'document', filename: m.filename, content: m.base64, base64: true, caption: truncate(m.caption, MAX_CAPTION_CHARS) };
    case 'close':
    case 'erased':
      // Steps for the delivery, never posted.
      return { type: 'close' };
  }
}

/**
 * The answered quiz message, edited in place: the question with the right options marked (and the
 * learner's wrong picks), the result and the explanation, and the feedback's buttons. Undefined
 * when it would not fit in one message (then the feedback is sent as a new message).
 */
export function renderFeedbackEdit(m: Extract<Outbound, { kind: 'feedback' }>): { html: string; keyboard?: InlineKeyboard } | undefined {
  const lines = quizLines(undefined, m.question, m.options, (_o, i) => (m.right.includes(i) ? '✅' : m.picked.includes(i) ? '❌' : '▫️'));
  lines.push('', `${m.correct ? '✅' : '❌'} <b>${escapeHtml(m.heading)}</b>`, ...m.explanation.split('\n').map((l) => `<i>${escapeHtml(l)}</i>`));
  const html = lines.join('\n');
  if (html.length > MAX_MESSAGE_CHARS) return undefined;
  const keyboard = keyboardOf(m.choices);
  return { html, ...(keyboard ? { keyboard } : {}) };
}

/** A quiz message re-rendered for an in-place edit (a ticked option); undefined when too long. */
export function renderQuizEdit(m: Extract<Outbound, { kind: 'quiz' }>): { html: string; keyboard?: InlineKeyboard } | undefined {
  const html = quizLines(m.heading, m.question, m.options).join('\n');
  if (html.length > MAX_MESSAGE_CHARS) return undefined;
  const keyboard = keyboardOf(m.choices);
  return { html, ...(keyboard ? { keyboard } : {}) };
}

function truncate(s: string, n: number): string {
  const chars = [...s];
  return chars.length <= n ? s : `${chars.slice(0, n - 1).join('')}…`;
}
