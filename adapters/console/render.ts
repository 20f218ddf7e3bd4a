/**
 * Renders neutral messages as terminal text: *bold* as upper-case-free ANSI bold when the terminal
 * supports colour, links as "text (url)", choices numbered like `[1] Next  [2] Menu`.
 */
import type { Choice, Outbound, RichText } from '../../src/messages.js';

export interface ConsoleStyle {
  /** Use ANSI bold and italics (a TTY); plain text otherwise (pipes, logs, tests). */
  ansi: boolean;
}

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

function choicesLine(choices: Choice[] | undefined): string {
  return choices?.length ? choices.map((c, i) => `[${i + 1}] ${c.label}`).join('  ') : '';
}

/** One message as lines of text; also returns its choices, which a typed number picks. */
export function renderConsole(m: Outbound, style: ConsoleStyle): { text: string; choices: Choice[] } {
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
      lines.push(`(${m.text})`);
      break;
    case 'data':
      lines.push(m.json);
      break;
    case 'close':
      break;
  }
  const line = choicesLine(choices);
  if (line) lines.push(line);
  return { text: lines.join('\n'), choices };
}
