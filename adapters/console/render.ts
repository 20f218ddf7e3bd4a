/**
 * Renders neutral messages as terminal text: *bold* as ANSI bold when the terminal supports colour,
 * links as "text (url)", choices numbered like `[1] Next  [2] Menu` (one per line when they do not
 * fit on one). Every line is wrapped at word boundaries to the terminal's width, with a hanging
 * indent under bullets and quiz options. Pure: no I/O here.
 */
import stringWidth from 'string-width';
import wrapAnsi from 'wrap-ansi';
import type { Choice, Outbound, RichText } from '../../src/messages.js';

export interface ConsoleStyle {
  /** Use ANSI bold and italics (a TTY); plain text otherwise (pipes, logs, tests). */
  ansi: boolean;
  /** Columns to wrap at (default 80). */
  width?: number;
}

/** The narrowest width wrapped to: below this, lines are left as they are. */
const MIN_WIDTH = 20;

export function richToText(rich: RichText, style: ConsoleStyle): string {
  return rich
    .map((block) => {
      const text = block.spans
        .map((s) => {
          let out = s.text;
          if (s.href) out = `${out} (${s.href})`;
          if (style.ansi && s.bold) out = `\x1b[1m${out}\x1b[22m`;
          if (style.ansi && s.italic) out = `\x1b[3m${out}\x1b[23m`;
          return out;
        })
        .join('');
      return block.type === 'bullet' ? `  • ${text}` : text;
    })
    .join('\n');
}

/** A line's indent and list marker ("  • ", "  A. ", "[2] "), under which wrapped lines hang. */
const HANGING = /^(\s*(?:• |\[\d+\] |\[[ x]\] [A-Z]\. |[A-Z]\. |✅ |▶️ |⚪ )?)/u;

/**
 * Wraps text at word boundaries to `width` columns (by display width, so emoji and accents count
 * right). Words longer than a line (links) stay whole. Continuation lines hang under the marker.
 */
export function wrapText(text: string, width: number): string {
  if (width < MIN_WIDTH) return text;
  return text
    .split('\n')
    .map((line) => {
      if (stringWidth(line) <= width) return line;
      const prefix = HANGING.exec(line)?.[1] ?? '';
      const indent = ' '.repeat(stringWidth(prefix));
      return wrapAnsi(line.slice(prefix.length), width - indent.length, { hard: false, trim: true })
        .split('\n')
        .map((part, i) => (i === 0 ? prefix : indent) + part)
        .join('\n');
    })
    .join('\n');
}

/** Choices on one line when they fit, else one per line. */
function choiceLines(choices: Choice[], width: number): string {
  if (!choices.length) return '';
  const items = choices.map((c, i) => `[${i + 1}] ${c.label}`);
  const oneLine = items.join('  ');
  return stringWidth(oneLine) <= width ? oneLine : items.join('\n');
}

/** One message as lines of text; also returns its choices, which a typed number picks. */
export function renderConsole(m: Outbound, style: ConsoleStyle): { text: string; choices: Choice[] } {
  const width = style.width ?? 80;
  const bold = (s: string) => (style.ansi ? `\x1b[1m${s}\x1b[22m` : s);
  const lines: string[] = [];
  let choices: Choice[] = [];
  switch (m.kind) {
    case 'text':
      lines.push(richToText(m.text, style));
      choices = m.choices ?? [];
      break;
    case 'card':
      lines.push(bold(`${m.lessonTitle} (${m.index}/${m.total})`), richToText(m.body, style));
      choices = m.choices;
      break;
    case 'quiz':
      lines.push(bold(m.heading), m.question, ...m.options.map((o) => `  ${o.ticked === undefined ? '' : o.ticked ? '[x] ' : '[ ] '}${o.key}. ${o.text}`));
      choices = m.choices;
      break;
    case 'feedback':
      lines.push(bold(`${m.correct ? '✅' : '❌'} ${m.heading}`), `${m.answerLabel}: ${m.answer.join('; ')}`, m.explanation);
      choices = m.choices;
      break;
    case 'progress':
      lines.push(
        bold(m.heading),
        ...m.modules.map((p) => `  ${p.status === 'done' ? '✅' : p.status === 'in_progress' ? '▶️' : '⚪'} ${p.title}: ${p.lessonsDone}/${p.lessonsTotal}`),
        richToText(m.summary, style),
      );
      choices = m.choices ?? [];
      break;
    case 'notice':
    case 'tally':
      lines.push(`(${m.text})`);
      break;
    case 'data':
      // JSON is printed as it is: wrapping would break it.
      return { text: m.json, choices: [] };
    case 'file':
      // Without a data folder the file cannot be saved: its caption (with the link) is what is shown.
      lines.push(m.caption);
      break;
    case 'close':
    case 'erased':
      // Steps, not messages: the delivery carries them out.
      return { text: '', choices: [] };
  }
  const text = wrapText(lines.join('\n'), width);
  const picks = wrapText(choiceLines(choices, width), width);
  return { text: picks ? `${text}\n${picks}` : text, choices };
}

/**
 * The prompt shown when the bot waits: the numbers that pick a choice, then "›". It has no words,
 * so it reads the same in every interface language.
 */
export function consolePrompt(choices: Choice[]): string {
  if (!choices.length) return '› ';
  return choices.length === 1 ? '[1] › ' : `[1-${choices.length}] › `;
}
