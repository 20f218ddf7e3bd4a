/**
 * Channel conformance: one channel-neutral script, run through every channel adapter (STYLE.md,
 * item 5). Each channel is driven through its real adapter and SDK against the local fakes of its
 * platform: the console on streams, Telegram (grammY, webhook) against FakeTelegram, Slack (Bolt,
 * signed HTTP requests) against FakeSlackApi, Teams (botbuilder CloudAdapter) against
 * FakeConnector. A small driver per channel maps the script's neutral steps (a command, a tap on
 * a button, what the learner sees) to what that channel's user does and sees, so the script
 * itself asserts only neutral outcomes, identical on every channel.
 */
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ConsoleAdapter } from '../adapters/console/adapter.js';
import { createSlackChannel, type SlackAdapter } from '../adapters/slack/index.js';
import { createTeamsChannel, type TeamsAdapter } from '../adapters/teams/index.js';
import { ConversationPacer, DEFAULT_RETRY as TEAMS_DEFAULT_RETRY } from '../adapters/teams/delivery.js';
import { createTelegramChannel, type TelegramAdapter } from '../adapters/telegram/index.js';
import type { ChannelContext } from '../src/channel.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import type { LearnerState } from '../src/engine/state.js';
import { createLogger } from '../src/logger.js';
import type { Channel, LearnerKey } from '../src/messages.js';
import { LearningBot } from '../src/runtime/bot.js';
import { createHttpApp, listen } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { FakeSlackApi, type SlackCall } from './fakes/slack-api.js';
import { cardOf, FakeConnector, type ConnectorCall } from './fakes/teams-connector.js';
import { FakeTelegram, type SentMessage, type TgUpdate, type TgUser } from './fakes/telegram-api.js';
import { fixtureCourse } from './helpers.js';

/** Every channel runs on the same frozen clock, so that the learner states can be compared exactly. */
const NOW = new Date('2026-03-02T09:00:00Z');
const now = () => new Date(NOW);

// ---- the driver contract ----------------------------------------------------------------------

/** One message as the learner sees it: its visible text (formatting stripped) and its buttons. */
interface Shown {
  text: string;
  buttons: string[];
}

/** What the script needs from a channel: a learner typing commands and tapping buttons, and what they see. */
interface Driver {
  readonly name: Channel;
  /** The learner's key in the store. */
  readonly learner: LearnerKey;
  readonly bot: LearningBot;
  /** Every error the bot and the adapter reported. */
  readonly errors: { err: unknown; context: Record<string, unknown> }[];
  start(): Promise<void>;
  /** Sends the command as this channel's user types it ("/next", "next"). */
  command(name: string, args?: string): Promise<void>;
  /** Taps the button with this label on the latest message that has it. */
  tap(label: string): Promise<void>;
  /** The messages the last action produced or changed (sent, or edited in place), as visible text. */
  lastMessages(): string[];
  /** The buttons of the last message of the last action that has buttons. */
  lastButtons(): string[];
  /**
   * Re-sends the last delivery exactly as the platform would redeliver it (same update, event or
   * activity id), through the channel's HTTP boundary. Undefined where there is no such boundary.
   */
  readonly redeliver: (() => Promise<void>) | undefined;
  stop(): Promise<void>;
}

function newBot(onError: (err: unknown, context: Record<string, unknown>) => void): LearningBot {
  return new LearningBot({
    course: fixtureCourse(),
    store: new SqliteStore(':memory:'),
    engine: DEFAULT_ENGINE_OPTIONS,
    group: { ...DEFAULT_GROUP_OPTIONS, questionSeconds: 30 },
    now,
    onError,
  });
}

/**
 * The conversation as the learner sees it: messages in the order they were last sent or changed.
 * An in-place edit moves the message to the end with its new content; `ref` is what the channel
 * needs to tap a button on it.
 */
class Screen<R> {
  private entries: { key: string; shown: Shown; ref: R }[] = [];
  last: Shown[] = [];

  record(changed: { key: string; shown: Shown; ref: R }[]): void {
    this.last = changed.map((c) => c.shown);
    for (const c of changed) {
      this.entries = this.entries.filter((e) => e.key !== c.key);
      this.entries.push(c);
    }
  }

  /** The latest message with a button labelled `label`. */
  find(label: string): { shown: Shown; ref: R } {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.entries[i]!.shown.buttons.includes(label)) return this.entries[i]!;
    }
    throw new Error(`no message has a button "${label}"; last messages: ${JSON.stringify(this.last)}`);
  }

  lastButtons(): string[] {
    return [...this.last].reverse().find((s) => s.buttons.length)?.buttons ?? [];
  }
}

// ---- console ----------------------------------------------------------------------------------

class ConsoleDriver implements Driver {
  readonly name = 'console' as const;
  readonly learner: LearnerKey = { channel: 'console', userId: 'console' };
  readonly errors: Driver['errors'] = [];
  readonly bot = newBot((err, context) => this.errors.push({ err, context }));
  // The console has no platform that redelivers: a typed line is read once, from a local stream.
  readonly redeliver = undefined;
  private readonly input = new PassThrough();
  private readonly output = new PassThrough();
  private printed = '';
  private readonly adapter = new ConsoleAdapter({ input: this.input, output: this.output, handle: (i) => this.bot.handle(i), now });
  private readonly screen = new Screen<undefined>();
  private seq = 0;

  async start(): Promise<void> {
    this.output.on('data', (d: Buffer) => (this.printed += d.toString('utf8')));
    await this.adapter.start();
  }

  /** Types a line; the console adapter resolves once its answer is printed. */
  private async type(line: string): Promise<void> {
    const from = this.printed.length;
    await this.adapter.line(line);
    // Let the PassThrough hand over what was written.
    await new Promise((r) => setImmediate(r));
    const messages = this.printed
      .slice(from)
      .split(/\n\s*\n/)
      .map((m) => m.trim())
      // The prompt ("[1-3] ›") is not a message.
      .filter((m) => m && !/^(\[\d+(-\d+)?\] )?›$/.test(m));
    this.screen.record(messages.map((m) => ({ key: `c${++this.seq}`, shown: consoleShown(m), ref: undefined })));
  }

  command(name: string, args = ''): Promise<void> {
    return this.type(`/${name}${args ? ` ${args}` : ''}`);
  }

  /** The console numbers the choices of its last message with choices: the learner types the number. */
  async tap(label: string): Promise<void> {
    const current = this.screen.find(label).shown.buttons;
    await this.type(String(current.indexOf(label) + 1));
  }

  lastMessages(): string[] {
    return this.screen.last.map((s) => s.text);
  }

  lastButtons(): string[] {
    return this.screen.lastButtons();
  }

  async stop(): Promise<void> {
    this.input.end();
    await this.adapter.finished();
    await this.adapter.stop();
    await this.bot.store.close();
  }
}

/**
 * A printed console message: its text, and its choices, on one "[1] Next  [2] Menu" line or one per
 * line ("[1] Next", "[2] Menu") when they do not fit on one.
 */
function consoleShown(printed: string): Shown {
  const lines = printed.split('\n');
  let first = lines.length;
  while (first > 0 && /^\[\d+\] /.test(lines[first - 1]!)) first--;
  if (first === lines.length || !/^\[1\] /.test(lines[first]!)) return { text: printed, buttons: [] };
  const buttons = lines.slice(first).flatMap((line) => [...line.matchAll(/\[(\d+)\] (.*?)(?= {2}\[\d+\] |$)/g)].map((m) => m[2]!));
  return { text: lines.slice(0, first).join('\n'), buttons };
}

// ---- Telegram ---------------------------------------------------------------------------------

const TG_USER: TgUser = { id: 1001, is_bot: false, first_name: 'Ana', last_name: 'Silva', username: 'ana_s', language_code: 'en' };
const TG_WEBHOOK_URL = 'https://bot.example.org/telegram/hook';
const TG_SECRET = 'conformance_secret-1';
/** As in telegram.test.ts: no pacing between sends in tests. */
const TG_FAST_THROTTLE = { global: {}, group: { maxConcurrent: 1 }, out: { maxConcurrent: 1 } };

class TelegramDriver implements Driver {
  readonly name = 'telegram' as const;
  readonly learner: LearnerKey = { channel: 'telegram', userId: String(TG_USER.id) };
  readonly errors: Driver['errors'] = [];
  readonly bot = newBot((err, context) => this.errors.push({ err, context }));
  readonly fake = new FakeTelegram();
  private channel: TelegramAdapter | undefined;
  private server: Server | undefined;
  private readonly screen = new Screen<SentMessage>();
  private lastUpdate: TgUpdate | undefined;

  async start(): Promise<void> {
    await this.fake.start();
    const http = createHttpApp([]);
    const ctx: ChannelContext = { port: this.bot, http, logger: createLogger('silent'), now };
    this.channel = createTelegramChannel(
      { token: this.fake.token, apiRoot: this.fake.apiRoot, webhookUrl: TG_WEBHOOK_URL, webhookSecret: TG_SECRET },
      ctx,
      { throttle: TG_FAST_THROTTLE, retry: { attempts: 3, baseMs: 5 } },
    );
    this.server = await listen(http, 0, '127.0.0.1');
    await this.channel.start();
  }

  /** Telegram posts the update to the webhook; the answer to it is sent before the request returns. */
  private async deliver(update: TgUpdate): Promise<void> {
    this.lastUpdate = update;
    const before = new Map(this.fake.sent.map((m) => [m.messageId, m.edits]));
    const { port } = this.server!.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/telegram/hook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': TG_SECRET },
      body: JSON.stringify(update),
    });
    await res.text();
    expect(res.status).toBe(200);
    const changed = this.fake.sent.filter((m) => m.chatId === TG_USER.id && before.get(m.messageId) !== m.edits);
    this.screen.record(
      changed.map((m) => ({
        key: String(m.messageId),
        shown: { text: m.message.text ?? '', buttons: m.message.reply_markup?.inline_keyboard.flat().map((b) => b.text) ?? [] },
        ref: m,
      })),
    );
  }

  command(name: string, args = ''): Promise<void> {
    return this.deliver(this.fake.message(TG_USER, `/${name}${args ? ` ${args}` : ''}`));
  }

  tap(label: string): Promise<void> {
    return this.deliver(this.fake.tap(TG_USER, this.screen.find(label).ref, label));
  }

  lastMessages(): string[] {
    return this.screen.last.map((s) => s.text);
  }

  lastButtons(): string[] {
    return this.screen.lastButtons();
  }

  readonly redeliver = async (): Promise<void> => {
    await this.deliver(this.lastUpdate!);
  };

  async stop(): Promise<void> {
    await this.channel?.stop();
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
    await this.fake.stop();
    await this.bot.store.close();
  }
}

// ---- Slack ------------------------------------------------------------------------------------

const SLACK_SECRET = 'conformance-signing-secret';
const SLACK_TOKEN = 'xoxb-test-token'; // the token FakeSlackApi accepts
const SLACK_USER = 'U1';
const SLACK_DM = `D${SLACK_USER}`;

interface SlackBlock {
  type: string;
  text?: { text: string } | string;
  fields?: { text: string }[];
  elements?: { action_id?: string; value?: string; text?: { text: string } | string }[];
}

/** A message in the DM as Slack shows it: where it is, and its blocks. */
interface SlackPosted {
  ts: string;
  text: string;
  blocks: SlackBlock[];
}

function slackButtons(blocks: SlackBlock[]): { actionId: string; value: string; label: string }[] {
  return blocks
    .filter((b) => b.type === 'actions')
    .flatMap((b) => b.elements ?? [])
    .map((e) => ({ actionId: e.action_id!, value: e.value!, label: typeof e.text === 'string' ? e.text : e.text!.text }));
}

/** mrkdwn as the learner reads it: links as their label, no markers, entities decoded. */
function fromMrkdwn(s: string): string {
  return s
    .replace(/<([^|>]+)\|([^>]*)>/g, '$2')
    .replace(/<(https?:[^>]+)>/g, '$1')
    .replace(/[*`]/g, '')
    .replace(/(^|[\s(])_([^_\n]+)_(?=[\s).,!?:;]|$)/g, '$1$2')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function slackText(blocks: SlackBlock[]): string {
  const out: string[] = [];
  const text = (t: SlackBlock['text']) => (typeof t === 'string' ? t : (t?.text ?? ''));
  for (const b of blocks) {
    if (b.type === 'header' || b.type === 'section') out.push(text(b.text), ...(b.fields ?? []).map((f) => f.text));
    if (b.type === 'context') out.push(...(b.elements ?? []).map((e) => text(e.text)));
  }
  return fromMrkdwn(out.filter(Boolean).join('\n'));
}

class SlackDriver implements Driver {
  readonly name = 'slack' as const;
  readonly learner: LearnerKey = { channel: 'slack', userId: SLACK_USER };
  readonly errors: Driver['errors'] = [];
  readonly bot = newBot((err, context) => this.errors.push({ err, context }));
  readonly fake = new FakeSlackApi();
  private adapter: SlackAdapter | undefined;
  private server: Server | undefined;
  private base = '';
  private readonly screen = new Screen<SlackPosted>();
  private seq = 0;
  private last: { body: string; contentType: string; retry: boolean } | undefined;

  async start(): Promise<void> {
    await this.fake.start();
    this.fake.users.set(SLACK_USER, { id: SLACK_USER, name: 'ana', displayName: 'Ana', locale: 'en-US' });
    const http = createHttpApp([]);
    this.adapter = createSlackChannel(
      { botToken: SLACK_TOKEN, signingSecret: SLACK_SECRET, command: '/digit4sd', apiUrl: this.fake.apiUrl, processBeforeResponse: true, retry: { attempts: 3, baseMs: 5 } },
      { port: this.bot, http, logger: pino({ level: 'silent' }), now },
    );
    this.server = await listen(http, 0, '127.0.0.1');
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    await this.adapter.start();
  }

  /** POSTs to /slack/events, signed as Slack signs (as in slack.test.ts); the work is done before it returns. */
  private async post(body: string, contentType: string, headers: Record<string, string> = {}): Promise<void> {
    const from = this.fake.calls.length;
    const ts = Math.floor(Date.now() / 1000);
    const signature = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;
    const res = await fetch(`${this.base}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': contentType, 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature, ...headers },
      body,
    });
    await res.text();
    expect(res.status).toBe(200);
    const changed = this.fake.calls.slice(from).flatMap((c: SlackCall) => {
      if (c.args.channel !== SLACK_DM) return [];
      if (c.method === 'chat.postMessage' || c.method === 'chat.postEphemeral' || c.method === 'chat.update') {
        const ts = String(c.method === 'chat.update' ? c.args.ts : (c.result.ts ?? c.result.message_ts));
        const blocks = (c.args.blocks ?? []) as SlackBlock[];
        return [{ key: ts, shown: { text: slackText(blocks) || String(c.args.text ?? ''), buttons: slackButtons(blocks).map((b) => b.label) }, ref: { ts, text: String(c.args.text ?? ''), blocks } }];
      }
      return [];
    });
    this.screen.record(changed);
  }

  /** In a direct message, a command is a plain word ("next", "progress"): an Events API message.im callback. */
  async command(name: string, args = ''): Promise<void> {
    const n = ++this.seq;
    const ts = `${1772442000 + n}.${String(n).padStart(6, '0')}`;
    const payload = {
      token: 'legacy-verification-token',
      team_id: 'T0001',
      api_app_id: 'A0001',
      event: { type: 'message', channel: SLACK_DM, user: SLACK_USER, text: `${name}${args ? ` ${args}` : ''}`, ts, event_ts: ts, channel_type: 'im', team: 'T0001' },
      type: 'event_callback',
      event_id: `EvConf${n}`,
      event_time: 1772442000 + n,
      authorizations: [{ enterprise_id: null, team_id: 'T0001', user_id: 'UBOT', is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
      event_context: '4-eyJldCI6Im1lc3NhZ2UifQ',
    };
    this.last = { body: JSON.stringify(payload), contentType: 'application/json', retry: true };
    await this.post(this.last.body, this.last.contentType);
  }

  /** A block_actions interaction on the message, as Slack sends it (form-encoded `payload`). */
  async tap(label: string): Promise<void> {
    const message = this.screen.find(label).ref;
    const button = slackButtons(message.blocks).find((b) => b.label === label)!;
    const n = ++this.seq;
    const payload = {
      type: 'block_actions',
      user: { id: SLACK_USER, username: 'ana', name: 'ana', team_id: 'T0001' },
      api_app_id: 'A0001',
      token: 'legacy-verification-token',
      container: { type: 'message', message_ts: message.ts, channel_id: SLACK_DM, is_ephemeral: false },
      trigger_id: `trig-${n}`,
      team: { id: 'T0001', domain: 'test' },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: SLACK_DM, name: 'directmessage' },
      message: { type: 'message', user: 'UBOT', ts: message.ts, bot_id: 'BBOT', text: message.text, blocks: message.blocks },
      state: { values: {} },
      response_url: this.fake.responseUrl(`act-${n}`),
      actions: [{ action_id: button.actionId, block_id: 'b1', text: { type: 'plain_text', text: label, emoji: true }, value: button.value, type: 'button', action_ts: `${1772443000 + n}.${String(n).padStart(6, '0')}` }],
    };
    this.last = { body: `payload=${encodeURIComponent(JSON.stringify(payload))}`, contentType: 'application/x-www-form-urlencoded', retry: false };
    await this.post(this.last.body, this.last.contentType);
  }

  lastMessages(): string[] {
    return this.screen.last.map((s) => s.text);
  }

  lastButtons(): string[] {
    return this.screen.lastButtons();
  }

  /** Slack retries an event callback with the same event_id and says so in X-Slack-Retry-Num. */
  readonly redeliver = async (): Promise<void> => {
    const last = this.last!;
    await this.post(last.body, last.contentType, last.retry ? { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } : {});
  };

  async stop(): Promise<void> {
    await this.adapter?.stop();
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
    await this.fake.stop();
    await this.bot.store.close();
  }
}

// ---- Teams ------------------------------------------------------------------------------------

const TEAMS_BOT = { id: '28:bot-id', name: 'DiGIT4SD' };
const TEAMS_USER = { id: '29:alice', name: 'Alice' };
const TEAMS_CONVERSATION = { id: 'a:personal-alice', conversationType: 'personal', tenantId: 'tenant-1' };

type Card = NonNullable<ReturnType<typeof cardOf>>;

/** The visible text of a card element tree: text blocks, rich text runs (one line per block), facts. */
function cardText(elements: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (o.type === 'TextBlock' && typeof o.text === 'string') out.push(o.text);
    else if (o.type === 'RichTextBlock') out.push((o.inlines as { text?: string }[]).map((r) => r.text ?? '').join(''));
    else if (o.type === 'FactSet') out.push(...(o.facts as { title: string; value: string }[]).map((f) => `${f.title} ${f.value}`));
    else if (o.type === 'ColumnSet') out.push((o.columns as { items: unknown[] }[]).map((c) => cardText(c.items).join(' ')).join(' '));
    else if (o.type === 'Container' || o.type === 'Column') walk(o.items);
  };
  walk(elements);
  return out;
}

function teamsActions(card: Card | undefined): { title: string; d: string }[] {
  const inBody = (card?.body ?? []).flatMap((e) => (e.type === 'ActionSet' ? (e.actions as { title: string; data: { d: string } }[]) : []));
  return [...inBody, ...(card?.actions ?? [])].map((a) => ({ title: a.title, d: a.data.d }));
}

class TeamsDriver implements Driver {
  readonly name = 'teams' as const;
  readonly learner: LearnerKey = { channel: 'teams', userId: TEAMS_USER.id };
  readonly errors: Driver['errors'] = [];
  readonly bot = newBot((err, context) => this.errors.push({ err, context }));
  readonly fake = new FakeConnector();
  private adapter: TeamsAdapter | undefined;
  private server: Server | undefined;
  private botUrl = '';
  private readonly screen = new Screen<ConnectorCall>();
  private seq = 0;
  private last: Record<string, unknown> | undefined;

  async start(): Promise<void> {
    await this.fake.start();
    const http = createHttpApp([]);
    const ctx: ChannelContext = { port: this.bot, http, logger: createLogger('silent'), now };
    // The script runs on a frozen clock: pacing keeps to wall time.
    this.adapter = createTeamsChannel({ appType: 'MultiTenant', allowedServiceUrls: [this.fake.url] }, ctx, { retry: { ...TEAMS_DEFAULT_RETRY, baseMs: 5 }, pacer: new ConversationPacer() });
    await this.adapter.start();
    this.server = await listen(http, 0, '127.0.0.1');
    this.botUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/messages`;
  }

  /** A message activity from the learner in the personal chat, as teams.test.ts builds them. */
  private activity(extra: Record<string, unknown>): Record<string, unknown> {
    return {
      type: 'message',
      id: `conf-in-${++this.seq}`,
      timestamp: NOW.toISOString(),
      serviceUrl: this.fake.url,
      channelId: 'msteams',
      locale: 'en-US',
      from: { ...TEAMS_USER, aadObjectId: 'aad-alice' },
      recipient: TEAMS_BOT,
      conversation: TEAMS_CONVERSATION,
      channelData: { tenant: { id: 'tenant-1' } },
      ...extra,
    };
  }

  /** POSTs the activity to /api/messages; the CloudAdapter answers it before the request returns. */
  private async post(activity: Record<string, unknown>): Promise<void> {
    this.last = activity;
    const from = this.fake.calls.length;
    const res = await fetch(this.botUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity) });
    await res.text();
    expect(res.status).toBe(200);
    this.screen.record(
      this.fake.since(from).map((c) => {
        const card = cardOf(c.body);
        const text = card ? cardText(card.body).join('\n') : String(c.body.text ?? '');
        return { key: c.kind === 'update' ? c.activityId! : c.id, shown: { text, buttons: teamsActions(card).map((a) => a.title) }, ref: { ...c, id: c.kind === 'update' ? c.activityId! : c.id } };
      }),
    );
  }

  /** Teams users type commands as words ("next", "progress"). */
  command(name: string, args = ''): Promise<void> {
    return this.post(this.activity({ text: `${name}${args ? ` ${args}` : ''}` }));
  }

  /** An Action.Submit on a card: its data in `value`, replying to the card's activity. */
  tap(label: string): Promise<void> {
    const card = this.screen.find(label).ref;
    const action = teamsActions(cardOf(card.body)).find((a) => a.title === label)!;
    return this.post(this.activity({ value: { d: action.d }, replyToId: card.id }));
  }

  lastMessages(): string[] {
    return this.screen.last.map((s) => s.text);
  }

  lastButtons(): string[] {
    return this.screen.lastButtons();
  }

  /** Teams re-sends an activity (same id) when the bot did not answer within 15 s. */
  readonly redeliver = async (): Promise<void> => {
    await this.post(this.last!);
  };

  async stop(): Promise<void> {
    await this.adapter?.stop();
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
    await this.fake.stop();
    await this.bot.store.close();
  }
}

// ---- the script -------------------------------------------------------------------------------

const CHANNELS: { name: Channel; make: () => Driver }[] = [
  { name: 'console', make: () => new ConsoleDriver() },
  { name: 'telegram', make: () => new TelegramDriver() },
  { name: 'slack', make: () => new SlackDriver() },
  { name: 'teams', make: () => new TeamsDriver() },
];

type FinalState = Pick<LearnerState, 'lessons' | 'reviews'>;

const shown = (d: Driver) => d.lastMessages().join('\n');

/**
 * The script, step by step, on one channel; returns the learner's final lessons and review cards.
 * Each channel runs it whole in one test, so no step depends on another test having run first.
 */
async function runScript(d: Driver): Promise<FinalState> {
  // 1. start: a welcome that names DiGIT4SD and how long a lesson takes, with two buttons.
  await d.command('start');
  expect(shown(d)).toContain('DiGIT4SD');
  expect(shown(d)).toContain('about 2 minutes'); // computed from the fixture lessons' text
  expect(d.lastButtons()).toEqual(['Begin module 1', 'Pick a module']);

  // 2. begins module 1: three cards of "Lesson one", then the quiz.
  await d.tap('Begin module 1');
  expect(shown(d)).toContain('Lesson one');
  expect(shown(d)).toMatch(/\b1\/3\b/);
  await d.tap('Next');
  expect(shown(d)).toMatch(/\b2\/3\b/);
  await d.tap('Next');
  expect(shown(d)).toMatch(/\b3\/3\b/);
  expect(d.lastButtons()).toContain('Start the quiz');
  await d.tap('Start the quiz');
  expect(shown(d)).toContain('Which option is right in l1 q1?');
  expect(d.lastButtons()).toEqual(['A', 'B', 'C']);

  // 3. answers the four questions: right, right, right (two ticks), wrong; then the score.
  await d.tap('B');
  expect(shown(d)).toContain('Right!');
  expect(shown(d)).toContain('B is right because the fixture says so.');
  await d.tap('Next question');
  expect(shown(d)).toContain('l1 q2 is true.');
  expect(d.lastButtons()).toEqual(['True', 'False']);

  await d.tap('True');
  expect(shown(d)).toContain('Right!');
  await d.tap('Next question');
  expect(shown(d)).toContain('Pick all that apply in l1 q3.');
  expect(d.lastButtons()).toEqual(['☐ A', '☐ B', '☐ C', 'Submit answer']);

  await d.tap('☐ A');
  expect(d.lastButtons()).toEqual(['☑ A', '☐ B', '☐ C', 'Submit answer']);
  await d.tap('☐ C');
  expect(d.lastButtons()).toEqual(['☑ A', '☐ B', '☑ C', 'Submit answer']);
  await d.tap('Submit answer');
  expect(shown(d)).toContain('Right!');
  await d.tap('Next question');
  expect(shown(d)).toContain('Which option is right in l1 q4?');

  await d.tap('B');
  expect(shown(d)).toContain('Not quite.');
  // The right answer is shown as such: marked ✅ next to the option, or stated after the verdict.
  expect(shown(d)).toMatch(/✅[^\n]*A\. Right A|A\. Right A[^\n]*✅|Not quite\.[\s\S]*A\. Right A/);
  expect(d.lastButtons()).toEqual(['See my score']);
  await d.tap('See my score');
  expect(shown(d)).toContain('You got 3 of 4 right');

  // 4. progress: one lesson of three finished.
  await d.command('progress');
  expect(shown(d)).toContain('Lessons finished: 1 of 3');

  // 5. the store keeps the lesson done with its score, and a review card per item.
  const record = await d.bot.store.getLearner(d.learner);
  expect(record).not.toBeNull();
  const { lessons, reviews } = record!.state;
  expect(lessons.l1).toMatchObject({ status: 'done', lastScore: { correct: 3, total: 4 } });
  expect(Object.keys(reviews).sort()).toEqual(['l1-q1', 'l1-q2', 'l1-q3', 'l1-q4']);
  expect(Object.fromEntries(Object.entries(reviews).map(([id, c]) => [id, [c.seen, c.right]]))).toEqual({
    'l1-q1': [1, 1],
    'l1-q2': [1, 1],
    'l1-q3': [1, 1],
    'l1-q4': [1, 0],
  });

  // 6. a delivery received twice is answered once (the console reads each typed line once, from a
  // local stream: no platform redelivers there).
  if (d.redeliver) {
    await d.command('progress');
    expect(shown(d)).toContain('Lessons finished: 1 of 3');
    const before = await d.bot.store.getLearner(d.learner);
    await d.redeliver();
    expect(d.lastMessages()).toEqual([]);
    expect((await d.bot.store.getLearner(d.learner))!.version).toBe(before!.version);
  }
  return { lessons, reviews };
}

/** The state the script leaves on the console: every channel must leave the same (computed once, by whichever test asks first). */
let reference: Promise<FinalState> | undefined;
function referenceState(): Promise<FinalState> {
  reference ??= (async () => {
    const d = new ConsoleDriver();
    await d.start();
    try {
      return await runScript(d);
    } finally {
      await d.stop();
    }
  })();
  return reference;
}

describe.each(CHANNELS)('the scripted lesson on $name', ({ make }) => {
  it('start, a lesson and its quiz, progress, a redelivery answered once; the same learner state as every channel; no errors', async () => {
    const d = make();
    await d.start();
    try {
      const state = await runScript(d);
      expect(state).toEqual(await referenceState());
      expect(d.errors.map((e) => ({ context: e.context, err: String(e.err) }))).toEqual([]);
    } finally {
      await d.stop();
    }
  });
});
