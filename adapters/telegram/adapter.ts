/**
 * The Telegram channel's wiring, on grammY: updates arrive by long polling or on a webhook mounted
 * on the shared HTTP server; `inbound.ts` turns them into neutral events, the port applies them,
 * and `delivery.ts` carries out the reply (and proactive sends), paced to Telegram's limits
 * (`src/scheduling/chat-pacing.ts`) and retried by the one error policy.
 */
import { timingSafeEqual } from 'node:crypto';
import express from 'express';
import { Bot, webhookCallback, type Context, type Transformer } from 'grammy';
import type { ChannelAdapter, ChannelContext } from '../../src/channel.js';
import type { Config } from '../../src/config.js';
import { decodeAction } from '../../src/engine/actions.js';
import { t } from '../../src/engine/i18n.js';
import { isLang } from '../../src/engine/state.js';
import { hashId } from '../../src/logger.js';
import type { Address, Outbound, PostedRefs } from '../../src/messages.js';
import { ChatPacer, type PacingOptions } from '../../src/scheduling/chat-pacing.js';
import type { RetryOptions } from '../../src/scheduling/retry.js';
import type { ReplyTarget } from '../../src/runtime/durable.js';
import { commandMenus } from './commands.js';
import { chatIdOf, TelegramDelivery, toPlatformError } from './delivery.js';
import { callbackInbound, messageInbound } from './inbound.js';

export type TelegramSettings = NonNullable<Config['telegram']>;

/** Tuning that is not configuration: tests shorten the throttle and the retry waits, production keeps the defaults. */
export interface TelegramOptions {
  /** Outgoing rate limits per scope (Bottleneck's setting names, see `src/scheduling/chat-pacing.ts`); see {@link DEFAULT_THROTTLE}. */
  throttle?: PacingOptions;
  /** How failed calls are retried (see `src/scheduling/retry.ts`). */
  retry?: Partial<RetryOptions>;
}

/**
 * Telegram's documented limits: about 30 messages a second overall, 20 a minute in one group, and
 * about one a second in one private chat (short bursts allowed: a tap often brings 2-3 messages).
 */
export const DEFAULT_THROTTLE: PacingOptions = {
  // Evenly spaced (one call per 1/30 s) rather than a reservoir of 30 refilled every second: a
  // reservoir holds calls back when it runs dry and then releases them in a burst, which a strict
  // limit answers with 429.
  global: { minTime: Math.ceil(1000 / 30) },
  group: { maxConcurrent: 1, minTime: 1000, reservoir: 20, reservoirRefreshAmount: 20, reservoirRefreshInterval: 60_000 },
  out: { maxConcurrent: 1, reservoir: 4, reservoirIncreaseAmount: 1, reservoirIncreaseInterval: 1000, reservoirIncreaseMaximum: 4 },
};

/** The calls Telegram's rate limits count: messages sent, edited or deleted. */
export const PACED_METHODS: ReadonlySet<string> = new Set([
  'sendMessage', 'sendDocument', 'sendPhoto', 'sendMediaGroup', 'copyMessage', 'forwardMessage',
  'editMessageText', 'editMessageReplyMarkup', 'editMessageCaption', 'deleteMessage',
]);

const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/** How long a group membership check is trusted, and how many are kept. */
const MEMBER_CACHE_MS = 10 * 60_000;
const MEMBER_CACHE_SIZE = 10_000;

export class TelegramAdapter implements ChannelAdapter {
  readonly channel = 'telegram' as const;
  /** The grammY bot (its `api` is throttled). */
  readonly tg: Bot;
  readonly delivery: TelegramDelivery;
  private polling: Promise<void> | undefined;
  /** Group membership as getChatMember last said it, per chat and user (see {@link isMember}). */
  private readonly members = new Map<string, { member: boolean; until: number }>();

  constructor(
    private readonly settings: TelegramSettings,
    private readonly ctx: ChannelContext,
    options: TelegramOptions = {},
  ) {
    const client = settings.apiRoot ? { apiRoot: settings.apiRoot.replace(/\/+$/, '') } : {};
    this.tg = new Bot(settings.token, { client });
    const pacer = new ChatPacer(options.throttle ?? DEFAULT_THROTTLE);
    // Calls that name a chat are paced in it (one at a time, in order); the others pass through.
    const throttled: Transformer = (prev, method, payload, signal) => {
      const chatId = payload && typeof payload === 'object' && 'chat_id' in payload ? String((payload as { chat_id: unknown }).chat_id) : undefined;
      return chatId === undefined ? prev(method, payload, signal) : pacer.schedule(chatId, () => prev(method, payload, signal));
    };
    // Telegram's limits count messages sent (and edited); acknowledging a tap is not one of them,
    // and a tap's spinner must stop within a second even when a thousand members tap at once.
    const throttle: Transformer = (prev, method, payload, signal) => (PACED_METHODS.has(method) ? throttled(prev, method, payload, signal) : prev(method, payload, signal));
    this.tg.api.config.use(throttle);
    this.delivery = new TelegramDelivery({ api: this.tg.api, logger: ctx.logger, ...(options.retry ? { retry: options.retry } : {}), ...(ctx.sleep ? { sleep: ctx.sleep } : {}) });

    this.tg.on('callback_query', (c) => this.onCallback(c));
    this.tg.on('message', (c) => this.onMessage(c));
    this.tg.catch((err) => this.ctx.port.report(err.error, { where: 'telegram-update', channel: 'telegram', updateId: err.ctx.update.update_id }));

    if (settings.webhookUrl) this.mountWebhook(settings.webhookUrl, settings.webhookSecret);
  }

  /** Serves the webhook at the URL's path; a request without the secret token gets 401. */
  private mountWebhook(url: string, secret: string | undefined): void {
    if (!secret) throw new Error('TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL');
    const path = new URL(url).pathname || '/';
    const callback = webhookCallback(this.tg, 'express', { secretToken: secret });
    const expected = Buffer.from(secret);
    // Authenticate before parsing: a request without the secret is refused before its body is read.
    const authenticate: express.RequestHandler = (req, res, next) => {
      const given = Buffer.from(req.get('X-Telegram-Bot-Api-Secret-Token') ?? '');
      if (given.length === expected.length && timingSafeEqual(given, expected)) return next();
      res.status(401).end();
    };
    this.ctx.http.post(path, authenticate, express.json({ limit: '1mb' }), async (req, res) => {
      try {
        await callback(req, res);
      } catch (err) {
        // The runtime has applied the update (or will dedupe Telegram's retry of it), so a retry
        // cannot help: report, and acknowledge so that Telegram does not resend it.
        const updateId = (req.body as { update_id?: unknown } | undefined)?.update_id;
        this.ctx.port.report(err instanceof Error && 'error' in err ? (err as { error: unknown }).error : err, { where: 'telegram-webhook', channel: 'telegram', updateId });
        if (!res.headersSent) res.sendStatus(200);
      }
    });
  }

  async start(): Promise<void> {
    await this.tg.init();
    const mode = this.settings.webhookUrl ? 'webhook' : 'polling';
    this.ctx.logger.info({ channel: 'telegram', mode, bot: this.tg.botInfo.username }, 'Telegram channel starting');
    await this.registerCommands();
    if (this.settings.webhookUrl) {
      await this.tg.api
        .setWebhook(this.settings.webhookUrl, { secret_token: this.settings.webhookSecret!, allowed_updates: [...ALLOWED_UPDATES] })
        .catch((err: unknown) => {
          throw toPlatformError(err, 'setWebhook');
        });
      return;
    }
    await new Promise<void>((resolve, reject) => {
      let started = false;
      this.polling = this.tg
        .start({
          allowed_updates: [...ALLOWED_UPDATES],
          onStart: () => {
            started = true;
            resolve();
          },
        })
        .catch((err: unknown) => {
          if (!started) reject(toPlatformError(err, 'getUpdates'));
          else this.ctx.port.report(err, { where: 'telegram-polling', channel: 'telegram' });
        });
    });
  }

  async stop(): Promise<void> {
    if (this.polling) {
      await this.tg.stop();
      await this.polling;
      this.polling = undefined;
    }
  }

  /** Registers the command menus in every interface language; a failure is reported, not fatal. */
  private async registerCommands(): Promise<void> {
    for (const menu of commandMenus()) {
      try {
        await this.tg.api.setMyCommands(menu.commands, {
          scope: { type: menu.scope },
          ...(menu.languageCode ? { language_code: menu.languageCode } : {}),
        });
      } catch (err) {
        this.ctx.port.report(toPlatformError(err, 'setMyCommands'), { where: 'telegram-commands', channel: 'telegram', lang: menu.languageCode ?? 'default' });
      }
    }
  }

  private async onMessage(c: Context): Promise<void> {
    const msg = c.message!;
    const inbound = messageInbound(c.update.update_id, msg, this.tg.botInfo, this.ctx.now());
    if (!inbound) return;
    this.ctx.logger.debug({ channel: 'telegram', update: c.update.update_id, user: hashId(inbound.learner.userId), event: inbound.event.type }, 'update');
    // With the durable inbox, the update is on disk before Telegram gets its 200; the reply follows from the outbox.
    if (this.ctx.port.accept) return this.ctx.port.accept(inbound);
    const out = await this.ctx.port.handle(inbound);
    await this.delivery.deliver(msg.chat.id, inbound.address.kind === 'group', out);
  }

  private async onCallback(c: Context): Promise<void> {
    const q = c.callbackQuery!;
    let out: Outbound[] = [];
    let answered = false;
    try {
      const inbound = callbackInbound(c.update.update_id, q, this.ctx.now());
      if (!inbound || !q.message) return;
      // A team-quiz answer from someone outside a public group (who can see its messages without
      // joining): refused, nothing recorded. Private groups are seen only by members, so only
      // public ones (those with a username) cost a getChatMember call.
      const chat = q.message.chat;
      if (chat.type !== 'private' && 'username' in chat && chat.username && decodeAction(q.data ?? '')?.type === 'group_answer' && !(await this.isMember(chat.id, q.from.id))) {
        const lang = q.from.language_code?.slice(0, 2);
        answered = true;
        await this.answer(q.id, t(isLang(lang) ? lang : 'en', 'group.not_member'));
        return;
      }
      this.ctx.logger.debug({ channel: 'telegram', update: c.update.update_id, user: hashId(inbound.learner.userId), event: 'choice' }, 'update');
      if (this.ctx.port.accept) {
        // The outbox answers the callback (its toast) with the reply.
        await this.ctx.port.accept(inbound, { callbackQueryId: q.id, messageId: q.message.message_id });
        answered = true;
        return;
      }
      out = await this.ctx.port.handle(inbound);
      // Stop the spinner as soon as the answer is known; notices are the sender's toast.
      answered = true;
      await this.answer(q.id, TelegramDelivery.toastOf(out));
      await this.delivery.deliver(q.message.chat.id, inbound.address.kind === 'group', out, q.message.message_id);
    } finally {
      if (!answered) await this.answer(q.id, '');
    }
  }

  /**
   * Whether a user is a member of a group, as Telegram's getChatMember says (cached for
   * {@link MEMBER_CACHE_MS}, so that a team quiz costs one call per member). When Telegram cannot
   * say, the failure is reported and the user is let through: refusing needs Telegram's word.
   */
  private async isMember(chatId: number, userId: number): Promise<boolean> {
    const key = `${chatId}:${userId}`;
    const now = this.ctx.now().getTime();
    const cached = this.members.get(key);
    if (cached && cached.until > now) return cached.member;
    try {
      const m = await this.tg.api.getChatMember(chatId, userId);
      const member = m.status === 'creator' || m.status === 'administrator' || m.status === 'member' || (m.status === 'restricted' && m.is_member);
      if (this.members.size >= MEMBER_CACHE_SIZE) this.members.delete(this.members.keys().next().value!);
      this.members.set(key, { member, until: now + MEMBER_CACHE_MS });
      return member;
    } catch (err) {
      this.ctx.port.report(toPlatformError(err, 'getChatMember'), { where: 'telegram-member-check', channel: 'telegram', chat: hashId(String(chatId)) });
      return true;
    }
  }

  private async answer(id: string, toast: string): Promise<void> {
    try {
      await this.delivery.answerCallback(id, toast);
    } catch (err) {
      this.ctx.port.report(err, { where: 'telegram-answer-callback', channel: 'telegram' });
    }
  }

  /** Proactive messages, through the same delivery (and error policy) as replies. */
  send(address: Address, messages: Outbound[]): Promise<PostedRefs> {
    return this.delivery.send(address, messages);
  }

  /** A reply from the durable outbox: the tap's toast first (it stops the spinner), then the plan, editing the tapped message. */
  async deliver(address: Address, messages: Outbound[], target?: ReplyTarget): Promise<void> {
    if (typeof target?.callbackQueryId === 'string') {
      await this.answer(target.callbackQueryId, TelegramDelivery.toastOf(messages));
    }
    const tapped = typeof target?.messageId === 'number' ? target.messageId : undefined;
    await this.delivery.deliver(chatIdOf(address.conversationId), address.kind === 'group', messages, tapped);
  }
}

export { chatIdOf };
