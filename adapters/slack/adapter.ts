/**
 * The Slack channel, on Bolt for JS. Bolt's receiver is the transport: over HTTP it is an
 * ExpressReceiver mounted on the shared HTTP app at `/slack/events` (events, interactivity and the
 * slash command on one URL, every request's signature verified), or Socket Mode when an app-level
 * token is set. This file turns Slack's payloads into {@link Inbound} events and sends what the
 * bot answers; `render.ts` builds the Block Kit.
 *
 * - Direct messages with the bot are the learner's private conversation: the whole course.
 * - In channels, the slash command runs team quizzes (`/digit4sd quiz m2 5`, `/digit4sd leaderboard`,
 *   `/digit4sd schedule fri 15:00` for a weekly one);
 *   each member answers by button and gets a private (ephemeral) confirmation.
 * - The App Home tab shows the learner's progress and a Continue button.
 */
import { App, ExpressReceiver, LogLevel, SocketModeReceiver, webApi } from '@slack/bolt';
import type { AllMiddlewareArgs, BlockAction, ButtonAction, Logger as BoltLogger, SlackCommandMiddlewareArgs } from '@slack/bolt';
import type { ChannelAdapter, ChannelContext } from '../../src/channel.js';
import { decodeAction, type Action } from '../../src/engine/actions.js';
import { LEARNER_COMMANDS } from '../../src/engine/engine.js';
import { isLang, type Lang } from '../../src/engine/state.js';
import { PlatformError } from '../../src/errors.js';
import { hashId, type Logger } from '../../src/logger.js';
import type { Address, Inbound, InboundEvent, Outbound } from '../../src/messages.js';
import { KeyedMutex } from '../../src/runtime/mutex.js';
import { ACTION_PREFIX, homeView, renderAnsweredQuiz, renderClosedQuestion, renderMessage, type RenderContext, type SlackMessage } from './render.js';

type WebClient = InstanceType<typeof webApi.WebClient>;
type RetryOptions = NonNullable<ConstructorParameters<typeof webApi.WebClient>[1]>['retryConfig'];

/** The Slack settings from the configuration, plus options that tests and operators may tune. */
export interface SlackSettings {
  botToken: string;
  signingSecret: string;
  /** An app-level token (xapp-...): Socket Mode instead of HTTP. */
  appToken?: string;
  /** The Web API base, ending in /api/ (GovSlack, tests). Default Slack's. */
  apiUrl?: string;
  /** The slash command's name, e.g. "/digit4sd". */
  command: string;
  /** Path of the events URL on the shared HTTP server (default `/slack/events`). */
  path?: string;
  /**
   * Finish the work of a request before answering it (tests, serverless). Default false: answer
   * Slack at once (it wants an answer within 3 seconds) and do the work after.
   */
  processBeforeResponse?: boolean;
  /** The bot's ids; with both given, Bolt skips its auth.test call. */
  botId?: string;
  botUserId?: string;
  /** Retries of Web API calls made while answering a learner (429s wait for Retry-After). */
  replyRetry?: RetryOptions;
  /** Retries of proactive sends (network errors only: a 429 becomes a PlatformError for the scheduler). */
  pushRetry?: RetryOptions;
  /**
   * Whether this process receives Slack events (default true). A worker process only sends
   * (reminders, closed team questions): it does not open a Socket Mode connection.
   */
  receive?: boolean;
  /** Seconds a second tap on the same button of the same message is ignored (double taps). Default 5. */
  doubleTapSec?: number;
}

/** Slack errors after which a learner or channel cannot be reached any more. */
const UNREACHABLE = new Set(['account_inactive', 'user_not_found', 'channel_not_found', 'is_archived', 'not_in_channel', 'user_disabled', 'cannot_dm_bot', 'messages_tab_disabled']);
/** Slack errors that may pass if tried again later. */
const TRANSIENT = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'ratelimited']);

/** Translates a Web API failure into a {@link PlatformError}, once. */
export function toPlatformError(err: unknown, method: string): PlatformError {
  if (err instanceof PlatformError) return err;
  const e = (err ?? {}) as { code?: string; data?: { error?: string }; retryAfter?: number; statusCode?: number; message?: string };
  switch (e.code) {
    case 'slack_webapi_rate_limited_error':
      return new PlatformError({ platform: 'slack', method, status: 429, ...(e.retryAfter !== undefined ? { retryAfterSec: e.retryAfter } : {}), description: 'rate limited', cause: err });
    case 'slack_webapi_platform_error': {
      const code = e.data?.error ?? 'unknown_error';
      return new PlatformError({ platform: 'slack', method, status: TRANSIENT.has(code) ? 503 : 400, unreachable: UNREACHABLE.has(code), description: code, cause: err });
    }
    case 'slack_webapi_http_error':
      return new PlatformError({ platform: 'slack', method, ...(e.statusCode ? { status: e.statusCode } : {}), description: `HTTP ${e.statusCode ?? '?'}`, cause: err });
    default:
      return new PlatformError({ platform: 'slack', method, description: e.message ?? 'request failed', cause: err });
  }
}

/** Bolt's logger on top of ours. Debug output is dropped: the Web API client logs request bodies there. */
function boltLogger(logger: Logger): BoltLogger {
  const log = logger.child({ component: 'slack' });
  let level = LogLevel.INFO;
  const line = (msg: unknown[]) => msg.map((m) => (m instanceof Error ? m.message : String(m))).join(' ');
  return {
    debug: () => {},
    info: (...msg: unknown[]) => log.info(line(msg)),
    warn: (...msg: unknown[]) => log.warn(line(msg)),
    error: (...msg: unknown[]) => log.error(line(msg)),
    setLevel: (l) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

const LEARNER_WORDS = new Set<string>(LEARNER_COMMANDS);

/** A direct-message text as an event: a first word that is a learner command is that command. */
export function parseDirectText(text: string): InboundEvent | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const m = /^\/?([a-z]+)(?:\s+([\s\S]*))?$/i.exec(trimmed);
  if (m && LEARNER_WORDS.has(m[1]!.toLowerCase())) return { type: 'command', command: m[1]!.toLowerCase(), args: (m[2] ?? '').trim() };
  return { type: 'text', text: trimmed };
}

/** The slash command's text as a sub-command and its arguments; no text is "help". */
export function parseCommandText(text: string): { command: string; args: string } {
  const [word = '', ...rest] = text.trim().split(/\s+/);
  return { command: word.replace(/^\//, '').toLowerCase() || 'help', args: rest.join(' ') };
}

/** The message a button was on, for edits in place. */
interface Source {
  channel: string;
  ts: string;
  action: Action | undefined;
}

interface UserInfo {
  name?: string;
  locale?: string;
  at: number;
}

const USER_CACHE_MS = 60 * 60 * 1000;
const USER_RETRY_MS = 5 * 60 * 1000;

const NOT_IN_CHANNEL = 'I cannot post in this channel yet. Invite me first (/invite @DiGIT4SD), then try again.';

export class SlackAdapter implements ChannelAdapter {
  readonly channel = 'slack' as const;
  /** The Bolt app (tests and operators may inspect it). */
  readonly app: InstanceType<typeof App>;
  private readonly push: WebClient;
  private readonly socketMode: boolean;
  private readonly dms = new Map<string, string>();
  private readonly users = new Map<string, UserInfo>();
  /** The open team-quiz question message per channel, to close its buttons when it is answered. */
  private readonly openQuestions = new Map<string, { ts: string; message: Extract<Outbound, { kind: 'quiz' }> }>();
  private readonly taps = new Map<string, number>();
  private readonly order = new KeyedMutex();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly settings: SlackSettings,
    private readonly ctx: ChannelContext,
  ) {
    const logger = boltLogger(ctx.logger);
    const slackApiUrl = settings.apiUrl ?? 'https://slack.com/api/';
    const replyRetry = settings.replyRetry ?? { retries: 3, factor: 2, minTimeout: 500, maxTimeout: 10_000, randomize: true };
    const clientOptions = { slackApiUrl, retryConfig: replyRetry, rejectRateLimitedCalls: false };
    this.push = new webApi.WebClient(settings.botToken, {
      slackApiUrl,
      logger,
      retryConfig: settings.pushRetry ?? { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 5_000 },
      rejectRateLimitedCalls: true,
    });
    this.socketMode = !!settings.appToken;
    const receiver = settings.appToken
      ? new SocketModeReceiver({ appToken: settings.appToken, logger, installerOptions: { clientOptions: { slackApiUrl } } })
      : new ExpressReceiver({
          signingSecret: settings.signingSecret,
          logger,
          endpoints: settings.path ?? '/slack/events',
          processBeforeResponse: settings.processBeforeResponse ?? false,
          app: ctx.http,
        });
    this.app = new App({
      token: settings.botToken,
      receiver,
      logger,
      clientOptions,
      ...(settings.appToken ? { socketMode: true, appToken: settings.appToken } : {}),
      ...(settings.botId && settings.botUserId ? { botId: settings.botId, botUserId: settings.botUserId, tokenVerificationEnabled: false } : {}),
    });
    this.app.error(async (err) => {
      ctx.onError(err, { where: 'slack-bolt', code: (err as { code?: string }).code });
    });
    this.listen();
  }

  private get client(): WebClient {
    return this.app.client;
  }

  /** Runs a handler's work, reports its errors with context, and lets stop() wait for it. */
  private track(where: string, context: Record<string, unknown>, work: () => Promise<void>): Promise<void> {
    const p = work().catch((err) => this.ctx.onError(err, { where, channel: 'slack', ...context }));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  private listen(): void {
    this.app.event('message', async ({ event, body }) => {
      const e = event as { channel_type?: string; subtype?: string; bot_id?: string; user?: string; text?: string; channel: string; ts: string };
      if (e.channel_type !== 'im' || e.subtype || e.bot_id || !e.user) return;
      const parsed = parseDirectText(e.text ?? '');
      if (!parsed) return;
      const userId = e.user;
      const b = body as { event_id: string; team_id?: string };
      await this.track('slack-dm', { user: hashId(userId), eventId: b.event_id }, async () => {
        const who = await this.who(userId);
        const inbound = this.inbound(b.event_id, userId, { conversationId: e.channel, kind: 'direct', teamId: b.team_id }, parsed, new Date(Number(e.ts) * 1000), who);
        await this.order.run(`dm:${userId}`, async () => this.deliver(e.channel, userId, 'direct', await this.ctx.bot.handle(inbound), this.client));
      });
    });

    this.app.event('app_mention', async ({ event, body }) => {
      const b = body as { event_id: string; team_id?: string };
      const userId = event.user;
      if (!userId) return;
      await this.track('slack-mention', { eventId: b.event_id }, async () => {
        const inbound = this.inbound(b.event_id, userId, { conversationId: event.channel, kind: 'group', teamId: b.team_id }, { type: 'text', text: event.text }, new Date(Number(event.ts) * 1000), await this.who(userId));
        await this.deliver(event.channel, userId, 'group', await this.ctx.bot.handle(inbound), this.client);
      });
    });

    this.app.event('app_home_opened', async ({ event }) => {
      if (event.tab !== 'home') return;
      await this.track('slack-home', { user: hashId(event.user) }, () => this.publishHome(event.user, this.client));
    });

    this.app.command(this.settings.command, async (args) => {
      await args.ack();
      await this.track('slack-command', { user: hashId(args.command.user_id) }, () => this.onCommand(args));
    });

    this.app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: new RegExp(`^${ACTION_PREFIX}`) }, async ({ ack, body, action }) => {
      await ack();
      await this.track('slack-action', { user: hashId(body.user.id) }, () => this.onAction(body, action));
    });
  }

  private inbound(id: string, userId: string, where: { conversationId: string; kind: Address['kind']; teamId?: string | undefined }, event: InboundEvent, at: Date, who: UserInfo): Inbound {
    return {
      id,
      learner: { channel: 'slack', userId },
      address: { channel: 'slack', conversationId: where.conversationId, kind: where.kind, ...(where.teamId ? { ref: { teamId: where.teamId } } : {}) },
      ...(who.name ? { displayName: who.name } : {}),
      ...(who.locale ? { languageHint: who.locale } : {}),
      event,
      at,
    };
  }

  private async onCommand({ command, respond }: SlackCommandMiddlewareArgs & AllMiddlewareArgs): Promise<void> {
    const { command: sub, args } = parseCommandText(command.text ?? '');
    const userId = command.user_id;
    const who = await this.who(userId, command.user_name);
    const id = `cmd:${command.trigger_id}`;
    const at = this.ctx.now();
    const direct = command.channel_name === 'directmessage' || command.channel_id.startsWith('D');
    if (direct) {
      // Always answer in the learner's own conversation with the bot, whichever DM the command came from.
      const dm = await this.openDm(userId, this.client);
      const inbound = this.inbound(id, userId, { conversationId: dm, kind: 'direct', teamId: command.team_id }, { type: 'command', command: sub, args }, at, who);
      await this.order.run(`dm:${userId}`, async () => this.deliver(dm, userId, 'direct', await this.ctx.bot.handle(inbound), this.client));
      return;
    }
    const inbound = this.inbound(id, userId, { conversationId: command.channel_id, kind: 'group', teamId: command.team_id }, { type: 'command', command: sub, args }, at, who);
    const messages = await this.ctx.bot.handle(inbound);
    try {
      await this.deliver(command.channel_id, userId, 'group', messages, this.client);
    } catch (err) {
      if (err instanceof PlatformError && err.unreachable) {
        await respond({ response_type: 'ephemeral', text: NOT_IN_CHANNEL });
      }
      throw err;
    }
  }

  private async onAction(body: BlockAction<ButtonAction>, action: ButtonAction): Promise<void> {
    const userId = body.user.id;
    const container = body.container as { type?: string; channel_id?: string; message_ts?: string; view_id?: string };
    const where = container.message_ts ?? container.view_id ?? body.view?.id ?? '';
    // Double taps: the same button of the same rendering of one message, again within a few seconds.
    const tapKey = `${userId}:${where}:${action.action_id}`;
    const now = Date.now();
    for (const [k, until] of this.taps) if (until < now) this.taps.delete(k);
    if ((this.taps.get(tapKey) ?? 0) >= now) return;
    this.taps.set(tapKey, now + (this.settings.doubleTapSec ?? 5) * 1000);

    // Stable for a repeated delivery of this very interaction.
    const id = `act:${where}:${userId}:${action.action_id}:${action.action_ts}`;
    const data = action.value ?? '';
    const decoded = decodeAction(data);
    const channelId = container.channel_id ?? body.channel?.id;
    const at = new Date(Number(action.action_ts) * 1000 || this.ctx.now().getTime());
    const who = await this.who(userId, body.user.name ?? body.user.username);
    const teamId = body.team?.id ?? body.user.team_id;
    const isGroup = decoded?.type === 'group_answer' || decoded?.type === 'group_join' || (!!channelId && !channelId.startsWith('D') && container.type !== 'view');
    if (isGroup && channelId) {
      const inbound = this.inbound(id, userId, { conversationId: channelId, kind: 'group', teamId }, { type: 'choice', data }, at, who);
      await this.deliver(channelId, userId, 'group', await this.ctx.bot.handle(inbound), this.client);
      return;
    }
    const fromHome = container.type === 'view' || !channelId;
    const dm = channelId && !fromHome ? channelId : await this.openDm(userId, this.client);
    const source = !fromHome && container.message_ts ? { channel: dm, ts: container.message_ts, action: decoded } : undefined;
    const inbound = this.inbound(id, userId, { conversationId: dm, kind: 'direct', teamId }, { type: 'choice', data }, at, who);
    await this.order.run(`dm:${userId}`, async () => this.deliver(dm, userId, 'direct', await this.ctx.bot.handle(inbound), this.client, source));
    if (fromHome) await this.publishHome(userId, this.client);
  }

  /** The learner's name and locale, from users.info (cached); the payload's name if that fails. */
  private async who(userId: string, fallbackName?: string): Promise<UserInfo> {
    const cached = this.users.get(userId);
    if (cached && Date.now() - cached.at < USER_CACHE_MS) return cached;
    try {
      const res = await this.client.users.info({ user: userId, include_locale: true });
      const u = res.user;
      const name = u?.profile?.display_name || u?.real_name || u?.name || fallbackName;
      const info: UserInfo = { ...(name ? { name } : {}), ...(u?.locale ? { locale: u.locale } : {}), at: Date.now() };
      this.users.set(userId, info);
      return info;
    } catch (err) {
      // The learner can still learn without a display name: report it and go on with the payload's name.
      this.ctx.onError(toPlatformError(err, 'users.info'), { where: 'slack-users-info', user: hashId(userId) });
      // Asked again in a few minutes, not on every event (a missing users:read scope would flood the error sink).
      const info: UserInfo = { ...(fallbackName ? { name: fallbackName } : {}), at: Date.now() - USER_CACHE_MS + USER_RETRY_MS };
      this.users.set(userId, info);
      return info;
    }
  }

  /** The bot's direct-message channel with a user (conversations.open, cached). */
  private async openDm(userId: string, client: WebClient): Promise<string> {
    const cached = this.dms.get(userId);
    if (cached) return cached;
    const res = await this.call('conversations.open', () => client.conversations.open({ users: userId }));
    const id = res.channel?.id;
    if (!id) throw new PlatformError({ platform: 'slack', method: 'conversations.open', status: 502, description: 'no channel in the answer' });
    this.dms.set(userId, id);
    return id;
  }

  private async call<T>(method: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toPlatformError(err, method);
    }
  }

  /** Publishes the learner's App Home view. */
  private async publishHome(userId: string, client: WebClient): Promise<void> {
    const record = await this.ctx.bot.store.getLearner({ channel: 'slack', userId });
    const who = record ? undefined : await this.who(userId);
    const hint = who?.locale?.slice(0, 2);
    const lang: Lang = isLang(hint) ? hint : 'en';
    const view = homeView({ course: this.ctx.bot.course, state: record?.state ?? null, now: this.ctx.now(), lang, command: this.settings.command });
    await this.call('views.publish', () => client.views.publish({ user_id: userId, view }));
  }

  /**
   * Sends the bot's answer in a conversation. Notices go to the sender only (ephemeral); in a
   * direct message, an answered question is replaced by its result, and a ticked option of a
   * multiple-answer question redraws the question in place.
   */
  private async deliver(channel: string, user: string | undefined, where: RenderContext['where'], messages: Outbound[], client: WebClient, source?: Source): Promise<void> {
    const ctx: RenderContext = { where, command: this.settings.command };
    let sourceUsed = false;
    const channelPosts: Outbound[] = [];
    for (const m of messages) {
      if (m.kind === 'notice' && user && where === 'group') {
        const r = renderMessage(m, ctx);
        await this.call('chat.postEphemeral', () => client.chat.postEphemeral({ channel, user, text: r.text, blocks: r.blocks }));
        continue;
      }
      if (source && !sourceUsed && where === 'direct') {
        const a = source.action;
        const answered = m.kind === 'feedback' && m.answersSource && (a?.type === 'answer' || a?.type === 'submit');
        const ticked = m.kind === 'quiz' && m.multiple && a?.type === 'answer' && a.itemId === m.itemId;
        if (answered || ticked) {
          sourceUsed = true;
          const r = m.kind === 'feedback' ? renderAnsweredQuiz(m, ctx) : renderMessage(m, ctx);
          await this.call('chat.update', () => client.chat.update({ channel: source.channel, ts: source.ts, text: r.text, blocks: r.blocks }));
          continue;
        }
      }
      channelPosts.push(m);
    }
    if (!channelPosts.length) return;
    const post = async () => {
      for (const m of channelPosts) await this.post(channel, m, ctx, client);
    };
    // Posts in one channel keep their order across concurrent answers.
    await (where === 'group' ? this.order.run(`channel:${channel}`, post) : post());
  }

  private async post(channel: string, m: Outbound, ctx: RenderContext, client: WebClient): Promise<void> {
    if (m.kind === 'data') {
      await this.call('files.uploadV2', () => client.filesUploadV2({ channel_id: channel, file: Buffer.from(m.json, 'utf8'), filename: m.filename, title: m.filename }));
      return;
    }
    if (m.kind === 'file') {
      const file = Buffer.from(m.base64, 'base64');
      await this.call('files.uploadV2', () => client.filesUploadV2({ channel_id: channel, file, filename: m.filename, title: m.filename, initial_comment: m.caption }));
      return;
    }
    if (ctx.where === 'group') {
      // A new team-quiz message follows the open question: that question's buttons are done.
      const open = this.openQuestions.get(channel);
      if (open) {
        this.openQuestions.delete(channel);
        const closed = renderClosedQuestion(open.message, ctx);
        await this.call('chat.update', () => client.chat.update({ channel, ts: open.ts, text: closed.text, blocks: closed.blocks }));
      }
    }
    const r: SlackMessage = renderMessage(m, ctx);
    const res = await this.call('chat.postMessage', () => client.chat.postMessage({ channel, text: r.text, blocks: r.blocks, unfurl_links: false }));
    if (ctx.where === 'group' && m.kind === 'quiz' && res.ts) this.openQuestions.set(channel, { ts: res.ts, message: m });
  }

  /**
   * Proactive messages (reminders, a team question that closed). A direct address whose id is a
   * user id (U..., W...) is opened with conversations.open first. Throws a {@link PlatformError}:
   * `unreachable` when the learner or channel is gone, `retryAfterSec` on a 429.
   */
  async send(address: Address, messages: Outbound[]): Promise<void> {
    const id = address.conversationId;
    const channel = address.kind === 'direct' && /^[UW]/.test(id) ? await this.openDm(id, this.push) : id;
    await this.deliver(channel, undefined, address.kind, messages, this.push);
  }

  async start(): Promise<void> {
    if (this.socketMode && this.settings.receive !== false) await this.app.start();
  }

  async stop(): Promise<void> {
    if (this.socketMode && this.settings.receive !== false) await this.app.stop();
    await Promise.allSettled([...this.inFlight]);
  }
}
