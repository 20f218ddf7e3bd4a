/**
 * Faults an operator makes or meets, on the real bot process (`node --import tsx src/main.ts`):
 * Redis away at start-up and going away later, an unusable DATA_DIR, a Slack bot token Slack refuses,
 * and SIGTERM in those states.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FakeSlackApi } from './fakes/slack-api.js';
import { answers } from './redis-server.js';

const tmp = mkdtempSync(join(tmpdir(), 'digit4sd-faults-'));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}

/** Waits for `cond`, checking every 50 ms, failing after `ms`. */
async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

/** Starts the bot; its output is collected line by line. */
function startBot(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (out.stdout += d));
  child.stderr!.on('data', (d) => (out.stderr += d));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
  return { child, out, lines: () => (out.stdout + out.stderr).split('\n').filter(Boolean) };
}

function startRedis(port: number): ChildProcess {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
  return child;
}

/** GET /readyz: its status and how long it took. */
async function readyz(port: number): Promise<{ status: number; ms: number; body: string }> {
  const started = Date.now();
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, ms: Date.now() - started, body: await res.text() };
}

describe('Redis away', () => {
  it('at start-up and later: one log line naming REDIS_URL each time, /readyz 503 within 2 s, quiet reconnects, and SIGTERM ends the process within 10 s', async () => {
    const [redisPort, port] = [await freePort(), await freePort()];
    const bot = startBot({ REDIS_URL: `redis://127.0.0.1:${redisPort}`, DATA_DIR: join(tmp, 'redis'), PORT: String(port), ROLE: 'worker', QUEUE_PREFIX: `faults-${process.pid}` });
    await until(() => bot.out.stdout.includes('HTTP server listening'), 20_000, 'the HTTP server');
    await until(() => bot.out.stdout.includes('REDIS_URL'), 5_000, 'the Redis log line');
    const down = await readyz(port);
    expect(down.status).toBe(503);
    expect(down.ms).toBeLessThan(2000);
    expect(JSON.parse(down.body)).toMatchObject({ checks: { store: 'ok', redis: expect.stringMatching(/^failing/) } });

    // Redis comes up: the bot reconnects by itself.
    const redis = startRedis(redisPort);
    await until(async () => (await readyz(port)).status === 200, 15_000, '/readyz 200 once Redis is up');
    await until(() => bot.out.stdout.includes('Redis answers again'), 5_000, 'the "answers again" line');

    // Redis goes away while the bot runs.
    redis.kill('SIGKILL');
    await exited(redis);
    await until(async () => {
      const r = await readyz(port);
      expect(r.ms).toBeLessThan(2000);
      return r.status === 503;
    }, 5_000, '/readyz 503 after Redis died');
    // Several reconnect attempts happen meanwhile (ioredis retries within a second or two).
    await new Promise((r) => setTimeout(r, 3000));

    const lines = bot.lines();
    // Every line is one structured JSON log line (no "[ioredis] Unhandled error event", no stack dumps)...
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    // ...and Redis being away is said once per outage, naming REDIS_URL and the fix.
    const outages = lines.filter((l) => l.includes('Redis does not answer at REDIS_URL'));
    expect(outages).toHaveLength(2);
    expect(outages[0]).toMatch(/Fix: start Redis there, or set REDIS_URL/);

    const signalled = Date.now();
    bot.child.kill('SIGTERM');
    await exited(bot.child);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(await answers(`redis://127.0.0.1:${redisPort}`)).toBe(false);
  }, 60_000);
});

describe('SIGTERM', () => {
  it('ends the process within 10 s while it still waits for a Redis that never came', async () => {
    const [redisPort, port] = [await freePort(), await freePort()];
    const bot = startBot({ REDIS_URL: `redis://127.0.0.1:${redisPort}`, DATA_DIR: join(tmp, 'never'), PORT: String(port), CONSOLE: 'false', QUEUE_PREFIX: `faults-${process.pid}-b` });
    await until(() => bot.out.stdout.includes('REDIS_URL'), 20_000, 'the Redis log line');
    const signalled = Date.now();
    bot.child.kill('SIGTERM');
    await exited(bot.child);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(bot.out.stdout).toMatch(/shutting down/);
  }, 40_000);
});

describe('DATA_DIR unusable', () => {
  const file = join(tmp, 'a-file');
  writeFileSync(file, 'not a folder');
  it.each([
    ['a file', file, /DATA_DIR: is a file, not a folder/],
    ['a folder inside a file', join(file, 'data'), /DATA_DIR: is inside .*a-file, which is a file, not a folder/],
    ['under /proc', '/proc/digit4sd-data', /DATA_DIR: is on a system file system/],
    ['a database file that is not a database', join(tmp, 'garbage'), /DATA_DIR: holds .*digit4sd\.sqlite, which cannot be used as the bot's database \(SQLITE_NOTADB\)/],
  ])('%s: a message naming DATA_DIR and the fix, exit code 2', async (_what, dir, message) => {
    if (dir.endsWith('garbage')) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'digit4sd.sqlite'), 'x'.repeat(4096));
    }
    const bot = startBot({ DATA_DIR: dir, PORT: '0', CONSOLE: 'false', TEAMS_ENABLED: 'true' });
    const code = await Promise.race([exited(bot.child), new Promise<string>((r) => setTimeout(() => r('still running after 20 s'), 20_000))]);
    expect(code).toBe(2);
    expect(bot.out.stderr).toMatch(message);
    expect(bot.out.stderr).toMatch(/Fix: set DATA_DIR to a folder this process can write to/);
    expect(bot.out.stderr).not.toMatch(/\n\s+at /);
  }, 30_000);
});

describe('SLACK_BOT_TOKEN refused by Slack', () => {
  it.each(['all', 'worker'])('ROLE=%s: one message naming SLACK_BOT_TOKEN and the fix, never the token, and exit code 2 before the server listens', async (role) => {
    const fake = new FakeSlackApi();
    await fake.start();
    cleanups.push(() => fake.stop());
    const token = 'xoxb-revoked-0123456789-abcdefSECRET';
    const bot = startBot({ SLACK_BOT_TOKEN: token, SLACK_SIGNING_SECRET: 'signing-secret-SECRET', SLACK_API_URL: fake.apiUrl, DATA_DIR: join(tmp, `slack-${role}`), PORT: '0', ROLE: role });
    const code = await Promise.race([exited(bot.child), new Promise<string>((r) => setTimeout(() => r('still running after 20 s'), 20_000))]);
    expect(code).toBe(2);
    // Slack was asked once (auth.test with that token), and refused it.
    expect(fake.attempts).toEqual([{ method: 'auth.test', outcome: 'invalid_auth', at: expect.any(Number) }]);
    expect(bot.out.stderr).toMatch(/SLACK_BOT_TOKEN: Slack refuses the bot token \(invalid_auth\)\. Fix: set SLACK_BOT_TOKEN to the app's Bot User OAuth Token \(xoxb-\.\.\.\)/);
    expect(bot.out.stderr).not.toMatch(/\n\s+at /);
    expect(bot.out.stdout + bot.out.stderr).not.toContain('SECRET');
    expect(bot.out.stdout).not.toContain('HTTP server listening');
  }, 30_000);
});
