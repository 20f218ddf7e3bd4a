/**
 * Loads the course from a folder: `modules.yml` (and its translations `modules.fr.yml`,
 * `modules.es.yml`), every lesson file below it and every lesson's translations (`x.fr.md`,
 * `x.es.md` beside `x.md`). Reports every problem in every file (not just the first) as
 * `file:line: problem`, and what should be fixed but does not stop the bot as warnings.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parseDocument, LineCounter, isSeq, isMap } from 'yaml';
import { z } from 'zod';
import { Course, TRANSLATION_LANGS, type CourseLang, type CourseTranslation, type Lesson, type Module, type TranslationLang } from './course.js';
import { frenchSpaceProblems, parseLesson, type ContentProblem, type LessonLines } from './parse.js';
import { nearDuplicates, type NearDuplicate } from './similarity.js';

/** A lesson without a `## takeaway` is an error (a warning when false, for a course being written). */
export const REQUIRE_TAKEAWAY = true;
/**
 * A lesson or `modules.yml` without its French and Spanish translations is an error (a warning when
 * false, for a course being written: the learner then gets the English lesson).
 */
export const REQUIRE_TRANSLATIONS = true;
/** Near-duplicate question texts across the course are errors (warnings when false). */
export const REJECT_NEAR_DUPLICATES = true;

export interface CheckOptions {
  requireTakeaway: boolean;
  requireTranslations: boolean;
  rejectNearDuplicates: boolean;
  /**
   * Whether to look for near-duplicate questions at all (default true). The bot's own start-up
   * skips it: it is an authoring check (`npm run lessons:check`, run by CI) that costs about a
   * third of loading the course, and it never makes a course unusable.
   */
  findNearDuplicates: boolean;
  /** The folder that file names in problems are relative to (default: the cwd). */
  displayRoot: string;
}

/** One parsed lesson file, with where it is and where its parts are. */
export interface LessonFile {
  file: string;
  lang: CourseLang;
  lesson: Lesson;
  lines: LessonLines;
}

export interface CheckResult {
  /** The course, when there is no problem. */
  course?: Course;
  problems: ContentProblem[];
  warnings: ContentProblem[];
  /** Every lesson file that parsed, English and translations (for statistics). */
  files: LessonFile[];
  /** Near-duplicate question pairs, per language. */
  duplicates: Record<CourseLang, NearDuplicate[]>;
}

const moduleSchema = z.array(
  z.object({
    id: z.string().regex(/^[a-z0-9-]+$/i, 'may contain only letters, digits and "-"'),
    title: z.string().min(1),
    summary: z.string().min(1),
  }),
);

/** Thrown when the course has problems; its message lists them all, one per line. */
export class ContentError extends Error {
  constructor(readonly problems: ContentProblem[]) {
    super(`The course has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'ContentError';
  }
}

/** `file:line: message`, the format editors and CI logs recognise. */
export function formatProblem(p: ContentProblem): string {
  return `${p.file}:${p.line}: ${p.message}`;
}

const LANGUAGE_NAMES: Record<CourseLang, string> = { en: 'English', fr: 'French', es: 'Spanish' };

function listMarkdown(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return listMarkdown(path);
      return name.endsWith('.md') && name !== 'README.md' ? [path] : [];
    });
}

/** The language a lesson file's name says: `x.fr.md` is French, `x.md` English; null for an unknown code. */
function fileLanguage(path: string): { lang: CourseLang; english: string } | null {
  const m = /^(.*)\.([a-z]{2})\.md$/i.exec(path);
  if (!m) return { lang: 'en', english: path };
  const code = m[2]!.toLowerCase();
  return (TRANSLATION_LANGS as readonly string[]).includes(code) ? { lang: code as CourseLang, english: `${m[1]}.md` } : null;
}

type ModuleText = { id: string; title: string; summary: string; line: number };

function readModules(path: string, file: string, problems: ContentProblem[], lang: CourseLang): ModuleText[] | undefined {
  try {
    const source = readFileSync(path, 'utf8');
    const lineCounter = new LineCounter();
    const doc = parseDocument(source, { lineCounter });
    for (const err of doc.errors) problems.push({ file, line: err.linePos?.[0]?.line ?? 1, message: err.message.split('\n')[0]! });
    if (lang === 'fr') problems.push(...frenchSpaceProblems(file, source));
    const parsed = moduleSchema.safeParse(doc.toJS());
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push({ file, line: 1, message: `module ${issue.path.join('.')}: ${issue.message}` });
      return undefined;
    }
    const lines = isSeq(doc.contents) ? doc.contents.items.map((n) => (isMap(n) && n.range ? lineCounter.linePos(n.range[0]).line : 1)) : [];
    return parsed.data.map((m, i) => ({ ...m, line: lines[i] ?? 1 }));
  } catch (err) {
    problems.push({ file, line: 1, message: `cannot read the module list: ${(err as Error).message}` });
    return undefined;
  }
}

/**
 * Checks that a translation has the English lesson's shape: the same id, module and order, the
 * same number of cards, the same items (ids, order, types), the same number of options with the
 * same right ones, and a takeaway when the English lesson has one. Problems name the translation's
 * file and line, and the English file and line they differ from.
 */
export function parityProblems(en: LessonFile, tr: LessonFile): ContentProblem[] {
  const problems: ContentProblem[] = [];
  const report = (line: number, message: string) => problems.push({ file: tr.file, line, message });
  const at = (line: number) => `${en.file}:${line}`;
  for (const [field, a, b] of [
    ['id', en.lesson.id, tr.lesson.id],
    ['module', en.lesson.moduleId, tr.lesson.moduleId],
    ['order', en.lesson.order, tr.lesson.order],
  ] as const)
    if (a !== b) report(tr.lines.fields[field] ?? 1, `${field} is "${b}" but "${a}" in the English lesson (${at(en.lines.fields[field] ?? 1)})`);

  const enCards = en.lines.cards.length;
  const trCards = tr.lines.cards.length;
  if (trCards > enCards) report(tr.lines.cards[enCards]!, `extra card: the English lesson has ${enCards} cards (${at(en.lines.body)}), this one ${trCards}`);
  if (trCards < enCards)
    report(tr.lines.cards[trCards - 1] ?? tr.lines.body, `missing card: the English lesson has ${enCards} cards, this one ${trCards} (card ${trCards + 1} is at ${at(en.lines.cards[trCards]!)})`);

  const trItems = new Map(tr.lines.items.map((i, n) => [i.id, { ...i, n }]));
  const enIds = new Set(en.lines.items.map((i) => i.id));
  let previousLine = tr.lines.cards[tr.lines.cards.length - 1] ?? tr.lines.body;
  en.lines.items.forEach((ei, n) => {
    const ti = trItems.get(ei.id);
    if (!ti) {
      report(previousLine, `missing quiz item "${ei.id}" after this point (${at(ei.line)})`);
      return;
    }
    previousLine = ti.line;
    if (ti.n !== n) report(ti.line, `quiz item "${ei.id}" is item ${ti.n + 1} here but item ${n + 1} in the English lesson (${at(ei.line)})`);
    if (ti.type !== ei.type) report(ti.line, `quiz item "${ei.id}" is ${ti.type} here but ${ei.type} in the English lesson (${at(ei.line)})`);
    const enItem = en.lesson.items.find((i) => i.id === ei.id);
    const trItem = tr.lesson.items.find((i) => i.id === ei.id);
    if (!enItem || !trItem) return;
    if (trItem.options.length !== enItem.options.length)
      report(ti.line, `quiz item "${ei.id}" has ${trItem.options.length} options here but ${enItem.options.length} in the English lesson (${at(ei.line)})`);
    const shared = Math.min(trItem.options.length, enItem.options.length);
    for (let o = 0; o < shared; o++)
      if (trItem.options[o]!.correct !== enItem.options[o]!.correct)
        report(
          ti.options[o] ?? ti.line,
          `different right answer in "${ei.id}": option ${String.fromCharCode(65 + o)} is marked ${trItem.options[o]!.correct ? 'right' : 'wrong'} here but ${enItem.options[o]!.correct ? 'right' : 'wrong'} in the English lesson (${at(ei.options[o] ?? ei.line)})`,
        );
  });
  for (const ti of tr.lines.items) if (!enIds.has(ti.id)) report(ti.line, `extra quiz item "${ti.id}": the English lesson (${en.file}) has no such item`);
  if (en.lines.takeaway && !tr.lines.takeaway) report(tr.lines.last, `missing "## takeaway": the English lesson has one (${at(en.lines.takeaway)})`);
  return problems;
}

/**
 * Reads and checks the whole course. Returns the course only when there are no problems.
 * Options default to the constants above.
 */
export function checkCourse(dir: string, options: Partial<CheckOptions> | string = {}): CheckResult {
  const opts: CheckOptions = {
    requireTakeaway: REQUIRE_TAKEAWAY,
    requireTranslations: REQUIRE_TRANSLATIONS,
    rejectNearDuplicates: REJECT_NEAR_DUPLICATES,
    findNearDuplicates: true,
    displayRoot: process.cwd(),
    ...(typeof options === 'string' ? { displayRoot: options } : options),
  };
  const problems: ContentProblem[] = [];
  const warnings: ContentProblem[] = [];
  const files: LessonFile[] = [];
  const duplicates: Record<CourseLang, NearDuplicate[]> = { en: [], fr: [], es: [] };
  const show = (path: string) => relative(opts.displayRoot, path) || path;
  /** A problem that is an error only when `strict`. */
  const missing = (strict: boolean, p: ContentProblem) => (strict ? problems : warnings).push(p);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    return { problems: [{ file: show(dir), line: 1, message: 'the lessons folder does not exist (set LESSONS_DIR, or run from the project folder)' }], warnings, files, duplicates };
  }

  const modulesPath = join(dir, 'modules.yml');
  let modules: Module[] = [];
  const englishModules = readModules(modulesPath, show(modulesPath), problems, 'en');
  if (englishModules) {
    modules = englishModules.map(({ id, title, summary }) => ({ id, title, summary, lessons: [] }));
    const seen = new Set<string>();
    for (const m of englishModules) {
      if (seen.has(m.id)) problems.push({ file: show(modulesPath), line: m.line, message: `duplicate module id "${m.id}"` });
      seen.add(m.id);
    }
  }
  const translations: Partial<Record<TranslationLang, CourseTranslation>> = {};
  for (const lang of TRANSLATION_LANGS) {
    translations[lang] = { lessons: new Map(), modules: new Map() };
    const path = join(dir, `modules.${lang}.yml`);
    const file = show(path);
    if (!existsSync(path)) {
      missing(opts.requireTranslations, { file: show(modulesPath), line: 1, message: `no ${LANGUAGE_NAMES[lang]} module titles: add ${basename(path)} with the same ids` });
      continue;
    }
    const list = readModules(path, file, problems, lang);
    if (!list || !englishModules) continue;
    englishModules.forEach((em, i) => {
      const tm = list[i];
      if (!tm) problems.push({ file, line: list[list.length - 1]?.line ?? 1, message: `missing module "${em.id}" (${show(modulesPath)}:${em.line})` });
      else if (tm.id !== em.id) problems.push({ file, line: tm.line, message: `module ${i + 1} is "${tm.id}" here but "${em.id}" in ${show(modulesPath)}:${em.line}` });
      else translations[lang]!.modules.set(tm.id, { title: tm.title, summary: tm.summary });
    });
    for (const tm of list.slice(englishModules.length)) problems.push({ file, line: tm.line, message: `extra module "${tm.id}": ${show(modulesPath)} has no such module` });
  }

  const lessonFiles = new Map<string, { file: string; lesson: Lesson }>();
  const itemFiles = new Map<string, string>();
  const english = new Map<string, LessonFile>();
  const translated: { path: string; englishPath: string; entry: LessonFile }[] = [];
  for (const path of listMarkdown(dir)) {
    const file = show(path);
    const language = fileLanguage(path);
    if (!language) {
      problems.push({ file, line: 1, message: `unknown language in the file name: lessons are x.md (English), x.fr.md or x.es.md` });
      continue;
    }
    const parsed = parseLesson(file, readFileSync(path, 'utf8'), language.lang);
    problems.push(...parsed.problems);
    const lesson = parsed.lesson;
    if (!lesson || !parsed.lines) continue;
    // Where each lesson and item is written, so that the dashboard can point an author to the line.
    lesson.source = { file, path };
    for (const item of lesson.items) {
      const line = parsed.itemLines.get(item.id);
      if (line !== undefined) item.line = line;
    }
    const entry: LessonFile = { file, lang: language.lang, lesson, lines: parsed.lines };
    files.push(entry);
    if (!lesson.takeaway && !parsed.problems.some((p) => /takeaway/.test(p.message)))
      missing(opts.requireTakeaway, { file, line: parsed.lines.last, message: 'no "## takeaway": end the lesson with the one or two sentences the learner should keep' });
    if (language.lang !== 'en') {
      translated.push({ path, englishPath: language.english, entry });
      continue;
    }
    english.set(path, entry);
    const prior = lessonFiles.get(lesson.id);
    if (prior) problems.push({ file, line: parsed.lines.fields.id ?? 2, message: `duplicate lesson id "${lesson.id}" (also in ${prior.file})` });
    else lessonFiles.set(lesson.id, { file, lesson });
    for (const [id, line] of parsed.itemLines) {
      const other = itemFiles.get(id);
      if (other && other !== file) problems.push({ file, line, message: `duplicate quiz item id "${id}" (also in ${other})` });
      else itemFiles.set(id, file);
    }
    const module = modules.find((m) => m.id === lesson.moduleId);
    if (!module) {
      problems.push({ file, line: parsed.lines.fields.module ?? 3, message: `unknown module "${lesson.moduleId}": use one of ${modules.map((m) => m.id).join(', ')} (lessons/modules.yml)` });
      continue;
    }
    const clash = module.lessons.find((l) => l.order === lesson.order);
    if (clash) problems.push({ file, line: parsed.lines.fields.order ?? 4, message: `order ${lesson.order} is already used by lesson "${clash.id}" in module ${module.id}` });
    module.lessons.push(lesson);
  }

  // Translations: each beside its English lesson, with the same shape.
  const translatedPaths = new Set(translated.map((t) => t.path));
  for (const { englishPath, entry } of translated) {
    const en = english.get(englishPath);
    if (!en) {
      problems.push({ file: entry.file, line: 1, message: `no English lesson ${show(englishPath)} beside this translation` });
      continue;
    }
    const drift = parityProblems(en, entry);
    problems.push(...drift);
    if (!drift.length) translations[entry.lang as TranslationLang]!.lessons.set(entry.lesson.id, { ...entry.lesson, sources: entry.lesson.sources.length ? entry.lesson.sources : en.lesson.sources });
  }
  for (const [path, en] of english)
    for (const lang of TRANSLATION_LANGS) {
      const expected = path.replace(/\.md$/, `.${lang}.md`);
      if (!translatedPaths.has(expected)) missing(opts.requireTranslations, { file: en.file, line: 1, message: `no ${LANGUAGE_NAMES[lang]} translation: add ${basename(expected)} beside this file` });
    }

  // Near-duplicate questions, language by language.
  for (const lang of opts.findNearDuplicates ? (['en', ...TRANSLATION_LANGS] as const) : []) {
    const questions = files
      .filter((f) => f.lang === lang)
      .flatMap((f) => f.lesson.items.map((item) => ({ id: item.id, text: item.question, file: f.file, line: f.lines.items.find((i) => i.id === item.id)?.line ?? 1 })));
    duplicates[lang] = nearDuplicates(questions, lang);
    for (const d of duplicates[lang])
      (opts.rejectNearDuplicates ? problems : warnings).push({
        file: d.b.file,
        line: d.b.line,
        message: `question of "${d.b.id}" nearly repeats "${d.a.id}" at ${d.a.file}:${d.a.line} (similarity ${d.similarity.toFixed(2)}): test the fact from another angle, or drop one`,
      });
  }

  for (const m of modules) {
    m.lessons.sort((a, b) => a.order - b.order);
    if (!m.lessons.length) problems.push({ file: show(modulesPath), line: 1, message: `module "${m.id}" has no lessons` });
  }
  const byPlace = (a: ContentProblem, b: ContentProblem) => a.file.localeCompare(b.file) || a.line - b.line;
  problems.sort(byPlace);
  warnings.sort(byPlace);
  return { ...(problems.length ? {} : { course: new Course(modules, translations) }), problems, warnings, files, duplicates };
}

/**
 * Loads the course or throws a {@link ContentError} listing every problem that makes it unusable
 * (near-duplicate questions are `lessons:check`'s business, not start-up's).
 */
export function loadCourse(dir: string): Course {
  const { course, problems } = checkCourse(dir, { findNearDuplicates: false });
  if (!course) throw new ContentError(problems);
  return course;
}
