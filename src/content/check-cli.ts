/**
 * `npm run lessons:check [folder]`: checks every lesson file and prints `file:line: problem` for each
 * problem. Exits 1 when there is any.
 */
import { resolve } from 'node:path';
import { checkCourse, formatProblem } from './load.js';

const dir = resolve(process.argv[2] ?? 'lessons');
const { course, problems } = checkCourse(dir);
if (!course) {
  for (const p of problems) console.error(formatProblem(p));
  console.error(`\n${problems.length} problem${problems.length === 1 ? '' : 's'} found in ${dir}.`);
  process.exitCode = 1;
} else {
  const items = course.sequence.reduce((n, l) => n + l.items.length, 0);
  console.log(`${course.modules.length} modules, ${course.sequence.length} lessons, ${items} quiz items: all valid.`);
}
