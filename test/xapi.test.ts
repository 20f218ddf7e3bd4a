import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import validation from '@learninglocker/xapi-validation';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { Learner } from './certificate-driver.js';
import { FakeLrs } from './fakes/lrs.js';
import { FIXTURE_DIR, TestClock } from './helpers.js';

// The validation library is CommonJS with an ES default export: depending on the loader's interop,
// the import is the function or has it as `default`.
const loaded = validation as unknown as ((statement: unknown) => unknown[]) | { default: (statement: unknown) => unknown[] };
const validate = typeof loaded === 'function' ? loaded : loaded.default;

const dir = mkdtempSync(join(tmpdir(), 'digit4sd-xapi-'));
const lrs = new FakeLrs();
const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
let app: RunningApp | undefined;

function env(dataDir: string): Record<string, string> {
  return {
    PORT: '0',
    DATA_DIR: dataDir,
    CONSOLE: 'false',
    LOG_LEVEL: 'silent',
    PUBLIC_URL: 'https://learn.example.org',
    XAPI_ENDPOINT: lrs.endpoint,
    XAPI_USERNAME: lrs.username,
    XAPI_PASSWORD: lrs.password,
  };
}

async function start(dataDir: string): Promise<RunningApp> {
  app = await startApp({ config: loadConfig(env(dataDir)), logger: createLogger('silent'), lessonsDir: FIXTURE_DIR, now: clock.now, xapiIntervalMs: 25 });
  return app;
}

async function stop(): Promise<void> {
  await app?.stop();
  app = undefined;
}

/** Waits until the outbox is empty, then checks that nothing more arrives within a bounded window. */
async function settled(running: RunningApp): Promise<void> {
  const until = Date.now() + 5000;
  while ((await running.bot.store.xapiPending()) > 0) {
    if (Date.now() > until) throw new Error(`${await running.bot.store.xapiPending()} statements still wait to be sent`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const stored = lrs.statements.size;
  const received = [...lrs.received.values()].reduce((a, b) => a + b, 0);
  await new Promise((r) => setTimeout(r, 250));
  expect(lrs.statements.size).toBe(stored);
  expect([...lrs.received.values()].reduce((a, b) => a + b, 0)).toBe(received);
}

const statementsOf = (actor: string) => [...lrs.statements.values()].filter((s) => (s.actor as { account: { name: string } }).account.name === actor);
const actorOf = (s: Record<string, unknown>) => (s.actor as { account: { name: string } }).account.name;

beforeAll(async () => {
  await lrs.start();
});
afterAll(async () => {
  await stop();
  await lrs.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('xAPI statements', () => {
  it('sends lesson completions, answers (result and duration), reviews and certificates as valid xAPI 1.0.3 statements, with no platform id or name', async () => {
    const running = await start(join(dir, 'valid'));
    const zawadi = new Learner(running.bot, 'zawadi-42');
    await zawadi.command('start');
    await zawadi.finishLesson('l1', (i) => i !== 1);
    await zawadi.finishLesson('l2');
    await zawadi.tap((a) => a.type === 'certificate');
    await zawadi.say('Zawadi Mwangi');
    await zawadi.tap((a) => a.type === 'certificate_name' && a.ok);
    clock.advance(40 * 86_400_000);
    await zawadi.command('review');
    await zawadi.finishQuiz();
    await settled(running);

    const all = [...lrs.statements.values()];
    const verbs = all.map((s) => (s.verb as { id: string }).id);
    expect(verbs.filter((v) => v.endsWith('/completed')).length).toBe(3); // two lessons and the review
    expect(verbs.filter((v) => v.endsWith('/answered')).length).toBeGreaterThanOrEqual(8);
    expect(verbs.filter((v) => v.endsWith('/earned'))).toHaveLength(1);
    for (const s of all) {
      // The specification's rules, checked by Learning Locker's validation library...
      expect(validate(s), JSON.stringify(s)).toEqual([]);
      // ...and the parts this bot promises.
      expect(s).toMatchObject({ version: '1.0.3', context: { platform: 'DiGIT4SD Learning Bot', language: 'en' } });
      expect(s.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(s.actor).toEqual({ objectType: 'Agent', account: { homePage: 'https://learn.example.org', name: expect.stringMatching(/^[0-9a-f]{64}$/) } });
      expect(Date.parse(s.timestamp as string)).not.toBeNaN();
    }
    // The validator does find faults: a statement without its actor is refused.
    expect(validate({ ...all[0]!, actor: undefined }).length).toBeGreaterThan(0);
    // One actor for the learner; each statement arrived once.
    expect(new Set(all.map(actorOf)).size).toBe(1);
    expect([...lrs.received.values()].every((n) => n === 1)).toBe(true);
    // An answer carries its result and duration; the wrong one is a failure.
    const answers = all.filter((s) => (s.verb as { id: string }).id.endsWith('/answered'));
    const q2 = answers.find((s) => (s.object as { id: string }).id.endsWith('/items/l1-q2'))!;
    expect(q2.result).toMatchObject({ success: false, duration: expect.stringMatching(/^PT\d+(\.\d)?S$/) });
    expect(answers.filter((s) => (s.context as { extensions: Record<string, string> }).extensions['https://learn.example.org/xapi/activities/extensions/mode'] === 'review').length).toBeGreaterThan(0);
    const lesson = all.find((s) => (s.object as { id: string }).id === 'https://learn.example.org/xapi/activities/lessons/l1')!;
    expect(lesson.result).toEqual({ completion: true, score: { raw: 3, min: 0, max: 4, scaled: 0.75 } });
    // No platform id, display name or printed name anywhere.
    const text = JSON.stringify(all);
    expect(text).not.toMatch(/zawadi/i);
    expect(text).not.toContain('Mwangi');
    expect(text).not.toContain('console');
    await stop();
  });

  it('sends each statement once across a restart while the LRS was down, and never holds a learner back', async () => {
    const dataDir = join(dir, 'restart');
    lrs.goDown();
    let running = await start(dataDir);
    const before = lrs.statements.size;
    const refusedBefore = lrs.refusals;
    const amani = new Learner(running.bot, 'amani-7');
    await amani.command('start');
    // The LRS is down: the learner goes on all the same.
    await amani.finishLesson('l1');
    expect(amani.text()).toMatch(/Lesson complete: Lesson one/);
    const pending = await running.bot.store.xapiPending();
    expect(pending).toBe(5); // four answers and the lesson
    // The sender tried (and was refused) before the restart.
    const until = Date.now() + 5000;
    while (lrs.refusals === refusedBefore && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(lrs.refusals).toBeGreaterThan(refusedBefore);
    await stop();

    // The LRS is back; the bot starts again; the statements' leases run out and they go, once each.
    lrs.recover();
    clock.advance(61_000);
    running = await start(dataDir);
    await settled(running);
    expect(lrs.statements.size).toBe(before + pending);
    const mine = [...lrs.statements.keys()].slice(before);
    for (const id of mine) expect(lrs.received.get(id), id).toBe(1);
    await stop();
  });

  it('sends nothing more about a learner after /forget, and a learner who starts again is a new actor', async () => {
    const running = await start(join(dir, 'forget'));
    const kofi = new Learner(running.bot, 'kofi-9');
    await kofi.command('start');
    await kofi.finishLesson('l1');
    await settled(running);
    const first = [...lrs.statements.values()].at(-1)!;
    const actor = actorOf(first);
    const sentBefore = statementsOf(actor).length;

    // Down while the learner goes on, then /forget: what waited is never sent.
    lrs.goDown();
    await kofi.finishLesson('l2');
    expect(await running.bot.store.xapiPending()).toBeGreaterThan(0);
    await kofi.command('forget');
    await kofi.tap((a) => a.type === 'forget' && a.confirm);
    expect(await running.bot.store.xapiPending()).toBe(0);
    lrs.recover();
    clock.advance(61_000);
    await settled(running);
    expect(statementsOf(actor)).toHaveLength(sentBefore);

    // Starting over is a new learner: a new actor, not joined to the erased one.
    await kofi.command('start');
    await kofi.finishLesson('l1');
    await settled(running);
    const latest = [...lrs.statements.values()].at(-1)!;
    expect(actorOf(latest)).not.toBe(actor);
    expect(statementsOf(actor)).toHaveLength(sentBefore);
    await stop();
  });

  it('settings: an endpoint needs its credentials', () => {
    expect(() => loadConfig({ XAPI_ENDPOINT: 'https://lrs.example.org/xapi' })).toThrow(/XAPI_USERNAME: is required when XAPI_ENDPOINT is set[\s\S]*XAPI_PASSWORD: is required/);
    expect(() => loadConfig({ XAPI_ENDPOINT: 'lrs', XAPI_USERNAME: 'a', XAPI_PASSWORD: 'b' })).toThrow(/XAPI_ENDPOINT: must be an http/);
    expect(loadConfig({ XAPI_ENDPOINT: 'https://lrs.example.org/xapi', XAPI_USERNAME: 'a', XAPI_PASSWORD: 'b', PUBLIC_URL: 'https://learn.example.org' }).xapi).toEqual({
      endpoint: 'https://lrs.example.org/xapi/',
      username: 'a',
      password: 'b',
      homePage: 'https://learn.example.org',
    });
    expect(loadConfig({}).xapi).toBeUndefined();
  });
});
