/**
 * A workshop survives its bot being killed mid-question: the bot runs as its own process (as `npm
 * start` runs it, with a Telegram webhook), is killed with SIGKILL while a question is open and half the room has answered,
 * and started again on the same data. The question is still open, the answers given are still
 * counted, the others can answer, a participant who already answered is still refused, and the
 * reveal reaches everyone. A participant who lost their connection and joins again gets the
 * current question.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeTelegram, type TgUser } from './fakes/telegram-api.js';
import { FIXTURE_DIR } from './helpers.js';
import { ADMIN_TOKEN, waitFor } from './workshop-harness.js';

const fake = new FakeTelegram();
const WEBHOOK_SECRET = 'restart-webhook-secret';
const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-ws-restart-'));
const people: TgUser[] = [1, 2, 3, 4].map((i) => ({ id: 7000 + i, is_bot: false, first_name: `R${i}`, language_code: 'en' }));
let port = 0;
let bot: ChildProcess | undefined;
let stderr = '';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** Starts the bot as its own process (webhook mode) and waits until its Telegram channel is set up. */
async function startBot(): Promise<void> {
  const starts = fake.callsOf('setWebhook').length;
  bot = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: process.cwd(),
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      DATA_DIR: dataDir,
      LESSONS_DIR: FIXTURE_DIR,
      ADMIN_TOKEN,
      TELEGRAM_BOT_TOKEN: fake.token,
      TELEGRAM_API_ROOT: fake.apiRoot,
      TELEGRAM_BOT_USERNAME: 'digit4sd_test_bot',
      TELEGRAM_WEBHOOK_URL: 'https://bot.invalid/telegram/webhook',
      TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  bot.stderr!.on('data', (d) => (stderr += d));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, 'the bot to start', 60_000);
  // The HTTP server listens before the channels start: wait for the Telegram channel's setWebhook.
  await waitFor(() => fake.callsOf('setWebhook').length > starts, 'the bot to set its webhook', 60_000);
}

async function kill(): Promise<void> {
  const child = bot!;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

const http = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${port}${path}`, { redirect: 'manual', ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded', ...(init.headers ?? {}) } });
const act = async (id: string, action: string, index?: number) => {
  const res = await http(`/workshops/${id}/action`, { method: 'POST', body: new URLSearchParams({ action, ...(index !== undefined ? { index: String(index) } : {}) }) });
  expect(res.status).toBe(303);
};
/** Delivers an update as Telegram does in webhook mode; the bot answers once it has handled it. */
async function deliver(update: unknown): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/telegram/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': WEBHOOK_SECRET }, body: JSON.stringify(update), signal: AbortSignal.timeout(60_000) });
  await res.arrayBuffer();
  expect(res.status).toBe(200);
}
const send = (user: TgUser, text: string) => deliver(fake.message(user, text));
const questions = (u: TgUser) => fake.sentTo(u.id).filter((m) => m.message.reply_markup?.inline_keyboard.flat().some((b) => b.callback_data?.startsWith('1|w|')));

/** One board event, read from the live stream. */
async function boardNow(boardPath: string): Promise<{ phase: string; joined: number; question?: { answered: number } }> {
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}${boardPath}/events`, { signal: ac.signal });
  const reader = res.body!.getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the board stream ended');
      buffer += new TextDecoder().decode(value);
      const m = /data: (.+)\n\n/.exec(buffer);
      if (m) return JSON.parse(m[1]!);
    }
  } finally {
    ac.abort();
  }
}

beforeAll(async () => {
  await fake.start();
  port = await freePort();
}, 30_000);
afterAll(async () => {
  if (bot && bot.exitCode === null) await kill();
  await fake.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a workshop across a crash of the bot', () => {
  it('goes on where it was: the open question, its answers, the reveal', async () => {
    await startBot();
    const created = await http('/workshops', { method: 'POST', body: new URLSearchParams([['title', 'Resilient room'], ['lessons', 'l1']]) });
    expect(created.status).toBe(303);
    const id = /\/workshops\/([\w-]+)/.exec(created.headers.get('location')!)![1]!;
    const page = await (await http(`/workshops/${id}`)).text();
    const code = /class="code">([A-Z0-9]{6})</.exec(page)![1]!;
    const board = /id="board-link" href="([^"]+)"/.exec(page)![1]!;
    for (const p of people) await send(p, `/start ws-${code}`);

    await act(id, 'go', 3);
    await waitFor(() => people.every((p) => questions(p).length === 1), 'the question on every phone', 60_000);
    for (const p of people.slice(0, 2)) {
      await deliver(fake.tap(p, questions(p)[0]!, 'A'));
    }
    await waitFor(async () => (await boardNow(board)).question?.answered === 2, 'two answers on the board', 60_000);

    // Killed mid-question, then started again on the same data.
    await kill();
    await startBot();
    const after = await boardNow(board);
    expect(after).toMatchObject({ phase: 'open', joined: 4, question: { answered: 2 } });

    // The rest of the room answers; one who answered before taps again and is refused.
    for (const p of people.slice(2)) {
      await deliver(fake.tap(p, questions(p)[0]!, 'B'));
    }
    const again = fake.tap(people[0]!, questions(people[0]!)[0]!, 'C');
    await deliver(again);
    // The webhook is answered once the update is in the durable inbox; the toast follows.
    await waitFor(() => fake.callsOf('answerCallbackQuery').some((c) => c.payload.callback_query_id === again.callback_query!.id && String(c.payload.text).includes('already answered')), 'the refusal of a second answer', 60_000);
    await waitFor(async () => (await boardNow(board)).question?.answered === 4, 'four answers on the board', 60_000);

    // A participant who lost their connection joins again and gets the current question.
    await send(people[3]!, `join ${code}`);
    await waitFor(() => questions(people[3]!).length === 2, 'the current question again', 60_000);

    // The reveal reaches everyone, through the restarted bot; a crash right after a trainer's action
    // leaves the posts owed, and the restarted bot delivers them (at least once).
    await act(id, 'reveal');
    await kill();
    await startBot();
    await waitFor(() => people.every((p) => fake.sentTo(p.id).some((m) => /Right!|Not quite/.test(m.message.text ?? ''))), 'the reveal on every phone', 60_000);
    expect((await boardNow(board)).phase).toBe('revealed');
    expect(stderr).not.toMatch(/error/i);
  }, 300_000);
});
