/**
 * The Slack channel's wiring, on Bolt for JS. Bolt's receiver is the transport: over HTTP it is an
 * ExpressReceiver mounted on the shared HTTP app at `/slack/events` (events, interactivity and the
 * slash command on one URL, every request's signature verified), or Socket Mode when an app-level
 * token is set (`socket-mode.ts`: an event's envelope is acknowledged once its work is done).
 * `inbound.ts` turns payloads into neutral events, the port applies them, and `delivery.ts`
 * carries out the reply; `render.ts` builds the Block Kit.
 *
 * - Direct messages with the bot are the learner's private conversation: the whole course.
 * - In channels, the slash command runs team quizzes (`/digit4sd quiz m2 5`, `/digit4sd leaderboard`,
 *   `/digit4sd schedule fri 15:00` for a weekly one); each member answers by button and gets a
 *   private (ephemeral) confirmation.
 * - The App Home tab shows the learner's progress and a Continue button.
 */
import { App, ExpressReceiver, LogLevel, webApi } from '@slack/bolt';
import type { AllMiddlewareArgs, AuthorizeResult, BlockAction, ButtonAction, Logger as BoltLogger, SlackCommandMiddlewareArgs } from '@slack/bolt';
import type { ChannelAdapter, ChannelContext } from '../../src/channel.js';
import { isLang, type Lang } from '../../src/engine/state.js';
import { PlatformError } from '../../src/errors.js';
import { hashId, type Logger } from '../../src/logger.js';
import type { Address, Inbound, Outbound, PostedRefs } from '../../src/messages.js';
import { KeyedMutex } from '../../src/runtime/mutex.js';
import type { RetryOptions } from '../../src/scheduling/retry.js';
import type { ReplyTarget } from '../../src/runtime/durable.js';
import { SlackDelivery, toPlatformError } from './delivery.js';
import { actionEventId, isDirectCommand, isGroupAction, parseCommandText, parseDirectText, slackInbound, type SlackUser } from './inbound.js';
import { ACTION_PREFIX, homeView } from './render.js';
import { AckAfterWorkReceiver, envelopeOf, type SocketEnvelope } from './socket-mode.js';

type WebClient = InstanceType<typeof webApi.WebClient>;

/** The Slack settings from the configuration, plus options that tests and operators may tune. */
export interface SlackSettings {
  botToken: string;
  /** Verifies Slack's requests over HTTP; required unless `appToken` is given (Socket Mode does not use it). */
  signingSecret?: string;
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
  /** The bot's ids; with both given, the adapter skips its auth.test call. */
  botId?: string;
  botUserId?: string;
  /** How failed Web API calls are retried (see `src/scheduling/retry.ts`), replies and proactive sends alike. */
  retry?: Partial<RetryOptions>;
  /**
   * Whether this process receives Slack events (default true). A worker process only sends
   * (reminders, team quiz posts): it does not open a Socket Mode connection.
   */
  receive?: boolean;
  /** Seconds a second tap on the same button of the same message is ignored (double taps). Default 5. */
  doubleTapSec?: number;
  /**
   * Socket Mode: milliseconds to wait for a pong before reconnecting, and before each reconnection
   * (default 5000, the SDK's).
   */
  socketPingTimeoutMs?: number;
}

export { toPlatformError, parseCommandText, parseDirectText };

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

interface CachedUser extends SlackUser {
  at: number;
}

const USER_CACHE_MS = 60 * 60 * 1000;
const USER_RETRY_MS = 5 * 60 * 1000;

const NOT_IN_CHANNEL = 'I cannot post in this channel yet. Invite me first (/invite @DiGIT4SD), then try again.';

export class SlackAdapter implements ChannelAdapter {
  readonly channel = 'slack' as const;
  /** The Bolt app (tests and operators may inspect it). */
  readonly app: InstanceType<typeof App>;
  readonly delivery: SlackDelivery;
  /** The Web API client with the bot token: every call the adapter makes. */
  private readonly client: WebClient;
  /** The bot's own ids, from one auth.test (or the settings); a failed ask is not kept. */
  private identity?: Promise<{ botId: string; botUserId: string }>;
  private readonly socketMode: boolean;
  private readonly users = new Map<string, CachedUser>();
  private readonly taps = new Map<string, number>();
  private readonly order = new KeyedMutex();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Errors of inbox writes that failed: the request fails with them rather than being acknowledged. */
  private readonly notAccepted = new WeakSet<object>();

  constructor(
    private readonly settings: SlackSettings,
    private readonly ctx: ChannelContext,
  ) {
    const logger = boltLogger(ctx.logger);
    const slackApiUrl = settings.apiUrl ?? 'https://slack.com/api/';
    // The client does not retry: the one error policy (delivery.ts) does, for every call.
    const clientOptions = { slackApiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true };
    this.socketMode = !!settings.appToken;
    const { appToken, signingSecret } = settings;
    const receiver = appToken
      ? new AckAfterWorkReceiver({
          appToken,
          logger,
          slackApiUrl,
          ...(settings.socketPingTimeoutMs !== undefined ? { clientPingTimeoutMs: settings.socketPingTimeoutMs } : {}),
          onError: (err, context) => ctx.port.report(err, context),
        })
      : signingSecret
        ? new ExpressReceiver({
            signingSecret,
            logger,
            endpoints: settings.path ?? '/slack/events',
            // With the durable inbox, Slack's 200 waits until the event is on disk (a fast write);
            // without it, Slack is answered at once and the work goes on after.
            processBeforeResponse: settings.processBeforeResponse ?? !!ctx.port.accept,
            app: ctx.http,
          })
        : undefined;
    // Over HTTP every request is verified with the signing secret; Socket Mode has no requests to verify.
    if (!receiver) throw new Error('Slack over HTTP needs signingSecret (SLACK_SIGNING_SECRET) to verify requests; give appToken (SLACK_APP_TOKEN) for Socket Mode instead');
    this.client = new webApi.WebClient(settings.botToken, { ...clientOptions, logger });
    // Bolt given the token itself would check it with an auth.test of its own, started in its
    // constructor and rejected unhandled when Slack refuses the token. Given `authorize`, it asks the
    // adapter, which checks the token once (verify(), at start-up) and hands Bolt the result.
    this.app = new App({
      authorize: async ({ isEnterpriseInstall }): Promise<AuthorizeResult> => ({ botToken: settings.botToken, isEnterpriseInstall, ...(await this.identify()) }),
      receiver,
      logger,
      clientOptions,
    });
    this.delivery = new SlackDelivery({ client: this.client, command: settings.command, ...(settings.retry ? { retry: settings.retry } : {}), ...(ctx.sleep ? { sleep: ctx.sleep } : {}) });
    this.app.error(async (err) => {
      ctx.port.report(err, { where: 'slack-bolt', code: (err as { code?: string }).code });
      // An event that could not be written to the inbox must not be answered 200 over HTTP: thrown
      // on, Bolt's receiver answers 500 and Slack delivers the event again.
      const original = (err as { original?: unknown }).original ?? err;
      if (!this.socketMode && typeof original === 'object' && original !== null && this.notAccepted.has(original)) throw err;
    });
    this.listen();
  }

  /** The bot's ids, which Bolt needs to ignore the bot's own messages: auth.test once, through the error policy. */
  private identify(): Promise<{ botId: string; botUserId: string }> {
    if (!this.identity) {
      const { botId, botUserId } = this.settings;
      const identity =
        botId && botUserId
          ? Promise.resolve({ botId, botUserId })
          : this.delivery.call('auth.test', () => this.client.auth.test()).then((r) => ({ botId: r.bot_id ?? '', botUserId: r.user_id ?? '' }));
      // A failed ask is forgotten, so that the next one asks Slack again.
      identity.catch(() => {
        if (this.identity === identity) this.identity = undefined;
      });
      this.identity = identity;
    }
    return this.identity;
  }

  /**
   * Checks the bot token with Slack (auth.test) and keeps the bot's ids. `app.ts` calls it before the
   * HTTP server listens, in every role. Rejects with a {@link PlatformError}; its `unauthorized` is set
   * when Slack refuses the token.
   */
  async verify(): Promise<void> {
    await this.identify();
  }

  private nowMs(): number {
    return this.ctx.now().getTime();
  }

  /**
   * Runs a handler's work, reports its errors with context, and lets stop() wait for it. In Socket
   * Mode an event's envelope is acknowledged once this work is done; failed, it is left
   * unacknowledged and Slack delivers it again.
   */
  private track(where: string, context: Record<string, unknown>, work: () => Promise<void>, envelope?: SocketEnvelope): Promise<void> {
    const p = work().catch((err) => {
      envelope?.markFailed();
      this.ctx.port.report(err, { where, channel: 'slack', ...context });
    });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  /**
   * Durable: the event goes into the inbox before Slack is answered. If that fails, the request fails
   * (HTTP 500) or the Socket Mode envelope stays unacknowledged, so that Slack delivers it again.
   */
  private async acceptOrFail(inbound: Inbound, target: ReplyTarget, envelope: SocketEnvelope | undefined): Promise<void> {
    try {
      await this.ctx.port.accept!(inbound, target);
    } catch (err) {
      if (typeof err === 'object' && err !== null) this.notAccepted.add(err);
      envelope?.markFailed();
      throw err;
    }
  }

  private listen(): void {
    this.app.event('message', async ({ event, body, context }) => {
      const e = event as { channel_type?: string; subtype?: string; bot_id?: string; user?: string; text?: string; channel: string; ts: string };
      if (e.channel_type !== 'im' || e.subtype || e.bot_id || !e.user) return;
      const parsed = parseDirectText(e.text ?? '');
      if (!parsed) return;
      const userId = e.user;
      const b = body as { event_id: string; team_id?: string };
      if (this.ctx.port.accept) {
        // Durable: accepted into the inbox before Slack's 200 (a failure fails the request, so Slack retries).
        const inbound = slackInbound(b.event_id, userId, { conversationId: e.channel, kind: 'direct', teamId: b.team_id }, parsed, new Date(Number(e.ts) * 1000), await this.who(userId));
        await this.acceptOrFail(inbound, { user: userId }, envelopeOf(context));
        return;
      }
      await this.track('slack-dm', { user: hashId(userId), eventId: b.event_id }, async () => {
        const who = await this.who(userId);
        const inbound = slackInbound(b.event_id, userId, { conversationId: e.channel, kind: 'direct', teamId: b.team_id }, parsed, new Date(Number(e.ts) * 1000), who);
        await this.order.run(`dm:${userId}`, async () => this.delivery.deliver(e.channel, userId, 'direct', await this.ctx.port.handle(inbound)));
      }, envelopeOf(context));
    });

    this.app.event('app_mention', async ({ event, body, context }) => {
      const b = body as { event_id: string; team_id?: string };
      const userId = event.user;
      if (!userId) return;
      if (this.ctx.port.accept) {
        const inbound = slackInbound(b.event_id, userId, { conversationId: event.channel, kind: 'group', teamId: b.team_id }, { type: 'text', text: event.text }, new Date(Number(event.ts) * 1000), await this.who(userId));
        await this.acceptOrFail(inbound, { user: userId }, envelopeOf(context));
        return;
      }
      await this.track('slack-mention', { eventId: b.event_id }, async () => {
        const inbound = slackInbound(b.event_id, userId, { conversationId: event.channel, kind: 'group', teamId: b.team_id }, { type: 'text', text: event.text }, new Date(Number(event.ts) * 1000), await this.who(userId));
        await this.delivery.deliver(event.channel, userId, 'group', await this.ctx.port.handle(inbound));
      }, envelopeOf(context));
    });

    this.app.event('app_home_opened', async ({ event, context }) => {
      if (event.tab !== 'home') return;
      await this.track('slack-home', { user: hashId(event.user) }, () => this.publishHome(event.user), envelopeOf(context));
    });

    this.app.command(this.settings.command, async (args) => {
      if (this.ctx.port.accept) {
        // Durable: acknowledged once the command is in the inbox.
        await this.onCommand(args);
        await args.ack();
        return;
      }
      await args.ack();
      await this.track('slack-command', { user: hashId(args.command.user_id) }, () => this.onCommand(args));
    });

    this.app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: new RegExp(`^${ACTION_PREFIX}`) }, async ({ ack, body, action }) => {
      if (this.ctx.port.accept) {
        await this.onAction(body, action);
        await ack();
        return;
      }
      await ack();
      await this.track('slack-action', { user: hashId(body.user.id) }, () => this.onAction(body, action));
    });
  }

  private async onCommand({ command, respond }: SlackCommandMiddlewareArgs & AllMiddlewareArgs): Promise<void> {
    const { command: sub, args } = parseCommandText(command.text ?? '');
    const userId = command.user_id;
    const who = await this.who(userId, command.user_name);
    const id = `cmd:${command.trigger_id}`;
    const at = this.ctx.now();
    if (isDirectCommand(command)) {
      // Always answer in the learner's own conversation with the bot, whichever DM the command came from.
      const dm = await this.delivery.openDm(userId);
      const inbound = slackInbound(id, userId, { conversationId: dm, kind: 'direct', teamId: command.team_id }, { type: 'command', command: sub, args }, at, who);
      if (this.ctx.port.accept) return this.acceptOrFail(inbound, { user: userId }, undefined);
      await this.order.run(`dm:${userId}`, async () => this.delivery.deliver(dm, userId, 'direct', await this.ctx.port.handle(inbound)));
      return;
    }
    const inbound = slackInbound(id, userId, { conversationId: command.channel_id, kind: 'group', teamId: command.team_id }, { type: 'command', command: sub, args }, at, who);
    if (this.ctx.port.accept) return this.acceptOrFail(inbound, { user: userId }, undefined);
    const messages = await this.ctx.port.handle(inbound);
    try {
      await this.delivery.deliver(command.channel_id, userId, 'group', messages);
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
    const now = this.nowMs();
    for (const [k, until] of this.taps) if (until < now) this.taps.delete(k);
    if ((this.taps.get(tapKey) ?? 0) >= now) return;
    const until = now + (this.settings.doubleTapSec ?? 5) * 1000;
    this.taps.set(tapKey, until);
    try {
      await this.takeAction(body, action, where, now);
    } catch (err) {
      // Durable: a tap that failed was not taken (nothing is applied before the inbox write), and
      // Slack is told so. Its window is closed again: Slack's retry, or the learner's next tap, counts.
      if (this.ctx.port.accept && this.taps.get(tapKey) === until) this.taps.delete(tapKey);
      throw err;
    }
  }

  /** A tap past the double-tap check: accepted into the inbox (durable), or applied and answered. */
  private async takeAction(body: BlockAction<ButtonAction>, action: ButtonAction, where: string, now: number): Promise<void> {
    const userId = body.user.id;
    const container = body.container as { type?: string; channel_id?: string; message_ts?: string };
    const id = actionEventId(where, userId, action.action_id, action.action_ts);
    const data = action.value ?? '';
    const channelId = container.channel_id ?? body.channel?.id;
    const at = new Date(Number(action.action_ts) * 1000 || now);
    const who = await this.who(userId, body.user.name ?? body.user.username);
    const teamId = body.team?.id ?? body.user.team_id;
    if (channelId && isGroupAction(data, channelId, container.type)) {
      const inbound = slackInbound(id, userId, { conversationId: channelId, kind: 'group', teamId }, { type: 'choice', data }, at, who);
      if (this.ctx.port.accept) return this.acceptOrFail(inbound, { user: userId }, undefined);
      await this.delivery.deliver(channelId, userId, 'group', await this.ctx.port.handle(inbound));
      return;
    }
    const fromHome = container.type === 'view' || !channelId;
    const dm = channelId && !fromHome ? channelId : await this.delivery.openDm(userId);
    const tapped = !fromHome && container.message_ts ? { channel: dm, ts: container.message_ts } : undefined;
    const inbound = slackInbound(id, userId, { conversationId: dm, kind: 'direct', teamId }, { type: 'choice', data }, at, who);
    if (this.ctx.port.accept) return this.acceptOrFail(inbound, { user: userId, ...(tapped ? { tappedTs: tapped.ts } : {}), ...(fromHome ? { home: true } : {}) }, undefined);
    await this.order.run(`dm:${userId}`, async () => this.delivery.deliver(dm, userId, 'direct', await this.ctx.port.handle(inbound), tapped));
    if (fromHome) await this.publishHome(userId);
  }

  /** The learner's name and locale, from users.info (cached); the payload's name if that fails. */
  private async who(userId: string, fallbackName?: string): Promise<SlackUser> {
    const cached = this.users.get(userId);
    if (cached && this.nowMs() - cached.at < USER_CACHE_MS) return cached;
    try {
      const res = await this.delivery.call('users.info', () => this.client.users.info({ user: userId, include_locale: true }));
      const u = res.user;
      const name = u?.profile?.display_name || u?.real_name || u?.name || fallbackName;
      const info: CachedUser = { ...(name ? { name } : {}), ...(u?.locale ? { locale: u.locale } : {}), at: this.nowMs() };
      this.users.set(userId, info);
      return info;
    } catch (err) {
      // The learner can still learn without a display name: report it and go on with the payload's name.
      this.ctx.port.report(err, { where: 'slack-users-info', user: hashId(userId) });
      // Asked again in a few minutes, not on every event (a missing users:read scope would flood the error sink).
      const info: CachedUser = { ...(fallbackName ? { name: fallbackName } : {}), at: this.nowMs() - USER_CACHE_MS + USER_RETRY_MS };
      this.users.set(userId, info);
      return info;
    }
  }

  /** Publishes the learner's App Home view. */
  private async publishHome(userId: string): Promise<void> {
    const state = await this.ctx.port.peek({ channel: 'slack', userId });
    const who = state ? undefined : await this.who(userId);
    const hint = who?.locale?.slice(0, 2);
    const lang: Lang = isLang(hint) ? hint : 'en';
    const view = homeView({ course: this.ctx.port.course, state, now: this.ctx.now(), lang, command: this.settings.command });
    await this.delivery.call('views.publish', () => this.client.views.publish({ user_id: userId, view }));
  }

  /** Proactive messages, through the same delivery (and error policy) as replies. */
  send(address: Address, messages: Outbound[]): Promise<PostedRefs> {
    return this.delivery.send(address, messages);
  }

  /** A reply from the durable outbox: notices to the member who acted, the tapped message edited, the Home tab refreshed. */
  async deliver(address: Address, messages: Outbound[], target?: ReplyTarget): Promise<void> {
    const user = typeof target?.user === 'string' ? target.user : undefined;
    const tapped = typeof target?.tappedTs === 'string' ? { channel: address.conversationId, ts: target.tappedTs } : undefined;
    await this.delivery.deliver(address.conversationId, user, address.kind, messages, tapped);
    if (target?.home === true && user) await this.publishHome(user);
  }

  async start(): Promise<void> {
    if (this.socketMode && this.settings.receive !== false) await this.app.start();
  }

  async stop(): Promise<void> {
    if (this.socketMode && this.settings.receive !== false) await this.app.stop();
    await Promise.allSettled([...this.inFlight]);
  }
}
