/**
 * `npm run bench:startup`: start-up time and resident memory of the production build.
 *
 * Start-up: from `node dist/src/main.js` to the first 200 from /healthz, with the full course
 * loaded and checked (RUNS times, default 5). Memory: resident memory of the process idle after
 * start-up, and after ACTIVE learners (default 10,000) have each had a conversation with it
 * (through the Teams channel and a local fake of the Bot Framework connector, which paces nothing,
 * so that the run stays short).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, freePort, percentile, pool, record, ROOT, rssMb, startNode, stopChild, waitHttp } from './lib.js';
import { PlatformFake } from './platforms.js';

const RUNS = Number(process.env.RUNS ?? 5);
const ACTIVE = Number(process.env.ACTIVE ?? 10_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);

const fake = new PlatformFake('teams');
await fake.start();

async function boot(dataDir: string) {
  const port = await freePort();
  const t0 = performance.now();
  const child = startNode(join(ROOT, 'dist/src/main.js'), {
    PORT: String(port),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    CONSOLE: 'false',
    NODE_ENV: 'production',
    TEAMS_ENABLED: 'true',
    TEAMS_ALLOWED_SERVICE_URLS: fake.url,
  });
  await waitHttp(`http://127.0.0.1:${port}/healthz`, 30_000, child);
  return { child, port, ms: performance.now() - t0 };
}

const starts: number[] = [];
let idle = 0;
let active = 0;
const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-bench-startup-'));
try {
  for (let i = 0; i < RUNS; i++) {
    const { child, ms } = await boot(dataDir);
    starts.push(ms);
    await stopChild(child);
  }
  const { child, port } = await boot(dataDir);
  try {
    await new Promise((r) => setTimeout(r, 3000));
    idle = rssMb(child.pid!);
    let done = 0;
    await pool(
      Array.from({ length: ACTIVE }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        const conversation = `a:bench-active-${i}`;
        const first = fake.nextMessage(conversation);
        const res = await fetch(`http://127.0.0.1:${port}/api/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            type: 'message',
            id: `active-${i}`,
            timestamp: new Date().toISOString(),
            serviceUrl: fake.url,
            channelId: 'msteams',
            from: { id: `29:active-${i}`, name: `Learner ${i}` },
            conversation: { id: conversation, conversationType: 'personal', tenantId: 'bench-tenant' },
            recipient: { id: '28:bench-bot', name: 'Bench' },
            text: 'start',
            locale: 'en-US',
          }),
        });
        await res.arrayBuffer();
        await first;
        done += 1;
      },
    );
    await fake.quiet(500);
    active = rssMb(child.pid!);
    process.stdout.write(`start-up median ${fmt(percentile(starts, 50), 0)} ms; RSS idle ${fmt(idle, 0)} MB, after ${done} learners ${fmt(active, 0)} MB\n`);
  } finally {
    await stopChild(child);
  }
} finally {
  await fake.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

record(
  'startup',
  'Start-up and memory of the production build',
  `RUNS=${RUNS} ACTIVE=${ACTIVE} npm run bench:startup`,
  [
    '| measure | target | result |',
    '| --- | --- | --- |',
    `| start-up to the first /healthz 200, full course loaded (median of ${RUNS}) | < 2 s | ${fmt(percentile(starts, 50), 0)} ms (runs: ${starts.map((s) => fmt(s, 0)).join(', ')}) |`,
    `| resident memory, idle after start-up | < 150 MB | ${fmt(idle, 0)} MB |`,
    `| resident memory after ${ACTIVE.toLocaleString('en')} learners each had a conversation | | ${fmt(active, 0)} MB |`,
  ].join('\n'),
);
