/**
 * `npm run bench:dashboard` (on the production build): how fast the dashboard's aggregations are at scale on the embedded
 * store. Seeds LEARNERS learners (default 100,000) over the last 180 days with the dashboard seed
 * (lessons started and completed, answers, reviews with predicted recall, reminders, team quizzes)
 * into a SQLite file through the store contract, then times every read the pages make, for the
 * last 30 days and for the whole 180 days, unfiltered and filtered by channel and by country.
 *
 * DATA_DIR (default /dev/shm when it exists, else the system's temporary folder) holds the file:
 * seeding 100,000 commits with synchronous=FULL on a spinning or network disk takes long, and the
 * timed reads run from the page cache either way. RUNS (default 3) timed runs per read; the table
 * shows the median.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCourse } from '../src/content/load.js';
import type { DashboardFilter } from '../src/store/dashboard.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { buildPage, PAGES } from '../src/web/pages.js';
import { seedDashboard } from '../scripts/dashboard-seed.js';
import { record, ROOT } from './lib.js';

const LEARNERS = Number(process.env.LEARNERS ?? 100_000);
const RUNS = Number(process.env.RUNS ?? 3);
const root = process.env.DATA_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
const dir = mkdtempSync(join(root, 'digit4sd-bench-dashboard-'));
const DAY = 86_400_000;

async function time<T>(fn: () => Promise<T>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function main(): Promise<void> {
  const course = loadCourse(join(ROOT, 'lessons'));
  const path = join(dir, 'bench.sqlite');
  const store = new SqliteStore(path);
  const now = new Date(Math.floor(Date.now() / DAY) * DAY + 12 * 3_600_000);
  const from = new Date(now.getTime() - 180 * DAY);
  console.log(`Seeding ${LEARNERS.toLocaleString('en')} learners into ${path} ...`);
  const t0 = Date.now();
  const { records } = await seedDashboard(store, course, {
    learners: LEARNERS,
    from,
    now,
    seed: 1,
    teamGroups: 20,
    progress: (n) => n % 10_000 === 0 && process.stdout.write(`  ${n.toLocaleString('en')} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`),
  });
  const seconds = (Date.now() - t0) / 1000;
  const size = statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
  console.log(`Seeded ${LEARNERS.toLocaleString('en')} learners and ${records.toLocaleString('en')} activity records in ${seconds.toFixed(0)} s (${(size / 1e6).toFixed(0)} MB on disk).`);

  const last30: DashboardFilter = { from: new Date(now.getTime() - 30 * DAY), to: new Date(now.getTime() + DAY) };
  const all: DashboardFilter = { from, to: new Date(now.getTime() + DAY) };
  const filters: [string, DashboardFilter][] = [
    ['30 days', last30],
    ['180 days', all],
    ['180 days, telegram', { ...all, channel: 'telegram' }],
    ['180 days, country NP', { ...all, country: 'NP' }],
  ];
  const silentSince = new Date(now.getTime() - 7 * DAY);
  const reads: [string, (f: DashboardFilter) => Promise<unknown>][] = [
    ['learnerCounts', (f) => store.learnerCounts(f)],
    ['activityByPeriod day', (f) => store.activityByPeriod(f, 'day')],
    ['activityByPeriod week', (f) => store.activityByPeriod(f, 'week')],
    ['lessonFunnel', (f) => store.lessonFunnel(f)],
    ['stopPoints', (f) => store.stopPoints(f, silentSince)],
    ['itemStats', (f) => store.itemStats(f)],
    ['recallLog', (f) => store.recallLog(f)],
    ['nudgeStats', (f) => store.nudgeStats(f)],
    ['teamQuizzes', (f) => store.teamQuizzes(f)],
  ];
  const header = ['read', ...filters.map(([name]) => name)];
  const rows: string[][] = [];
  for (const [name, read] of reads) {
    const cells = [name];
    for (const [, f] of filters) cells.push(`${(await time(() => read(f))).toFixed(0)} ms`);
    rows.push(cells);
    console.log(cells.join('  |  '));
  }
  const pages: string[] = [];
  for (const page of PAGES) {
    const ms = await time(() => buildPage(page, { store, course, filter: last30, lang: 'en', now }));
    pages.push(`${page} ${ms.toFixed(0)} ms`);
  }
  const table = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  record(
    'dashboard',
    'Dashboard reads at 100,000 learners',
    'npm run bench:dashboard',
    `${LEARNERS.toLocaleString('en')} learners, ${records.toLocaleString('en')} activity records over 180 days (seeded in ${seconds.toFixed(0)} s, ${(size / 1e6).toFixed(0)} MB); median of ${RUNS} runs per read.\n\n${table}\n\nWhole pages, last 30 days: ${pages.join(', ')}.`,
  );
  await store.close();
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
