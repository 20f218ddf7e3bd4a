/**
 * The Microsoft Teams channel's wiring, on botbuilder's CloudAdapter: receives activities at
 * `POST /api/messages` on the shared HTTP server; `inbound.ts` turns them into neutral events, the
 * port applies them, and `delivery.ts` carries out the reply as Adaptive Cards through the Bot
 * Connector API, paced per conversation and retried by the one error policy. Proactive messages
 * (reminders, a team quiz's posts) go through `continueConversationAsync` with a reference rebuilt
 * from the saved address.
 *
 * Everything botbuilder-specific lives in this file; `inbound.ts`, `render.ts` and `delivery.ts`
 * are plain JSON and rules (see README.md, "Moving to the Microsoft 365 Agents SDK").
 */
import express from 'express';
import { CloudAdapter, ConfigurationBotFrameworkAuthentication, type Activity, type ConversationReference, type InvokeResponse, type TurnContext } from 'botbuilder';
import type { ChannelAdapter, ChannelContext } from '../../src/channel.js';
import type { Config } from '../../src/config.js';
import { PlatformError } from '../../src/errors.js';
import { hashId, type Logger } from '../../src/logger.js';
import type { Address, Outbound, PostedRefs } from '../../src/messages.js';
import type { ReplyTarget } from '../../src/runtime/durable.js';
import { ConversationPacer, DEFAULT_RETRY, TeamsDelivery, toPlatformError, type RetryOptions, type TeamsConversation } from './delivery.js';
import { referenceOf, serviceUrlAllowed, toInbound, type ActivityLike } from './inbound.js';

/** The Teams settings from {@link Config}. */
export type TeamsSettings = NonNullable<Config['teams']>;

/** Tuning, mostly for tests; defaults are the production values. */
export interface TeamsOptions {
  /** The route Teams posts to (default `/api/messages`). */
  path: string;
  retry: RetryOptions;
  pacer: ConversationPacer;
}

/** CloudAdapter, with its turn runner callable on an activity this adapter authenticated itself. */
export class TeamsCloudAdapter extends CloudAdapter {
  run(authenticated: Awaited<ReturnType<ConfigurationBotFrameworkAuthentication['authenticateRequest']>>, activity: Activity, logic: (turn: TurnContext) => Promise<void>): Promise<InvokeResponse | undefined> {
    return this.processActivity(authenticated, activity, logic);
  }
}

/** The activity's timestamps as dates, as the SDK's own request handling makes them. */
function withDates(activity: Activity): Activity {
  const raw = activity as unknown as Record<string, unknown>;
  for (const [field, rawField] of [['timestamp', 'rawTimestamp'], ['expiration', 'rawExpiration'], ['localTimestamp', 'rawLocalTimestamp']] as const) {
    if (typeof raw[field] === 'string') {
      raw[rawField] = raw[field];
      raw[field] = new Date(raw[field] as string);
    }
  }
  return activity;
}

export class TeamsAdapter implements ChannelAdapter {
  readonly channel = 'teams' as const;
  /** Teams has no private notices: a group sees one running tally of who has answered. */
  readonly groupTally = true;
  /** The botbuilder adapter (exposed for tests and for a future Agents SDK comparison). */
  readonly cloud: TeamsCloudAdapter;
  readonly delivery: TeamsDelivery;
  private readonly auth: ConfigurationBotFrameworkAuthentication;
  private readonly log: Logger;
  private readonly opts: TeamsOptions;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Errors of inbox writes that failed: their request fails rather than being acknowledged. */
  private readonly notAccepted = new WeakSet<object>();
  private stopping = false;
  private warnedRetryPolicy = false;

  constructor(
    private readonly settings: TeamsSettings,
    private readonly ctx: ChannelContext,
    options: Partial<TeamsOptions> = {},
  ) {
    this.log = ctx.logger.child({ channel: 'teams' });
    const sleep = ctx.sleep;
    this.opts = {
      path: '/api/messages',
      retry: { ...DEFAULT_RETRY, ...(sleep ? { sleep } : {}) },
      pacer: new ConversationPacer(() => ctx.now().getTime(), ...(sleep ? [sleep] : [])),
      ...options,
    };
    this.delivery = new TeamsDelivery(this.log, this.opts.pacer, this.opts.retry);
    this.auth = new ConfigurationBotFrameworkAuthentication({
      MicrosoftAppId: settings.appId ?? '',
      MicrosoftAppPassword: settings.appPassword ?? '',
      MicrosoftAppType: settings.appType,
      MicrosoftAppTenantId: settings.tenantId ?? '',
    });
    this.cloud = new TeamsCloudAdapter(this.auth);
    // Our own logic catches and reports its errors; this only sees failures inside the SDK's pipeline.
    this.cloud.onTurnError = async (turn, err) => {
      // An activity that could not be written to the inbox fails its request (500, reported once
      // below), so that the Bot Framework delivers it again rather than taking a 200 for it.
      if (typeof err === 'object' && err !== null && this.notAccepted.has(err)) throw err;
      this.ctx.port.report(err, { where: 'teams-turn-pipeline', activityType: turn.activity.type, conversation: hashId(turn.activity.conversation?.id ?? '') });
    };
    // One retry policy, ours: the SDK's own (5xx only, 1 s base) would multiply with it.
    this.cloud.use(async (turn, next) => {
      this.dropSdkRetry(turn);
      await next();
    });
    ctx.http.post(this.opts.path, (req, res, next) => this.requireToken(req, res, next), express.json({ limit: '1mb' }), async (req, res) => {
      if (this.stopping) {
        res.status(503).end();
        return;
      }
      const work = this.receive(req, res);
      this.track(work);
      await work;
    });
  }

  /**
   * With an app id, a request without a bearer token is refused before its body is read (the SDK
   * checks the token itself once the body is parsed: it needs the activity's service URL).
   */
  private requireToken(req: express.Request, res: express.Response, next: express.NextFunction): void {
    if (!this.settings.appId || /^Bearer \S+$/i.test(req.get('authorization') ?? '')) return next();
    this.log.warn({ where: 'teams-auth', reason: 'no bearer token' }, 'request refused');
    res.status(401).end();
  }

  /**
   * Authenticates one activity and runs its turn. A bad or forged token gets 401, a service URL
   * this bot may not reply to gets 403, both with an empty body (CloudAdapter.process would answer
   * with the error's text, and a forged token with 500).
   */
  private async receive(req: express.Request, res: express.Response): Promise<void> {
    const body = req.body as unknown;
    if (typeof body !== 'object' || body === null || Array.isArray(body) || typeof (body as { type?: unknown }).type !== 'string') {
      this.log.warn({ where: 'teams-request', reason: 'not an activity' }, 'request refused');
      res.status(400).end();
      return;
    }
    const activity = withDates(body as Activity);
    if (!this.settings.appId && !serviceUrlAllowed(activity.serviceUrl, this.settings.allowedServiceUrls ?? [])) {
      this.log.warn({ where: 'teams-request', reason: 'service URL not allowed' }, 'request refused: without MICROSOFT_APP_ID, replies go only to Bot Framework service URLs (see TEAMS_ALLOWED_SERVICE_URLS)');
      res.status(403).end();
      return;
    }
    let authenticated: Awaited<ReturnType<ConfigurationBotFrameworkAuthentication['authenticateRequest']>>;
    try {
      authenticated = await this.auth.authenticateRequest(activity, req.get('authorization') ?? '');
    } catch (err) {
      this.log.warn({ where: 'teams-auth', reason: 'token refused', type: err instanceof Error ? err.name : typeof err }, 'request refused');
      res.status(401).end();
      return;
    }
    try {
      const invoke = await this.cloud.run(authenticated, activity, (turn) => this.onTurn(turn));
      res.status(invoke?.status ?? 200);
      if (invoke?.body !== undefined) res.json(invoke.body);
      else res.end();
    } catch (err) {
      this.ctx.port.report(err, { where: 'teams-request', activityType: activity.type });
      if (!res.headersSent) res.status(500).end();
    }
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
  }

  private dropSdkRetry(turn: TurnContext): void {
    const connector = turn.turnState.get(this.cloud.ConnectorClientKey) as { client?: { pipeline?: { removePolicy?: (o: { name: string }) => unknown } } } | undefined;
    const pipeline = connector?.client?.pipeline;
    if (pipeline?.removePolicy) pipeline.removePolicy({ name: 'defaultRetryPolicy' });
    else if (!this.warnedRetryPolicy) {
      this.warnedRetryPolicy = true;
      this.log.warn('the Bot Connector client has no pipeline to adjust: the SDK may retry failed sends on top of our own retries');
    }
  }

  /** The turn's conversation, as the delivery sees it. */
  private conversation(turn: TurnContext): TeamsConversation {
    return {
      id: turn.activity.conversation.id,
      post: async (message) => (await turn.sendActivity(message))?.id,
      update: async (activityId, message) => void (await turn.updateActivity({ ...message, id: activityId })),
    };
  }

  /** Handles one activity: to the port, and its answer back to the conversation. */
  private async onTurn(turn: TurnContext): Promise<void> {
    const activity = turn.activity as ActivityLike;
    const inbound = toInbound(activity, this.ctx.now());
    if (!inbound) return;
    if (this.ctx.port.accept) {
      // Durable: the activity is in the inbox before Teams gets its 200 (a failure fails the request,
      // so the Bot Framework retries); the reply follows from the outbox, as a proactive message.
      const replyToId = turn.activity.replyToId;
      try {
        await this.ctx.port.accept(inbound, replyToId ? { replyToId } : undefined);
      } catch (err) {
        if (typeof err === 'object' && err !== null) this.notAccepted.add(err);
        throw err;
      }
      return;
    }
    try {
      const replies = await this.ctx.port.handle(inbound);
      await this.delivery.deliver(this.conversation(turn), inbound.address, replies, turn.activity.replyToId);
    } catch (err) {
      // The event is already applied: a redelivery would be dropped, so report rather than fail the request.
      this.ctx.port.report(err, { where: 'teams-reply', eventId: hashId(inbound.id), user: hashId(inbound.learner.userId), conversation: hashId(inbound.address.conversationId) });
    }
  }

  /**
   * Sends messages on the bot's own initiative, through a conversation reference rebuilt from the
   * address. Throws a {@link PlatformError} when Teams refuses (after retries).
   */
  send(address: Address, messages: Outbound[]): Promise<PostedRefs> {
    return this.proactive(address, messages);
  }

  /** A reply from the durable outbox: a proactive message, updating the card whose button was pressed. */
  async deliver(address: Address, messages: Outbound[], target?: ReplyTarget): Promise<void> {
    await this.proactive(address, messages, typeof target?.replyToId === 'string' ? target.replyToId : undefined);
  }

  private async proactive(address: Address, messages: Outbound[], replyToId?: string): Promise<PostedRefs> {
    const reference = referenceOf(address);
    if (!reference) {
      throw new PlatformError({ platform: 'teams', method: 'continueConversation', unreachable: true, description: 'the saved address has no conversation reference' });
    }
    let failure: unknown;
    let refs: PostedRefs = {};
    const work = this.cloud.continueConversationAsync(this.settings.appId ?? '', reference as Partial<ConversationReference> as ConversationReference, async (turn) => {
      // A new message, not a reply to the made-up id of the continuation activity.
      turn.onSendActivities(async (_turn, activities, next) => {
        for (const a of activities) delete a.replyToId;
        return next();
      });
      try {
        refs = await this.delivery.deliver(this.conversation(turn), address, messages, replyToId);
      } catch (err) {
        failure = err;
      }
    });
    this.track(work);
    try {
      await work;
    } catch (err) {
      throw toPlatformError(err, 'continueConversation');
    }
    if (failure) throw toPlatformError(failure, 'sendActivity');
    return refs;
  }

  async start(): Promise<void> {
    if (!this.settings.appId) {
      this.log.warn(
        `TEAMS CHANNEL IS UNAUTHENTICATED: MICROSOFT_APP_ID is not set, so ${this.opts.path} accepts ANY request from anyone. ` +
          'This is for local testing with the Bot Framework Emulator only. Set MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD before exposing this server.',
      );
    } else {
      this.log.info({ path: this.opts.path, appType: this.settings.appType }, 'Teams channel ready');
    }
  }

  /** Refuses new activities and waits for the ones in flight. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.inFlight]);
  }
}
