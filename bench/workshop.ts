/**
 * `npm run bench:workshop`: a workshop of PARTICIPANTS people (default 300) on Telegram, through the
 * Telegram fake, on the production build in webhook mode.
 *
 * Everyone joins with the deep link (`/start ws-CODE`); the trainer opens a question from the
 * control page; every participant taps an option, the taps spread over TAP_WINDOW_MS (default
 * 3,000 ms). Measures how long the question takes to reach every phone (Telegram's own 30 messages
 * a second bound it), each tap's acknowledgement, that every answer is counted once, and how long
 * after the last tap the board (its server-sent events) shows the full count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMs, fmt, freePort, peakRssMb, percentile, record, ROOT, startNode, stopChild, waitHttp } from './lib.js';
import { PlatformFake } from './platforms.js';

const PARTICIPANTS = Number(process.env.PARTICIPANTS ?? 300);
const TAP_WINDOW_MS = Number(process.env.TAP_WINDOW_MS ?? 3000);
const TOKEN = '123456789:AAbench-token_for_the_benchmark';
const SECRET = 'bench-secret';
const ADMIN = 'bench-trainer-token-0123456789';

const fake = new PlatformFake('telegram');
await fake.start();
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-bench-workshop-'));

const questionAt = new Map<number, { at: number; data: string[] }>();
const sentTo = new Map<number, number>();
const acks = new Map<string, number[]>();
fake.onCall = (method, body, at) => {
  if (method === 'sendMessage') {
    sentTo.set(Number(body.chat_id), (sentTo.get(Number(body.chat_id)) ?? 0) + 1);
    const markup = typeof body.reply_markup === 'string' ? (JSON.parse(body.reply_markup) as { inline_keyboard?: { callback_data?: string }[][] }) : (body.reply_markup as { inline_keyboard?: { callback_data?: string }[][] } | undefined);
    const data = (markup?.inline_keyboard ?? []).flat().map((b) => b.callback_data ?? '').filter((d) => d.startsWith('1|w|'));
    if (data.length) questionAt.set(Number(body.chat_id), { at, data });
  }
  if (method === 'answerCallbackQuery') {
    const id = String(body.callback_query_id);
    acks.set(id, [...(acks.get(id) ?? []), at]);
  }
};

const child = startNode(join(ROOT, 'dist/src/main.js'), {
  PORT: String(port),
  DATA_DIR: dataDir,
  LOG_LEVEL: 'silent',
  CONSOLE: 'false',
  NODE_ENV: 'production',
  ADMIN_TOKEN: ADMIN,
  TELEGRAM_BOT_USERNAME: 'bench_bot',
  TELEGRAM_BOT_TOKEN: TOKEN,
  TELEGRAM_API_ROOT: fake.url,
  TELEGRAM_WEBHOOK_URL: 'https://bench.invalid/telegram/webhook',
  TELEGRAM_WEBHOOK_SECRET: SECRET,
});

const post = async (update: unknown): Promise<number> => {
  const res = await fetch(`${base}/telegram/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET }, body: JSON.stringify(update) });
  await res.arrayBuffer();
  return res.status;
};
const trainer = (path: string, body?: URLSearchParams) =>
  fetch(`${base}${path}`, { method: body ? 'POST' : 'GET', redirect: 'manual', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/x-www-form-urlencoded' }, ...(body ? { body } : {}) });
const person = (i: number) => ({ id: 60_000 + i, is_bot: false, first_name: `P${i}`, language_code: ['en', 'fr', 'es'][i % 3] });
const until = async (check: () => boolean, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** Follows the board's server-sent events; records when each answered count was first shown. */
function followBoard(path: string): { shown: Map<number, number>; stop: () => void } {
  const shown = new Map<number, number>();
  const ac = new AbortController();
  void (async () => {
    const res = await fetch(`${base}${path}/events`, { signal: ac.signal });
    const reader = res.body!.getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += new TextDecoder().decode(value);
      let i: number;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const data = buffer.slice(0, i).split('\n').find((l) => l.startsWith('data: '));
        buffer = buffer.slice(i + 2);
        const answered = data ? (JSON.parse(data.slice(6)) as { question?: { answered: number } }).question?.answered : undefined;
        if (answered !== undefined && !shown.has(answered)) shown.set(answered, performance.now());
      }
    }
  })();
  return { shown, stop: () => ac.abort() };
}

let failures = 0;
try {
  await waitHttp(`${base}/healthz`, 30_000, child);
  const created = await trainer('/workshops', new URLSearchParams([['title', 'Bench room'], ['lessons', 'm1-why-toolkit'], ['lang', 'en']]));
  const id = /\/workshops\/([\w-]+)/.exec(created.headers.get('location') ?? '')?.[1];
  if (!id) throw new Error(`the workshop was not created (${created.status})`);
  const page = await (await trainer(`/workshops/${id}`)).text();
  const code = /class="code">([A-Z0-9]{6})</.exec(page)![1]!;
  const board = /id="board-link" href="([^"]+)"/.exec(page)![1]!;
  const plan = [...page.matchAll(/name="index" value="(\d+)"[^]*?<\/form> (Card|Question)/g)].map((m) => ({ index: Number(m[1]), kind: m[2] }));
  const firstQuestion = plan.find((p) => p.kind === 'Question')!.index;

  const joinStart = performance.now();
  await Promise.all(
    Array.from({ length: PARTICIPANTS }, async (_, i) => {
      const text = `/start ws-${code}`;
      const status = await post({ update_id: 1 + i, message: { message_id: 1 + i, from: person(i), chat: { id: person(i).id, type: 'private', first_name: person(i).first_name }, date: Math.floor(Date.now() / 1000), text, entities: [{ type: 'bot_command', offset: 0, length: 6 }] } });
      if (status !== 200) failures += 1;
    }),
  );
  // Each join is answered with two messages (from the durable outbox, at Telegram's pace): wait for them all.
  await until(() => sentTo.size >= PARTICIPANTS && [...sentTo.values()].every((n) => n >= 2), 120_000, 'every join reply');
  const joinSeconds = (performance.now() - joinStart) / 1000;

  const follow = followBoard(board);
  const asked = performance.now();
  await trainer(`/workshops/${id}/action`, new URLSearchParams({ action: 'go', index: String(firstQuestion) }));
  await until(() => questionAt.size >= PARTICIPANTS, 120_000, 'the question on every phone');
  const fanOutSeconds = (Math.max(...[...questionAt.values()].map((q) => q.at)) - asked) / 1000;

  const cpuBefore = cpuMs(child.pid!);
  const sentAt = new Map<string, number>();
  await Promise.all(
    Array.from({ length: PARTICIPANTS }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i * TAP_WINDOW_MS) / PARTICIPANTS));
      const p = person(i);
      const q = questionAt.get(p.id)!;
      const cbq = `cbq-${i}`;
      sentAt.set(cbq, performance.now());
      const message = { message_id: 10_000 + i, from: { id: 1, is_bot: true, first_name: 'Bench' }, chat: { id: p.id, type: 'private' }, date: Math.floor(Date.now() / 1000), text: 'question' };
      const status = await post({ update_id: 10_000 + i, callback_query: { id: cbq, from: p, message, chat_instance: `ci${p.id}`, data: q.data[i % q.data.length] } });
      if (status !== 200) failures += 1;
    }),
  );
  await until(() => acks.size >= PARTICIPANTS, 60_000, 'every acknowledgement');
  const cpu = cpuMs(child.pid!) - cpuBefore;
  await until(() => follow.shown.has(PARTICIPANTS), 30_000, 'the board to show every answer');
  // From the moment the last answer was taken (its acknowledgement) to the board showing it.
  const lastAck = Math.max(...[...acks.values()].map((list) => list[0]!));
  const boardLag = follow.shown.get(PARTICIPANTS)! - lastAck;
  follow.stop();
  const latencies = [...sentAt].map(([cbq, at]) => acks.get(cbq)![0]! - at);
  const once = [...acks.values()].every((list) => list.length === 1);
  const csv = await (await trainer(`/workshops/${id}/results.csv`)).text();
  const rows = csv.trim().split('\r\n').length - 1;
  process.stdout.write(
    `workshop: ${PARTICIPANTS} joined in ${fmt(joinSeconds)} s, question on every phone in ${fmt(fanOutSeconds)} s, ack p50 ${fmt(percentile(latencies, 50), 0)} ms p99 ${fmt(percentile(latencies, 99), 0)} ms, board +${fmt(boardLag, 0)} ms after the last answer was taken, ${rows} answers counted\n`,
  );
  record(
    'workshop',
    `A workshop of ${PARTICIPANTS} participants on Telegram`,
    `PARTICIPANTS=${PARTICIPANTS} npm run bench:workshop`,
    [
      `${PARTICIPANTS} participants join by deep link, get one question, and tap within ${TAP_WINDOW_MS} ms (webhook updates through the Telegram fake, production build, embedded store).`,
      '',
      '| measure | target | result |',
      '| --- | --- | --- |',
      `| answers counted once | all | ${rows === PARTICIPANTS && once && failures === 0 ? `all ${PARTICIPANTS}` : `${rows} rows, ${failures} HTTP failures, repeated acks: ${!once}`} |`,
      `| board shows the full count, after the last answer is taken | < 1,000 ms | ${fmt(boardLag, 0)} ms |`,
      `| tap acknowledged, p50 / p99 | | ${fmt(percentile(latencies, 50), 0)} / ${fmt(percentile(latencies, 99), 0)} ms |`,
      `| question on every phone after "ask" | bound by Telegram's 30 messages/s | ${fmt(fanOutSeconds)} s |`,
      `| ${PARTICIPANTS} joins, until every join reply (two messages each) is sent | bound by Telegram's 30 messages/s | ${fmt(joinSeconds)} s |`,
      `| CPU per answer | | ${fmt(cpu / PARTICIPANTS)} ms |`,
      `| peak RSS | | ${fmt(peakRssMb(child.pid!), 0)} MB |`,
    ].join('\n'),
  );
} finally {
  await stopChild(child);
  await fake.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
