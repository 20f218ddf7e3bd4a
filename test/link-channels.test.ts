/**
 * One person across channels, through the real adapters and SDKs against the local fakes: a
 * Telegram learner (grammY, webhook) and a Slack learner (Bolt, signed events) linked with a code.
 */
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackChannel, type SlackAdapter } from '../adapters/slack/index.js';
import { createTelegramChannel, type TelegramAdapter } from '../adapters/telegram/index.js';
import { correctIndices } from '../src/content/course.js';
import { decodeAction, encodeAction } from '../src/engine/actions.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { betterLesson, mergeCards, mergeStates } from '../src/engine/link.js';
import { newLearnerState, type ReviewCard } from '../src/engine/state.js';
import type { LearnerKey } from '../src/messages.js';
import { LearningBot } from '../src/runtime/bot.js';
import { createHttpApp, listen } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { FakeSlackApi } from './fakes/slack-api.js';
import { FakeTelegram, type SentMessage, type TgUser } from './fakes/telegram-api.js';
import { TestClock, fixtureCourse } from './helpers.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIssuerKey } from '../src/certificates/issuer.js';
import { CertificateService } from '../src/certificates/service.js';
import { Learner } from './certificate-driver.js';

const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
const TG_USER: TgUser = { id: 4242, is_bot: false, first_name: 'Ana', language_code: 'en' };
const TG_SECRET = 'link_secret-1';
const SLACK_SECRET = 'link-signing-secret';
const SLACK_USER = 'U77';
const SLACK_DM = `D${SLACK_USER}`;
const tgKey: LearnerKey = { channel: 'telegram', userId: String(TG_USER.id) };
const slackKey: LearnerKey = { channel: 'slack', userId: SLACK_USER };

const store = new SqliteStore(':memory:');
const errors: unknown[] = [];
const keyDir = mkdtempSync(join(tmpdir(), 'digit4sd-link-'));
const certificates = new CertificateService({ name: 'DiGIT4SD Test Programme', publicUrl: 'https://learn.example.org' }, await loadIssuerKey({ dataDir: keyDir }));
const bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, now: clock.now, onError: (err) => errors.push(err), certificates });
const telegram = new FakeTelegram();
const slack = new FakeSlackApi();
let tg: TelegramAdapter;
let sl: SlackAdapter;
let server: Server;
let base = '';

beforeAll(async () => {
  await telegram.start();
  await slack.start();
  slack.users.set(SLACK_USER, { id: SLACK_USER, name: 'ana', displayName: 'Ana', locale: 'en-US' });
  const http = createHttpApp([]);
  const ctx = { port: bot, http, logger: pino({ level: 'silent' }), now: clock.now };
  tg = createTelegramChannel({ token: telegram.token, apiRoot: telegram.apiRoot, webhookUrl: 'https://bot.example.org/telegram/hook', webhookSecret: TG_SECRET }, ctx, {
    throttle: { global: {}, group: { maxConcurrent: 1 }, out: { maxConcurrent: 1 } },
    retry: { attempts: 3, baseMs: 5 },
  });
  sl = createSlackChannel({ botToken: 'xoxb-test-token', signingSecret: SLACK_SECRET, command: '/digit4sd', apiUrl: slack.apiUrl, processBeforeResponse: true, retry: { attempts: 3, baseMs: 5 } }, ctx);
  server = await listen(http, 0, '127.0.0.1');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await tg.start();
  await sl.start();
});
afterAll(async () => {
  await tg.stop();
  await sl.stop();
  await new Promise<void>((r) => server.close(() => r()));
  await telegram.stop();
  await slack.stop();
  await store.close();
  rmSync(keyDir, { recursive: true, force: true });
});

// ---- Telegram: updates to the webhook; what the learner sees is what the fake was sent ----------

async function tgUpdate(update: unknown): Promise<SentMessage[]> {
  const from = telegram.sent.length;
  const res = await fetch(`${base}/telegram/hook`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': TG_SECRET }, body: JSON.stringify(update) });
  await res.text();
  expect(res.status).toBe(200);
  return telegram.sent.slice(from).filter((m) => m.chatId === TG_USER.id);
}
const tgSay = (text: string) => tgUpdate(telegram.message(TG_USER, text));
const tgText = (sent: SentMessage[]) => sent.map((m) => m.message.text ?? '').join('\n');

/** The latest message (sent or edited) with a button whose action matches, and that button's data. */
function tgButton(match: (data: string) => boolean): { message: SentMessage; data: string } {
  for (const m of [...telegram.sent].reverse()) {
    if (m.chatId !== TG_USER.id) continue;
    const b = m.message.reply_markup?.inline_keyboard.flat().find((x) => match(x.callback_data));
    if (b) return { message: m, data: b.callback_data };
  }
  throw new Error('no such button');
}
const tgTap = (match: (data: string) => boolean) => {
  const { message, data } = tgButton(match);
  return tgUpdate(telegram.tap(TG_USER, message, data));
};
const isAction = (type: string) => (data: string) => decodeAction(data)?.type === type;

/** Takes a lesson on Telegram, every answer right. */
async function tgLesson(lessonId: string): Promise<void> {
  const lesson = fixtureCourse().lessons.get(lessonId)!;
  await tgSay(`/start ${lessonId}`);
  for (let guard = 0; guard < 60; guard++) {
    const state = (await store.getLearner(await store.resolveAccount(tgKey)))!.state;
    const p = state.position;
    if (p.kind === 'idle') return;
    if (p.kind === 'card') await tgTap(isAction('next_card'));
    else if (p.answered) await tgTap(isAction('continue'));
    else {
      const item = lesson.items.find((i) => i.id === p.itemIds[p.index])!;
      const right = correctIndices(item);
      if (item.type === 'multiple') {
        for (const option of right) await tgTap((d) => d === encodeAction({ type: 'answer', itemId: item.id, option }));
        await tgTap(isAction('submit'));
      } else await tgTap((d) => d === encodeAction({ type: 'answer', itemId: item.id, option: right[0]! }));
    }
  }
  throw new Error('the lesson did not end');
}

// ---- Slack: signed Events API callbacks for a direct message ------------------------------------

let slackSeq = 0;
async function slackSay(text: string): Promise<string> {
  const from = slack.calls.length;
  const n = ++slackSeq;
  const ts = `${1772442000 + n}.${String(n).padStart(6, '0')}`;
  const body = JSON.stringify({
    token: 'legacy',
    team_id: 'T0001',
    api_app_id: 'A0001',
    event: { type: 'message', channel: SLACK_DM, user: SLACK_USER, text, ts, event_ts: ts, channel_type: 'im', team: 'T0001' },
    type: 'event_callback',
    event_id: `EvLink${n}`,
    event_time: 1772442000 + n,
    authorizations: [{ enterprise_id: null, team_id: 'T0001', user_id: 'UBOT', is_bot: true, is_enterprise_install: false }],
  });
  const now = Math.floor(Date.now() / 1000);
  const signature = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${now}:${body}`).digest('hex')}`;
  const res = await fetch(`${base}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-slack-request-timestamp': String(now), 'x-slack-signature': signature }, body });
  await res.text();
  expect(res.status).toBe(200);
  return slack
    .calls.slice(from)
    .filter((c) => c.method === 'chat.postMessage' && c.args.channel === SLACK_DM)
    .map((c) => JSON.stringify(c.args.blocks ?? c.args.text))
    .join('\n');
}

const personOf = async (key: LearnerKey) => (await store.getLearner(await store.resolveAccount(key)))?.state ?? null;

describe('one person across channels', () => {
  it('links a Telegram learner and a Slack learner: lessons done on one are done on the other, a review due on one is due on the other; /unlink separates them; /forget on one erases both', async () => {
    // Each starts on their own channel; Telegram's learner takes lesson one.
    await tgSay('/start');
    await tgLesson('l1');
    await slackSay('start');
    expect((await personOf(slackKey))!.lessons.l1).toBeUndefined();

    // The code from Telegram, typed on Slack.
    const reply = tgText(await tgSay('/link'));
    const code = /link ([A-Z0-9]{6})/.exec(reply)![1]!;
    expect(reply).toMatch(/within 10 minutes/);
    expect(await slackSay(`link ${code}`)).toMatch(/Linked: your lessons, reviews and reminders are now one on Telegram, Slack/);
    // Used once: the same code again is refused.
    expect(await slackSay(`link ${code}`)).toMatch(/already linked|unknown or has expired/);

    // Lessons done on Telegram show as done on Slack, in the progress Slack shows.
    expect(await store.resolveAccount(slackKey)).toEqual(tgKey);
    expect((await personOf(slackKey))!.lessons.l1).toMatchObject({ status: 'done' });
    expect(await slackSay('progress')).toMatch(/Lessons finished: 1 of 3/);
    // A review due on one is due on the other.
    clock.advance(40 * 86_400_000);
    const dueOnSlack = await slackSay('review');
    const dueOnTelegram = tgText(await tgSay('/review'));
    expect(dueOnSlack).toMatch(/4 items to review/);
    expect(dueOnTelegram).toMatch(/4 items to review/);
    expect(await store.getLearner(slackKey)).toBeNull(); // one record: the person's

    // /unlink on Slack: it leaves with a copy, and goes on separately.
    expect(await slackSay('unlink')).toMatch(/Unlinked: this account keeps a copy of your progress/);
    expect(await store.resolveAccount(slackKey)).toEqual(slackKey);
    expect((await personOf(slackKey))!.lessons.l1).toMatchObject({ status: 'done' });
    await tgSay('/lang fr');
    expect((await personOf(slackKey))!.lang).toBe('en');
    expect((await personOf(tgKey))!.lang).toBe('fr');

    // Linked again (a new code), then /forget on Slack erases both accounts.
    const again = /link ([A-Z0-9]{6})/.exec(tgText(await tgSay('/link')))![1]!;
    await slackSay(`link ${again}`);
    expect(await store.resolveAccount(slackKey)).toEqual(tgKey);
    await slackSay('forget');
    const yes = slack.calls.filter((c) => c.method === 'chat.postMessage' && c.args.channel === SLACK_DM).at(-1)!;
    expect(JSON.stringify(yes.args.blocks)).toMatch(/Oui, tout effacer|Yes, erase everything/);
    // The confirmation is a button: tapped through Bolt as Slack sends it.
    await slackTapForgetYes(yes.args.blocks as SlackBlock[], String(yes.result.ts));
    expect(await store.getLearner(tgKey)).toBeNull();
    expect(await store.getLearner(slackKey)).toBeNull();
    expect(await store.resolveAccount(slackKey)).toEqual(slackKey);
    expect(await store.linkedAccounts(tgKey)).toEqual([]);
    expect(errors).toEqual([]);
  });
});

describe('certificates through the channels', () => {
  it('sends the PDF as a document on Telegram, and again as a file on a linked Slack account', async () => {
    await tgSay('/start');
    await tgLesson('l1');
    await tgLesson('l2');
    await tgTap(isAction('certificate'));
    await tgSay('Ana Pereira da Silva');
    const sent = await tgTap((d) => d === encodeAction({ type: 'certificate_name', ok: true }));
    const doc = sent.find((m) => m.document)!.document!;
    expect(doc.filename).toMatch(/^digit4sd-certificate-module-m1-[0-9a-f]{8}\.pdf$/);
    expect(doc.bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(doc.caption).toMatch(/awarded to Ana Pereira da Silva\. Check it at https:\/\/learn\.example\.org\/verify\/[0-9a-f-]{36}/);

    const code = /link ([A-Z0-9]{6})/.exec(tgText(await tgSay('/link')))![1]!;
    await slackSay('start');
    await slackSay(`link ${code}`);
    const uploads = slack.uploads.size;
    expect(await slackSay('certificate')).toMatch(/Here is your certificate for DiGIT4SD toolkit, module 1: Basics again/);
    expect(slack.uploads.size).toBe(uploads + 1);
    const file = [...slack.uploads.values()].at(-1)!;
    expect(file.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const complete = slack.calls.filter((c) => c.method === 'files.completeUploadExternal').at(-1)!;
    expect(String(complete.args.initial_comment)).toContain('Ana Pereira da Silva');
    expect(errors).toEqual([]);
  });
});

interface SlackBlock {
  type: string;
  elements?: { action_id?: string; value?: string; text?: { text: string } }[];
}

async function slackTapForgetYes(blocks: SlackBlock[], messageTs: string): Promise<void> {
  const button = blocks.filter((b) => b.type === 'actions').flatMap((b) => b.elements ?? []).find((e) => decodeAction(e.value ?? '')?.type === 'forget' && (decodeAction(e.value!) as { confirm: boolean }).confirm)!;
  const payload = {
    type: 'block_actions',
    user: { id: SLACK_USER, username: 'ana', name: 'ana', team_id: 'T0001' },
    api_app_id: 'A0001',
    token: 'legacy',
    container: { type: 'message', message_ts: messageTs, channel_id: SLACK_DM, is_ephemeral: false },
    trigger_id: 'trig-forget',
    team: { id: 'T0001', domain: 'test' },
    channel: { id: SLACK_DM, name: 'directmessage' },
    message: { type: 'message', user: 'UBOT', ts: messageTs, text: '', blocks },
    state: { values: {} },
    response_url: slack.responseUrl('forget'),
    actions: [{ action_id: button.action_id, block_id: 'b1', text: { type: 'plain_text', text: button.text!.text }, value: button.value, type: 'button', action_ts: '1772443000.000001' }],
  };
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const now = Math.floor(Date.now() / 1000);
  const signature = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${now}:${body}`).digest('hex')}`;
  const res = await fetch(`${base}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(now), 'x-slack-signature': signature }, body });
  await res.text();
  expect(res.status).toBe(200);
}

describe('merging two learners who both have progress', () => {
  it('through the runtime: both accounts\' lessons and review histories end up in the person', async () => {
    const own = new SqliteStore(':memory:');
    const runtime = new LearningBot({ course: fixtureCourse(), store: own, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, now: clock.now, onError: (err) => { throw err; } });
    const a = new Learner(runtime, 'ta', { channel: 'telegram' });
    const b = new Learner(runtime, 'sb', { channel: 'slack' });
    await a.command('start');
    await a.finishLesson('l1', (i) => i !== 0);
    await b.command('start');
    await b.finishLesson('l1');
    await b.finishLesson('l3');
    const seenBefore = (await own.getLearner({ channel: 'telegram', userId: 'ta' }))!.state.reviews['l1-q1']!.seen + (await own.getLearner({ channel: 'slack', userId: 'sb' }))!.state.reviews['l1-q1']!.seen;
    const code = /link ([A-Z0-9]{6})/.exec(a.text(await a.command('link')))![1]!;
    expect(b.text(await b.say(`link ${code}`))).toMatch(/Linked/);
    const person = (await own.getLearner({ channel: 'telegram', userId: 'ta' }))!.state;
    // l1: the Slack account's 4 of 4 beats Telegram's 3 of 4; l3 came from Slack only.
    expect(person.lessons.l1).toMatchObject({ status: 'done', lastScore: { correct: 4, total: 4 } });
    expect(person.lessons.l3).toMatchObject({ status: 'done' });
    expect(person.reviews['l1-q1']!.seen).toBe(seenBefore);
    expect(Object.keys(person.reviews)).toEqual(expect.arrayContaining(['l1-q1', 'l1-q4', 'l3-q1']));
    // Either account now reads the same person.
    expect(await runtime.peek({ channel: 'slack', userId: 'sb' })).toEqual(person);
    await own.close();
  });

  const card = (over: Partial<ReviewCard>): ReviewCard => ({ due: '2026-03-05T09:00:00.000Z', stability: 3, difficulty: 5, elapsed_days: 0, scheduled_days: 3, learning_steps: 0, reps: 1, lapses: 0, state: 2, seen: 1, right: 1, ...over });

  it('keeps the better of each lesson and every review card\'s history', () => {
    const a = newLearnerState(new Date('2026-03-01T09:00:00Z'), 'fr');
    const b = newLearnerState(new Date('2026-02-01T09:00:00Z'), 'en');
    a.lessons = {
      l1: { status: 'done', lastScore: { correct: 2, total: 4 }, firstScore: { correct: 2, total: 4 }, completedAt: '2026-03-01T10:00:00.000Z' },
      l2: { status: 'in_progress' },
    };
    b.lessons = {
      l1: { status: 'done', lastScore: { correct: 4, total: 4 }, firstScore: { correct: 3, total: 4 }, completedAt: '2026-03-02T10:00:00.000Z' },
      l2: { status: 'done', lastScore: { correct: 1, total: 3 }, completedAt: '2026-03-02T11:00:00.000Z' },
      l3: { status: 'in_progress' },
    };
    a.reviews = { 'l1-q1': card({ seen: 2, right: 1, reps: 2, lapses: 1, last_review: '2026-03-01T10:00:00.000Z', due: '2026-03-02T10:00:00.000Z' }), 'l1-q2': card({}) };
    b.reviews = { 'l1-q1': card({ seen: 3, right: 3, reps: 3, last_review: '2026-03-02T10:00:00.000Z', due: '2026-03-12T10:00:00.000Z', stability: 9 }), 'l3-q1': card({ seen: 1, right: 0 }) };
    const merged = mergeStates(a, b);
    // The better of each lesson: the higher score; done beats started; one side only is kept.
    expect(merged.lessons.l1).toMatchObject({ status: 'done', lastScore: { correct: 4, total: 4 }, firstScore: { correct: 2, total: 4 } });
    expect(merged.lessons.l2).toMatchObject({ status: 'done', lastScore: { correct: 1, total: 3 } });
    expect(merged.lessons.l3).toEqual({ status: 'in_progress' });
    // Every card's history: answers add up; the schedule follows the latest review.
    expect(merged.reviews['l1-q1']).toMatchObject({ seen: 5, right: 4, reps: 5, lapses: 1, stability: 9, due: '2026-03-12T10:00:00.000Z', last_review: '2026-03-02T10:00:00.000Z' });
    expect(merged.reviews['l1-q2']).toEqual(a.reviews['l1-q2']);
    expect(merged.reviews['l3-q1']).toEqual(b.reviews['l3-q1']);
    // The person's own settings stay.
    expect(merged.lang).toBe('fr');
    expect(merged.createdAt).toBe(a.createdAt);
    expect(betterLesson(undefined, undefined)).toBeUndefined();
    expect(mergeCards(undefined, card({}))).toEqual(card({}));
  });
});
