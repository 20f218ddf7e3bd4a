/**
 * Parses one lesson file (Markdown with YAML front matter, see `lessons/README.md`) and reports
 * every problem with its line, so that a trainer can fix the file without reading code.
 */
import { Lexer, type Token } from 'marked';
import { parseDocument, LineCounter, isMap, isScalar, isSeq } from 'yaml';
import { z } from 'zod';
import type { Block, RichText, Span } from '../messages.js';
import type { CourseLang, ItemType, Lesson, QuizItem } from './course.js';

/** A problem found in a content file. */
export interface ContentProblem {
  file: string;
  line: number;
  message: string;
}

/** How fast a second-language reader reads cards, in words a minute. */
export const READING_WORDS_PER_MINUTE = 150;
/** Time to read, answer and read the feedback of one quiz item, in seconds. */
export const SECONDS_PER_ITEM = 20;

/** The words of a True/False item's two options, in each language, in this order. */
export const TRUE_FALSE: Record<CourseLang, [string, string]> = { en: ['True', 'False'], fr: ['Vrai', 'Faux'], es: ['Verdadero', 'Falso'] };

/** Limits a phone screen and every channel can take. */
export const LIMITS = {
  cardChars: 600,
  questionChars: 300,
  optionChars: 120,
  explanationChars: 350,
  minCards: 3,
  maxCards: 6,
  minItems: 4,
  minOptions: 2,
  maxOptions: 5,
  idChars: 40,
  takeawayChars: 300,
} as const;

const ID = /^[a-z0-9][a-z0-9-]*$/i;

const frontMatterShape = {
  id: z
    .string()
    .max(LIMITS.idChars, `must be at most ${LIMITS.idChars} characters`)
    .regex(ID, 'may contain only letters, digits and "-"'),
  module: z.string().min(1),
  order: z.number().int().positive(),
  title: z.string().min(1).max(80),
  sources: z.array(z.string().min(1)).min(1, 'list at least one source'),
};
/** An English lesson: `lang` may be absent or `en`. */
const englishFrontMatter = z.object({ ...frontMatterShape, lang: z.literal('en').optional() });
/** A translation: `sources` are optional (the English file's apply). */
const translationFrontMatter = (lang: CourseLang) =>
  z.object({ ...frontMatterShape, sources: frontMatterShape.sources.optional(), lang: z.literal(lang, `must be "${lang}", the language of the file name`) });

/** Where each part of a lesson file is, for problems found later (duplicates, translation parity). */
export interface LessonLines {
  /** Line of each front matter field. */
  fields: Record<string, number>;
  /** The first line after the front matter. */
  body: number;
  /** The last line of the file. */
  last: number;
  /** The `## card` line of each card. */
  cards: number[];
  /** The `## quiz` line of each item, with the line of each option. */
  items: { id: string; type: ItemType; line: number; options: number[] }[];
  takeaway?: number;
}

/** Result of parsing one lesson file: the lesson, or nothing when the file is too broken to use. */
export interface ParsedLesson {
  lesson?: Lesson;
  /** Line of each item, for problems found later (duplicates across files). */
  itemLines: Map<string, number>;
  lines?: LessonLines;
  problems: ContentProblem[];
}

/** Words in a text (whitespace-separated runs with a letter or digit). */
export function countWords(text: string): number {
  return text.split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w)).length;
}

/**
 * Minutes a lesson takes a second-language reader: its cards and takeaway at
 * {@link READING_WORDS_PER_MINUTE}, plus {@link SECONDS_PER_ITEM} per quiz item; rounded, at least 1.
 */
export function readingMinutes(lesson: Pick<Lesson, 'cards' | 'items' | 'takeaway'>): number {
  const words = lesson.cards.reduce((n, card) => n + card.reduce((m, b) => m + countWords(b.spans.map((s) => s.text).join('')), 0), 0) + countWords(lesson.takeaway ?? '');
  const seconds = (words / READING_WORDS_PER_MINUTE) * 60 + lesson.items.length * SECONDS_PER_ITEM;
  return Math.max(1, Math.round(seconds / 60));
}

/**
 * French typography: the space before `;` `:` `!` `?` `»` and after `«` must not break (U+202F,
 * or U+00A0 before `:`). Reports each ordinary space there.
 */
export function frenchSpaceProblems(file: string, source: string, firstLine = 1): ContentProblem[] {
  const problems: ContentProblem[] = [];
  source.split('\n').forEach((text, i) => {
    for (const m of text.matchAll(/[ \t]([;:!?»])|(«)[ \t]/g)) {
      const where = m[1] ? `before "${m[1]}"` : 'after "«"';
      problems.push({ file, line: firstLine + i, message: `ordinary space ${where} (column ${m.index + 1}): French needs a narrow no-break space (U+202F) there` });
    }
  });
  return problems;
}

/** Parses inline Markdown (bold, italic, links) into spans. Unsupported tokens become plain text. */
export function parseInline(text: string): { spans: Span[]; links: string[] } {
  const spans: Span[] = [];
  const links: string[] = [];
  const walk = (tokens: Token[], style: Omit<Span, 'text'>) => {
    for (const t of tokens) {
      if (t.type === 'strong' && 'tokens' in t && t.tokens) walk(t.tokens, { ...style, bold: true });
      else if (t.type === 'em' && 'tokens' in t && t.tokens) walk(t.tokens, { ...style, italic: true });
      else if (t.type === 'link' && 'tokens' in t && t.tokens) {
        links.push(String(t.href));
        walk(t.tokens, { ...style, href: String(t.href) });
      } else {
        const raw = t.type === 'text' || t.type === 'escape' || t.type === 'codespan' ? String(t.text) : t.raw;
        const last = spans[spans.length - 1];
        if (last && sameStyle(last, style)) last.text += decodeEntities(raw);
        else spans.push({ text: decodeEntities(raw), ...style });
      }
    }
  };
  walk(Lexer.lexInline(text), {});
  return { spans, links };
}

function sameStyle(a: Span, b: Omit<Span, 'text'>): boolean {
  return !!a.bold === !!b.bold && !!a.italic === !!b.italic && a.href === b.href;
}

function decodeEntities(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] ?? _m);
}

/** Number of characters a reader sees. */
export function visibleLength(rich: RichText): number {
  return rich.reduce((n, b) => n + b.spans.reduce((m, s) => m + s.text.length, 0) + 1, 0);
}

/**
 * Parses a lesson file's text. `file` is used only in problem reports; `lang` is the language the
 * file name says (`x.fr.md` is French), English by default.
 */
export function parseLesson(file: string, source: string, lang: CourseLang = 'en'): ParsedLesson {
  const problems: ContentProblem[] = [];
  const itemLines = new Map<string, number>();
  const report = (line: number, message: string) => problems.push({ file, line, message });
  const lines = source.replace(/\r\n?/g, '\n').split('\n');

  if (lines[0]?.trim() !== '---') {
    report(1, 'a lesson must start with front matter: a line "---", the fields, and another "---"');
    return { problems, itemLines };
  }
  const end = lines.findIndex((l, i) => i > 0 && l.trim() === '---');
  if (end < 0) {
    report(1, 'front matter is not closed: add a line "---" after the fields');
    return { problems, itemLines };
  }

  // Front matter: YAML, with line numbers for each field.
  const lineCounter = new LineCounter();
  const doc = parseDocument(lines.slice(1, end).join('\n'), { lineCounter });
  for (const err of doc.errors) report(1 + (err.linePos?.[0]?.line ?? 1), `front matter: ${err.message.split('\n')[0]}`);
  if (doc.errors.length) return { problems, itemLines };
  const fieldLine = (key: string): number => {
    if (isMap(doc.contents)) {
      const pair = doc.contents.items.find((p) => isScalar(p.key) && p.key.value === key);
      const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
      if (range) return 1 + lineCounter.linePos(range[0]).line;
    }
    return 1;
  };
  const fields: Record<string, number> = {};
  if (isMap(doc.contents)) for (const p of doc.contents.items) if (isScalar(p.key)) fields[String(p.key.value)] = fieldLine(String(p.key.value));
  const raw = doc.toJS() as Record<string, unknown> | null;
  if (raw && typeof raw === 'object' && 'minutes' in raw) {
    report(fieldLine('minutes'), 'minutes is computed from the text; remove this line');
    delete raw.minutes;
  }
  if (lang === 'fr') problems.push(...frenchSpaceProblems(file, lines.slice(1, end).join('\n'), 2));
  const parsed = (lang === 'en' ? englishFrontMatter : translationFrontMatter(lang)).safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '');
      const what = issue.code === 'invalid_type' && issue.input === undefined ? 'is missing' : issue.message;
      report(key ? fieldLine(key) : 1, `front matter field "${key}" ${what}`);
    }
    return { problems, itemLines };
  }
  const meta = parsed.data;
  if (isMap(doc.contents) && doc.contents.has('sources') && !isSeq(doc.contents.get('sources', true))) report(fieldLine('sources'), 'front matter field "sources" must be a list');

  // Body: sections that start with "## card" or "## quiz <id> <type>".
  const lesson: Lesson = {
    id: meta.id,
    moduleId: meta.module,
    order: meta.order,
    lang,
    title: meta.title,
    minutes: 0,
    sources: meta.sources ?? [],
    cards: [],
    items: [],
  };
  const where: LessonLines = { fields, body: end + 2, last: Math.max(end + 2, lines.length - (lines[lines.length - 1] === '' ? 1 : 0)), cards: [], items: [] };
  type Section = { kind: 'card' | 'quiz' | 'takeaway'; line: number; header: string; body: { line: number; text: string }[] };
  const sections: Section[] = [];
  for (let i = end + 1; i < lines.length; i++) {
    const text = lines[i] ?? '';
    const lineNo = i + 1;
    if (text.startsWith('#')) {
      const m = /^##\s+(card|quiz|takeaway)\b(.*)$/.exec(text.trim());
      if (!m) {
        report(lineNo, `unknown heading "${text.trim()}": use "## card", "## quiz <id> <type>" or "## takeaway"`);
        continue;
      }
      sections.push({ kind: m[1] as Section['kind'], line: lineNo, header: (m[2] ?? '').trim(), body: [] });
    } else if (sections.length) {
      sections[sections.length - 1]!.body.push({ line: lineNo, text });
    } else if (text.trim()) {
      report(lineNo, 'text before the first "## card": every card starts with a "## card" line');
    }
  }

  const checkLinks = (links: string[], line: number) => {
    for (const href of links) if (!/^https:\/\/\S+$/.test(href)) report(line, `link "${href}" must be a full https:// address`);
  };

  if (lang === 'fr') problems.push(...frenchSpaceProblems(file, lines.slice(end + 1).join('\n'), end + 2));

  for (const s of sections) {
    if (where.takeaway) report(s.line, `the takeaway (line ${where.takeaway}) comes last: move this section before it`);
    if (s.kind === 'takeaway') {
      if (s.header) report(s.line, 'a takeaway heading is just "## takeaway"');
      if (!lesson.items.length) report(s.line, 'the takeaway comes after the quiz items');
      if (where.takeaway) continue;
      where.takeaway = s.line;
      const text: string[] = [];
      for (const { line, text: l } of s.body) {
        const t = l.trim();
        if (/^(#|>|\||<|!\[|[-*]\s|\d+\.\s)/.test(t)) report(line, `unsupported formatting "${t.slice(0, 20)}": a takeaway is one or two plain sentences`);
        else if (t) text.push(t);
      }
      const takeaway = text.join(' ');
      const { spans } = parseInline(takeaway);
      if (spans.some((sp) => sp.bold || sp.italic || sp.href)) report(s.line, 'a takeaway is plain text: no **bold**, *italic* or links (it is shown in /progress as it is)');
      if (!takeaway) report(s.line, 'the takeaway is empty: write the one or two sentences the learner should keep');
      else if (takeaway.length > LIMITS.takeawayChars) report(s.line, `takeaway is ${takeaway.length} characters; the limit is ${LIMITS.takeawayChars}`);
      else lesson.takeaway = takeaway;
    } else if (s.kind === 'card') {
      where.cards.push(s.line);
      if (s.header) report(s.line, 'a card heading is just "## card"');
      if (lesson.items.length) report(s.line, 'cards come before the quiz items');
      const card = parseCard(s.body, report, checkLinks);
      if (!card.length) report(s.line, 'this card is empty');
      else if (visibleLength(card) > LIMITS.cardChars)
        report(s.line, `card is ${visibleLength(card)} characters; keep it under ${LIMITS.cardChars} so it fits a phone screen`);
      lesson.cards.push(card);
    } else {
      const item = parseItem(lesson, s, report, where);
      if (item) {
        if (itemLines.has(item.id)) report(s.line, `duplicate quiz item id "${item.id}" (first at line ${itemLines.get(item.id)})`);
        else itemLines.set(item.id, s.line);
        lesson.items.push(item);
      }
    }
  }
  const bodyLine = end + 2;
  if (lesson.cards.length < LIMITS.minCards || lesson.cards.length > LIMITS.maxCards)
    report(bodyLine, `lesson has ${lesson.cards.length} cards; it needs ${LIMITS.minCards} to ${LIMITS.maxCards}`);
  if (lesson.items.length < LIMITS.minItems)
    report(bodyLine, `lesson has ${lesson.items.length} quiz items; it needs at least ${LIMITS.minItems}`);
  lesson.minutes = readingMinutes(lesson);
  return { lesson, itemLines, lines: where, problems };
}

function parseCard(
  body: { line: number; text: string }[],
  report: (line: number, message: string) => void,
  checkLinks: (links: string[], line: number) => void,
): RichText {
  const blocks: Block[] = [];
  let para: { line: number; parts: string[] } | null = null;
  const flushPara = () => {
    if (!para) return;
    const { spans, links } = parseInline(para.parts.join(' '));
    checkLinks(links, para.line);
    blocks.push({ type: 'paragraph', spans });
    para = null;
  };
  for (const { line, text } of body) {
    const t = text.trim();
    if (!t) {
      flushPara();
    } else if (/^[-*]\s+/.test(t)) {
      flushPara();
      const { spans, links } = parseInline(t.replace(/^[-*]\s+/, ''));
      checkLinks(links, line);
      blocks.push({ type: 'bullet', spans });
    } else if (/^(#|>|\||<|!\[|\d+\.\s)/.test(t)) {
      report(line, `unsupported formatting "${t.slice(0, 20)}": cards take paragraphs, "- " lists, **bold**, *italic* and links`);
    } else if (para) {
      para.parts.push(t);
    } else {
      para = { line, parts: [t] };
    }
  }
  flushPara();
  return blocks;
}

function parseItem(
  lesson: Lesson,
  s: { line: number; header: string; body: { line: number; text: string }[] },
  report: (line: number, message: string) => void,
  where: LessonLines,
): QuizItem | undefined {
  const [id, type, ...rest] = s.header.split(/\s+/).filter(Boolean);
  if (!id || !type || rest.length) {
    report(s.line, 'a quiz heading is "## quiz <id> <type>", with type single, multiple or truefalse');
    return undefined;
  }
  if (!ID.test(id) || id.length > LIMITS.idChars) report(s.line, `quiz id "${id}" may contain only letters, digits and "-" (max ${LIMITS.idChars})`);
  if (type !== 'single' && type !== 'multiple' && type !== 'truefalse') {
    report(s.line, `unknown quiz type "${type}": use single, multiple or truefalse`);
    return undefined;
  }
  const question: string[] = [];
  const options: { text: string; correct: boolean; line: number }[] = [];
  const explanation: string[] = [];
  for (const { line, text } of s.body) {
    const t = text.trim();
    if (!t) continue;
    const opt = /^[-*]\s+\[( |x|X)\]\s+(.+)$/.exec(t);
    if (opt) {
      if (explanation.length) report(line, 'options come before the explanation');
      options.push({ text: opt[2]!.trim(), correct: opt[1] !== ' ', line });
    } else if (t.startsWith('>')) {
      explanation.push(t.replace(/^>\s?/, ''));
    } else if (/^[-*]\s/.test(t)) {
      report(line, 'an option is "- [x] text" (right) or "- [ ] text" (wrong)');
    } else if (options.length || explanation.length) {
      report(line, `unexpected line "${t.slice(0, 30)}": after the options only "> " explanation lines may follow`);
    } else {
      question.push(t);
    }
  }
  const item: QuizItem = {
    id,
    lessonId: lesson.id,
    moduleId: lesson.moduleId,
    type,
    question: question.join(' '),
    options: options.map(({ text, correct }) => ({ text, correct })),
    explanation: explanation.join(' ').trim(),
  };
  if (!item.question) report(s.line, `quiz item "${id}" has no question`);
  else if (item.question.length > LIMITS.questionChars) report(s.line, `question is ${item.question.length} characters; the limit is ${LIMITS.questionChars}`);
  if (!item.explanation) report(s.line, `quiz item "${id}" has no explanation: add "> " lines that say why the right answer is right`);
  else if (item.explanation.length > LIMITS.explanationChars)
    report(s.line, `explanation is ${item.explanation.length} characters; the limit is ${LIMITS.explanationChars}`);
  where.items.push({ id, type, line: s.line, options: options.map((o) => o.line) });
  const right = options.filter((o) => o.correct).length;
  if (type === 'truefalse') {
    const [yes, no] = TRUE_FALSE[lesson.lang];
    const texts = options.map((o) => o.text.toLowerCase()).join(',');
    if (texts !== `${yes},${no}`.toLowerCase()) report(s.line, `a truefalse item has exactly two options: "- [ ] ${yes}" then "- [ ] ${no}"`);
  } else if (options.length < LIMITS.minOptions || options.length > LIMITS.maxOptions) {
    report(s.line, `quiz item "${id}" has ${options.length} options; it needs ${LIMITS.minOptions} to ${LIMITS.maxOptions}`);
  }
  if (right === 0) report(s.line, `quiz item "${id}" has no right option: mark one with "- [x]"`);
  if (right > 1 && type !== 'multiple') report(s.line, `quiz item "${id}" is ${type} but marks ${right} right options`);
  const texts = new Set<string>();
  for (const o of options) {
    if (o.text.length > LIMITS.optionChars) report(o.line, `option is ${o.text.length} characters; the limit is ${LIMITS.optionChars}`);
    if (texts.has(o.text.toLowerCase())) report(o.line, `option "${o.text}" appears twice`);
    texts.add(o.text.toLowerCase());
  }
  return item;
}
