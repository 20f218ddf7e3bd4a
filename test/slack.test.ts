/**
 * The Slack channel end to end: signed HTTP requests with payloads shaped as Slack documents them
 * (Events API callbacks, block_actions, slash commands) against the running Bolt app on the shared
 * HTTP server, and a local fake of the Web API driven by the real Slack SDK.
 */
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSlackChannel, SlackAdapter, type SlackSettings } from '../adapters/slack/index.js';
import { parseCommandText, parseDirectText } from '../adapters/slack/adapter.js';
import { escapeMrkdwn, homeView, renderMessage, richToMrkdwn, slackCommands } from '../adapters/slack/render.js';
import { correctIndices } from '../src/content/course.js';
import { loadCourse } from '../src/content/load.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS, leaderboardMessage, scoreTable } from '../src/engine/group.js';
import { PlatformError } from '../src/errors.js';
import { LearningBot } from '../src/runtime/bot.js';
import { InboxWorker } from '../src/runtime/inbox.js';
import { OutboxSender } from '../src/scheduling/outbox.js';
import { createHttpApp, listen } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { FakeSlackApi, type SlackCall } from './fakes/slack-api.js';

const SECRET = 'test-signing-secret';
const TOKEN = 'xoxb-test-token';
const course = loadCourse(fileURLToPath(new URL('./fixtures/course', import.meta.url)));

interface Harness {
  fake: FakeSlackApi;
  bot: LearningBot;
  adapter: SlackAdapter;
  server: Server;
  base: string;
  errors: { err: unknown; context: Record<string, unknown> }[];
  clock: { ms: number };
}

let h: Harness;

async function setup(extra: Partial<SlackSettings> = {}, durable?: (bot: LearningBot) => void): Promise<Harness> {
  const fake = new FakeSlackApi();
  await fake.start();
  fake.users.set('U1', { id: 'U1', name: 'ana', displayName: 'Ana', locale: 'en-US' });
  fake.users.set('U2', { id: 'U2', name: 'ben', displayName: 'Ben', locale: 'en-GB' });
  fake.users.set('U3', { id: 'U3', name: 'chloe', displayName: 'Chloé', locale: 'en-US' });
  const clock = { ms: Date.parse('2026-03-02T09:00:00Z') };
  const now = () => new Date(clock.ms);
  const errors: Harness['errors'] = [];
  const onError = (err: unknown, context: Record<string, unknown>) => errors.push({ err, context });
  const bot = new LearningBot({
    course,
    store: new SqliteStore(':memory:'),
    engine: DEFAULT_ENGINE_OPTIONS,
    group: { ...DEFAULT_GROUP_OPTIONS, questionSeconds: 30 },
    onError,
    now,
  });
  durable?.(bot);
  const http = createHttpApp([]);
  const logger = pino({ level: 'silent' });
  const adapter = createSlackChannel(
    {
      botToken: TOKEN,
      signingSecret: SECRET,
      command: '/digit4sd',
      apiUrl: fake.apiUrl,
      processBeforeResponse: true,
      retry: { attempts: 3, baseMs: 10, maxMs: 5000 },
      ...extra,
    },
    // Waits between retries run on the test's clock: no wall time passes.
    { port: bot, http, logger, now, sleep: async (ms) => void (clock.ms += ms) },
  ) as SlackAdapter;
  bot.connect((address, messages) => adapter.send(address, messages));
  const server = await listen(http, 0, '127.0.0.1');
  await adapter.start();
  return { fake, bot, adapter, server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, errors, clock };
}

async function teardown(x: Harness): Promise<void> {
  await x.adapter.stop();
  await new Promise<void>((resolve) => x.server.close(() => resolve()));
  await x.fake.stop();
  await x.bot.store.close();
}

function signature(body: string, ts: number, secret = SECRET): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
}

async function signedPost(body: string, contentType: string, opts: { ts?: number; secret?: string; headers?: Record<string, string> } = {}): Promise<Response> {
  const ts = opts.ts ?? Math.floor(Date.now() / 1000);
  return fetch(`${h.base}/slack/events`, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': signature(body, ts, opts.secret),
      ...opts.headers,
    },
    body,
  });
}

let eventSeq = 0;

/** An Events API callback for a direct message, as Slack sends it. */
function dmEvent(user: string, text: string, eventId = `Ev${++eventSeq}`): Record<string, unknown> {
  const ts = `${1772442000 + eventSeq}.000${eventSeq}`;
  return {
    token: 'legacy-verification-token',
    team_id: 'T0001',
    api_app_id: 'A0001',
    event: { type: 'message', channel: `D${user}`, user, text, ts, event_ts: ts, channel_type: 'im', team: 'T0001' },
    type: 'event_callback',
    event_id: eventId,
    event_time: 1772442000 + eventSeq,
    authorizations: [{ enterprise_id: null, team_id: 'T0001', user_id: 'UBOT', is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
    event_context: '4-eyJldCI6Im1lc3NhZ2UifQ',
  };
}

async function sendEvent(payload: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return signedPost(JSON.stringify(payload), 'application/json', { headers });
}

interface Posted {
  channel: string;
  ts: string;
  blocks: { type: string; elements?: { action_id?: string; value?: string; text?: { text: string } | string; type?: string }[]; text?: { text: string } }[];
  text: string;
}

function posted(call: SlackCall): Posted {
  return {
    channel: String(call.args.channel),
    ts: String(call.method === 'chat.update' ? call.args.ts : call.result.ts),
    blocks: (call.args.blocks ?? []) as Posted['blocks'],
    text: String(call.args.text ?? ''),
  };
}

/** Everything a message shows, blocks included, as one string. */
function shown(p: { blocks: Posted['blocks'] }): string {
  return JSON.stringify(p.blocks);
}

function buttons(p: { blocks: Posted['blocks'] }): { actionId: string; value: string; label: string }[] {
  return p.blocks
    .filter((b) => b.type === 'actions')
    .flatMap((b) => b.elements ?? [])
    .map((e) => ({ actionId: e.action_id!, value: e.value!, label: typeof e.text === 'string' ? e.text : e.text!.text }));
}

function lastPost(channel?: string): Posted {
  const calls = h.fake.of('chat.postMessage').filter((c) => !channel || c.args.channel === channel);
  expect(calls.length).toBeGreaterThan(0);
  return posted(calls.at(-1)!);
}

let actionSeq = 0;

/** A block_actions interaction for a button on a message, as Slack sends it (form-encoded `payload`). */
function blockAction(user: string, message: Posted, button: { actionId: string; value: string }, actionTs = `${1772443000 + ++actionSeq}.${String(actionSeq).padStart(6, '0')}`): Record<string, unknown> {
  const isDm = message.channel.startsWith('D');
  return {
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: 'T0001' },
    api_app_id: 'A0001',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: message.ts, channel_id: message.channel, is_ephemeral: false },
    trigger_id: `trig-${actionSeq}`,
    team: { id: 'T0001', domain: 'test' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: message.channel, name: isDm ? 'directmessage' : 'team-learning' },
    message: { type: 'message', user: 'UBOT', ts: message.ts, bot_id: 'BBOT', text: message.text, blocks: message.blocks },
    state: { values: {} },
    response_url: h.fake.responseUrl(`act-${actionSeq}`),
    actions: [{ action_id: button.actionId, block_id: 'b1', text: { type: 'plain_text', text: 'x', emoji: true }, value: button.value, type: 'button', action_ts: actionTs }],
  };
}

async function sendAction(payload: Record<string, unknown>): Promise<Response> {
  const res = await signedPost(`payload=${encodeURIComponent(JSON.stringify(payload))}`, 'application/x-www-form-urlencoded');
  expect(res.status).toBe(200);
  return res;
}

async function click(user: string, message: Posted, label: RegExp | string): Promise<void> {
  const b = buttons(message).find((x) => (typeof label === 'string' ? x.label === label : label.test(x.label)));
  if (!b) throw new Error(`no button ${label} on the message; buttons: ${buttons(message).map((x) => x.label).join(', ')}`);
  await sendAction(blockAction(user, message, b));
}

let commandSeq = 0;

/** A slash command invocation, as Slack sends it (form-encoded fields). */
async function slash(user: string, channel: string, text: string): Promise<Response> {
  commandSeq++;
  const body = new URLSearchParams({
    token: 'legacy-verification-token',
    team_id: 'T0001',
    team_domain: 'test',
    channel_id: channel,
    channel_name: channel.startsWith('D') ? 'directmessage' : 'team-learning',
    user_id: user,
    user_name: user.toLowerCase(),
    command: '/digit4sd',
    text,
    api_app_id: 'A0001',
    is_enterprise_install: 'false',
    response_url: h.fake.responseUrl(`cmd-${commandSeq}`),
    trigger_id: `cmd-trigger-${commandSeq}`,
  }).toString();
  const res = await signedPost(body, 'application/x-www-form-urlencoded');
  expect(res.status).toBe(200);
  return res;
}

describe('Slack channel over HTTP', () => {
  beforeEach(async () => {
    h = await setup();
  });
  afterEach(async () => {
    await teardown(h);
    expect(h.errors.map((e) => e.context)).toEqual([]);
  });

  it('answers Slack URL verification', async () => {
    const res = await sendEvent({ token: 'x', challenge: 'c-123', type: 'url_verification' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ challenge: 'c-123' });
  });

  it('rejects a wrong or stale signature with 401 and processes nothing', async () => {
    const body = JSON.stringify(dmEvent('U1', 'hello'));
    const wrong = await signedPost(body, 'application/json', { secret: 'not-the-secret' });
    expect(wrong.status).toBe(401);
    const stale = await signedPost(body, 'application/json', { ts: Math.floor(Date.now() / 1000) - 10 * 60 });
    expect(stale.status).toBe(401);
    const unsigned = await fetch(`${h.base}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(unsigned.status).toBe(401);
    // The bot's token may have been checked with auth.test; nothing else may have been called.
    expect(h.fake.calls.filter((c) => c.method !== 'auth.test')).toEqual([]);
    expect(await h.bot.store.getLearner({ channel: 'slack', userId: 'U1' })).toBeNull();
  });

  it('teaches a lesson in a direct message, editing answered questions in place', async () => {
    await sendEvent(dmEvent('U1', 'hello'));
    const welcome = lastPost('DU1');
    expect(welcome.text).toContain('Welcome to DiGIT4SD Learning');
    expect(h.fake.of('users.info')[0]!.args).toMatchObject({ user: 'U1', include_locale: 'true' });

    await click('U1', welcome, 'Begin module 1');
    let card = lastPost('DU1');
    expect(shown(card)).toContain('Lesson one');
    expect(shown(card)).toContain('1/3');
    // Rich text as mrkdwn: bold and the link.
    expect(shown(card)).toContain('*Lesson one*');
    expect(shown(card)).toContain('<https://example.org/l1|link>');
    await click('U1', card, 'Next');
    card = lastPost('DU1');
    expect(shown(card)).toContain('2/3');
    await click('U1', card, 'Next');
    card = lastPost('DU1');
    expect(shown(card)).toContain('_last_');
    await click('U1', card, 'Start the quiz');

    // q1: single, right answer B.
    const q1 = lastPost('DU1');
    expect(shown(q1)).toContain('Which option is right in l1 q1?');
    expect(buttons(q1).map((b) => b.label)).toEqual(['A', 'B', 'C']);
    const postsBefore = h.fake.of('chat.postMessage').length;
    await click('U1', q1, 'B');
    expect(h.fake.of('chat.postMessage').length).toBe(postsBefore);
    const answered = posted(h.fake.of('chat.update').at(-1)!);
    expect(answered.ts).toBe(q1.ts);
    expect(answered.channel).toBe('DU1');
    expect(shown(answered)).toContain('Which option is right in l1 q1?');
    expect(shown(answered)).toContain('*B.* Right B ✅');
    expect(shown(answered)).toContain('B is right because the fixture says so.');
    expect(answered.text).toContain('✅');

    await click('U1', answered, 'Next question');
    const q2 = lastPost('DU1');
    expect(buttons(q2).map((b) => b.label)).toEqual(['True', 'False']);
    await click('U1', q2, 'True');
    await click('U1', posted(h.fake.of('chat.update').at(-1)!), 'Next question');

    // q3: multiple, A and C: ticking redraws the question in place.
    const q3 = lastPost('DU1');
    expect(shown(q3)).toContain('☐ *A.*');
    await click('U1', q3, /A$/);
    const ticked = posted(h.fake.of('chat.update').at(-1)!);
    expect(ticked.ts).toBe(q3.ts);
    expect(shown(ticked)).toContain('☑ *A.*');
    await click('U1', ticked, /C$/);
    const ticked2 = posted(h.fake.of('chat.update').at(-1)!);
    expect(shown(ticked2)).toContain('☑ *C.*');
    await click('U1', ticked2, 'Submit answer');
    const q3done = posted(h.fake.of('chat.update').at(-1)!);
    expect(shown(q3done)).toContain('A and C are right');
    await click('U1', q3done, 'Next question');

    const q4 = lastPost('DU1');
    await click('U1', q4, 'B'); // wrong
    const q4done = posted(h.fake.of('chat.update').at(-1)!);
    expect(shown(q4done)).toContain('❌');
    await click('U1', q4done, 'See my score');
    const done = lastPost('DU1');
    expect(done.text).toMatch(/Lesson one/);
    expect(buttons(done).some((b) => /Lesson two/.test(b.label))).toBe(true);

    const record = await h.bot.store.getLearner({ channel: 'slack', userId: 'U1' });
    expect(record!.state.lessons.l1).toMatchObject({ status: 'done', lastScore: { correct: 3, total: 4 } });
    expect(record!.address).toMatchObject({ channel: 'slack', conversationId: 'DU1', kind: 'direct' });
    expect(record!.state.displayName).toBe('Ana');

    // App Home: progress per module, items due, reminder settings, Continue.
    await sendEvent({
      token: 'x',
      team_id: 'T0001',
      api_app_id: 'A0001',
      type: 'event_callback',
      event_id: 'EvHome1',
      event_time: 1772442999,
      event: { type: 'app_home_opened', user: 'U1', channel: 'DU1', tab: 'home', event_ts: '1772442999.000100' },
    });
    const home = h.fake.of('views.publish').at(-1)!;
    expect(home.args.user_id).toBe('U1');
    const view = home.args.view as { type: string; blocks: Posted['blocks'] };
    expect(view.type).toBe('home');
    expect(shown(view)).toContain('Basics');
    expect(shown(view)).toContain('1/2');
    expect(shown(view)).toContain('Reviews due now');
    expect(shown(view)).toContain('Reminder: off');
    expect(buttons(view).map((b) => b.label)).toContain('Continue');

    // Continue from the Home tab: the lesson goes on in the direct message.
    const cont = buttons(view).find((b) => b.label === 'Continue')!;
    const payload = blockAction('U1', { channel: 'DU1', ts: '', blocks: [], text: '' }, cont);
    payload.container = { type: 'view', view_id: 'V0001' };
    delete payload.channel;
    delete payload.message;
    payload.view = { id: 'V0001', type: 'home', blocks: view.blocks };
    await sendAction(payload);
    expect(shown(lastPost('DU1'))).toContain('Lesson two');
    expect(h.fake.of('views.publish').length).toBe(2);
  });

  it('maps direct-message words to commands, and slash commands in a DM to the learner', async () => {
    await sendEvent(dmEvent('U1', 'hello'));
    await sendEvent(dmEvent('U1', 'remind 08:30'));
    const record = await h.bot.store.getLearner({ channel: 'slack', userId: 'U1' });
    expect(record!.state.nudges.remindAt).toBe('08:30');
    await sendEvent(dmEvent('U1', 'progress'));
    const progress = lastPost('DU1');
    expect(progress.blocks[0]).toMatchObject({ type: 'header' });
    expect(shown(progress)).toContain('Basics');
    // The engine's "/next" hints read as Slack words in a DM.
    expect(shown(progress)).toContain('`next`');
    expect(shown(progress)).not.toContain('/next');

    await slash('U1', 'DU1', 'menu');
    expect(h.fake.of('conversations.open').at(-1)!.args).toMatchObject({ users: 'U1' });
    expect(shown(lastPost('DU1'))).toContain('1. Basics');
  });

  it('answers /mydata with a short summary in the chat and the full JSON as an uploaded file', async () => {
    await sendEvent(dmEvent('U1', 'hello'));
    await sendEvent(dmEvent('U1', 'mydata'));
    expect(shown(lastPost('DU1'))).toMatch(/Everything stored about you, in short/);
    expect(h.fake.of('files.getUploadURLExternal').at(-1)!.args).toMatchObject({ filename: 'digit4sd-mydata.json' });
    expect(h.fake.of('files.completeUploadExternal').length).toBeGreaterThan(0);
  });

  it('processes a retried event and a repeated interaction once', async () => {
    const event = dmEvent('U1', 'hello', 'EvRetry1');
    await sendEvent(event);
    expect(h.fake.of('chat.postMessage').length).toBe(1);
    const retry = await sendEvent(event, { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' });
    expect(retry.status).toBe(200);
    expect(h.fake.of('chat.postMessage').length).toBe(1);

    const welcome = lastPost('DU1');
    const begin = buttons(welcome).find((b) => b.label === 'Begin module 1')!;
    const payload = blockAction('U1', welcome, begin);
    await sendAction(payload);
    expect(h.fake.of('chat.postMessage').length).toBe(2);
    // The same interaction delivered again, and a double tap of the same button: nothing more.
    await sendAction(payload);
    await sendAction(blockAction('U1', welcome, begin));
    expect(h.fake.of('chat.postMessage').length).toBe(2);
    const record = await h.bot.store.getLearner({ channel: 'slack', userId: 'U1' });
    expect(record!.state.position).toEqual({ kind: 'card', lessonId: 'l1', index: 0 });
  });

  it('honours Retry-After on a 429 while answering', async () => {
    h.fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    const before = h.clock.ms;
    await sendEvent(dmEvent('U1', 'hello'));
    const attempts = h.fake.attempts.filter((a) => a.method === 'chat.postMessage');
    expect(attempts.map((a) => a.outcome)).toEqual(['429', 'ok']);
    expect(h.clock.ms - before).toBeGreaterThanOrEqual(1000);
    expect(lastPost('DU1').text).toContain('Welcome');
  });

  it('sends proactively to a DM or a user id, and translates failures into PlatformError', async () => {
    await h.adapter.send({ channel: 'slack', conversationId: 'DU1', kind: 'direct' }, [{ kind: 'text', text: [{ type: 'paragraph', spans: [{ text: 'Time for a lesson' }] }] }]);
    expect(lastPost().channel).toBe('DU1');
    await h.adapter.send({ channel: 'slack', conversationId: 'U2', kind: 'direct' }, [{ kind: 'text', text: [{ type: 'paragraph', spans: [{ text: 'Reviews are due' }] }] }]);
    expect(h.fake.of('conversations.open').at(-1)!.args.users).toBe('U2');
    expect(lastPost().channel).toBe('DU2');

    const msg = [{ kind: 'notice' as const, text: 'hi', reason: 'info' as const }];
    h.fake.failNext('chat.postMessage', { error: 'account_inactive' });
    const gone = await h.adapter.send({ channel: 'slack', conversationId: 'DU1', kind: 'direct' }, msg).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(PlatformError);
    expect(gone).toMatchObject({ platform: 'slack', method: 'chat.postMessage', unreachable: true, retryable: false });

    // Proactive sends wait out a short 429 like replies do; a longer wait than the policy's (5 s here) goes back to the scheduler.
    h.fake.failNext('chat.postMessage', { status: 429, retryAfter: 2 });
    await h.adapter.send({ channel: 'slack', conversationId: 'DU1', kind: 'direct' }, [{ kind: 'text', text: [{ type: 'paragraph', spans: [{ text: 'after the wait' }] }] }]);
    expect(lastPost().text).toContain('after the wait');
    h.fake.failNext('chat.postMessage', { status: 429, retryAfter: 7 });
    const limited = await h.adapter.send({ channel: 'slack', conversationId: 'DU1', kind: 'direct' }, msg).catch((e: unknown) => e);
    expect(limited).toMatchObject({ status: 429, retryAfterSec: 7, retryable: true, unreachable: false });

    // A platform hiccup is retried (three attempts here), then handed back as retryable.
    h.fake.failNext('chat.postMessage', { error: 'internal_error' }, { error: 'internal_error' }, { error: 'internal_error' });
    const hiccup = await h.adapter.send({ channel: 'slack', conversationId: 'C1', kind: 'group' }, [{ kind: 'text', text: [{ type: 'paragraph', spans: [{ text: 'Team quiz' }] }] }]).catch((e: unknown) => e);
    expect(hiccup).toMatchObject({ retryable: true });
  });

  it('tells the caller to invite the bot when it cannot post in the channel', async () => {
    h.fake.failNext('chat.postMessage', { error: 'not_in_channel' });
    await slash('U1', 'CPRIV', 'leaderboard');
    expect(h.fake.responses.at(-1)!.body).toMatchObject({ response_type: 'ephemeral' });
    expect(String(h.fake.responses.at(-1)!.body.text)).toContain('/invite');
    // The failure is reported, with its context.
    expect(h.errors.length).toBe(1);
    expect(h.errors[0]!.err).toMatchObject({ unreachable: true, method: 'chat.postMessage' });
    h.errors.length = 0;
  });
});

describe('Slack team quizzes in a channel', () => {
  beforeEach(async () => {
    h = await setup({ doubleTapSec: 0 });
  });
  afterEach(async () => {
    await teardown(h);
    expect(h.errors.map((e) => e.context)).toEqual([]);
  });

  async function answerAll(question: Posted, picks: Record<string, number>): Promise<Record<string, unknown>[]> {
    const sent: Record<string, unknown>[] = [];
    for (const [user, option] of Object.entries(picks)) {
      const payload = blockAction(user, question, buttons(question)[option]!);
      sent.push(payload);
      await sendAction(payload);
    }
    return sent;
  }

  function rightOption(index: number, itemIds: string[]): number {
    return correctIndices(course.items.get(itemIds[index]!)!)[0]!;
  }

  it('runs a quiz for three members with ephemeral confirmations, reveals and a leaderboard', async () => {
    const res = await slash('U1', 'C1', 'quiz m1 3');
    expect(await res.text()).toBe('');
    await h.bot.settled();
    const group = await h.bot.store.getGroup({ channel: 'slack', conversationId: 'C1' });
    const itemIds = group!.state.quiz!.itemIds;
    expect(itemIds).toHaveLength(3);
    const intro = h.fake.of('chat.postMessage').filter((c) => c.args.channel === 'C1');
    expect(intro[0]!.args.text).toContain('Team quiz: 3 questions');
    const q1 = lastPost('C1');
    expect(shown(q1)).toContain('question 1 of 3');

    // Q1: Ana and Ben right, Chloé wrong; Ana taps again.
    const r1 = rightOption(0, itemIds);
    const q1Payloads = await answerAll(q1, { U1: r1, U2: r1, U3: (r1 + 1) % 2 });
    const ephemerals = h.fake.of('chat.postEphemeral');
    expect(ephemerals.map((e) => e.args.user)).toEqual(['U1', 'U2', 'U3']);
    expect(ephemerals.every((e) => e.args.channel === 'C1' && /Answer recorded/.test(String(e.args.text)))).toBe(true);
    await answerAll(q1, { U1: (r1 + 1) % 2 });
    expect(String(h.fake.of('chat.postEphemeral').at(-1)!.args.text)).toContain('already answered');
    // A repeated delivery of Ben's answer is processed once: no second confirmation.
    const confirmations = h.fake.of('chat.postEphemeral').length;
    await sendAction(q1Payloads[1]!);
    expect(h.fake.of('chat.postEphemeral').length).toBe(confirmations);

    // Time is up: the timer in app.ts closes it and sends through the adapter.
    h.clock.ms += 31_000;
    await h.bot.tick();
    const closed = h.fake.of('chat.update').at(-1)!;
    expect(closed.args).toMatchObject({ channel: 'C1', ts: q1.ts });
    expect(buttons(posted(closed))).toEqual([]);
    const reveals = h.fake.of('chat.postMessage').filter((c) => c.args.channel === 'C1');
    expect(String(reveals.at(-2)!.args.text)).toContain('2 of 3 got it right');
    expect(String(reveals.at(-2)!.args.text)).toContain('Ana, Ben');
    const q2 = lastPost('C1');
    expect(shown(q2)).toContain('question 2 of 3');

    // Q2: everyone answers, so it closes at once.
    const r2 = rightOption(1, itemIds);
    h.clock.ms += 2_000;
    await answerAll(q2, { U3: r2, U1: r2, U2: (r2 + 1) % 2 });
    await h.bot.settled();
    const q3 = lastPost('C1');
    expect(shown(q3)).toContain('question 3 of 3');

    const r3 = rightOption(2, itemIds);
    await answerAll(q3, { U1: r3, U2: r3, U3: r3 });
    await h.bot.settled();
    const final = lastPost('C1');
    expect(final.text).toContain('Team quiz over');
    expect(final.text.indexOf('Ana')).toBeLessThan(final.text.indexOf('Ben'));
    expect(final.text).toContain('Chloé');
    // Results went to the channel; every confirmation stayed private.
    expect(h.fake.of('chat.postEphemeral').every((e) => e.args.channel === 'C1')).toBe(true);

    await slash('U2', 'C1', 'leaderboard');
    const board = lastPost('C1');
    expect(board.text).toContain('Leaderboard');
    expect(board.text).toMatch(/1\. Ana: \d+ pts \(3\/3\)/);
    expect(board.text).toMatch(/Chloé: \d+ pts \(2\/3\)/);
    // Channel hints name the Slack command.
    await slash('U2', 'C1', '');
    expect(shown(lastPost('C1'))).toContain('`/digit4sd quiz`');

    // The team's weak items come first in the next quiz.
    const stats = (await h.bot.store.getGroup({ channel: 'slack', conversationId: 'C1' }))!.state.stats;
    expect(stats[itemIds[0]!]).toEqual({ asked: 3, right: 2 });
  });

  it('stores a weekly team quiz from `/digit4sd schedule fri 15:00`, confirms it in the channel, and starts it on time', async () => {
    const res = await slash('U1', 'C1', 'schedule fri 15:00');
    expect(await res.text()).toBe('');
    const group = await h.bot.store.getGroup({ channel: 'slack', conversationId: 'C1' });
    expect(group!.state.schedule).toEqual({ day: 5, time: '15:00', tz: 'UTC', next: '2026-03-06T15:00:00.000Z' });
    expect(shown(lastPost('C1'))).toContain('Weekly team quiz: every Friday at 15:00 (UTC). The next one starts on March 6.');

    // A bad argument: the usage names the Slack command, and nothing changes.
    await slash('U1', 'C1', 'schedule someday');
    expect(shown(lastPost('C1'))).toContain('Usage: `/digit4sd schedule` fri 15:00');
    expect((await h.bot.store.getGroup({ channel: 'slack', conversationId: 'C1' }))!.version).toBe(group!.version);

    // Friday 15:00: the app's timer starts the quiz in the channel.
    h.clock.ms = Date.parse('2026-03-06T15:00:00Z');
    await h.bot.tick();
    expect(shown(lastPost('C1'))).toContain('Team quiz · question 1 of');

    await slash('U2', 'C1', 'schedule off');
    expect((await h.bot.store.getGroup({ channel: 'slack', conversationId: 'C1' }))!.state.schedule).toBeNull();
    expect(shown(lastPost('C1'))).toContain('Weekly team quiz turned off.');
  });
});

describe('Slack with the durable inbox and outbox', () => {
  it('answers 200 once a DM is in the inbox, replies from the outbox once, and applies a retried delivery once', async () => {
    let inbox: InboxWorker | undefined;
    let outbox: OutboxSender | undefined;
    let channel: SlackAdapter | undefined;
    let running = false;
    h = await setup({}, (bot) => {
      inbox = new InboxWorker({ bot, store: bot.store, onError: bot.report });
      outbox = new OutboxSender({ store: bot.store, channel: () => channel, onError: bot.report, now: bot.now });
      bot.enableDurable(() => running && inbox!.kick(), () => running && outbox!.kick());
    });
    channel = h.adapter;
    try {
      // No worker runs yet (as if the process died right after the 200): the event waits in the inbox.
      const event = dmEvent('U1', 'hello', 'EvDurable1');
      const res = await sendEvent(event);
      expect(res.status).toBe(200);
      expect(h.fake.of('chat.postMessage')).toEqual([]);
      expect(await h.bot.store.inboxPending(new Date(h.clock.ms), 10)).toHaveLength(1);
      // Started: the event is applied and answered.
      running = true;
      inbox!.start();
      outbox!.start();
      await vi.waitFor(async () => expect(h.fake.of('chat.postMessage').length).toBeGreaterThan(0), { timeout: 5000 });
      await inbox!.idle();
      await outbox!.idle();
      const replies = h.fake.of('chat.postMessage').length;
      expect(lastPost('DU1').text).toContain('Welcome');
      // Slack retries the same event: acknowledged, nothing applied or sent twice.
      expect((await sendEvent(event, { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' })).status).toBe(200);
      await inbox!.idle();
      await outbox!.idle();
      expect(h.fake.of('chat.postMessage')).toHaveLength(replies);
      expect((await h.bot.store.getLearner({ channel: 'slack', userId: 'U1' }))!.version).toBe(1);
    } finally {
      await inbox?.stop();
      await outbox?.stop();
      await teardown(h);
    }
    expect(h.errors).toEqual([]);
  });
});

describe('Slack rendering and parsing', () => {
  it('escapes mrkdwn control characters and keeps markers next to words', () => {
    expect(escapeMrkdwn('a < b & c > d')).toBe('a &lt; b &amp; c &gt; d');
    expect(richToMrkdwn([{ type: 'paragraph', spans: [{ text: 'Read ' }, { text: ' this ', bold: true }, { text: '<now>', href: 'https://x.org/a?b=1' }] }], { where: 'direct', command: '/digit4sd' })).toBe(
      'Read  *this* <https://x.org/a?b=1|&lt;now&gt;>',
    );
    expect(slackCommands('Send /quiz or /next, see https://x.org/next', { where: 'group', command: '/digit4sd' })).toBe('Send `/digit4sd quiz` or `/digit4sd next`, see https://x.org/next');
  });

  it('makes display names inert in blocks and notification text alike: no mentions, no formatting', () => {
    const name = '<!channel> <@U0ADMIN> *boss* _it_ ~gone~ `code` & co';
    const ctx = { where: 'group' as const, command: '/digit4sd' };
    const rows = [{ userId: 'U1', displayName: name, points: 12, answered: 1, correct: 1 }];
    const messages = [leaderboardMessage('en', rows), { kind: 'text' as const, text: scoreTable('en', 'Team quiz over!', rows) }, { kind: 'notice' as const, text: `Right: ${name}`, reason: 'recorded' as const }];
    for (const m of messages) {
      const r = renderMessage(m, ctx);
      for (const text of [r.text, ...(r.blocks as { text?: { text: string } }[]).map((b) => b.text?.text ?? '')]) {
        expect(text).not.toMatch(/<!channel>|<@U0ADMIN>/);
        expect(text).not.toMatch(/\*boss\*|_it_|~gone~|`code`/);
      }
      expect(r.text).toContain('&lt;!channel&gt; &lt;@U0ADMIN&gt; ∗boss∗ ＿it＿ ∼gone∼ ˋcodeˋ &amp; co');
    }
    // Underscores inside a word are not markers and stay, so that a time zone can be copied back.
    expect(escapeMrkdwn('Africa/Dar_es_Salaam')).toBe('Africa/Dar_es_Salaam');
    // The bot's own formatting still works: bold spans and command hints.
    expect(richToMrkdwn([{ type: 'paragraph', spans: [{ text: 'Send /quiz', bold: true }] }], ctx)).toBe('*Send `/digit4sd quiz`*');
  });

  it('splits long text into sections under 3000 characters and keeps button labels short', () => {
    const long = 'x'.repeat(7000);
    const r = renderMessage({ kind: 'text', text: [{ type: 'paragraph', spans: [{ text: long }] }], choices: [{ label: 'y'.repeat(100), data: '1|m' }] }, { where: 'direct', command: '/d' });
    const sections = r.blocks.filter((b) => b.type === 'section') as { text: { text: string } }[];
    expect(sections.length).toBe(3);
    expect(sections.every((s) => s.text.text.length <= 3000)).toBe(true);
    expect(sections.map((s) => s.text.text).join('')).toBe(long);
    expect(buttons(r as unknown as Posted)[0]!.label.length).toBe(75);
  });

  it('parses direct-message words and slash command text', () => {
    expect(parseDirectText('Next')).toEqual({ type: 'command', command: 'next', args: '' });
    expect(parseDirectText('remind 08:30')).toEqual({ type: 'command', command: 'remind', args: '08:30' });
    expect(parseDirectText('b')).toEqual({ type: 'text', text: 'b' });
    expect(parseDirectText('what is a digital twin?')).toEqual({ type: 'text', text: 'what is a digital twin?' });
    expect(parseCommandText('quiz m2 5')).toEqual({ command: 'quiz', args: 'm2 5' });
    expect(parseCommandText('  ')).toEqual({ command: 'help', args: '' });
  });

  it('shows a newcomer a Begin button on the Home tab', () => {
    const view = homeView({ course, state: null, now: new Date(), lang: 'fr', command: '/digit4sd' });
    const labels = buttons(view as unknown as Posted).map((b) => b.label);
    expect(labels).toHaveLength(1);
    // Module titles in the learner's language, and the lessons' computed time.
    expect(shown(view as unknown as Posted)).toContain('Notions de base');
    expect(shown(view as unknown as Posted)).toContain('environ 2 minutes');
  });
});

describe('Slack channel started by the app', () => {
  it('runs on the shared HTTP server from the configuration, and the app timer closes team questions through it', async () => {
    const { startApp } = await import('../src/app.js');
    const { loadConfig } = await import('../src/config.js');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const fake = new FakeSlackApi();
    await fake.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'slack-app-'));
    const clock = { ms: Date.parse('2026-03-02T09:00:00Z') };
    const config = { ...loadConfig({ SLACK_BOT_TOKEN: TOKEN, SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: fake.apiUrl, DATA_DIR: dataDir, LOG_LEVEL: 'silent' }), port: 0 };
    expect(config.console).toBe(false);
    const app = await startApp({ config, logger: pino({ level: 'silent' }), lessonsDir: fileURLToPath(new URL('./fixtures/course', import.meta.url)), now: () => new Date(clock.ms), tickMs: 20 });
    const until = async (what: () => boolean) => {
      for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(what()).toBe(true);
    };
    try {
      expect(app.channels.has('slack')).toBe(true);
      h = { fake, base: `http://127.0.0.1:${(app.server!.address() as AddressInfo).port}` } as Harness;
      const res = await sendEvent(dmEvent('U1', 'hello'));
      expect(res.status).toBe(200);
      await until(() => fake.of('chat.postMessage').some((c) => c.args.channel === 'DU1'));

      await slash('U1', 'C9', 'quiz m1 1');
      await until(() => fake.of('chat.postMessage').filter((c) => c.args.channel === 'C9').length === 2);
      clock.ms += 31_000;
      await until(() => fake.of('chat.postMessage').some((c) => c.args.channel === 'C9' && /Team quiz over/.test(String(c.args.text))));
      expect(fake.of('chat.postMessage').some((c) => c.args.channel === 'C9' && /Nobody answered/.test(String(c.args.text)))).toBe(true);
    } finally {
      await app.stop();
      await fake.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('Slack app manifest', () => {
  it('points every URL at /slack/events and subscribes to what the adapter handles', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const m = parse(readFileSync(fileURLToPath(new URL('../adapters/slack/manifest.yml', import.meta.url)), 'utf8')) as {
      features: { slash_commands: { command: string; url: string }[]; app_home: { home_tab_enabled: boolean } };
      oauth_config: { scopes: { bot: string[] } };
      settings: { event_subscriptions: { request_url: string; bot_events: string[] }; interactivity: { is_enabled: boolean; request_url: string } };
    };
    const urls = [m.features.slash_commands[0]!.url, m.settings.event_subscriptions.request_url, m.settings.interactivity.request_url];
    expect(urls.every((u) => u.endsWith('/slack/events'))).toBe(true);
    expect(m.features.slash_commands[0]!.command).toBe('/digit4sd');
    expect(m.features.app_home.home_tab_enabled).toBe(true);
    expect(m.settings.event_subscriptions.bot_events.sort()).toEqual(['app_home_opened', 'app_mention', 'message.im']);
    expect(m.oauth_config.scopes.bot).toEqual(expect.arrayContaining(['chat:write', 'commands', 'im:history', 'im:write', 'users:read']));
  });
});

describe('Slack channel in Socket Mode', () => {
  it('needs a signing secret over HTTP only', async () => {
    const store = new SqliteStore(':memory:');
    const ctx = { port: new LearningBot({ course, store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, onError: (e) => { throw e; } }), http: createHttpApp([]), logger: pino({ level: 'silent' }), now: () => new Date() };
    expect(() => createSlackChannel({ botToken: TOKEN, command: '/digit4sd' }, ctx)).toThrow(/Slack over HTTP needs signingSecret \(SLACK_SIGNING_SECRET\).*appToken \(SLACK_APP_TOKEN\) for Socket Mode/);
    expect(createSlackChannel({ botToken: TOKEN, appToken: 'xapp-1-test', command: '/digit4sd', receive: false }, ctx)).toBeInstanceOf(SlackAdapter);
    await store.close();
  });

  it('serves nothing over HTTP when an app-level token is set, and a worker opens no socket', async () => {
    const fake = new FakeSlackApi();
    await fake.start();
    const http = createHttpApp([]);
    const errors: unknown[] = [];
    const bot = new LearningBot({ course, store: new SqliteStore(':memory:'), engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, onError: (e) => errors.push(e) });
    const adapter = createSlackChannel(
      { botToken: TOKEN, appToken: 'xapp-1-test', command: '/digit4sd', apiUrl: fake.apiUrl, receive: false },
      { port: bot, http, logger: pino({ level: 'silent' }), now: () => new Date() },
    );
    const server = await listen(http, 0, '127.0.0.1');
    try {
      await adapter.start();
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(404);
      expect(fake.attempts.some((a) => a.method === 'apps.connections.open')).toBe(false);
      // It still sends: reminders from a worker.
      await adapter.send({ channel: 'slack', conversationId: 'DU1', kind: 'direct' }, [{ kind: 'notice', text: 'Reviews are due', reason: 'info' }]);
      expect(fake.of('chat.postMessage').at(-1)!.args.channel).toBe('DU1');
    } finally {
      await adapter.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fake.stop();
      await bot.store.close();
    }
    expect(errors).toEqual([]);
  });
});
