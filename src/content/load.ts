/**
 * Loads the course from a folder: `modules.yml` and every lesson file below it. Reports every
 * problem in every file (not just the first) as `file:line: problem`.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseDocument, LineCounter } from 'yaml';
import { z } from 'zod';
import { Course, type Lesson, type Module } from './course.js';
import { parseLesson, type ContentProblem } from './parse.js';

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

function listMarkdown(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return listMarkdown(path);
      return name.endsWith('.md') && name !== 'README.md' ? [path] : [];
    });
}

/**
 * Reads and checks the whole course. Returns the course only when there are no problems.
 * `displayRoot` is the folder that file names in problems are relative to (default: the cwd).
 */
export function checkCourse(dir: string, displayRoot = process.cwd()): { course?: Course; problems: ContentProblem[] } {
  const problems: ContentProblem[] = [];
  const show = (path: string) => relative(displayRoot, path) || path;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    return { problems: [{ file: show(dir), line: 1, message: 'the lessons folder does not exist (set LESSONS_DIR, or run from the project folder)' }] };
  }
  const modulesPath = join(dir, 'modules.yml');
  let modules: Module[] = [];
  try {
    const lineCounter = new LineCounter();
    const doc = parseDocument(readFileSync(modulesPath, 'utf8'), { lineCounter });
    for (const err of doc.errors) problems.push({ file: show(modulesPath), line: err.linePos?.[0]?.line ?? 1, message: err.message.split('\n')[0]! });
    const parsed = moduleSchema.safeParse(doc.toJS());
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        problems.push({ file: show(modulesPath), line: 1, message: `module ${issue.path.join('.')}: ${issue.message}` });
    } else {
      modules = parsed.data.map((m) => ({ ...m, lessons: [] }));
      const seen = new Set<string>();
      for (const m of modules) {
        if (seen.has(m.id)) problems.push({ file: show(modulesPath), line: 1, message: `duplicate module id "${m.id}"` });
        seen.add(m.id);
      }
    }
  } catch (err) {
    problems.push({ file: show(modulesPath), line: 1, message: `cannot read the module list: ${(err as Error).message}` });
  }

  const lessonFiles = new Map<string, { file: string; lesson: Lesson }>();
  const itemFiles = new Map<string, string>();
  for (const path of listMarkdown(dir)) {
    const file = show(path);
    const parsed = parseLesson(file, readFileSync(path, 'utf8'));
    problems.push(...parsed.problems);
    const lesson = parsed.lesson;
    if (!lesson) continue;
    // Where each lesson and item is written, so that the dashboard can point an author to the line.
    lesson.source = { file, path };
    for (const item of lesson.items) {
      const line = parsed.itemLines.get(item.id);
      if (line !== undefined) item.line = line;
    }
    const prior = lessonFiles.get(lesson.id);
    if (prior) problems.push({ file, line: 2, message: `duplicate lesson id "${lesson.id}" (also in ${prior.file})` });
    else lessonFiles.set(lesson.id, { file, lesson });
    for (const [id, line] of parsed.itemLines) {
      const other = itemFiles.get(id);
      if (other && other !== file) problems.push({ file, line, message: `duplicate quiz item id "${id}" (also in ${other})` });
      else itemFiles.set(id, file);
    }
    const module = modules.find((m) => m.id === lesson.moduleId);
    if (!module) {
      problems.push({ file, line: 3, message: `unknown module "${lesson.moduleId}": use one of ${modules.map((m) => m.id).join(', ')} (lessons/modules.yml)` });
      continue;
    }
    const clash = module.lessons.find((l) => l.order === lesson.order);
    if (clash) problems.push({ file, line: 4, message: `order ${lesson.order} is already used by lesson "${clash.id}" in module ${module.id}` });
    module.lessons.push(lesson);
  }
  for (const m of modules) {
    m.lessons.sort((a, b) => a.order - b.order);
    if (!m.lessons.length) problems.push({ file: show(modulesPath), line: 1, message: `module "${m.id}" has no lessons` });
  }
  problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
  return problems.length ? { problems } : { course: new Course(modules), problems };
}

/** Loads the course or throws a {@link ContentError} listing every problem. */
export function loadCourse(dir: string): Course {
  const { course, problems } = checkCourse(dir);
  if (!course) throw new ContentError(problems);
  return course;
}
