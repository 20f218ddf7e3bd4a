/**
 * The course format of issue 12: computed minutes, takeaways, French and Spanish translations with
 * their parity check, French typography, near-duplicate questions and the --stats figures.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCourse, loadCourse } from '../src/content/load.js';
import { parseLesson, readingMinutes } from '../src/content/parse.js';
import { courseStats } from '../src/content/stats.js';
import { FIXTURE_DIR } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'digit4sd-format-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const STRICT = { requireTakeaway: true, requireTranslations: true, rejectNearDuplicates: true };
/** The checker's mode for a course being written: missing takeaways, translations and near-duplicates are warnings. */
const LENIENT = { requireTakeaway: false, requireTranslations: false, rejectNearDuplicates: false };

let n = 0;
/** A copy of the fixture course to break; `edit` gets the folder. */
function course(edit: (dir: string) => void = () => {}): string {
  const dir = join(tmp, `c${++n}`);
  cpSync(FIXTURE_DIR, dir, { recursive: true });
  edit(dir);
  return dir;
}
function replaceIn(dir: string, file: string, from: string | RegExp, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  const next = text.replace(from, to);
  if (next === text) throw new Error(`test setup: "${String(from)}" not found in ${file}`);
  writeFileSync(path, next);
}
const lineOf = (dir: string, file: string, text: string) => readFileSync(join(dir, file), 'utf8').split('\n').findIndex((l) => l.includes(text)) + 1;

describe('the fixture course', () => {
  it('passes the strict checks: every lesson has a takeaway and both translations, no near-duplicates', () => {
    const result = checkCourse(FIXTURE_DIR, { ...STRICT, displayRoot: FIXTURE_DIR });
    expect(result.problems).toEqual([]);
    expect(result.warnings).toEqual([]);
    const fr = result.course!.in('fr');
    expect(fr.lessons.get('l1')!.title).toBe('Leçon un');
    expect(fr.lessons.get('l1')!.takeaway).toMatch(/^La leçon un montre/);
    expect(fr.modules.map((m) => m.title)).toEqual(['Notions de base', 'Pour aller plus loin']);
    expect(result.course!.item('l2-q2', 'es')!.options.map((o) => o.text)).toEqual(['Verdadero', 'Falso']);
    // A translation without sources takes the English lesson's.
    expect(fr.lessons.get('l3')!.sources).toEqual(result.course!.lessons.get('l3')!.sources);
  });
});

describe('computed minutes', () => {
  it('reports a minutes line as an error at its line', () => {
    const dir = course((d) => replaceIn(d, 'm1/01-l1.md', 'title: Lesson one\n', 'title: Lesson one\nminutes: 3\n'));
    const { problems } = checkCourse(dir, dir);
    expect(problems).toEqual([{ file: 'm1/01-l1.md', line: 6, message: 'minutes is computed from the text; remove this line' }]);
  });

  it('computes minutes from the words of the cards (150 a minute) and 20 seconds per item', () => {
    const words = (k: number) => [{ type: 'paragraph' as const, spans: [{ text: 'word '.repeat(k).trim() }] }];
    const item = { id: 'x', lessonId: 'l', moduleId: 'm', type: 'single' as const, question: 'Q?', options: [], explanation: 'E' };
    // 450 words = 3 minutes, 6 items = 2 minutes.
    expect(readingMinutes({ cards: [words(200), words(250)], items: Array(6).fill(item) })).toBe(5);
    // The takeaway counts as reading: 600 words = 4 minutes, 3 items = 1 minute.
    expect(readingMinutes({ cards: [words(500)], items: Array(3).fill(item), takeaway: 'word '.repeat(100) })).toBe(5);
    expect(readingMinutes({ cards: [words(10)], items: [] })).toBe(1);
    expect(loadCourse(FIXTURE_DIR).lessons.get('l1')!.minutes).toBe(2);
  });
});

describe('the takeaway', () => {
  it('is a warning when missing, an error in strict mode, at the last line of the file', () => {
    const dir = course((d) => replaceIn(d, 'm1/02-l2.md', /\n## takeaway\n[\s\S]*$/, '\n'));
    const last = readFileSync(join(dir, 'm1/02-l2.md'), 'utf8').split('\n').length - 1;
    const lenient = checkCourse(dir, { displayRoot: dir, requireTakeaway: false });
    expect(lenient.problems).toEqual([]);
    expect(lenient.warnings).toContainEqual({ file: 'm1/02-l2.md', line: last, message: expect.stringMatching(/no "## takeaway"/) });
    const strict = checkCourse(dir, { ...STRICT, displayRoot: dir });
    expect(strict.problems).toContainEqual({ file: 'm1/02-l2.md', line: last, message: expect.stringMatching(/no "## takeaway"/) });
    // The translations still have theirs: the English lesson lost it, so they are not missing one.
    expect(strict.problems.filter((p) => p.file !== 'm1/02-l2.md')).toEqual([]);
  });

  it('must come last, hold at most 300 characters and be plain sentences', () => {
    const dir = course((d) => {
      replaceIn(d, 'm1/01-l1.md', '## quiz l1-q4 single', `## takeaway\n\nToo early.\n\n## quiz l1-q4 single`);
      replaceIn(d, 'm1/02-l2.md', 'Lesson two is about a river', `${'long '.repeat(70)}`);
      replaceIn(d, 'm2/01-l3.md', 'The market of lesson three', '- a list item\n\nThe market of lesson three');
      replaceIn(d, 'm1/01-l1.fr.md', 'La leçon un montre', 'La leçon un **montre**');
    });
    const { problems } = checkCourse(dir, dir);
    expect(problems).toContainEqual({ file: 'm1/01-l1.md', line: lineOf(dir, 'm1/01-l1.md', '## quiz l1-q4'), message: expect.stringMatching(/the takeaway \(line \d+\) comes last/) });
    expect(problems).toContainEqual({ file: 'm1/02-l2.md', line: lineOf(dir, 'm1/02-l2.md', '## takeaway'), message: expect.stringMatching(/takeaway is \d+ characters; the limit is 300/) });
    expect(problems).toContainEqual({ file: 'm2/01-l3.md', line: lineOf(dir, 'm2/01-l3.md', '- a list item'), message: expect.stringMatching(/a takeaway is one or two plain sentences/) });
    expect(problems).toContainEqual({ file: 'm1/01-l1.fr.md', line: lineOf(dir, 'm1/01-l1.fr.md', '## takeaway'), message: expect.stringMatching(/a takeaway is plain text: no \*\*bold\*\*/) });
  });
});

describe('translations', () => {
  it('are warnings when missing, errors in strict mode, and then the English lesson is served', () => {
    const dir = course((d) => {
      unlinkSync(join(d, 'm1/02-l2.es.md'));
      unlinkSync(join(d, 'modules.es.yml'));
    });
    const lenient = checkCourse(dir, { ...LENIENT, displayRoot: dir });
    expect(lenient.problems).toEqual([]);
    expect(lenient.warnings).toContainEqual({ file: 'm1/02-l2.md', line: 1, message: 'no Spanish translation: add 02-l2.es.md beside this file' });
    expect(lenient.warnings).toContainEqual({ file: 'modules.yml', line: 1, message: expect.stringMatching(/no Spanish module titles: add modules.es.yml/) });
    expect(lenient.course!.lesson('l2', 'es')!.title).toBe('Lesson two');
    expect(lenient.course!.lesson('l1', 'es')!.title).toBe('Lección uno');
    expect(lenient.course!.in('es').modules[0]!.title).toBe('Basics');
    const strict = checkCourse(dir, { ...STRICT, displayRoot: dir });
    expect(strict.problems).toContainEqual({ file: 'm1/02-l2.md', line: 1, message: 'no Spanish translation: add 02-l2.es.md beside this file' });
  });

  const drift: [string, (d: string) => void, string, string, RegExp, number?][] = [
    ['a missing item', (d) => replaceIn(d, 'm1/01-l1.fr.md', /## quiz l1-q2 truefalse[\s\S]*?(?=## quiz l1-q3)/, ''), 'm1/01-l1.fr.md', '## quiz l1-q1', /missing quiz item "l1-q2" after this point \(m1\/01-l1.md:\d+\)/],
    ['an extra card', (d) => replaceIn(d, 'm1/01-l1.es.md', '## quiz l1-q1', '## card\n\nUna tarjeta de más.\n\n## quiz l1-q1'), 'm1/01-l1.es.md', 'Una tarjeta de más', /extra card: the English lesson has 3 cards/, -2],
    ['a missing card', (d) => replaceIn(d, 'm1/02-l2.fr.md', /## card\n\nTroisième[^\n]*\n/, ''), 'm1/02-l2.fr.md', 'Deuxième fiche', /missing card: the English lesson has 3 cards, this one 2 \(card 3 is at m1\/02-l2.md:\d+\)/, -2],
    ['an option count', (d) => replaceIn(d, 'm2/01-l3.fr.md', '- [ ] Mauvaise B\n\n> C', '- [ ] Mauvaise B\n- [ ] Mauvaise D\n\n> C'), 'm2/01-l3.fr.md', '## quiz l3-q4', /quiz item "l3-q4" has 3 options here but 2 in the English lesson/],
    ['a different right answer', (d) => replaceIn(d, 'm1/01-l1.fr.md', '- [ ] Mauvaise A\n- [x] Bonne B', '- [x] Mauvaise A\n- [ ] Bonne B'), 'm1/01-l1.fr.md', '- [x] Mauvaise A', /different right answer in "l1-q1": option A is marked right here but wrong in the English lesson \(m1\/01-l1.md:\d+\)/],
    ['a different type', (d) => replaceIn(d, 'm1/01-l1.es.md', '## quiz l1-q4 single', '## quiz l1-q4 multiple'), 'm1/01-l1.es.md', '## quiz l1-q4', /quiz item "l1-q4" is multiple here but single in the English lesson/],
    ['an extra item', (d) => replaceIn(d, 'm1/01-l1.es.md', '## takeaway', '## quiz l1-q9 single\n\n¿Otra?\n\n- [x] Sí\n- [ ] No\n\n> Porque sí.\n\n## takeaway'), 'm1/01-l1.es.md', '## quiz l1-q9', /extra quiz item "l1-q9"/],
    ['another order', (d) => replaceIn(d, 'm1/02-l2.es.md', 'order: 2', 'order: 5'), 'm1/02-l2.es.md', 'order: 5', /order is "5" but "2" in the English lesson \(m1\/02-l2.md:4\)/],
    ['a missing takeaway', (d) => replaceIn(d, 'm1/01-l1.fr.md', /## takeaway[\s\S]*$/, ''), 'm1/01-l1.fr.md', '> C\'est la A.', /missing "## takeaway": the English lesson has one/],
    ['a wrong lang field', (d) => replaceIn(d, 'm1/01-l1.es.md', 'lang: es', 'lang: fr'), 'm1/01-l1.es.md', 'lang: fr', /"lang" must be "es"/],
    ['English true/false words', (d) => replaceIn(d, 'm1/01-l1.fr.md', '- [x] Vrai\n- [ ] Faux', '- [x] True\n- [ ] False'), 'm1/01-l1.fr.md', '## quiz l1-q2', /"- \[ \] Vrai" then "- \[ \] Faux"/],
  ];
  for (const [what, edit, file, at, message, offset = 0] of drift) {
    it(`name the file and line of ${what}`, () => {
      const dir = course(edit);
      const { problems, course: c } = checkCourse(dir, dir);
      expect(c).toBeUndefined();
      // A missing takeaway is reported at the last line, after the last explanation.
      const line = lineOf(dir, file, at) + offset + (at === "> C'est la A." ? 1 : 0);
      expect(problems).toContainEqual({ file, line, message: expect.stringMatching(message) });
    });
  }

  it('checks the translated module lists against modules.yml', () => {
    const dir = course((d) => {
      replaceIn(d, 'modules.fr.yml', 'id: m2', 'id: m3');
      replaceIn(d, 'modules.es.yml', /- id: m2[\s\S]*$/, '');
    });
    const { problems } = checkCourse(dir, dir);
    expect(problems).toContainEqual({ file: 'modules.fr.yml', line: 4, message: 'module 2 is "m3" here but "m2" in modules.yml:4' });
    expect(problems).toContainEqual({ file: 'modules.es.yml', line: 1, message: 'missing module "m2" (modules.yml:4)' });
  });

  it('needs an English lesson beside each translation', () => {
    const dir = course((d) => writeFileSync(join(d, 'm2/02-orphan.fr.md'), readFileSync(join(d, 'm2/01-l3.fr.md'), 'utf8')));
    expect(checkCourse(dir, dir).problems).toContainEqual({ file: 'm2/02-orphan.fr.md', line: 1, message: 'no English lesson m2/02-orphan.md beside this translation' });
  });
});

describe('French typography', () => {
  it('reports an ordinary space before ; : ! ? » and after «, in lessons and module titles', () => {
    const dir = course((d) => {
      replaceIn(d, 'm1/01-l1.fr.md', 'leçon un\u202f?', 'leçon un ?');
      replaceIn(d, 'm1/01-l1.fr.md', 'Troisième et', '« Troisième » et');
      replaceIn(d, 'modules.fr.yml', 'Notions de base', 'Notions : base');
    });
    const { problems } = checkCourse(dir, dir);
    const q = lineOf(dir, 'm1/01-l1.fr.md', 'leçon un ?');
    const card = lineOf(dir, 'm1/01-l1.fr.md', '« Troisième');
    expect(problems).toContainEqual({ file: 'm1/01-l1.fr.md', line: q, message: expect.stringMatching(/ordinary space before "\?" .*U\+202F/) });
    expect(problems).toContainEqual({ file: 'm1/01-l1.fr.md', line: card, message: expect.stringMatching(/ordinary space after "«"/) });
    expect(problems).toContainEqual({ file: 'm1/01-l1.fr.md', line: card, message: expect.stringMatching(/ordinary space before "»"/) });
    expect(problems).toContainEqual({ file: 'modules.fr.yml', line: 2, message: expect.stringMatching(/ordinary space before ":"/) });
    // Non-breaking spaces are fine, and Spanish is not held to French rules.
    expect(problems.filter((p) => p.file.endsWith('.es.md'))).toEqual([]);
    expect(parseLesson('x.fr.md', readFileSync(join(FIXTURE_DIR, 'm1/01-l1.fr.md'), 'utf8'), 'fr').problems).toEqual([]);
  });
});

describe('near-duplicate questions', () => {
  it('are an authoring check: lessons:check refuses them, the bot still starts on the course', () => {
    const dir = course((d) => replaceIn(d, 'm2/01-l3.md', 'Who founded the market?', 'In lesson two, what colour is the flag in the story?'));
    expect(checkCourse(dir, dir).problems.map((p) => p.message)).toContainEqual(expect.stringMatching(/nearly repeats "l2-q1"/));
    expect(loadCourse(dir).lessons.get('l3')!.items.map((i) => i.question)).toContain('In lesson two, what colour is the flag in the story?');
  });

  it('are reported with the file and line of both, across lessons, in each language', () => {
    const dir = course((d) => {
      replaceIn(d, 'm2/01-l3.md', 'Who founded the market?', 'In lesson two, what colour is the flag in the story?');
      replaceIn(d, 'm2/01-l3.es.md', '¿Quién fundó el mercado?', '¿Cuántos puentes cruzan el río de la lección?');
    });
    const lenient = checkCourse(dir, { ...LENIENT, displayRoot: dir });
    expect(lenient.problems).toEqual([]);
    const en = { file: 'm2/01-l3.md', line: lineOf(dir, 'm2/01-l3.md', '## quiz l3-q4'), message: expect.stringMatching(/question of "l3-q4" nearly repeats "l2-q1" at m1\/02-l2.md:\d+ \(similarity 1.00\)/) };
    const es = { file: 'm2/01-l3.es.md', line: lineOf(dir, 'm2/01-l3.es.md', '## quiz l3-q4'), message: expect.stringMatching(/nearly repeats "l2-q4" at m1\/02-l2.es.md:\d+/) };
    expect(lenient.warnings).toContainEqual(en);
    expect(lenient.warnings).toContainEqual(es);
    const strict = checkCourse(dir, { ...STRICT, displayRoot: dir });
    expect(strict.problems).toContainEqual(en);
    expect(strict.problems).toContainEqual(es);
    expect(strict.problems).toHaveLength(2);
  });
});

describe('--stats', () => {
  /** A course whose English items have known figures. */
  function cuedCourse(): string {
    return course((d) => {
      // l1-q1: right option B and strictly the longest; l2-q1 right and longest too; a count in a stem.
      replaceIn(d, 'm1/01-l1.md', '- [ ] Wrong A\n- [x] Right B\n- [ ] Wrong C', '- [ ] Always wrong\n- [x] The right and by far longest option\n- [ ] Never C');
      replaceIn(d, 'm1/02-l2.md', '- [ ] Wrong A\n- [x] Right B\n- [ ] Wrong C', '- [ ] All of them\n- [x] Right B, the longest one\n- [ ] Wrong C');
      replaceIn(d, 'm2/01-l3.md', 'Which goods are sold at the market? (Pick all that apply.)', 'Which two goods are sold at the market? (Pick all that apply.)');
    });
  }

  it('computes the cue figures per language with their limits', () => {
    const dir = cuedCourse();
    const stats = courseStats(checkCourse(dir, dir));
    expect(stats.map((s) => s.lang)).toEqual(['en', 'fr', 'es']);
    const en = Object.fromEntries(stats[0]!.figures.map((f) => [f.name.replace(/ \(.*\)/, ''), f]));
    expect(en['near-duplicate questions']).toMatchObject({ value: '0', holds: true });
    expect(en['single-choice items whose right option is strictly the longest']).toMatchObject({ value: '2 of 6 (33%)', holds: true });
    expect(en['right-answer positions in single-choice items']).toMatchObject({ value: 'A 50%, B 50%, C 0%, D 0%', holds: false });
    // 3 of 12 wrong options carry "always", "never", "all"; none of the 12 right ones.
    expect(en['absolute words per option']).toMatchObject({ value: 'wrong options 3 of 12 (25%), right options 0 of 12 (0%)', holds: false });
    expect(en['multiple-answer stems that give the count away']).toMatchObject({ value: '1', holds: false });
    expect(en['multiple-answer stems that give the count away']!.details[0]).toMatch(/^m2\/01-l3.md:\d+: "l3-q3" says how many options are right/);
    expect(en['computed minutes per lesson']).toMatchObject({ value: 'min 2, median 2, max 2; 3 of 3 outside the aim', holds: false });
    const fr = Object.fromEntries(stats[1]!.figures.map((f) => [f.name.replace(/ \(.*\)/, ''), f]));
    expect(fr['absolute words per option']).toMatchObject({ holds: true });
    expect(fr['multiple-answer stems that give the count away']).toMatchObject({ value: '0', holds: true });
  });

  it('prints the figures with `-- --stats` and with npm_config_stats (npm run lessons:check --stats)', () => {
    const dir = cuedCourse();
    const tsx = join(process.cwd(), 'node_modules/.bin/tsx');
    const env = { ...process.env };
    delete env.npm_config_stats;
    const plain = spawnSync(tsx, ['src/content/check-cli.ts', dir], { encoding: 'utf8', env });
    expect(plain.stderr + plain.stdout).toMatch(/all valid/);
    expect(plain.status).toBe(0);
    expect(plain.stdout).not.toMatch(/right-answer positions/);
    // ... but it says which figures are over their limits.
    expect(plain.stderr).toMatch(/8 figures over the limit \(en: right-answer positions in single-choice items; en: absolute words per option; en: multiple-answer stems that give the count away; en: computed minutes per lesson; fr: .*\): npm run lessons:check -- --stats shows them/);
    for (const run of [
      spawnSync(tsx, ['src/content/check-cli.ts', dir, '--stats'], { encoding: 'utf8', env }),
      spawnSync(tsx, ['src/content/check-cli.ts', dir], { encoding: 'utf8', env: { ...env, npm_config_stats: 'true' } }),
    ]) {
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(/English \(en\): 3 lessons, 12 quiz items/);
      expect(run.stdout).toMatch(/\[OVER\] right-answer positions in single-choice items: A 50%, B 50%, C 0%, D 0% \(limit: A-D each 15% to 35%\)/);
      expect(run.stdout).toMatch(/\[ok\] single-choice items whose right option is strictly the longest: 2 of 6 \(33%\)/);
      expect(run.stdout).toMatch(/French \(fr\)/);
      expect(run.stdout).toMatch(/Spanish \(es\)/);
    }
  });
});

describe('the format documentation', () => {
  it('has a complete English example and a French translation that pass the checker, parity included', () => {
    const readme = readFileSync(join(process.cwd(), 'lessons/README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```markdown\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/ {2,}# .*$/gm, ''));
    expect(blocks).toHaveLength(2);
    const dir = join(tmp, 'readme');
    cpSync(FIXTURE_DIR, dir, { recursive: true });
    writeFileSync(join(dir, 'm2/03-egdi.md'), blocks[0]!);
    writeFileSync(join(dir, 'm2/03-egdi.fr.md'), blocks[1]!);
    const result = checkCourse(dir, { ...LENIENT, displayRoot: dir });
    expect(result.problems).toEqual([]);
    expect(result.warnings).toEqual([{ file: 'm2/03-egdi.md', line: 1, message: 'no Spanish translation: add 03-egdi.es.md beside this file' }]);
    // The shipped course is strict: the same example, without its Spanish translation, is refused.
    expect(checkCourse(dir, dir).problems).toEqual([{ file: 'm2/03-egdi.md', line: 1, message: 'no Spanish translation: add 03-egdi.es.md beside this file' }]);
    const fr = result.course!.lesson('m2-egdi', 'fr')!;
    expect(fr.takeaway).toMatch(/^L'EGDI fait la moyenne/);
    expect(fr.items.map((i) => i.id)).toEqual(['m2-egdi-q1', 'm2-egdi-q2', 'm2-egdi-q3', 'm2-egdi-q4']);
  });
});
