/**
 * The Slack channel in Socket Mode (an app-level token, no public HTTPS address), driven by the real
 * SDK (Bolt on `@slack/socket-mode`) against local fakes of Slack's Socket Mode (WebSocket envelopes
 * and acknowledgements) and Web API. Also the bot as a real process, killed right after it
 * acknowledged an event and started again: nothing acknowledged may be lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSlackChannel, type SlackAdapter, type SlackSettings } from '../adapters/slack/index.js';
import { loadCourse } from '../src/content/load.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { LearningBot } from '../src/runtime/bot.js';
import { createHttpApp } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { FakeSlackApi, type SlackCall } from './fakes/slack-api.js';
import { FakeSlackSocket, type FakeEnvelope, type FakeSlackSocketOptions } from './fakes/slack-socket.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/course', import.meta.url));
const course = loadCourse(FIXTURE_DIR);

// ---------------------------------------------------------------------------------------------
// Payloads as Slack sends them in Socket Mode envelopes (the same JSON as over HTTP).

let seq = 0;

/** An Events API callback for a direct message. */
function dmEvent(user: string, text: string, eventId = `EvS${++seq}`): Record<string, unknown> {
  const ts = `${1772442000 + seq}.000${seq}`;
  return {
    token: 'legacy-verification-token',
    team_id: 'T0001',
    api_app_id: 'A0001',
    event: { type: 'message', channel: `D${user}`, user, text, ts, event_ts: ts, channel_type: 'im', team: 'T0001' },
    type: 'event_callback',
    event_id: eventId,
    event_time: 1772442000 + seq,
    authorizations: [{ enterprise_id: null, team_id: 'T0001', user_id: 'UBOT', is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
    event_context: '4-eyJldCI6Im1lc3NhZ2UifQ',
  };
}

interface Posted {
  channel: string;
  ts: string;
  blocks: { type: string; elements?: { action_id?: string; value?: string; text?: { text: string } | string }[] }[];
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

const shown = (p: { blocks: Posted['blocks'] }): string => JSON.stringify(p.blocks);

function buttons(p: { blocks: Posted['blocks'] }): { actionId: string; value: string; label: string }[] {
  return p.blocks
    .filter((b) => b.type === 'actions')
    .flatMap((b) => b.elements ?? [])
    .map((e) => ({ actionId: e.action_id!, value: e.value!, label: typeof e.text === 'string' ? e.text : e.text!.text }));
}

/** A block_actions interaction for a button on a message. */
function blockAction(api: FakeSlackApi, user: string, message: Posted, label: RegExp | string): Record<string, unknown> {
  const button = buttons(message).find((x) => (typeof label === 'string' ? x.label === label : label.test(x.label)));
  if (!button) throw new Error(`no button ${String(label)} on the message; buttons: ${buttons(message).map((x) => x.label).join(', ')}`);
  seq++;
  const isDm = message.channel.startsWith('D');
  return {
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: 'T0001' },
    api_app_id: 'A0001',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: message.ts, channel_id: message.channel, is_ephemeral: false },
    trigger_id: `trig-s${seq}`,
    team: { id: 'T0001', domain: 'test' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: message.channel, name: isDm ? 'directmessage' : 'team-learning' },
    message: { type: 'message', user: 'UBOT', ts: message.ts, bot_id: 'BBOT', text: message.text, blocks: message.blocks },
    state: { values: {} },
    response_url: api.responseUrl(`act-s${seq}`),
    actions: [{ action_id: button.actionId, block_id: 'b1', text: { type: 'plain_text', text: button.label, emoji: true }, value: button.value, type: 'button', action_ts: `${1772443000 + seq}.${String(seq).padStart(6, '0')}` }],
  };
}

/** A slash command's fields, as the payload of a `slash_commands` envelope. */
function slashCommand(api: FakeSlackApi, user: string, channel: string, text: string): Record<string, unknown> {
  seq++;
  return {
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
    response_url: api.responseUrl(`cmd-s${seq}`),
    trigger_id: `cmd-trigger-s${seq}`,
  };
}

async function startFakes(opts: FakeSlackSocketOptions = {}): Promise<{ api: FakeSlackApi; socket: FakeSlackSocket }> {
  const api = new FakeSlackApi();
  await api.start();
  api.users.set('U1', { id: 'U1', name: 'ana', displayName: 'Ana', locale: 'en-US' });
  api.users.set('U2', { id: 'U2', name: 'ben', displayName: 'Ben', locale: 'en-GB' });
  const socket = new FakeSlackSocket(api, opts);
  await socket.start();
  return { api, socket };
}

// ---------------------------------------------------------------------------------------------
// The adapter in this process.

interface Harness {
  api: FakeSlackApi;
  socket: FakeSlackSocket;
  bot: LearningBot;
  adapter: SlackAdapter;
  errors: { err: unknown; context: Record<string, unknown> }[];
}

let h: Harness;

interface SetupOptions {
  socket?: FakeSlackSocketOptions;
  /** Milliseconds before the client reconnects (and its pong deadline); default the SDK's 5000. */
  reconnectMs?: number;
  store?: SqliteStore;
  fakes?: { api: FakeSlackApi; socket: FakeSlackSocket };
}

async function setup(opts: SetupOptions = {}): Promise<Harness> {
  const { api, socket } = opts.fakes ?? (await startFakes(opts.socket));
  const store = opts.store ?? new SqliteStore(':memory:');
  const errors: Harness['errors'] = [];
  const onError = (err: unknown, context: Record<string, unknown>) => errors.push({ err, context });
  const now = () => new Date();
  const bot = new LearningBot({ course, store, engine: DEFAULT_ENGINE_OPTIONS, group: { ...DEFAULT_GROUP_OPTIONS, questionSeconds: 30 }, onError, now });
  const settings: SlackSettings = {
    botToken: api.botToken,
    appToken: api.appToken,
    command: '/digit4sd',
    apiUrl: api.apiUrl,
    // One attempt per call: a failure shows at once.
    retry: { attempts: 1 },
    ...(opts.reconnectMs ? { socketPingTimeoutMs: opts.reconnectMs } : {}),
    doubleTapSec: 0,
  };
  const adapter = createSlackChannel(settings, { port: bot, http: createHttpApp([]), logger: pino({ level: 'silent' }), now }) as SlackAdapter;
  bot.connect((address, messages) => adapter.send(address, messages));
  await adapter.start();
  return { api, socket, bot, adapter, errors };
}

async function teardown(x: Harness): Promise<void> {
  await x.adapter.stop();
  await x.socket.stop();
  await x.api.stop();
  await x.bot.store.close();
}

/** Posts in a conversation, in order. */
const postsIn = (api: FakeSlackApi, channel: string): SlackCall[] => api.of('chat.postMessage').filter((c) => c.args.channel === channel);
const updatesIn = (api: FakeSlackApi, channel: string): SlackCall[] => api.of('chat.update').filter((c) => c.args.channel === channel);

/** Sends an envelope and waits for the next post (or edit) in the conversation; returns it. */
async function exchange(send: () => FakeEnvelope, method: 'chat.postMessage' | 'chat.update', channel = 'DU1'): Promise<Posted> {
  const of = method === 'chat.postMessage' ? postsIn : updatesIn;
  const before = of(h.api, channel).length;
  send();
  const call = await h.api.until(`a ${method} in ${channel}`, () => of(h.api, channel)[before]);
  return posted(call);
}

/** Waits a bounded window after the awaited work, so that a duplicate would have had time to show. */
const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

describe('Slack channel in Socket Mode, through a fake of Slack\'s WebSocket', () => {
  afterEach(async () => {
    await teardown(h);
    expect(h.errors.map((e) => e.context)).toEqual([]);
    expect(h.socket.strayMessages).toEqual([]);
  });

  it('opens its connection with the app-level token and teaches a lesson in a DM; every envelope acknowledged once, events after their reply', async () => {
    h = await setup();
    const open = h.api.of('apps.connections.open');
    expect(open).toHaveLength(1);
    expect(open[0]!.token).toBe(h.api.appToken);
    expect(h.socket.connections).toHaveLength(1);

    const hello = h.socket.event(dmEvent('U1', 'hello'));
    const welcome = posted(await h.api.until('the welcome', () => postsIn(h.api, 'DU1')[0]));
    expect(welcome.text).toContain('Welcome to DiGIT4SD Learning');
    // The event's envelope is acknowledged once its reply is out, not before.
    const helloAck = await h.socket.acked(hello);
    expect(helloAck.at).toBeGreaterThanOrEqual(postsIn(h.api, 'DU1')[0]!.at);
    expect(helloAck.payload).toBeUndefined();

    let card = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', welcome, 'Begin module 1')), 'chat.postMessage');
    expect(shown(card)).toContain('Lesson one');
    expect(shown(card)).toContain('1/3');
    card = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', card, 'Next')), 'chat.postMessage');
    card = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', card, 'Next')), 'chat.postMessage');
    expect(shown(card)).toContain('_last_');
    const q1 = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', card, 'Start the quiz')), 'chat.postMessage');
    expect(buttons(q1).map((b) => b.label)).toEqual(['A', 'B', 'C']);

    // An answered question is edited in place.
    const q1done = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', q1, 'B')), 'chat.update');
    expect(q1done.ts).toBe(q1.ts);
    expect(shown(q1done)).toContain('*B.* Right B ✅');
    const q2 = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', q1done, 'Next question')), 'chat.postMessage');
    const q2done = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', q2, 'True')), 'chat.update');
    const q3 = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', q2done, 'Next question')), 'chat.postMessage');
    const ticked = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', q3, /A$/)), 'chat.update');
    expect(shown(ticked)).toContain('☑ *A.*');
    const ticked2 = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', ticked, /C$/)), 'chat.update');
    const q3done = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', ticked2, 'Submit answer')), 'chat.update');
    expect(shown(q3done)).toContain('A and C are right');
    const q4 = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', q3done, 'Next question')), 'chat.postMessage');
    const q4done = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', q4, 'B')), 'chat.update');
    expect(shown(q4done)).toContain('❌');
    const done = await exchange(() => h.socket.interactive(blockAction(h.api, 'U1', q4done, 'See my score')), 'chat.postMessage');
    expect(buttons(done).some((b) => /Lesson two/.test(b.label))).toBe(true);

    // A word typed in the DM is a command, through an events_api envelope too.
    const progress = await exchange(() => h.socket.event(dmEvent('U1', 'progress')), 'chat.postMessage');
    expect(shown(progress)).toContain('Basics');

    const record = await h.bot.store.getLearner({ channel: 'slack', userId: 'U1' });
    expect(record!.state.lessons.l1).toMatchObject({ status: 'done', lastScore: { correct: 3, total: 4 } });
    expect(record!.state.displayName).toBe('Ana');

    await h.socket.until('every acknowledgement', () => h.socket.envelopes.every((e) => e.status === 'acked'));
    await settle();
    for (const e of h.socket.envelopes) {
      expect(e.deliveries).toHaveLength(1);
      expect(h.socket.acksOf(e)).toHaveLength(1);
      expect(h.socket.acksOf(e)[0]!.payload).toBeUndefined();
    }
    expect(h.socket.envelopes.map((e) => e.type).filter((t) => t === 'events_api')).toHaveLength(2);
    expect(h.socket.envelopes.length).toBe(16);
    // One reply per step: nothing was posted twice.
    expect(postsIn(h.api, 'DU1')).toHaveLength(10);
    expect(h.api.of('apps.connections.open')).toHaveLength(1);
  });

  it('applies an event once when Slack delivers its envelope again after the acknowledgement deadline', async () => {
    h = await setup({ socket: { ackDeadlineMs: 1000 } });
    // The first delivery is slow (its users.info call is held), so Slack sends it again.
    const slow = h.api.holdNext('users.info');
    const hello = h.socket.event(dmEvent('U1', 'hello'));
    await slow.reached;
    await h.socket.until('the second delivery', () => hello.deliveries.length === 2);
    expect(hello.deliveries.map((d) => d.attempt)).toEqual([0, 1]);
    await h.api.until('the welcome', () => postsIn(h.api, 'DU1')[0]);
    slow.release();
    // Both deliveries end acknowledged: the retry once applied, the first once it finds the event applied.
    await h.socket.until('two acknowledgements', () => h.socket.acksOf(hello).length === 2);
    await settle();
    expect(postsIn(h.api, 'DU1')).toHaveLength(1);
    expect(hello.deliveries).toHaveLength(2);
    expect(await h.bot.store.isProcessed('slack', (hello.payload as { event_id: string }).event_id)).toBe(true);
    const record = await h.bot.store.getLearner({ channel: 'slack', userId: 'U1' });
    expect(record!.version).toBe(1);
  });

  it('answers a slash command in a channel and in a DM, and a team-quiz button, each envelope acknowledged once', async () => {
    h = await setup();
    const quiz = h.socket.slashCommand(slashCommand(h.api, 'U1', 'C1', 'quiz m1 3'));
    const question = posted(await h.api.until('the first question', () => postsIn(h.api, 'C1')[1]));
    expect(String(postsIn(h.api, 'C1')[0]!.args.text)).toContain('Team quiz: 3 questions');
    expect(shown(question)).toContain('question 1 of 3');
    expect(quiz.acceptsResponsePayload).toBe(true);

    const answer = h.socket.interactive(blockAction(h.api, 'U2', question, buttons(question)[0]!.label));
    const confirmation = await h.api.until('the confirmation', () => h.api.of('chat.postEphemeral')[0]);
    expect(confirmation.args).toMatchObject({ channel: 'C1', user: 'U2' });
    expect(String(confirmation.args.text)).toContain('Answer recorded');

    const menu = h.socket.slashCommand(slashCommand(h.api, 'U1', 'DU1', 'menu'));
    const menuPost = posted(await h.api.until('the menu', () => postsIn(h.api, 'DU1')[0]));
    expect(shown(menuPost)).toContain('1. Basics');

    await h.socket.until('every acknowledgement', () => [quiz, answer, menu].every((e) => e.status === 'acked'));
    await settle();
    for (const e of [quiz, answer, menu]) {
      expect(h.socket.acksOf(e)).toHaveLength(1);
      // The answer goes through the Web API; the acknowledgement carries no response.
      expect(h.socket.acksOf(e)[0]!.payload).toBeUndefined();
    }
    expect(postsIn(h.api, 'C1')).toHaveLength(2);
    expect(h.api.of('chat.postEphemeral')).toHaveLength(1);
    const quizState = (await h.bot.store.getGroup({ channel: 'slack', conversationId: 'C1' }))!.state.quiz!;
    const answers = await h.bot.store.listGroupAnswers({ channel: 'slack', conversationId: 'C1' }, quizState.id, 0);
    expect(answers.map((a) => [a.userId, a.option])).toEqual([['U2', 0]]);
  });

  it('reconnects when Slack asks (refresh_requested, then warning) with a new URL each time, and loses no envelope sent meanwhile', async () => {
    h = await setup({ reconnectMs: 2000 });
    const first = h.socket.disconnect('refresh_requested');
    // Sent while the app reconnects: it waits for the new connection.
    const hello = h.socket.event(dmEvent('U1', 'hello'));
    await h.socket.connected(2);
    await h.socket.acked(hello);
    expect(hello.deliveries.map((d) => d.connection)).toEqual([2]);
    // The app closed the old connection itself, at once (a normal closure).
    expect(first.closeCode).toBe(1000);

    const second = h.socket.disconnect('warning');
    const next = h.socket.event(dmEvent('U1', 'progress'));
    await h.socket.connected(3);
    await h.socket.acked(next);
    expect(next.deliveries.map((d) => d.connection)).toEqual([3]);
    expect(second.closeCode).toBe(1000);

    await settle();
    expect(postsIn(h.api, 'DU1')).toHaveLength(2);
    expect(h.socket.acksOf(hello)).toHaveLength(1);
    expect(h.socket.acksOf(next)).toHaveLength(1);
    // A fresh apps.connections.open for each connection; no ticket used twice.
    expect(h.api.of('apps.connections.open')).toHaveLength(3);
    expect(h.socket.refusedUpgrades).toBe(0);
    expect(h.socket.open().map((c) => c.id)).toEqual([3]);
  });

  it('keeps an event whose connection dropped while it was in hand: applied and answered once, acknowledged', async () => {
    h = await setup({ socket: { ackDeadlineMs: 500 }, reconnectMs: 2000 });
    const held = h.api.holdNext('users.info');
    const hello = h.socket.event(dmEvent('U1', 'hello'));
    await held.reached;
    h.socket.drop();
    await h.socket.until('the drop seen by the fake', () => h.socket.connections[0]!.closedAt);
    held.release();
    // However the acknowledgement goes (on the new connection, or refused and the envelope sent
    // again after the deadline), the event ends applied once and acknowledged.
    await h.socket.connected(2);
    await h.socket.acked(hello, 10_000);
    await h.api.until('the welcome', () => postsIn(h.api, 'DU1')[0]);
    await settle(700);
    expect(postsIn(h.api, 'DU1')).toHaveLength(1);
    expect((await h.bot.store.getLearner({ channel: 'slack', userId: 'U1' }))!.version).toBe(1);
  });

  it('leaves an event unacknowledged when its work failed, so that Slack delivers it again', async () => {
    h = await setup({ socket: { ackDeadlineMs: 1000 } });
    h.api.failNext('chat.postMessage', { error: 'internal_error' });
    const hello = h.socket.event(dmEvent('U1', 'hello'));
    await h.socket.until('the second delivery', () => hello.deliveries.length === 2);
    await h.socket.acked(hello);
    // The only acknowledgement answers the second delivery.
    expect(h.socket.acksOf(hello)).toHaveLength(1);
    expect(h.socket.acksOf(hello)[0]!.at).toBeGreaterThanOrEqual(hello.deliveries[1]!.at);
    expect(hello.deliveries[1]!.attempt).toBe(1);
    // The failure was reported, with its context, once.
    expect(h.errors).toHaveLength(1);
    expect(h.errors[0]!.context).toMatchObject({ where: 'slack-dm', channel: 'slack' });
    expect(h.errors[0]!.err).toMatchObject({ method: 'chat.postMessage' });
    h.errors.length = 0;
    // The event itself was applied once (its reply, lost with the failed send, is for the durable outbox).
    expect((await h.bot.store.getLearner({ channel: 'slack', userId: 'U1' }))!.version).toBe(1);
  });

  it('on stop, finishes and acknowledges the event in hand, and leaves a later one for the next process', async () => {
    const fakes = await startFakes({ ackDeadlineMs: 1000 });
    const dir = mkdtempSync(join(tmpdir(), 'slack-socket-stop-'));
    const path = join(dir, 'bot.sqlite');
    h = await setup({ store: new SqliteStore(path), fakes });
    const held = h.api.holdNext('users.info');
    const first = h.socket.event(dmEvent('U1', 'hello'));
    await held.reached;
    const stopping = h.adapter.stop();
    const later = h.socket.event(dmEvent('U2', 'hello'));
    await h.socket.until('the later delivery', () => later.deliveries.length === 1);
    held.release();
    await stopping;
    expect(h.socket.acksOf(first)).toHaveLength(1);
    expect(postsIn(h.api, 'DU1')).toHaveLength(1);
    expect(h.socket.acksOf(first)[0]!.at).toBeGreaterThanOrEqual(postsIn(h.api, 'DU1')[0]!.at);
    expect(h.socket.acksOf(later)).toHaveLength(0);
    expect(await h.bot.store.getLearner({ channel: 'slack', userId: 'U2' })).toBeNull();
    await h.bot.store.close();

    // The next process gets it again and applies it.
    const errors = h.errors;
    h = await setup({ store: new SqliteStore(path), fakes });
    await h.socket.until('the later acknowledgement', () => h.socket.acksOf(later).length === 1);
    await h.api.until('the later welcome', () => postsIn(h.api, 'DU2')[0]);
    await settle();
    expect(postsIn(h.api, 'DU2')).toHaveLength(1);
    expect(postsIn(h.api, 'DU1')).toHaveLength(1);
    expect(later.deliveries.map((d) => d.attempt)).toEqual([0, 1]);
    expect(errors).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });
});

// ---------------------------------------------------------------------------------------------
// The bot as a real process: `src/main.ts` on the fakes, with SLACK_APP_TOKEN set.

interface BotProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startBot(api: FakeSlackApi, dataDir: string): BotProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      SLACK_BOT_TOKEN: api.botToken,
      SLACK_APP_TOKEN: api.appToken,
      SLACK_API_URL: api.apiUrl,
      DATA_DIR: dataDir,
      LESSONS_DIR: FIXTURE_DIR,
      PORT: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Ends a bot process: SIGTERM, and SIGKILL if it is still there after 10 seconds. */
async function endBot(bot: BotProcess): Promise<void> {
  if (bot.child.exitCode !== null || bot.child.signalCode !== null) return;
  bot.child.kill('SIGTERM');
  const timer = setTimeout(() => bot.child.kill('SIGKILL'), 10_000);
  await bot.exited;
  clearTimeout(timer);
}

describe('Slack Socket Mode: the bot process killed and started again', () => {
  let fakes: { api: FakeSlackApi; socket: FakeSlackSocket };
  let dataDir: string;
  const bots: BotProcess[] = [];

  beforeEach(async () => {
    fakes = await startFakes();
    dataDir = mkdtempSync(join(tmpdir(), 'slack-socket-kill-'));
  });
  afterEach(async () => {
    for (const b of bots.splice(0)) await endBot(b);
    await fakes.socket.stop();
    await fakes.api.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function boot(connection: number): Promise<BotProcess> {
    const bot = startBot(fakes.api, dataDir);
    bots.push(bot);
    try {
      await Promise.race([fakes.socket.connected(connection, 30_000), bot.exited.then((code) => Promise.reject(new Error(`the bot exited (${code})`)))]);
    } catch (err) {
      throw new Error(`${(err as Error).message}; its output:\n${bot.output()}`);
    }
    return bot;
  }

  async function readLearner(userId: string) {
    const store = new SqliteStore(join(dataDir, 'digit4sd.sqlite'));
    try {
      return await store.getLearner({ channel: 'slack', userId });
    } finally {
      await store.close();
    }
  }

  it('applies and answers, once, an event acknowledged right before the kill', async () => {
    const { api, socket } = fakes;
    const first = await boot(1);
    const payload = dmEvent('U1', 'hello');
    const hello = socket.event(payload);
    await socket.acked(hello, 20_000);
    // Killed the moment the acknowledgement arrives: Slack will never send this envelope again.
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await boot(2);
    const welcome = await api.until('the welcome, before or after the restart', () => postsIn(api, 'DU1')[0], 10_000).catch((err: Error) => {
      throw new Error(`${err.message}: the acknowledged event was lost`);
    });
    expect(String(welcome.args.text)).toContain('Welcome');
    await settle(500);
    expect(postsIn(api, 'DU1')).toHaveLength(1);
    expect(hello.deliveries).toHaveLength(1);
    await endBot(second);
    const record = await readLearner('U1');
    expect(record).not.toBeNull();
    expect(record!.state.displayName).toBe('Ana');
  });

  it('delivers again, applies and answers once, an event in hand but not yet acknowledged when the bot was killed', async () => {
    const { api, socket } = fakes;
    const first = await boot(1);
    const held = api.holdNext('users.info');
    const hello = socket.event(dmEvent('U1', 'hello'));
    await held.reached;
    first.child.kill('SIGKILL');
    await first.exited;
    expect(socket.acksOf(hello)).toHaveLength(0);

    const second = await boot(2);
    await socket.acked(hello, 10_000);
    await api.until('the welcome', () => postsIn(api, 'DU1')[0]);
    await settle(500);
    expect(postsIn(api, 'DU1')).toHaveLength(1);
    expect(hello.deliveries.map((d) => [d.connection, d.attempt])).toEqual([
      [1, 0],
      [2, 1],
    ]);
    await endBot(second);
    expect((await readLearner('U1'))!.version).toBe(1);
  });
});
