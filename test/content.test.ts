import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCourse, loadCourse, ContentError } from '../src/content/load.js';
import { parseLesson, LIMITS } from '../src/content/parse.js';
import { FIXTURE_DIR, LESSONS_DIR } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'digit4sd-content-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const lessonWith = (body: string, front = 'id: t1\nmodule: m1\norder: 1\ntitle: T\nsources:\n  - "S: https://example.org"') => `---\n${front}\n---\n${body}`;
const cards = '## card\n\nOne.\n\n## card\n\nTwo.\n\n## card\n\nThree.\n';
const item = (id: string, opts = '- [x] Yes\n- [ ] No', expl = '> Because.') => `\n## quiz ${id} single\n\nQuestion ${id}?\n\n${opts}\n\n${expl}\n`;
const fourItems = ['a', 'b', 'c', 'd'].map((x) => item(`t1-${x}`)).join('');

describe('a lesson file', () => {
  it('parses cards with formatting and items with their explanation', () => {
    const parsed = parseLesson('x.md', readFileSync(join(FIXTURE_DIR, 'm1/01-l1.md'), 'utf8'));
    expect(parsed.problems).toEqual([]);
    const lesson = parsed.lesson!;
    expect(lesson.cards).toHaveLength(3);
    expect(lesson.cards[0]![0]!.spans).toEqual([
      { text: 'First card of ' },
      { text: 'Lesson one', bold: true },
      { text: ' with a ' },
      { text: 'link', href: 'https://example.org/l1' },
      { text: '.' },
    ]);
    expect(lesson.cards[1]!.map((b) => b.type)).toEqual(['paragraph', 'bullet', 'bullet']);
    expect(lesson.items.map((i) => i.type)).toEqual(['single', 'truefalse', 'multiple', 'single']);
    expect(lesson.items[2]!.options.filter((o) => o.correct)).toHaveLength(2);
    expect(lesson.items[0]!.explanation).toBe('B is right because the fixture says so.');
  });

  const cases: [string, string, number, RegExp][] = [
    ['an item without a right option', lessonWith(cards + item('t1-z', '- [ ] Yes\n- [ ] No') + fourItems), 21, /no right option/],
    ['a single item with two right options', lessonWith(cards + item('t1-z', '- [x] Yes\n- [x] No') + fourItems), 21, /marks 2 right options/],
    ['a missing explanation', lessonWith(cards + item('t1-z', '- [x] Yes\n- [ ] No', '') + fourItems), 21, /no explanation/],
    ['a card too long for a phone', lessonWith(`## card\n\n${'word '.repeat(150)}\n\n` + cards + fourItems), 9, /keep it under 600/],
    ['a link that is not https', lessonWith('## card\n\nSee [this](http://example.org).\n\n' + cards + fourItems), 11, /must be a full https/],
    ['a duplicate item id', lessonWith(cards + item('t1-a') + fourItems), 30, /duplicate quiz item id "t1-a" \(first at line 21\)/],
    ['an unknown heading', lessonWith(cards + '### notes\n' + fourItems), 20, /unknown heading/],
    ['too few cards', lessonWith('## card\n\nOnly.\n' + fourItems), 9, /1 cards; it needs 3 to 6/],
    ['too few items', lessonWith(cards + item('t1-a')), 9, /1 quiz items; it needs at least 4/],
    ['a missing front matter field', lessonWith(cards + fourItems, 'id: t1\nmodule: m1\norder: 1\nsources: ["S"]'), 1, /"title" is missing/],
    ['a bad id', lessonWith(cards + fourItems, 'id: T 1!\nmodule: m1\norder: 1\ntitle: T\nsources: ["S"]'), 2, /"id" may contain only/],
    ['a malformed option', lessonWith(cards + item('t1-z', '- [x] Yes\n- No') + fourItems), 26, /an option is/],
    ['a true/false item with other options', lessonWith(cards + '\n## quiz t1-z truefalse\n\nQ?\n\n- [x] Yes\n- [ ] No\n\n> E.\n' + fourItems), 21, /exactly two options/],
  ];
  for (const [what, source, line, message] of cases) {
    it(`reports ${what} with its line`, () => {
      const { problems } = parseLesson('lessons/x.md', source);
      expect(problems.length).toBeGreaterThan(0);
      expect(problems).toContainEqual({ file: 'lessons/x.md', line, message: expect.stringMatching(message) });
    });
  }
});

describe('the course checker', () => {
  it('finds problems across files: duplicate ids and unknown modules', () => {
    const dir = join(tmp, 'dup');
    cpSync(FIXTURE_DIR, dir, { recursive: true });
    const l1 = readFileSync(join(dir, 'm1/01-l1.md'), 'utf8');
    writeFileSync(join(dir, 'm2/09-copy.md'), l1.replace('order: 1', 'order: 9'));
    writeFileSync(join(dir, 'm2/10-lost.md'), l1.replace('id: l1', 'id: lost').replace('module: m1', 'module: m9').replace(/l1-q/g, 'lost-q'));
    const { course, problems } = checkCourse(dir, dir);
    expect(course).toBeUndefined();
    expect(problems).toContainEqual({ file: 'm2/09-copy.md', line: 2, message: expect.stringMatching(/duplicate lesson id "l1"/) });
    expect(problems).toContainEqual({ file: 'm2/09-copy.md', line: 25, message: expect.stringMatching(/duplicate quiz item id "l1-q1" \(also in m1\/01-l1.md\)/) });
    expect(problems).toContainEqual({ file: 'm2/10-lost.md', line: 3, message: expect.stringMatching(/unknown module "m9"/) });
    expect(() => loadCourse(dir)).toThrow(ContentError);
  });

  it('prints file:line: problem and exits 1 on a broken course, 0 on a good one', () => {
    const dir = join(tmp, 'cli');
    cpSync(FIXTURE_DIR, dir, { recursive: true });
    writeFileSync(join(dir, 'm1/01-l1.md'), readFileSync(join(dir, 'm1/01-l1.md'), 'utf8').replace('- [x] Right B', '- [ ] Right B'));
    const tsx = join(process.cwd(), 'node_modules/.bin/tsx');
    const bad = spawnSync(tsx, ['src/content/check-cli.ts', dir], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/m1\/01-l1\.md:\d+: quiz item "l1-q1" has no right option/);
    const good = spawnSync(tsx, ['src/content/check-cli.ts', FIXTURE_DIR], { encoding: 'utf8' });
    expect(good.status).toBe(0);
    expect(good.stdout).toMatch(/2 modules, 3 lessons, 12 quiz items: all valid/);
  });
});

describe('the shipped DiGIT4SD course', () => {
  const course = loadCourse(LESSONS_DIR);

  it('has the six modules in order, at least 24 lessons and 150 quiz items', () => {
    expect(course.modules.map((m) => m.title)).toEqual([
      'Background',
      'The SDG agenda and digital government',
      'Priority targets and gaps',
      'The implementation canvas',
      'Monitoring, evaluation and audit',
      'Good-practice cases',
    ]);
    expect(course.sequence.length).toBeGreaterThanOrEqual(24);
    expect(course.items.size).toBeGreaterThanOrEqual(150);
  });

  it('gives every lesson 3 to 6 phone-sized cards, at least 4 explained items, and its sources', () => {
    for (const lesson of course.sequence) {
      expect(lesson.cards.length, lesson.id).toBeGreaterThanOrEqual(3);
      expect(lesson.cards.length, lesson.id).toBeLessThanOrEqual(6);
      expect(lesson.items.length, lesson.id).toBeGreaterThanOrEqual(4);
      expect(lesson.sources.length, lesson.id).toBeGreaterThan(0);
      for (const i of lesson.items) {
        expect(i.explanation.length, i.id).toBeGreaterThan(20);
        expect(i.options.some((o) => o.correct), i.id).toBe(true);
        expect(i.question.length, i.id).toBeLessThanOrEqual(LIMITS.questionChars);
      }
    }
  });
});
