/**
 * The Teams channel end to end: activities POSTed to /api/messages, handled by the real botbuilder
 * CloudAdapter (unauthenticated, as with the Emulator), answered through a local fake of the Bot
 * Connector API that the activities' serviceUrl points at.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConversationPacer, DEFAULT_RETRY, withRetry } from '../adapters/teams/delivery.js';
import { parseText, serviceUrlAllowed, toInbound } from '../adapters/teams/inbound.js';
import { createTeamsChannel, TeamsAdapter } from '../adapters/teams/index.js';
import { renderTeams } from '../adapters/teams/render.js';
import type { ChannelContext } from '../src/channel.js';
import { correctIndices } from '../src/content/course.js';
import { loadCourse } from '../src/content/load.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { PlatformError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { plain } from '../src/messages.js';
import { LearningBot } from '../src/runtime/bot.js';
import { InboxWorker } from '../src/runtime/inbox.js';
import { OutboxSender } from '../src/scheduling/outbox.js';
import { createHttpApp, listen } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { cardOf, FakeConnector, textOf, type ConnectorCall } from './fakes/teams-connector.js';

const course = loadCourse(new URL('./fixtures/course', import.meta.url).pathname);
const BOT = { id: '28:bot-id', name: 'DiGIT4SD' };
const TENANT = 'tenant-1';

let fake: FakeConnector;
let server: Server;
let botUrl: string;
let store: SqliteStore;
let bot: LearningBot;
let adapter: TeamsAdapter;
let clock: number;
let errors: { err: unknown; context: Record<string, unknown> }[];
let logLines: string[];
let seq = 0;

beforeAll(async () => {
  fake = new FakeConnector();
  await fake.start();
});
afterAll(async () => {
  await fake.stop();
});

beforeEach(async () => {
  clock = Date.parse('2026-03-02T10:00:00Z');
  errors = [];
  logLines = [];
  store = new SqliteStore(':memory:');
  const onError = (err: unknown, context: Record<string, unknown>) => errors.push({ err, context });
  const now = () => new Date(clock);
  bot = new LearningBot({ course, store, engine: DEFAULT_ENGINE_OPTIONS, group: { ...DEFAULT_GROUP_OPTIONS, questionSeconds: 10 }, onError, now });
  const http = createHttpApp([]);
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  // Pacing and retry waits run on the test's clock: no wall time passes. No app id: the local
  // fake's URL must be allowed explicitly, as the Emulator's would be.
  const ctx: ChannelContext = { port: bot, http, logger: createLogger('debug', sink), now, sleep: async (ms) => void (clock += ms) };
  adapter = createTeamsChannel({ appType: 'MultiTenant', allowedServiceUrls: [fake.url] }, ctx, { retry: { ...DEFAULT_RETRY, baseMs: 5 } }) as TeamsAdapter;
  bot.connect((address, messages) => adapter.send(address, messages), (c) => c === adapter.channel && adapter.groupTally === true);
  await adapter.start();
  server = await listen(http, 0, '127.0.0.1');
  botUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/messages`;
});

afterEach(async () => {
  await adapter.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await store.close();
  expect(errors).toEqual([]);
});

type Person = { id: string; name: string };
const ALICE: Person = { id: '29:alice', name: 'Alice' };
const BOB: Person = { id: '29:bob', name: 'Bob' };
const PERSONAL = { id: 'a:personal-alice', conversationType: 'personal', tenantId: TENANT };
const CHANNEL = { id: '19:general@thread.tacv2;messageid=1700', conversationType: 'channel', tenantId: TENANT, isGroup: true };

function activity(from: Person, conversation: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'message',
    id: `act-in-${++seq}`,
    timestamp: new Date(clock).toISOString(),
    serviceUrl: fake.url,
    channelId: 'msteams',
    locale: 'en-US',
    from: { ...from, aadObjectId: `aad-${from.name}` },
    recipient: BOT,
    conversation,
    channelData: { tenant: { id: TENANT } },
    ...extra,
  };
}

async function post(body: Record<string, unknown>): Promise<number> {
  const res = await fetch(botUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.text();
  return res.status;
}

/** Posts an activity and returns the connector calls it caused. */
async function exchange(body: Record<string, unknown>): Promise<ConnectorCall[]> {
  const from = fake.calls.length;
  expect(await post(body)).toBe(200);
  // What the runtime sends after the turn (a group's tally) is part of the exchange.
  await bot.settled();
  return fake.since(from);
}

function actions(call: ConnectorCall): { title: string; d: string }[] {
  const card = cardOf(call.body);
  const inBody = (card?.body ?? []).flatMap((e) => (e.type === 'ActionSet' ? (e.actions as { title: string; data: { d: string } }[]) : []));
  return [...inBody, ...(card?.actions ?? [])].map((a) => ({ title: a.title, d: a.data.d }));
}

function button(call: ConnectorCall, title: string | RegExp): string {
  const found = actions(call).find((a) => (typeof title === 'string' ? a.title === title : title.test(a.title)));
  if (!found) throw new Error(`no button ${String(title)} in ${JSON.stringify(actions(call))}`);
  return found.d;
}

const click = (from: Person, conversation: Record<string, unknown>, card: ConnectorCall, title: string | RegExp) =>
  exchange(activity(from, conversation, { value: { d: button(card, title) }, replyToId: card.id }));

describe('Teams personal chat', () => {
  it('runs a lesson with card submits, answers shown in place on the quiz card', async () => {
    const [welcome, ...more] = await exchange(activity(ALICE, PERSONAL, { text: 'start' }));
    expect(more).toEqual([]);
    expect(welcome!.kind).toBe('reply');
    expect(welcome!.conversationId).toBe(PERSONAL.id);
    expect(cardOf(welcome!.body)?.fallbackText).toMatch(/DiGIT4SD/);

    // Begin: the first lesson card, with formatting as TextRuns (no markdown to escape).
    let [card] = await click(ALICE, PERSONAL, welcome!, /begin/i);
    expect(textOf(card!.body)).toMatch(/Lesson one/);
    const runs = JSON.stringify(cardOf(card!.body)?.body);
    expect(runs).toContain('{"type":"TextRun","text":"Lesson one","weight":"Bolder"}');
    expect(runs).toContain('"selectAction":{"type":"Action.OpenUrl","url":"https://example.org/l1"}');
    expect(textOf(card!.body)).toMatch(/1\/3/);

    // "next" typed as a word is the /next command: it shows the current card again.
    const [again] = await exchange(activity(ALICE, PERSONAL, { text: 'next' }));
    expect(textOf(again!.body)).toMatch(/1\/3/);

    [card] = await click(ALICE, PERSONAL, card!, /next/i);
    expect(textOf(card!.body)).toMatch(/2\/3/);
    [card] = await click(ALICE, PERSONAL, card!, /next/i);
    expect(textOf(card!.body)).toMatch(/3\/3/);
    let [quiz] = await click(ALICE, PERSONAL, card!, /quiz/i);
    expect(textOf(quiz!.body)).toMatch(/l1 q1/);

    // q1 (single, right B): the feedback replaces the quiz card.
    let calls = await click(ALICE, PERSONAL, quiz!, 'B');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.kind).toBe('update');
    expect(calls[0]!.activityId).toBe(quiz!.id);
    expect(textOf(calls[0]!.body)).toMatch(/✅/);
    expect(textOf(calls[0]!.body)).toMatch(/B\. Right B/);
    [quiz] = await click(ALICE, PERSONAL, calls[0]!, /next/i);

    // q2 (true/false, right True).
    calls = await click(ALICE, PERSONAL, quiz!, 'True');
    expect(calls.map((c) => c.kind)).toEqual(['update']);
    expect(textOf(calls[0]!.body)).toMatch(/✅/);
    [quiz] = await click(ALICE, PERSONAL, calls[0]!, /next/i);

    // q3 (multiple, right A and C): ticking updates the same card, Submit grades it.
    expect(textOf(quiz!.body)).toMatch(/l1 q3/);
    calls = await click(ALICE, PERSONAL, quiz!, /A$/);
    expect(calls.map((c) => [c.kind, c.activityId])).toEqual([['update', quiz!.id]]);
    expect(textOf(calls[0]!.body)).toMatch(/☑ A\./);
    calls = await click(ALICE, PERSONAL, { ...calls[0]!, id: quiz!.id }, /C$/);
    expect(textOf(calls[0]!.body)).toMatch(/☑ C\./);
    calls = await click(ALICE, PERSONAL, { ...calls[0]!, id: quiz!.id }, /submit/i);
    expect(calls.map((c) => c.kind)).toEqual(['update']);
    expect(textOf(calls[0]!.body)).toMatch(/✅/);
    [quiz] = await click(ALICE, PERSONAL, { ...calls[0]!, id: quiz!.id }, /next/i);

    // q4 (single, right A): a wrong answer.
    calls = await click(ALICE, PERSONAL, quiz!, 'B');
    expect(textOf(calls[0]!.body)).toMatch(/❌/);
    expect(textOf(calls[0]!.body)).toMatch(/A\. Right A/);
    const [done] = await click(ALICE, PERSONAL, { ...calls[0]!, id: quiz!.id }, /score|result|next/i);
    expect(done!.kind).toBe('reply');
    expect(textOf(done!.body)).toMatch(/Lesson one/);
    expect(textOf(done!.body)).toMatch(/3.*4/);

    const record = await store.getLearner({ channel: 'teams', userId: ALICE.id });
    expect(record?.state.lessons.l1?.status).toBe('done');
    expect(record?.address).toMatchObject({ channel: 'teams', kind: 'direct', conversationId: PERSONAL.id, ref: { serviceUrl: fake.url, botId: BOT.id, tenantId: TENANT } });
  });

  it('processes a repeated activity (same id) once', async () => {
    const first = activity(ALICE, PERSONAL, { text: 'start' });
    const before = fake.calls.length;
    expect(await post(first)).toBe(200);
    expect(await post(first)).toBe(200); // Teams re-sends after 15 s without an answer
    await Promise.all([post(first), post(first)]);
    const replies = fake.since(before);
    expect(replies).toHaveLength(1);
    expect(replies[0]!.activityId).toBe(first.id);
  });

  it('says loudly that it accepts any request when no app id is set', () => {
    const warning = logLines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => /UNAUTHENTICATED/.test(l.msg));
    expect(warning?.level).toBe(40);
  });
});

describe('Teams channel quiz', () => {
  function itemOf(call: ConnectorCall) {
    const text = textOf(call.body);
    const item = [...course.items.values()].find((i) => text.includes(i.question));
    if (!item) throw new Error(`no item in ${text}`);
    return item;
  }
  const letter = (i: number) => String.fromCharCode(65 + i);
  const optionButton = (call: ConnectorCall, option: number) => {
    const item = itemOf(call);
    return item.type === 'truefalse' ? (item.options[option]!.text.toLowerCase() === 'true' ? 'True' : 'False') : letter(option);
  };

  it('runs a team quiz with an in-place answer tally, proactive closing and a leaderboard', async () => {
    const mention = { type: 'mention', mentioned: BOT, text: '<at>DiGIT4SD</at>' };
    const before = fake.calls.length;
    // The quiz's introduction and question are posts the channel is owed: sent right after the turn
    // (neither is a reply to the command), to the quiz's thread.
    const start = await exchange(activity(ALICE, CHANNEL, { text: '<at>DiGIT4SD</at> quiz 2', entities: [mention] }));
    expect(fake.since(before)).toEqual(start);
    expect(start.map((c) => [c.kind, c.conversationId])).toEqual([
      ['send', CHANNEL.id],
      ['send', CHANNEL.id],
    ]);
    expect(start[0]!.body.text).toMatch(/Team quiz: 2 questions/);
    let question = start[1]!;
    let item = itemOf(question);
    const right = correctIndices(item)[0]!;
    const wrong = item.options.findIndex((_, i) => !correctIndices(item).includes(i));

    // Alice answers right, Bob wrong: one tally message in the quiz's thread, updated in place; no option is revealed.
    const a = await click(ALICE, CHANNEL, question, optionButton(question, right));
    expect(a.map((c) => [c.kind, c.conversationId])).toEqual([['send', CHANNEL.id]]);
    expect(a[0]!.body.text).toBe('🗳️ Answered so far (1): Alice');
    // Bob's answer within the tally's spacing (2 s) waits for the group's clock, then edits the same message.
    expect(await click(BOB, CHANNEL, question, optionButton(question, wrong))).toEqual([]);
    // Clicking again is refused quietly: nothing is posted to the channel.
    expect(await click(BOB, CHANNEL, question, optionButton(question, right))).toEqual([]);
    clock += 2000;
    const before2 = fake.calls.length;
    await bot.tick();
    const b = fake.since(before2);
    expect(b.map((c) => [c.kind, c.activityId])).toEqual([['update', a[0]!.id]]);
    expect(b[0]!.body.text).toBe('🗳️ Answered so far (2): Alice, Bob');
    // The clock's next look finds nothing new: nothing is sent.
    clock += 2000;
    const before3 = fake.calls.length;
    await bot.tick();
    expect(fake.since(before3)).toEqual([]);

    // Time is up: the scheduler's delivery goes through send() to the quiz's thread.
    clock += 11_000;
    let from = fake.calls.length;
    await bot.tick();
    let sent = fake.since(from);
    // The closed question's card is updated without its buttons, then the reveal and question 2 follow.
    expect(sent.map((c) => [c.kind, c.kind === 'update' ? c.activityId : c.conversationId])).toEqual([
      ['update', question.id],
      ['send', CHANNEL.id],
      ['send', CHANNEL.id],
    ]);
    expect(cardOf(sent[0]!.body)?.actions ?? []).toEqual([]);
    expect(textOf(sent[0]!.body)).toContain(itemOf(question).question);
    sent = sent.slice(1);
    expect(textOf(sent[0]!.body)).toMatch(/Right: Alice/);
    question = sent[1]!;
    item = itemOf(question);

    // Question 2: only Alice answers, right.
    const a2 = await click(ALICE, CHANNEL, question, optionButton(question, correctIndices(item)[0]!));
    expect(a2[0]!.body.text).toBe('🗳️ Answered so far (1): Alice');
    clock += 11_000;
    from = fake.calls.length;
    await bot.tick();
    sent = fake.since(from);
    expect(sent[0]).toMatchObject({ kind: 'update', activityId: question.id });
    expect(textOf(sent[sent.length - 1]!.body)).toMatch(/Team quiz over/);

    // The leaderboard belongs to the channel: asked from another thread, it has the scores.
    const otherThread = { ...CHANNEL, id: '19:general@thread.tacv2;messageid=1800' };
    const [board] = await exchange(activity(BOB, otherThread, { text: '<at>DiGIT4SD</at> leaderboard', entities: [mention] }));
    expect(board!.conversationId).toBe(otherThread.id);
    const lines = textOf(board!.body);
    expect(lines.indexOf('Alice')).toBeGreaterThan(-1);
    expect(lines.indexOf('Alice')).toBeLessThan(lines.indexOf('Bob'));
  });
});

describe('Teams proactive sends', () => {
  it('reminds a learner through the saved reference, retrying 429 and 502', async () => {
    await exchange(activity(ALICE, PERSONAL, { text: 'start' }));
    const address = (await store.getLearner({ channel: 'teams', userId: ALICE.id }))!.address;
    fake.failNext({ status: 429, retryAfter: '0' }, { status: 502 });
    const attempts = fake.attempts.length;
    const from = fake.calls.length;
    await adapter.send(address, [{ kind: 'text', text: plain('Time for your next lesson'), choices: [{ label: 'Continue', data: '1|r' }] }]);
    expect(fake.attempts.slice(attempts).map((a) => a.status)).toEqual([429, 502, 200]);
    const [reminder, ...rest] = fake.since(from);
    expect(rest).toEqual([]);
    expect(reminder).toMatchObject({ kind: 'send', conversationId: PERSONAL.id });
    expect(cardOf(reminder!.body)?.fallbackText).toMatch(/Time for your next lesson/);
    expect(actions(reminder!)).toEqual([{ title: 'Continue', d: '1|r' }]);
  });

  it('translates refusals into PlatformError: 403 is unreachable at once, 504 gives up after bounded retries', async () => {
    await exchange(activity(ALICE, PERSONAL, { text: 'start' }));
    const address = (await store.getLearner({ channel: 'teams', userId: ALICE.id }))!.address;
    const message = [{ kind: 'notice' as const, text: 'hello', reason: 'info' as const }];

    let attempts = fake.attempts.length;
    fake.failNext({ status: 403 });
    const gone = await adapter.send(address, message).then(() => undefined, (e: unknown) => e);
    expect(gone).toBeInstanceOf(PlatformError);
    expect(gone).toMatchObject({ platform: 'teams', status: 403, unreachable: true, retryable: false });
    expect(fake.attempts.length - attempts).toBe(1);

    attempts = fake.attempts.length;
    fake.failNext({ status: 504 }, { status: 504 }, { status: 504 }, { status: 504 });
    const busy = await adapter.send(address, message).then(() => undefined, (e: unknown) => e);
    expect(busy).toMatchObject({ status: 504, unreachable: false, retryable: true });
    // Exactly our four attempts: the SDK's own retry policy is not stacked under ours.
    expect(fake.attempts.length - attempts).toBe(DEFAULT_RETRY.attempts);

    await expect(adapter.send({ channel: 'teams', conversationId: 'x', kind: 'direct' }, message)).rejects.toMatchObject({ unreachable: true });
  });
});

describe('Teams with the durable inbox and outbox', () => {
  it('acknowledges an activity once it is in the inbox, replies proactively from the outbox, updates the pressed card, and applies a redelivery once', async () => {
    const inbox = new InboxWorker({ bot, store, onError: bot.report });
    const outbox = new OutboxSender({ store, channel: () => adapter, onError: bot.report, now: bot.now });
    bot.enableDurable(() => inbox.kick(), () => outbox.kick());
    const settle = async () => {
      for (let i = 0; i < 3; i++) {
        await inbox.idle();
        await outbox.idle();
      }
    };
    try {
      const start = activity(ALICE, PERSONAL, { text: 'start' });
      const from = fake.calls.length;
      expect(await post(start)).toBe(200);
      await settle();
      const [welcome, ...more] = fake.since(from);
      expect(more).toEqual([]);
      expect(welcome).toMatchObject({ kind: 'send', conversationId: PERSONAL.id });
      expect(cardOf(welcome!.body)?.fallbackText).toMatch(/DiGIT4SD/);
      // The Bot Framework redelivers the same activity: nothing is applied or sent twice.
      const again = fake.calls.length;
      expect(await post(start)).toBe(200);
      await settle();
      expect(fake.since(again)).toEqual([]);
      // A button on the card: the reply comes from the outbox too.
      const beforeTap = fake.calls.length;
      expect(await post(activity(ALICE, PERSONAL, { value: { d: button(welcome!, /begin/i) }, replyToId: welcome!.id }))).toBe(200);
      await settle();
      expect(textOf(fake.since(beforeTap).at(-1)!.body)).toMatch(/Lesson one/);
    } finally {
      await inbox.stop();
      await outbox.stop();
    }
  });
});

describe('Teams authentication', () => {
  it('rejects a request without a valid token when an app id is set', async () => {
    const http = createHttpApp([]);
    const onError = (err: unknown, context: Record<string, unknown>) => errors.push({ err, context });
    createTeamsChannel({ appType: 'MultiTenant', appId: '00000000-0000-0000-0000-000000000001', appPassword: 'secret' }, { port: bot, http, logger: createLogger('silent'), now: () => new Date(clock) });
    const secured = await listen(http, 0, '127.0.0.1');
    try {
      const before = fake.calls.length;
      const res = await fetch(`http://127.0.0.1:${(secured.address() as AddressInfo).port}/api/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(activity(ALICE, PERSONAL, { text: 'start' })),
      });
      expect(res.status).toBe(401);
      expect(fake.since(before)).toEqual([]);
      // A forged token: 401 with nothing in the body (the SDK's own handling answered 500 with the error's text).
      const forged = await fetch(`http://127.0.0.1:${(secured.address() as AddressInfo).port}/api/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJpc3MiOiJodHRwczovL2FwaS5ib3RmcmFtZXdvcmsuY29tIn0.c2ln' },
        body: JSON.stringify(activity(ALICE, PERSONAL, { text: 'start' })),
      });
      expect(forged.status).toBe(401);
      expect(await forged.text()).toBe('');
      // No token at all: refused before the body is read, so a body that is not JSON is not even parsed.
      const unparsed = await fetch(`http://127.0.0.1:${(secured.address() as AddressInfo).port}/api/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"text": "Amina Diallo wrote this", broken',
      });
      expect(unparsed.status).toBe(401);
      expect(await unparsed.text()).toBe('');
      expect(fake.since(before)).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => secured.close(() => resolve()));
    }
  });

  it('without an app id, replies only to Bot Framework service URLs (and those allowed by TEAMS_ALLOWED_SERVICE_URLS)', async () => {
    const before = fake.calls.length;
    const elsewhere = await fetch(botUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(activity(ALICE, PERSONAL, { text: 'start', serviceUrl: 'http://127.0.0.1:9/attacker' })),
    });
    expect(elsewhere.status).toBe(403);
    expect(await elsewhere.text()).toBe('');
    expect(await store.getLearner({ channel: 'teams', userId: ALICE.id })).toBeNull();
    expect(fake.since(before)).toEqual([]);
    expect(logLines.join('')).toMatch(/service URL not allowed/);
    // A body that is not JSON: 400, nothing of it in the logs.
    const broken = await fetch(botUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text": "Amina Diallo wrote this", broken' });
    expect(broken.status).toBe(400);
    expect(await broken.text()).toBe('Bad Request');
    expect(logLines.join('')).not.toContain('Amina');

    expect(serviceUrlAllowed('https://smba.trafficmanager.net/amer/', [])).toBe(true);
    expect(serviceUrlAllowed('https://europe.webchat.botframework.com/', [])).toBe(true);
    expect(serviceUrlAllowed('https://smba.infra.gcc.teams.microsoft.com/', [])).toBe(true);
    expect(serviceUrlAllowed('https://smba.infra.dod.teams.microsoft.us/', [])).toBe(true);
    expect(serviceUrlAllowed('http://smba.trafficmanager.net/amer/', [])).toBe(false);
    expect(serviceUrlAllowed('https://botframework.com.attacker.example/', [])).toBe(false);
    expect(serviceUrlAllowed('https://attacker.example/smba.trafficmanager.net', [])).toBe(false);
    expect(serviceUrlAllowed('http://localhost:3978/', ['http://localhost:3978'])).toBe(true);
    expect(serviceUrlAllowed('http://localhost:3978/x/y', ['http://localhost:3978/x'])).toBe(true);
    expect(serviceUrlAllowed('http://localhost:3978/xy', ['http://localhost:3978/x'])).toBe(false);
    expect(serviceUrlAllowed('http://localhost:3979/', ['http://localhost:3978'])).toBe(false);
    expect(serviceUrlAllowed('http://localhost:49706/', ['http://localhost:*'])).toBe(true);
    expect(serviceUrlAllowed('http://localhost.attacker.example:49706/', ['http://localhost:*'])).toBe(false);
    expect(serviceUrlAllowed('https://user:pw@smba.trafficmanager.net/', [])).toBe(false);
    expect(serviceUrlAllowed(undefined, [])).toBe(false);
  });
});

describe('Teams pieces', () => {
  it('maps text to commands after stripping the bot mention, and card submits to choices', () => {
    expect(parseText('next')).toEqual({ type: 'command', command: 'next', args: '' });
    expect(parseText('/quiz m1 3')).toEqual({ type: 'command', command: 'quiz', args: 'm1 3' });
    expect(parseText('b')).toEqual({ type: 'text', text: 'b' });
    const now = new Date(clock);
    const inbound = toInbound(
      { type: 'message', id: '9', serviceUrl: 'https://smba.example', from: { id: 'u', name: 'U' }, recipient: BOT, conversation: { id: 'c', conversationType: 'groupChat' }, text: '<at>DiGIT4SD</at> quiz 3', entities: [{ type: 'mention', mentioned: BOT, text: '<at>DiGIT4SD</at>' }] },
      now,
    );
    expect(inbound).toMatchObject({ id: 'teams-9', address: { kind: 'group', conversationId: 'c' }, event: { type: 'command', command: 'quiz', args: '3' } });
    const submit = toInbound({ type: 'message', id: '10', serviceUrl: 'https://smba.example', from: { id: 'u' }, recipient: BOT, conversation: { id: 'c', conversationType: 'personal' }, value: { d: '1|m' } }, now);
    expect(submit).toMatchObject({ address: { kind: 'direct' }, event: { type: 'choice', data: '1|m' } });
  });

  it('renders plain-text fallbacks and keeps a big data export under the message size limit', () => {
    const [simple] = renderTeams({ kind: 'text', text: plain('Hello') });
    expect(simple).toEqual({ type: 'message', text: 'Hello', textFormat: 'plain' });
    const [card] = renderTeams({ kind: 'card', lessonTitle: 'T', index: 1, total: 2, body: plain('Body'), choices: [{ label: 'Next', data: '1|n|l1|0' }] });
    expect(card!.summary).toMatch(/T \(1\/2\)/);
    expect(card!.attachments![0]!.content.fallbackText).toMatch(/Body[\s\S]*\[Next\]/);
    const parts = renderTeams({ kind: 'data', filename: 'd.json', json: JSON.stringify({ x: 'y'.repeat(50_000) }) });
    expect(parts.length).toBe(3);
    for (const p of parts) expect(Buffer.byteLength(p.text!)).toBeLessThan(25_000);
  });

  it('paces sends under the per-conversation limits and retries only what Microsoft says to retry', async () => {
    let now = 0;
    const pacer = new ConversationPacer(() => now, async (ms) => void (now += ms));
    for (let i = 0; i < 7; i++) await pacer.run('c', async () => undefined);
    expect(pacer.delayFor('c')).toBe(1000);
    expect(pacer.delayFor('other')).toBe(0);
    await pacer.run('c', async () => undefined);
    expect(now).toBe(1000);
    expect(pacer.delayFor('c')).toBe(1000); // 8 in 2 s

    let calls = 0;
    const fail = (status: number) => async () => {
      calls++;
      throw Object.assign(new Error('x'), { statusCode: status });
    };
    const fast = { ...DEFAULT_RETRY, baseMs: 1 };
    await expect(withRetry('m', fail(412), fast)).rejects.toMatchObject({ status: 412 });
    expect(calls).toBe(4);
    calls = 0;
    await expect(withRetry('m', fail(400), fast)).rejects.toMatchObject({ status: 400, retryable: false });
    expect(calls).toBe(1);
    calls = 0;
    await expect(withRetry('m', fail(429), { ...fast, maxMs: 10 }).catch((e: PlatformError) => e)).resolves.toMatchObject({ status: 429 });
  });
});
