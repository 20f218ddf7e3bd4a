/**
 * Renders neutral messages as Teams activities: Adaptive Cards (version 1.5, which Teams renders on
 * desktop, web and mobile) with every choice as an `Action.Submit` button, and a plain-text
 * fallback on every card (`fallbackText`, and the activity's `summary` for notifications).
 *
 * Formatted text uses `RichTextBlock` with `TextRun`s rather than markdown: a run's text is shown
 * literally, so lesson text needs no escaping, and bold, italics and links are run properties.
 *
 * Pure: no botbuilder import here, only plain JSON, so that a move to another SDK keeps this file.
 *
 * ```ts
 * const activity = renderTeams({ kind: 'text', text: plain('Hello') });
 * ```
 */
import type { Choice, Outbound, RichText } from '../../src/messages.js';
import { toPlainText } from '../../src/messages.js';

/** The Adaptive Card content type Teams expects in an attachment. */
export const ADAPTIVE_CARD = 'application/vnd.microsoft.card.adaptive';

/** A JSON value of an Adaptive Card element (the schema is large; we build a small, typed subset). */
export type CardElement = Record<string, unknown>;

export interface AdaptiveCard {
  type: 'AdaptiveCard';
  $schema: string;
  version: string;
  body: CardElement[];
  actions?: CardElement[];
  fallbackText: string;
  msteams?: { width: 'Full' };
}

/** What the transport posts: a message activity, without addressing (the SDK adds it). */
export interface TeamsMessage {
  type: 'message';
  text?: string;
  textFormat?: 'plain' | 'markdown';
  summary?: string;
  attachments?: { contentType: string; content: AdaptiveCard }[];
}

/** Data carried by an `Action.Submit` button: the neutral choice's data, under a short key. */
export interface SubmitData {
  d: string;
}

/** Teams shows at most this many buttons in one row before it overflows into a menu. */
const ACTIONS_PER_ROW = 6;
/** Teams rejects messages above about 28 KB; JSON exports are split well below that. */
const DATA_CHUNK = 20_000;

/** Reads the neutral choice data back from a card submit's `activity.value`, if it is ours. */
export function submitData(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const d = (value as Record<string, unknown>).d;
  return typeof d === 'string' && d.length <= 200 ? d : undefined;
}

function submit(choice: Choice): CardElement {
  const data: SubmitData = { d: choice.data };
  return { type: 'Action.Submit', title: choice.label, data };
}

/** Rich text as Adaptive Card elements: one RichTextBlock per paragraph or bullet. */
export function richBlocks(rich: RichText): CardElement[] {
  return rich
    .filter((b) => b.spans.some((s) => s.text.trim()))
    .map((block) => ({
      type: 'RichTextBlock',
      inlines: [
        ...(block.type === 'bullet' ? [{ type: 'TextRun', text: '• ' }] : []),
        ...block.spans.map((s) => ({
          type: 'TextRun',
          text: s.text,
          ...(s.bold ? { weight: 'Bolder' } : {}),
          ...(s.italic ? { italic: true } : {}),
          ...(s.href && /^https:\/\//.test(s.href) ? { selectAction: { type: 'Action.OpenUrl', url: s.href } } : {}),
        })),
      ],
    }));
}

const textBlock = (text: string, extra: CardElement = {}): CardElement => ({ type: 'TextBlock', text, wrap: true, ...extra });

/** Builds a card; choices beyond one row go into ActionSets in the body, a row each. */
export function card(body: CardElement[], choices: Choice[], fallbackText: string): AdaptiveCard {
  const rows: Choice[][] = [];
  for (let i = 0; i < choices.length; i += ACTIONS_PER_ROW) rows.push(choices.slice(i, i + ACTIONS_PER_ROW));
  const last = rows.pop();
  return {
    type: 'AdaptiveCard',
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    version: '1.5',
    body: [...body, ...rows.map((row) => ({ type: 'ActionSet', actions: row.map(submit) }))],
    ...(last ? { actions: last.map(submit) } : {}),
    fallbackText,
    msteams: { width: 'Full' },
  };
}

function cardMessage(c: AdaptiveCard): TeamsMessage {
  return { type: 'message', summary: c.fallbackText.slice(0, 200), attachments: [{ contentType: ADAPTIVE_CARD, content: c }] };
}

function choicesText(choices: Choice[] | undefined): string {
  return choices?.length ? `\n${choices.map((c) => `[${c.label}]`).join(' ')}` : '';
}

function isPlain(rich: RichText): boolean {
  return rich.length === 1 && rich[0]!.type === 'paragraph' && rich[0]!.spans.every((s) => !s.bold && !s.italic && !s.href);
}

/** The body of a quiz card: heading, question, options as lines. Shared by quiz and feedback cards. */
function quizBody(heading: string, question: string, options: { key: string; text: string; ticked?: boolean }[], subtle: boolean): CardElement[] {
  return [
    textBlock(heading, { weight: 'Bolder', ...(subtle ? { isSubtle: true } : { color: 'Accent' }) }),
    textBlock(question, { ...(subtle ? { isSubtle: true } : { size: 'Medium' }) }),
    ...options.map((o) => textBlock(`${o.ticked === undefined ? '' : o.ticked ? '☑ ' : '☐ '}${o.key}. ${o.text}`, { spacing: 'Small', ...(subtle ? { isSubtle: true } : {}) })),
  ];
}

/** Renders one neutral message as Teams activities (a data export may need several). */
export function renderTeams(m: Outbound): TeamsMessage[] {
  switch (m.kind) {
    case 'text': {
      const fallback = toPlainText(m.text);
      if (!m.choices?.length && isPlain(m.text)) return [{ type: 'message', text: fallback, textFormat: 'plain' }];
      return [cardMessage(card(richBlocks(m.text), m.choices ?? [], fallback + choicesText(m.choices)))];
    }
    case 'card': {
      const fallback = `${m.lessonTitle} (${m.index}/${m.total})\n${toPlainText(m.body)}`;
      const body = [
        {
          type: 'ColumnSet',
          columns: [
            { type: 'Column', width: 'stretch', items: [textBlock(m.lessonTitle, { weight: 'Bolder', size: 'Medium' })] },
            { type: 'Column', width: 'auto', items: [textBlock(`${m.index}/${m.total}`, { isSubtle: true })] },
          ],
        },
        ...richBlocks(m.body),
      ];
      return [cardMessage(card(body, m.choices, fallback + choicesText(m.choices)))];
    }
    case 'quiz': {
      const fallback = [m.heading, m.question, ...m.options.map((o) => `${o.key}. ${o.text}`)].join('\n');
      return [cardMessage(card(quizBody(m.heading, m.question, m.options, false), m.choices, fallback + choicesText(m.choices)))];
    }
    case 'feedback': {
      const answer = `${m.answerLabel}: ${m.answer.join('; ')}`;
      const verdict = `${m.correct ? '✅' : '❌'} ${m.heading}`;
      const fallback = [verdict, answer, m.explanation].join('\n');
      // Shown in place of the question card, it repeats the question.
      const question = m.edit === 'source' ? quizBody('', m.question, m.options, true).slice(1) : [];
      const body = [
        ...question,
        textBlock(verdict, { weight: 'Bolder', size: 'Medium', color: m.correct ? 'Good' : 'Attention', separator: question.length > 0 }),
        textBlock(answer, { weight: 'Bolder' }),
        textBlock(m.explanation),
      ];
      return [cardMessage(card(body, m.choices, fallback + choicesText(m.choices)))];
    }
    case 'progress': {
      const mark = (s: string) => (s === 'done' ? '✅' : s === 'in_progress' ? '▶️' : '⚪');
      const lines = m.modules.map((p) => `${mark(p.status)} ${p.title}: ${p.lessonsDone}/${p.lessonsTotal}`);
      const fallback = [m.heading, ...lines, toPlainText(m.summary)].join('\n');
      const body = [
        textBlock(m.heading, { weight: 'Bolder', size: 'Medium' }),
        { type: 'FactSet', facts: m.modules.map((p) => ({ title: `${mark(p.status)} ${p.title}`, value: `${p.lessonsDone}/${p.lessonsTotal}` })) },
        ...richBlocks(m.summary),
      ];
      return [cardMessage(card(body, m.choices ?? [], fallback + choicesText(m.choices)))];
    }
    case 'notice':
      return [{ type: 'message', text: m.text, textFormat: 'plain' }];
    case 'tally':
      return [{ type: 'message', text: `🗳️ ${m.text}`, textFormat: 'plain' }];
    case 'file':
      // Teams bots attach files only through the file-consent flow: the caption carries the verification link.
      return [{ type: 'message', text: m.caption, textFormat: 'plain' }];
    case 'data': {
      // Teams bots cannot attach a file without the file-consent flow; the JSON goes as code blocks.
      const parts: TeamsMessage[] = [];
      for (let i = 0; i < m.json.length || i === 0; i += DATA_CHUNK) {
        const chunk = m.json.slice(i, i + DATA_CHUNK);
        parts.push({ type: 'message', textFormat: 'markdown', text: `${i === 0 ? `**${m.filename}**\n\n` : ''}\`\`\`json\n${chunk.replace(/```/g, '`\u200b``')}\n\`\`\`` });
      }
      return parts;
    }
    case 'close':
    case 'erased':
      // Steps for the delivery (it updates the question's card); nothing new to post.
      return [];
  }
}
