/**
 * The Telegram channel, on grammY: turns updates (long polling, or a webhook on the shared HTTP
 * server) into neutral {@link Inbound} events, hands them to the bot, and sends what it answers,
 * rendered by `render.ts`.
 *
 * - Replies to an update go through `bot.api`, which honours 429 `retry_after` (auto-retry) and is
 *   throttled to Telegram's limits (transformer-throttler).
 * - Proactive sends (`send`, used by reminders and closing group questions) share the throttle but
 *   never wait out a 429: they throw a {@link PlatformError} with `retryAfterSec`, and one with
 *   `unreachable` when the learner blocked the bot, so that the scheduler decides.
 * - In groups the bot reacts only to its commands, its buttons and replies to its messages.
 */
import express from 'express';
import { timingSafeEqual } from 'node:crypto';
import { Api, Bot, GrammyError, HttpError, InputFile, webhookCallback, type Context, type Transformer } from 'grammy';
import type { Message } from 'grammy/types';
import { autoRetry, type AutoRetryOptions } from '@grammyjs/auto-retry';
import { apiThrottler, type APIThrottlerOptions } from '@grammyjs/transformer-throttler';
import type { ChannelAdapter, ChannelContext } from '../../src/channel.js';
import type { Config } from '../../src/config.js';
import { decodeAction } from '../../src/engine/actions.js';
import { t } from '../../src/engine/i18n.js';
import { isLang } from '../../src/engine/state.js';
import { PlatformError } from '../../src/errors.js';
import { hashId } from '../../src/logger.js';
import type { Address, Inbound, InboundEvent, Outbound } from '../../src/messages.js';
import { commandMenus } from './commands.js';
import { renderFeedbackEdit, renderQuizEdit, renderTelegram, type InlineKeyboard, type TelegramMessage } from './render.js';

export type TelegramSettings = NonNullable<Config['telegram']>;

/** Tuning that is not configuration: tests shorten the throttle, production keeps the defaults. */
export interface TelegramOptions {
  /** Outgoing rate limits (Bottleneck settings per scope); see {@link DEFAULT_THROTTLE}. */
  throttle?: APIThrottlerOptions;
  /** How replies wait out 429s and transient failures; see {@link DEFAULT_RETRY}. */
  retry?: Partial<AutoRetryOptions>;
}

/**
 * Telegram's documented limits: about 30 messages a second overall, 20 a minute in one group, and
 * about one a second in one private chat (short bursts allowed: a tap often brings 2-3 messages).
 */
export const DEFAULT_THROTTLE: APIThrottlerOptions = {
  // Evenly spaced (one call per 1/30 s) rather than a reservoir of 30 refilled every second: a
  // reservoir holds calls back when it runs dry and then releases them in a burst, which a strict
  // limit answers with 429.
  global: { minTime: Math.ceil(1000 / 30) },
  group: { maxConcurrent: 1, minTime: 1000, reservoir: 20, reservoirRefreshAmount: 20, reservoirRefreshInterval: 60_000 },
  out: { maxConcurrent: 1, reservoir: 4, reservoirIncreaseAmount: 1, reservoirIncreaseInterval: 1000, reservoirIncreaseMaximum: 4 },
};

/** A reply waits at most 60 s for a 429 and tries 3 more times; past that the error is reported. */
export const DEFAULT_RETRY: Partial<AutoRetryOptions> = { maxDelaySeconds: 60, maxRetryAttempts: 3 };

const ALLOWED_UPDATES = ['message', 'callback_query'] as const;
/** How long a group membership check is trusted, and how many are kept. */
const MEMBER_CACHE_MS = 10 * 60_000;
const MEMBER_CACHE_SIZE = 10_000;
const NO_PREVIEW = { is_disabled: true } as const;

/** Translates a grammY failure into a {@link PlatformError}, once, with the fields the scheduler acts on. */
export function toPlatformError(err: unknown, method: string): PlatformError {
  if (err instanceof PlatformError) return err;
  if (err instanceof GrammyError) {
    const unreachable =
      err.error_code === 403 || (err.error_code === 400 && /chat not found|user is deactivated|peer_id_invalid|bot was kicked/i.test(err.description));
    return new PlatformError({
      platform: 'telegram',
      method: err.method || method,
      status: err.error_code,
      ...(err.parameters.retry_after !== undefined ? { retryAfterSec: err.parameters.retry_after } : {}),
      unreachable,
      description: err.description,
      cause: err,
    });
  }
  if (err instanceof HttpError) return new PlatformError({ platform: 'telegram', method, description: `network error: ${err.message}`, cause: err });
  return new PlatformError({ platform: 'telegram', method, description: err instanceof Error ? err.message : String(err), cause: err });
}

/** Where a tap came from: the message to edit in place, and what its button said. */
interface TapSource {
  messageId: number;
  data: string;
}

type ChatId = number | string;

const chatIdOf = (conversationId: string): ChatId => (/^-?\d+$/.test(conversationId) ? Number(conversationId) : conversationId);

function displayName(from: { first_name: string; last_name?: string; username?: string }): string {
  return [from.first_name, from.last_name].filter(Boolean).join(' ').trim() || from.username || 'Telegram user';
}

export class TelegramAdapter implements ChannelAdapter {
  readonly channel = 'telegram' as const;
  /** The grammY bot (its `api` retries and throttles). */
  readonly tg: Bot;
  /** For proactive sends: throttled, but a 429 is thrown to the caller instead of waited out. */
  private readonly proactive: Api;
  /** Per group chat, the team-quiz question whose buttons are live (see {@link post}). */
  private readonly openQuestions = new Map<string, { messageId: number; itemId: string }>();
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
    const throttle: Transformer = apiThrottler(options.throttle ?? DEFAULT_THROTTLE);
    this.tg.api.config.use(throttle);
    this.tg.api.config.use(autoRetry({ ...DEFAULT_RETRY, ...options.retry }));
    this.proactive = new Api(settings.token, client);
    this.proactive.config.use(throttle);

    this.tg.on('callback_query', (c) => this.onCallback(c));
    this.tg.on('message', (c) => this.onMessage(c));
    this.tg.catch((err) => this.ctx.onError(err.error, { where: 'telegram-update', channel: 'telegram', updateId: err.ctx.update.update_id }));

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
        this.ctx.onError(err instanceof Error && 'error' in err ? (err as { error: unknown }).error : err, { where: 'telegram-webhook', channel: 'telegram', updateId });
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
          else this.ctx.onError(err, { where: 'telegram-polling', channel: 'telegram' });
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
        this.ctx.onError(toPlatformError(err, 'setMyCommands'), { where: 'telegram-commands', channel: 'telegram', lang: menu.languageCode ?? 'default' });
      }
    }
  }

  // ---- inbound ----------------------------------------------------------------------------

  /** The event of a message, or undefined when the bot should not react to it. */
  private eventOf(msg: Message, inGroup: boolean): InboundEvent | undefined {
    const text = msg.text ?? msg.caption ?? '';
    const entity = (msg.entities ?? msg.caption_entities)?.[0];
    if (entity?.type === 'bot_command' && entity.offset === 0) {
      const [name = '', target] = text.slice(1, entity.length).split('@');
      if (target && target.toLowerCase() !== this.tg.botInfo.username.toLowerCase()) return undefined;
      return { type: 'command', command: name.toLowerCase(), args: text.slice(entity.length).trim() };
    }
    if (inGroup && msg.reply_to_message?.from?.id !== this.tg.botInfo.id) return undefined;
    if (msg.text === undefined && msg.caption === undefined && inGroup) return undefined;
    return { type: 'text', text };
  }

  private inbound(updateId: number, chat: { id: number; type: string }, from: { id: number; first_name: string; last_name?: string; username?: string; language_code?: string }, event: InboundEvent, date: number): Inbound {
    const address: Address = { channel: 'telegram', conversationId: String(chat.id), kind: chat.type === 'private' ? 'direct' : 'group' };
    return {
      id: `tg-${updateId}`,
      learner: { channel: 'telegram', userId: String(from.id) },
      address,
      displayName: displayName(from),
      ...(from.language_code ? { languageHint: from.language_code } : {}),
      event,
      at: date > 0 ? new Date(date * 1000) : this.ctx.now(),
    };
  }

  private async onMessage(c: Context): Promise<void> {
    const msg = c.message!;
    const from = msg.from;
    if (!from || from.is_bot) return;
    const inGroup = msg.chat.type !== 'private';
    const event = this.eventOf(msg, inGroup);
    if (!event) return;
    const inbound = this.inbound(c.update.update_id, msg.chat, from, event, msg.date);
    this.ctx.logger.debug({ channel: 'telegram', update: c.update.update_id, user: hashId(inbound.learner.userId), event: event.type }, 'update');
    const out = await this.ctx.bot.handle(inbound);
    await this.reply(c.api, msg.chat.id, inGroup, out);
  }

  private async onCallback(c: Context): Promise<void> {
    const q = c.callbackQuery!;
    const message = q.message;
    let answered = false;
    try {
      if (!message || q.data === undefined) return;
      const inGroup = message.chat.type !== 'private';
      // A team-quiz answer from someone who is not in the group (a public group seen from outside): refused, nothing recorded.
      if (inGroup && decodeAction(q.data)?.type === 'group_answer' && !(await this.isMember(c.api, message.chat.id, q.from.id))) {
        const lang = q.from.language_code?.slice(0, 2);
        answered = true;
        await this.answerCallback(c.api, q.id, t(isLang(lang) ? lang : 'en', 'group.not_member'));
        return;
      }
      const inbound = this.inbound(c.update.update_id, message.chat, q.from, { type: 'choice', data: q.data }, 0);
      this.ctx.logger.debug({ channel: 'telegram', update: c.update.update_id, user: hashId(inbound.learner.userId), event: 'choice' }, 'update');
      const out = await this.ctx.bot.handle(inbound);
      // Stop the spinner as soon as the answer is known; notices are the sender's toast.
      const toast = out.flatMap((m) => (m.kind === 'notice' ? [m.text] : [])).join('\n');
      answered = true;
      await this.answerCallback(c.api, q.id, toast);
      await this.reply(c.api, message.chat.id, inGroup, out, { messageId: message.message_id, data: q.data });
    } finally {
      if (!answered) await this.answerCallback(c.api, q.id, '');
    }
  }

  /**
   * Whether a user is a member of a group, as Telegram's getChatMember says (cached for
   * {@link MEMBER_CACHE_MS}, so that a team quiz costs one call per member). When Telegram cannot
   * say, the failure is reported and the user is let through: refusing needs Telegram's word.
   */
  private async isMember(api: Api, chatId: number, userId: number): Promise<boolean> {
    const key = `${chatId}:${userId}`;
    const now = this.ctx.now().getTime();
    const cached = this.members.get(key);
    if (cached && cached.until > now) return cached.member;
    try {
      const m = await api.getChatMember(chatId, userId);
      const member = m.status === 'creator' || m.status === 'administrator' || m.status === 'member' || (m.status === 'restricted' && m.is_member);
      if (this.members.size >= MEMBER_CACHE_SIZE) this.members.delete(this.members.keys().next().value!);
      this.members.set(key, { member, until: now + MEMBER_CACHE_MS });
      return member;
    } catch (err) {
      this.ctx.onError(toPlatformError(err, 'getChatMember'), { where: 'telegram-member-check', channel: 'telegram', chat: hashId(String(chatId)) });
      return true;
    }
  }

  private async answerCallback(api: Api, id: string, text: string): Promise<void> {
    const toast = renderTelegram({ kind: 'notice', text, reason: 'info' });
    try {
      await api.answerCallbackQuery(id, toast.type === 'notice' && toast.text ? { text: toast.text } : {});
    } catch (err) {
      // A query older than Telegram's answer window cannot be answered any more; anything else is reported.
      if (err instanceof GrammyError && err.error_code === 400 && /query is too old|query id is invalid/i.test(err.description)) {
        this.ctx.logger.debug({ channel: 'telegram' }, 'callback query expired before it was answered');
        return;
      }
      this.ctx.onError(toPlatformError(err, 'answerCallbackQuery'), { where: 'telegram-answer-callback', channel: 'telegram' });
    }
  }

  // ---- outbound ---------------------------------------------------------------------------

  /** Sends the bot's answer to an update: edits the tapped message where that reads better. */
  private async reply(api: Api, chatId: ChatId, inGroup: boolean, out: Outbound[], source?: TapSource): Promise<void> {
    try {
      await this.replyAll(api, chatId, inGroup, out, source);
    } catch (err) {
      throw toPlatformError(err, 'sendMessage');
    }
  }

  private async replyAll(api: Api, chatId: ChatId, inGroup: boolean, out: Outbound[], source?: TapSource): Promise<void> {
    const action = source ? decodeAction(source.data) : undefined;
    for (const m of out) {
      if (m.kind === 'notice') {
        // Shown as the tap's toast; a notice without a tap goes to a private chat only, never to a group.
        if (!source && !inGroup) await this.sendOne(api, chatId, renderTelegram({ kind: 'text', text: [{ type: 'paragraph', spans: [{ text: m.text, italic: true }] }] }));
        continue;
      }
      if (source && m.kind === 'feedback' && m.answersSource) {
        const picked = action?.type === 'answer' ? [action.option] : m.options.flatMap((o, i) => (o.ticked ? [i] : []));
        const edit = renderFeedbackEdit(m, picked);
        if (edit && (await this.edit(api, chatId, source.messageId, edit))) continue;
      }
      if (source && m.kind === 'quiz' && m.multiple && action?.type === 'answer' && action.itemId === m.itemId) {
        const edit = renderQuizEdit(m);
        if (edit && (await this.edit(api, chatId, source.messageId, edit))) continue;
      }
      await this.post(api, chatId, inGroup, m);
    }
  }

  /** Edits a message in place; false when Telegram will not edit it (too old, deleted), so the caller sends anew. */
  private async edit(api: Api, chatId: ChatId, messageId: number, edit: { html: string; keyboard?: InlineKeyboard }): Promise<boolean> {
    try {
      await api.editMessageText(chatId, messageId, edit.html, {
        parse_mode: 'HTML',
        link_preview_options: NO_PREVIEW,
        ...(edit.keyboard ? { reply_markup: edit.keyboard } : {}),
      });
      return true;
    } catch (err) {
      if (err instanceof GrammyError && err.error_code === 400) {
        // The same text again (a double tap): the message already shows it.
        if (/message is not modified/i.test(err.description)) return true;
        if (/message to edit not found|message can't be edited|message_id_invalid/i.test(err.description)) return false;
      }
      throw toPlatformError(err, 'editMessageText');
    }
  }

  /** Sends one rendered message; returns the id of its last part (the one with the buttons). */
  private async sendOne(api: Api, chatId: ChatId, m: TelegramMessage): Promise<number | undefined> {
    if (m.type === 'notice') return undefined;
    if (m.type === 'document') {
      const file = new InputFile(Buffer.from(m.content, m.base64 ? 'base64' : 'utf8'), m.filename);
      return (await api.sendDocument(chatId, file, m.caption ? { caption: m.caption } : {})).message_id;
    }
    let id: number | undefined;
    for (const [i, part] of m.parts.entries()) {
      const last = i === m.parts.length - 1;
      id = (
        await api.sendMessage(chatId, part, {
          parse_mode: 'HTML',
          link_preview_options: NO_PREVIEW,
          ...(last && m.keyboard ? { reply_markup: m.keyboard } : {}),
        })
      ).message_id;
    }
    return id;
  }

  /**
   * Posts a message in a chat, keeping track of a group's open team-quiz question: when its reveal
   * comes, the question's answer buttons are taken off, so nobody taps a closed question. Only the
   * process that posted the question knows its message id; elsewhere a late tap gets the "closed" toast.
   */
  private async post(api: Api, chatId: ChatId, inGroup: boolean, m: Outbound): Promise<void> {
    if (inGroup && m.kind === 'text' && m.reveals) await this.closeQuestionButtons(api, chatId, m.reveals);
    const id = await this.sendOne(api, chatId, renderTelegram(m));
    if (inGroup && m.kind === 'quiz' && id !== undefined) this.openQuestions.set(String(chatId), { messageId: id, itemId: m.itemId });
  }

  private async closeQuestionButtons(api: Api, chatId: ChatId, itemId: string): Promise<void> {
    const open = this.openQuestions.get(String(chatId));
    if (!open || open.itemId !== itemId) return;
    this.openQuestions.delete(String(chatId));
    try {
      await api.editMessageReplyMarkup(chatId, open.messageId, { reply_markup: { inline_keyboard: [] } });
    } catch (err) {
      // Already without buttons, or gone: nothing to take off. Anything else is reported; the
      // reveal is still sent (a late tap on the old buttons gets the "closed" toast anyway).
      if (err instanceof GrammyError && err.error_code === 400 && /not modified|not found|can't be edited/i.test(err.description)) return;
      this.ctx.onError(toPlatformError(err, 'editMessageReplyMarkup'), { where: 'telegram-close-question', channel: 'telegram' });
    }
  }

  /**
   * Sends on the bot's own initiative (reminders, review nudges, a closed group question). Throws a
   * {@link PlatformError}: `unreachable` when the learner blocked the bot or the chat is gone,
   * `retryAfterSec` on 429, so that the scheduler marks the learner or retries later.
   */
  async send(address: Address, messages: Outbound[]): Promise<void> {
    const chatId = chatIdOf(address.conversationId);
    for (const m of messages) {
      const message: Outbound | undefined = m.kind === 'notice' ? (address.kind === 'group' ? undefined : { kind: 'text', text: [{ type: 'paragraph', spans: [{ text: m.text, italic: true }] }] }) : m;
      if (!message) continue;
      try {
        await this.post(this.proactive, chatId, address.kind === 'group', message);
      } catch (err) {
        const failure = toPlatformError(err, message.kind === 'data' || message.kind === 'file' ? 'sendDocument' : 'sendMessage');
        this.ctx.logger.warn({ channel: 'telegram', chat: hashId(address.conversationId), status: failure.status, unreachable: failure.unreachable, retryAfterSec: failure.retryAfterSec }, 'proactive send failed');
        throw failure;
      }
    }
  }
}
