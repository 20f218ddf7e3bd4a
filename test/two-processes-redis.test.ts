/**
 * Two bot processes on one embedded store and one Redis (REDIS_URL, a prefix of this test's own),
 * as a ministry runs two web processes: updates reach one process or the other, the durable inbox
 * and outbox of both are woken through Redis, and a team quiz answered through both posts each
 * question, each reveal and the final scores once, and takes each question's buttons off once. On
 * Telegram each answer gets its own toast; on Teams (no private notices) each question gets one
 * running tally card, posted once and edited in place, which ends up naming everyone who answered.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { correctIndices } from '../src/content/course.js';
import { drained } from './drained.js';
import { cardOf, FakeConnector, textOf as teamsText, type ConnectorCall } from './fakes/teams-connector.js';
import { FakeTelegram, type SentMessage, type TgChat, type TgUpdate, type TgUser } from './fakes/telegram-api.js';
import { fixtureCourse } from './helpers.js';
import { startFixture, type Fixture } from './fixture-process.js';

const SECRET = 'two-redis-secret';
const redisUrl = inject('redisUrl');
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startBot(dataDir: string, settings: Record<string, string>): Promise<Fixture> {
  return startFixture('test/fixtures/durable-bot.ts', [dataDir, ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)], cleanups, 'SIGTERM');
}

const GROUP: TgChat = { id: -1005550002, type: 'supergroup', title: 'Team' };
const members: TgUser[] = [1, 2, 3].map((i) => ({ id: 8100 + i, is_bot: false, first_name: `M${i}`, language_code: 'en' }));

describe('two bot processes on one embedded store and one Redis', () => {
  it('post each tally, question, reveal and final score of a team quiz once, whichever process took the answers', async () => {
    const fake = new FakeTelegram();
    await fake.start();
    cleanups.push(() => fake.stop());
    const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-two-redis-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const settings = {
      TELEGRAM_BOT_TOKEN: fake.token,
      TELEGRAM_API_ROOT: fake.apiRoot,
      TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/tg',
      TELEGRAM_WEBHOOK_SECRET: SECRET,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: `two${randomUUID().slice(0, 8)}`,
      ROLE: 'web',
      GROUP_QUESTION_SECONDS: '10',
    };
    // One after the other: the first creates the store's tables.
    const a = await startBot(dataDir, settings);
    const b = await startBot(dataDir, settings);
    let turn = 0;
    const send = async (update: TgUpdate, to = [a, b][turn++ % 2]!) => {
      const res = await fetch(`http://127.0.0.1:${to.port}/tg`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET }, body: JSON.stringify(update) });
      await res.text();
      expect(res.status).toBe(200);
    };
    const posts = () => fake.sentTo(GROUP.id);
    const textOf = (m: SentMessage) => m.message.text ?? '';
    const itemOf = (m: SentMessage) => [...fixtureCourse().items.values()].find((i) => textOf(m).includes(i.question))!;
    const label = (m: SentMessage, option: number) => (itemOf(m).type === 'truefalse' ? (option === 0 ? 'True' : 'False') : String.fromCharCode(65 + option));
    const toasts = () => fake.callsOf('answerCallbackQuery');

    // Process A takes the command; the question is posted (by whichever process's outbox sender).
    await send(fake.message(members[0]!, '/quiz m1 2', { chat: GROUP }), a);
    await fake.until(() => posts().some((m) => /question 1 of 2/.test(textOf(m))), 10_000, 'the first question');
    const q1 = posts().find((m) => /question 1 of 2/.test(textOf(m)))!;
    const right1 = correctIndices(itemOf(q1))[0]!;
    // Answers through both processes: each member's answer is acknowledged with one toast.
    for (const [i, m] of members.entries()) await send(fake.tap(m, q1, label(q1, i === 2 ? 1 - right1 : right1)));
    await fake.until(() => toasts().length >= 3, 10_000, 'three toasts');
    // The question closes on time (10 s, both processes run the clock): one reveal, the next question once.
    await fake.until(() => posts().some((m) => /question 2 of 2/.test(textOf(m))), 20_000, 'the second question');
    const q2 = posts().find((m) => /question 2 of 2/.test(textOf(m)))!;
    // Everyone who joined answers, through both processes: it closes at once, with the final scores.
    for (const m of members) await send(fake.tap(m, q2, label(q2, correctIndices(itemOf(q2))[0]!)));
    await fake.until(() => posts().some((m) => /Team quiz over/.test(textOf(m))), 20_000, 'the final scores');
    await drained(dataDir);
    // Then nothing more comes within a bounded window.
    const seen = fake.calls.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(fake.calls.length).toBe(seen);

    const count = (re: RegExp) => posts().filter((m) => re.test(textOf(m))).length;
    expect(count(/question 1 of 2/)).toBe(1);
    expect(count(/question 2 of 2/)).toBe(1);
    expect(count(/got it right/)).toBe(2);
    expect(count(/Team quiz over/)).toBe(1);
    // One toast per answer (the tally each member sees), each for its own tap.
    const ids = toasts().map((c) => c.payload.callback_query_id);
    expect(ids).toHaveLength(6);
    expect(new Set(ids).size).toBe(6);
    // Each question's buttons taken off once, whichever process posted it.
    expect(q1.message.reply_markup).toBeUndefined();
    expect(q2.message.reply_markup).toBeUndefined();
    expect(fake.callsOf('editMessageReplyMarkup')).toHaveLength(2);
    expect(fake.problems).toEqual([]);
  }, 90_000);
});

const TENANT = 'tenant-two';
const BOT = { id: '28:bot-two', name: 'DiGIT4SD' };
const TEAMS_CHANNEL = { id: '19:team-two@thread.tacv2;messageid=1', conversationType: 'channel', tenantId: TENANT, isGroup: true };
/** Waits until `cond` holds (the fake connector has no waiter of its own). */
const until = (cond: () => boolean, timeout: number, what: string) => expect.poll(cond, { timeout, interval: 50, message: `waiting for ${what}` }).toBe(true);
const teamsMembers = [1, 2, 3, 4, 5].map((i) => ({ id: `29:m${i}`, name: `M${i}` }));

describe('two bot processes on one embedded store and one Redis, on Teams', () => {
  it('post one running tally per team-quiz question, edited in place to name everyone, and each question, reveal and final score once', async () => {
    const fake = new FakeConnector();
    await fake.start();
    cleanups.push(() => fake.stop());
    const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-two-teams-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const settings = { TEAMS_ENABLED: 'true', TEAMS_ALLOWED_SERVICE_URLS: fake.url, REDIS_URL: redisUrl, QUEUE_PREFIX: `twot${randomUUID().slice(0, 8)}`, ROLE: 'web', GROUP_QUESTION_SECONDS: '10' };
    const a = await startBot(dataDir, settings);
    const b = await startBot(dataDir, settings);
    let seq = 0;
    const activity = (from: { id: string; name: string }, extra: Record<string, unknown>) => ({
      type: 'message',
      id: `two-teams-${++seq}`,
      timestamp: new Date().toISOString(),
      serviceUrl: fake.url,
      channelId: 'msteams',
      locale: 'en-US',
      from: { ...from, aadObjectId: `aad-${from.name}` },
      recipient: BOT,
      conversation: TEAMS_CHANNEL,
      channelData: { tenant: { id: TENANT } },
      ...extra,
    });
    const send = async (body: Record<string, unknown>, to: { port: number }) => {
      const res = await fetch(`http://127.0.0.1:${to.port}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await res.text();
      expect(res.status).toBe(200);
    };
    const inChannel = () => fake.calls.filter((c) => c.conversationId === TEAMS_CHANNEL.id);
    const isTally = (c: ConnectorCall) => teamsText(c.body).startsWith('🗳️');
    const question = (n: number) => inChannel().find((c) => c.kind === 'send' && new RegExp(`question ${n} of 2`).test(teamsText(c.body)));
    const itemOf = (c: ConnectorCall) => [...fixtureCourse().items.values()].find((i) => teamsText(c.body).includes(i.question))!;
    const buttonData = (c: ConnectorCall, option: number) => {
      const card = cardOf(c.body)!;
      const inBody = card.body.flatMap((e) => (e.type === 'ActionSet' ? (e.actions as { data: { d: string } }[]) : []));
      return [...inBody, ...(card.actions ?? [])][option]!.data.d;
    };
    const tapAll = (q: ConnectorCall) =>
      Promise.all(teamsMembers.map((m, i) => send(activity(m, { value: { d: buttonData(q, correctIndices(itemOf(q))[0]!) }, replyToId: q.id }), [a, b][i % 2]!)));
    /** Each tally card as it reads now (its last send or update). */
    const tallies = () => {
      const byId = new Map<string, string>();
      for (const c of inChannel()) if (isTally(c)) byId.set(c.kind === 'update' ? c.activityId! : c.id, teamsText(c.body));
      return byId;
    };
    const everyone = (text: string | undefined) => /\(5\)/.test(text ?? '') && teamsMembers.every((m) => text!.includes(m.name));

    await send(activity(teamsMembers[0]!, { text: '<at>DiGIT4SD</at> quiz m1 2', entities: [{ type: 'mention', mentioned: BOT, text: '<at>DiGIT4SD</at>' }] }), a);
    await until(() => !!question(1), 10_000, 'the first question');
    const q1 = question(1)!;
    // Five members answer at once, through both processes; nobody has joined yet, so it closes on time.
    await tapAll(q1);
    await until(() => !!question(2), 20_000, 'the second question');
    const q2 = question(2)!;
    // Everyone who joined answers, through both processes: the last answer closes it at once.
    await tapAll(q2);
    await until(() => inChannel().some((c) => /Team quiz over/.test(teamsText(c.body))), 20_000, 'the final scores');
    await until(() => [...tallies().values()].filter(everyone).length === 2, 20_000, 'both tallies naming everyone');
    await drained(dataDir);
    const seen = fake.calls.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(fake.calls.length).toBe(seen);

    // One tally card per question, posted once; every later tally call edits one of them.
    const posted = inChannel().filter((c) => c.kind === 'send' && isTally(c));
    expect(posted).toHaveLength(2);
    const ids = new Set(posted.map((c) => c.id));
    for (const c of inChannel().filter((c) => c.kind === 'update' && isTally(c))) expect(ids.has(c.activityId!)).toBe(true);
    expect([...tallies().keys()].sort()).toEqual([...ids].sort());
    // Each question's tally went up before the next question was posted.
    expect(inChannel().indexOf(posted[0]!)).toBeLessThan(inChannel().indexOf(q2));
    const count = (re: RegExp) => inChannel().filter((c) => c.kind === 'send' && re.test(teamsText(c.body))).length;
    expect(count(/question 1 of 2/)).toBe(1);
    expect(count(/question 2 of 2/)).toBe(1);
    expect(count(/5 of 5 got it right/)).toBe(2);
    expect(count(/Team quiz over/)).toBe(1);
    // Each question's card taken off its buttons once, whichever process posted it.
    for (const q of [q1, q2]) {
      const closes = inChannel().filter((c) => c.kind === 'update' && c.activityId === q.id);
      expect(closes).toHaveLength(1);
      expect(cardOf(closes[0]!.body)?.actions ?? []).toEqual([]);
    }
    expect(fake.attempts.filter((x) => x.status !== 200)).toEqual([]);
  }, 90_000);
});

describe('the durable workers woken through Redis', () => {
  it('wakes every subscribed process once per publish, and only on this prefix', async () => {
    const { Redis } = await import('ioredis');
    const { RedisWake } = await import('../src/scheduling/wake.js');
    const prefix = `wake${randomUUID().slice(0, 8)}`;
    const heard: string[][] = [[], [], []];
    const wakes = [prefix, prefix, `${prefix}-other`].map((p) => new RedisWake(new Redis(redisUrl, { maxRetriesPerRequest: null }), p));
    cleanups.push(async () => void (await Promise.all(wakes.map((w) => w.stop()))));
    await Promise.all(wakes.map((w, i) => w.start((topic) => void heard[i]!.push(topic))));
    const publisher = new Redis(redisUrl);
    await new Promise<void>((resolve) => (publisher.status === 'ready' ? resolve() : publisher.once('ready', () => resolve())));
    cleanups.push(async () => void publisher.disconnect());
    const from = new RedisWake(publisher, prefix);
    from.publish('inbox');
    from.publish('outbox');
    await expect.poll(() => heard[1]!.length, { timeout: 5000 }).toBe(2);
    await expect.poll(() => heard[0]!.length, { timeout: 5000 }).toBe(2);
    expect(heard[0]).toEqual(['inbox', 'outbox']);
    expect(heard[1]).toEqual(['inbox', 'outbox']);
    // Another deployment's prefix hears nothing (a bounded wait after both others heard theirs).
    await new Promise((r) => setTimeout(r, 200));
    expect(heard[2]).toEqual([]);
  });
});
