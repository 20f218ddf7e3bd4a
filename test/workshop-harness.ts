/**
 * A workshop room for tests: the whole app (as `npm start` wires it) with Telegram, Slack and Teams
 * against their local fakes, the console on streams, a trainer driving the pages over HTTP, and
 * helpers to act as participants on each channel.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { startApp, type RunningApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { FakeSlackApi, type SlackCall } from './fakes/slack-api.js';
import { cardOf, FakeConnector, textOf } from './fakes/teams-connector.js';
import { FakeTelegram, type TgUser } from './fakes/telegram-api.js';
import { FIXTURE_DIR } from './helpers.js';

export const ADMIN_TOKEN = 'trainer-token-0123456789abcdef';
export const SLACK_SECRET = 'workshop-signing-secret';
export const SLACK_TOKEN = 'xoxb-test-token';

/** Polls `check` until it holds (every 20 ms), or fails naming `what`. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A clock that starts at a fixed date and runs with wall time (channels pace their sends by it),
 * and that a test can move forward (days after a workshop).
 */
export class RunningClock {
  private readonly start = Date.now();
  private offset = 0;
  constructor(private readonly base: Date) {}
  now = (): Date => new Date(this.base.getTime() + (Date.now() - this.start) + this.offset);
  advance(ms: number): void {
    this.offset += ms;
  }
}

export interface RoomOptions {
  dataDir?: string;
  channels?: { slack?: boolean; teams?: boolean; console?: boolean };
  tickMs?: number;
  /** Lifts the Telegram channel's pacing (Telegram's own limits), to measure what is behind it. */
  unpaced?: boolean;
}

export class Room {
  readonly telegram = new FakeTelegram();
  readonly slack = new FakeSlackApi();
  readonly teams = new FakeConnector();
  readonly clock: RunningClock;
  readonly dataDir: string;
  /** Error log lines the app wrote (its error sink logs every error once). */
  readonly errors: Record<string, unknown>[] = [];
  app!: RunningApp;
  base = '';
  consoleOut = '';
  private stdin: PassThrough | undefined;
  private seq = 0;
  private telegramUp = false;
  private readonly ownDir: boolean;

  constructor(private readonly opts: RoomOptions = {}) {
    this.clock = new RunningClock(new Date('2026-03-02T09:00:00Z'));
    this.ownDir = !opts.dataDir;
    this.dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'digit4sd-workshop-'));
  }

  async start(): Promise<this> {
    const ch = this.opts.channels ?? { slack: true, teams: true, console: true };
    if (!this.telegramUp) await this.telegram.start();
    this.telegramUp = true;
    if (ch.slack && !this.slack.url) await this.slack.start();
    if (ch.teams && !this.teams.url) await this.teams.start();
    const env: Record<string, string> = {
      PORT: '0',
      DATA_DIR: this.dataDir,
      ADMIN_TOKEN,
      TELEGRAM_BOT_TOKEN: this.telegram.token,
      TELEGRAM_API_ROOT: this.telegram.apiRoot,
      TELEGRAM_BOT_USERNAME: 'digit4sd_test_bot',
      LOG_LEVEL: 'silent',
    };
    if (ch.slack) Object.assign(env, { SLACK_BOT_TOKEN: SLACK_TOKEN, SLACK_SIGNING_SECRET: SLACK_SECRET, SLACK_API_URL: this.slack.apiUrl });
    if (ch.teams) Object.assign(env, { TEAMS_ENABLED: 'true', TEAMS_ALLOWED_SERVICE_URLS: this.teams.url });
    if (ch.console) env.CONSOLE = 'true';
    const config = loadConfig(env);
    const stdout = new PassThrough();
    stdout.on('data', (b: Buffer) => (this.consoleOut += b.toString('utf8')));
    this.stdin = new PassThrough();
    const errorLog = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) this.errors.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    this.app = await startApp({ config, logger: createLogger('error', errorLog), lessonsDir: FIXTURE_DIR, now: this.clock.now, tickMs: this.opts.tickMs ?? 100, stdin: this.stdin, stdout, ...(this.opts.unpaced ? { telegramOptions: { throttle: { global: { maxConcurrent: 64 }, out: { maxConcurrent: 4 } } } } : {}) });
    this.base = `http://127.0.0.1:${(this.app.server!.address() as AddressInfo).port}`;
    return this;
  }

  /** Stops the app (the fakes stay up, as the platforms would). */
  async stopApp(): Promise<void> {
    await this.app.stop();
  }

  async stop(): Promise<void> {
    await this.app?.stop().catch(() => undefined);
    await this.telegram.stop();
    if (this.slack.url) await this.slack.stop();
    if (this.teams.url) await this.teams.stop();
    if (this.ownDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  // ---- the trainer ----

  async trainerFetch(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.base}${path}`, { redirect: 'manual', ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers ?? {}) } });
  }

  /** Creates a workshop from the page's form; returns its id, code and board link. */
  async createWorkshop(title: string, lessons: string[], lang = 'en'): Promise<{ id: string; code: string; board: string }> {
    const body = new URLSearchParams({ title, lang });
    for (const l of lessons) body.append('lessons', l);
    const res = await this.trainerFetch('/workshops', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    if (res.status !== 303) throw new Error(`create answered ${res.status}: ${await res.text()}`);
    const id = /\/workshops\/([\w-]+)/.exec(res.headers.get('location')!)![1]!;
    const page = await (await this.trainerFetch(`/workshops/${id}`)).text();
    const code = /class="code">([A-Z0-9]{6})</.exec(page)![1]!;
    const board = /id="board-link" href="([^"]+)"/.exec(page)![1]!;
    return { id, code, board: `${this.base}${board}` };
  }

  async act(id: string, action: string, index?: number): Promise<void> {
    const body = new URLSearchParams({ action, ...(index !== undefined ? { index: String(index) } : {}) });
    const res = await this.trainerFetch(`/workshops/${id}/action`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    if (res.status !== 303) throw new Error(`${action} answered ${res.status}: ${await res.text()}`);
  }

  // ---- participants: Telegram ----

  async tgSend(user: TgUser, text: string): Promise<void> {
    const u = this.telegram.message(user, text);
    this.telegram.push(u);
    await this.telegram.handled(u.update_id);
  }

  /** The last message to `user` that has buttons. */
  tgLastQuiz(user: TgUser) {
    return [...this.telegram.sentTo(user.id)].reverse().find((m) => m.message.reply_markup?.inline_keyboard.length);
  }

  // ---- participants: Slack (Events API and interactions, signed as Slack signs) ----

  private async slackPost(body: string, contentType: string): Promise<void> {
    const ts = Math.floor(Date.now() / 1000);
    const signature = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;
    const res = await fetch(`${this.base}/slack/events`, { method: 'POST', headers: { 'content-type': contentType, 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature }, body });
    await res.text();
    if (res.status !== 200) throw new Error(`slack answered ${res.status}`);
  }

  async slackSay(user: string, text: string): Promise<void> {
    const n = ++this.seq;
    const ts = `${1772442000 + n}.${String(n).padStart(6, '0')}`;
    const payload = {
      token: 'legacy',
      team_id: 'T0001',
      api_app_id: 'A0001',
      event: { type: 'message', channel: `D${user}`, user, text, ts, event_ts: ts, channel_type: 'im', team: 'T0001' },
      type: 'event_callback',
      event_id: `EvWs${n}`,
      event_time: 1772442000 + n,
      authorizations: [{ enterprise_id: null, team_id: 'T0001', user_id: 'UBOT', is_bot: true, is_enterprise_install: false }],
    };
    await this.slackPost(JSON.stringify(payload), 'application/json');
  }

  /** Messages posted to a Slack user's DM (text and blocks), in order. */
  slackTo(user: string): SlackCall[] {
    return this.slack.calls.filter((c) => c.args.channel === `D${user}` && (c.method === 'chat.postMessage' || c.method === 'chat.postEphemeral' || c.method === 'chat.update'));
  }

  slackButtons(call: SlackCall): { actionId: string; value: string; label: string }[] {
    const blocks = (call.args.blocks ?? []) as { type: string; elements?: { type: string; action_id: string; value: string; text: { text: string } }[] }[];
    return blocks.flatMap((b) => (b.type === 'actions' ? (b.elements ?? []).filter((e) => e.type === 'button').map((e) => ({ actionId: e.action_id, value: e.value, label: e.text.text })) : []));
  }

  async slackTap(user: string, call: SlackCall, label: string): Promise<void> {
    const button = this.slackButtons(call).find((b) => b.label === label);
    if (!button) throw new Error(`no Slack button ${label}`);
    const n = ++this.seq;
    const messageTs = String(call.result.ts ?? call.args.ts);
    const payload = {
      type: 'block_actions',
      user: { id: user, username: user, name: user, team_id: 'T0001' },
      api_app_id: 'A0001',
      token: 'legacy',
      container: { type: 'message', message_ts: messageTs, channel_id: `D${user}`, is_ephemeral: false },
      trigger_id: `trig-${n}`,
      team: { id: 'T0001', domain: 'test' },
      channel: { id: `D${user}`, name: 'directmessage' },
      message: { type: 'message', user: 'UBOT', ts: messageTs, text: String(call.args.text ?? ''), blocks: call.args.blocks },
      state: { values: {} },
      response_url: this.slack.responseUrl(`act-${n}`),
      actions: [{ action_id: button.actionId, block_id: 'b1', text: { type: 'plain_text', text: label }, value: button.value, type: 'button', action_ts: `${1772443000 + n}.000001` }],
    };
    await this.slackPost(`payload=${encodeURIComponent(JSON.stringify(payload))}`, 'application/x-www-form-urlencoded');
  }

  // ---- participants: Teams (activities to /api/messages; replies to the fake connector) ----

  private teamsActivity(user: { id: string; name: string }, extra: Record<string, unknown>): Record<string, unknown> {
    return {
      type: 'message',
      id: `ws-in-${++this.seq}`,
      timestamp: new Date().toISOString(),
      serviceUrl: this.teams.url,
      channelId: 'msteams',
      locale: 'es-ES',
      from: { ...user, aadObjectId: `aad-${user.id}` },
      recipient: { id: '28:bot-id', name: 'DiGIT4SD' },
      conversation: { id: `a:personal-${user.id}`, conversationType: 'personal', tenantId: 'tenant-1' },
      channelData: { tenant: { id: 'tenant-1' } },
      ...extra,
    };
  }

  async teamsSay(user: { id: string; name: string }, text: string): Promise<void> {
    const res = await fetch(`${this.base}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(this.teamsActivity(user, { text })) });
    await res.text();
    if (res.status !== 200) throw new Error(`teams answered ${res.status}`);
  }

  teamsTo(user: { id: string }) {
    return this.teams.calls.filter((c) => c.conversationId === `a:personal-${user.id}`);
  }

  teamsText(call: { body: Record<string, unknown> }): string {
    return textOf(call.body);
  }

  teamsActions(call: { body: Record<string, unknown> }): { title: string; d: string }[] {
    const card = cardOf(call.body);
    const inBody = (card?.body ?? []).flatMap((e) => (e.type === 'ActionSet' ? (e.actions as { title: string; data: { d: string } }[]) : []));
    return [...inBody, ...(card?.actions ?? [])].map((a) => ({ title: a.title, d: a.data.d }));
  }

  async teamsTap(user: { id: string; name: string }, call: { id: string; body: Record<string, unknown> }, label: string): Promise<void> {
    const action = this.teamsActions(call).find((a) => a.title === label);
    if (!action) throw new Error(`no Teams action ${label}: ${this.teamsActions(call).map((a) => a.title).join(', ')}`);
    const res = await fetch(`${this.base}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(this.teamsActivity(user, { value: { d: action.d }, replyToId: call.id })), signal: AbortSignal.timeout(15_000) }).catch((err: unknown) => {
      throw new Error(`Teams tap not answered: ${String(err)}; connector attempts: ${JSON.stringify(this.teams.attempts.slice(-5))}`);
    });
    await res.text();
    if (res.status !== 200) throw new Error(`teams answered ${res.status}`);
  }

  // ---- participants: the console ----

  async consoleLine(line: string): Promise<void> {
    await this.app.console!.line(line);
  }
}
