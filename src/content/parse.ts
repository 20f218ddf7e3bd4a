/**
 * Parses one lesson file (Markdown with YAML front matter, see `lessons/README.md`) and reports
 * every problem with its line, so that a trainer can fix the file without reading code.
 */
import { Lexer, type Token } from 'marked';
import { parseDocument, LineCounter, isMap, isScalar, isSeq } from 'yaml';
import { z } from 'zod';
import type { Block, RichText, Span } from '../messages.js';
import type { ItemType, Lesson, QuizItem } from './course.js';

/** A problem found in a content file. */
export interface ContentProblem {
  file: string;
  line: number;
  message: string;
}

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
} as const;

const ID = /^[a-z0-9][a-z0-9-]*$/i;

const frontMatterSchema = z.object({
  id: z
    .string()
    .max(LIMITS.idChars, `must be at most ${LIMITS.idChars} characters`)
    .regex(ID, 'may contain only letters, digits and "-"'),
  module: z.string().min(1),
  order: z.number().int().positive(),
  title: z.string().min(1).max(80),
  minutes: z.number().int().min(1).max(15),
  sources: z.array(z.string().min(1)).min(1, 'list at least one source'),
});

/** Result of parsing one lesson file: the lesson, or nothing when the file is too broken to use. */
export interface ParsedLesson {
  lesson?: Lesson;
  /** Line of each card and item, for problems found later (duplicates across files). */
  itemLines: Map<string, number>;
  problems: ContentProblem[];
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

/** Parses a lesson file's text. `file` is used only in problem reports. */
export function parseLesson(file: string, source: string): ParsedLesson {
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
  const parsed = frontMatterSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '');
      const what = issue.code === 'invalid_type' && issue.input === undefined ? 'is missing' : issue.message;
      report(key ? fieldLine(key) : 1, `front matter field "${key}" ${what}`);
    }
    return { problems, itemLines };
  }
  const meta = parsed.data;
  if (isMap(doc.contents) && !isSeq(doc.contents.get('sources', true))) report(fieldLine('sources'), 'front matter field "sources" must be a list');

  // Body: sections that start with "## card" or "## quiz <id> <type>".
  const lesson: Lesson = {
    id: meta.id,
    moduleId: meta.module,
    order: meta.order,
    title: meta.title,
    minutes: meta.minutes,
    sources: meta.sources,
    cards: [],
    items: [],
  };
  type Section = { kind: 'card' | 'quiz'; line: number; header: string; body: { line: number; text: string }[] };
  const sections: Section[] = [];
  for (let i = end + 1; i < lines.length; i++) {
    const text = lines[i] ?? '';
    const lineNo = i + 1;
    if (text.startsWith('#')) {
      const m = /^##\s+(card|quiz)\b(.*)$/.exec(text.trim());
      if (!m) {
        report(lineNo, `unknown heading "${text.trim()}": use "## card" or "## quiz <id> <type>"`);
        continue;
      }
      sections.push({ kind: m[1] as 'card' | 'quiz', line: lineNo, header: (m[2] ?? '').trim(), body: [] });
    } else if (sections.length) {
      sections[sections.length - 1]!.body.push({ line: lineNo, text });
    } else if (text.trim()) {
      report(lineNo, 'text before the first "## card": every card starts with a "## card" line');
    }
  }

  const checkLinks = (links: string[], line: number) => {
    for (const href of links) if (!/^https:\/\/\S+$/.test(href)) report(line, `link "${href}" must be a full https:// address`);
  };

  for (const s of sections) {
    if (s.kind === 'card') {
      if (s.header) report(s.line, 'a card heading is just "## card"');
      if (lesson.items.length) report(s.line, 'cards come before the quiz items');
      const card = parseCard(s.body, report, checkLinks);
      if (!card.length) report(s.line, 'this card is empty');
      else if (visibleLength(card) > LIMITS.cardChars)
        report(s.line, `card is ${visibleLength(card)} characters; keep it under ${LIMITS.cardChars} so it fits a phone screen`);
      lesson.cards.push(card);
    } else {
      const item = parseItem(lesson, s, report);
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
  return { lesson, itemLines, problems };
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
  const right = options.filter((o) => o.correct).length;
  if (type === 'truefalse') {
    const texts = options.map((o) => o.text.toLowerCase()).join(',');
    if (texts !== 'true,false') report(s.line, 'a truefalse item has exactly two options: "- [ ] True" then "- [ ] False"');
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
