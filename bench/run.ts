/**
 * `npm run bench`: every benchmark under `bench/`, one after the other, each in its own process on
 * the production build; each records its section of BENCHMARKS.md. `npm run bench:<area>` runs one.
 * BENCH=channels,engine runs a selection.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './lib.js';

const AREAS = ['channels', 'engine', 'team-quiz', 'startup', 'nudges', 'dashboard', 'workshop'];
const chosen = process.env.BENCH ? process.env.BENCH.split(',').map((s) => s.trim()) : AREAS;
const started = performance.now();
let failed = 0;
for (const area of chosen) {
  if (!AREAS.includes(area)) throw new Error(`no benchmark called ${area}: choose from ${AREAS.join(', ')}`);
  process.stdout.write(`\n== bench:${area} ==\n`);
  const t0 = performance.now();
  const run = spawnSync(process.execPath, [join(ROOT, `dist/bench/${area}.js`)], { cwd: ROOT, stdio: 'inherit', env: process.env });
  const seconds = (performance.now() - t0) / 1000;
  if (run.status !== 0) failed += 1;
  process.stdout.write(`== bench:${area}: ${run.status === 0 ? 'done' : `FAILED (exit ${run.status ?? run.signal})`} in ${seconds.toFixed(0)} s ==\n`);
}
process.stdout.write(`\nAll benchmarks: ${((performance.now() - started) / 1000).toFixed(0)} s, ${failed} failed.\n`);
process.exitCode = failed ? 1 : 0;
