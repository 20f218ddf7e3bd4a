/**
 * `npm run lessons:check [folder] [--stats]`: checks every lesson file and its translations and
 * prints `file:line: problem` for each problem and `file:line: warning: ...` for each warning.
 * Exits 1 when there is a problem. With `--stats` (or `npm run lessons:check --stats`, which npm
 * passes as `npm_config_stats`), also prints the figures of issue 12 per language, with their limits.
 */
import { resolve } from 'node:path';
import { checkCourse, formatProblem } from './load.js';
import { courseStats, formatStats } from './stats.js';

const args = process.argv.slice(2);
const stats = args.includes('--stats') || /^(true|1|yes)$/i.test(process.env.npm_config_stats ?? '');
const unknown = args.filter((a) => a.startsWith('-') && a !== '--stats');
if (unknown.length) {
  console.error(`unknown option ${unknown.join(' ')}: use npm run lessons:check [folder] [--stats]`);
  process.exit(2);
}
const dir = resolve(args.find((a) => !a.startsWith('-')) ?? 'lessons');
const result = checkCourse(dir);
for (const w of result.warnings) console.error(formatProblem({ ...w, message: `warning: ${w.message}` }));
for (const p of result.problems) console.error(formatProblem(p));
const figures = courseStats(result);
if (stats) console.log(formatStats(figures));
else {
  // Without --stats, say which figures are over their limits, so that an author knows to look.
  const over = figures.flatMap((f) => f.figures.filter((x) => !x.holds).map((x) => `${f.lang}: ${x.name.replace(/ \([^)]*\)/, '')}`));
  if (over.length) console.error(`${over.length} figure${over.length === 1 ? '' : 's'} over the limit (${over.join('; ')}): npm run lessons:check -- --stats shows them.`);
}
const { course, problems, warnings } = result;
const warned = warnings.length ? ` (${warnings.length} warning${warnings.length === 1 ? '' : 's'})` : '';
if (!course) {
  console.error(`\n${problems.length} problem${problems.length === 1 ? '' : 's'} found in ${dir}${warned}.`);
  process.exitCode = 1;
} else {
  const items = course.sequence.reduce((n, l) => n + l.items.length, 0);
  console.log(`${course.modules.length} modules, ${course.sequence.length} lessons, ${items} quiz items: all valid${warned}.`);
}
