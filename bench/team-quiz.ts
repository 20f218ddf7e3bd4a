/**
 * `npm run bench:team-quiz`: a team quiz with MEMBERS members (default 1,000) through the Telegram
 * fake, on the production build in webhook mode.
 *
 * One member starts a one-question quiz in a group; then every member taps an option, all the taps
 * spread evenly over TAP_WINDOW_MS (default 1,000 ms). Measures the time from each tap's update to
 * its acknowledgement (answerCallbackQuery: until then the member sees a spinner), checks that
 * every tap is acknowledged exactly once, and measures how long after the question's closing time
 * (GROUP_QUESTION_SECONDS after it was posted) the reveal reaches the group.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMs, fmt, freePort, peakRssMb, percentile, record, ROOT, startNode, stopChild, waitHttp } from './lib.js';
import { PlatformFake } from './platforms.js';

const MEMBERS = Number(process.env.MEMBERS ?? 1000);
const TAP_WINDOW_MS = Number(process.env.TAP_WINDOW_MS ?? 1000);
const QUESTION_SECONDS = 10;
const TOKEN = '123456789:AAbench-token_for_the_benchmark';
const SECRET = 'bench-secret';
const GROUP = -100_999;

const fake = new PlatformFake('telegram');
await fake.start();
const port = await freePort();
const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-bench-quiz-'));
process.env.GROUP_MEMBERS = String(MEMBERS + 1);

interface Sent {
  at: number;
  text: string;
  buttons: string[];
}
const groupMessages: Sent[] = [];
const acks = new Map<string, number[]>();
fake.onCall = (method, body, at) => {
  if (method === 'sendMessage' && Number(body.chat_id) === GROUP) {
    const markup = typeof body.reply_markup === 'string' ? (JSON.parse(body.reply_markup) as { inline_keyboard?: { callback_data?: string }[][] }) : (body.reply_markup as { inline_keyboard?: { callback_data?: string }[][] } | undefined);
    groupMessages.push({ at, text: String(body.text ?? ''), buttons: (markup?.inline_keyboard ?? []).flat().map((b) => b.callback_data ?? '').filter(Boolean) });
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
  GROUP_QUESTION_SECONDS: String(QUESTION_SECONDS),
  TELEGRAM_BOT_TOKEN: TOKEN,
  TELEGRAM_API_ROOT: fake.url,
  TELEGRAM_WEBHOOK_URL: 'https://bench.invalid/telegram/webhook',
  TELEGRAM_WEBHOOK_SECRET: SECRET,
});

const post = async (update: unknown): Promise<number> => {
  const res = await fetch(`http://127.0.0.1:${port}/telegram/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
    body: JSON.stringify(update),
  });
  await res.arrayBuffer();
  return res.status;
};
const member = (i: number) => ({ id: 50_000 + i, is_bot: false, first_name: `Member ${i}`, language_code: 'en' });
const chat = { id: GROUP, type: 'supergroup', title: 'Bench team' };
const until = async (check: () => boolean, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

let failures = 0;
try {
  await waitHttp(`http://127.0.0.1:${port}/healthz`, 30_000, child);
  const text = '/quiz@bench_bot 1';
  await post({ update_id: 1, message: { message_id: 1, from: member(0), chat, date: Math.floor(Date.now() / 1000), text, entities: [{ type: 'bot_command', offset: 0, length: text.indexOf(' ') }] } });
  await until(() => groupMessages.some((m) => m.buttons.length > 0), 20_000, 'the question');
  const question = groupMessages.find((m) => m.buttons.length > 0)!;
  const questionMessage = { message_id: 2, from: { id: 1, is_bot: true, first_name: 'Bench' }, chat, date: Math.floor(Date.now() / 1000), text: question.text };
  const cpuBefore = cpuMs(child.pid!);
  const sentAt = new Map<string, number>();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: MEMBERS }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i * TAP_WINDOW_MS) / MEMBERS));
      const id = `cbq-${i}`;
      sentAt.set(id, performance.now());
      const status = await post({ update_id: 10 + i, callback_query: { id, from: member(i + 1), message: questionMessage, chat_instance: 'bench', data: question.buttons[i % question.buttons.length] } });
      if (status !== 200) failures += 1;
    }),
  );
  const tapsSeconds = (performance.now() - start) / 1000;
  await until(() => acks.size >= MEMBERS, 60_000, 'every acknowledgement');
  const cpu = cpuMs(child.pid!) - cpuBefore;
  const latencies = [...sentAt].map(([id, at]) => acks.get(id)![0]! - at);
  const once = [...acks.values()].every((list) => list.length === 1);
  const closesAt = question.at + QUESTION_SECONDS * 1000;
  await until(() => groupMessages.some((m) => m.at > question.at && m.at >= closesAt - 1000 && m.buttons.length === 0), QUESTION_SECONDS * 1000 + 30_000, 'the reveal');
  const reveal = groupMessages.find((m) => m.at > question.at && m.at >= closesAt - 1000 && m.buttons.length === 0)!;
  const revealDelay = reveal.at - closesAt;
  const counted = /(\d[\d,]*) of [\d,]+/.exec(reveal.text)?.[0] ?? '(no count found in the reveal)';
  process.stdout.write(`team quiz: ${MEMBERS} taps in ${fmt(tapsSeconds)} s, ack p50 ${fmt(percentile(latencies, 50), 0)} ms, p99 ${fmt(percentile(latencies, 99), 0)} ms, once: ${once}, reveal +${fmt(revealDelay, 0)} ms\n`);
  record(
    'team-quiz',
    `A ${MEMBERS.toLocaleString('en')}-member team quiz through the Telegram fake`,
    `MEMBERS=${MEMBERS} npm run bench:team-quiz`,
    [
      `${MEMBERS} members tap one question within ${TAP_WINDOW_MS} ms (webhook updates, production build, embedded store).`,
      '',
      '| measure | target | result |',
      '| --- | --- | --- |',
      `| taps acknowledged exactly once | all | ${once && acks.size === MEMBERS && failures === 0 ? `all ${MEMBERS}` : `${acks.size} acknowledged, ${failures} HTTP failures, repeats: ${!once}`} |`,
      `| acknowledgement p50 | | ${fmt(percentile(latencies, 50), 0)} ms |`,
      `| acknowledgement p99 | < 1,000 ms | ${fmt(percentile(latencies, 99), 0)} ms |`,
      `| reveal after the closing time | at the close | ${fmt(revealDelay, 0)} ms (${counted}) |`,
      `| CPU per tap | | ${fmt(cpu / MEMBERS)} ms |`,
      `| peak RSS | | ${fmt(peakRssMb(child.pid!), 0)} MB |`,
    ].join('\n'),
  );
} finally {
  await stopChild(child);
  await fake.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
