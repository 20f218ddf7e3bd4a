/**
 * Carries out the bot's reply plan on Telegram: posts, in-place edits of the tapped message, a
 * closed team-quiz question's keyboard taken off, toasts, documents. Every Bot API call goes
 * through the one error policy ({@link withRetry}: 429 waits out `retry_after`, 5xx and network
 * errors back off, anything else stops at once) after Telegram's failures are translated once
 * ({@link toPlatformError}). Replies and proactive sends take the same path.
 */
import { GrammyError, HttpError, InputFile, type Api } from 'grammy';
import { PlatformError, RenderError } from '../../src/errors.js';
import { hashId, type Logger } from '../../src/logger.js';
import type { Address, Outbound, PostedRefs, QuestionRef } from '../../src/messages.js';
import { questionKey } from '../../src/messages.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../../src/scheduling/retry.js';
import { renderFeedbackEdit, renderQuizEdit, renderTelegram, type InlineKeyboard, type TelegramMessage } from './render.js';

const NO_PREVIEW = { is_disabled: true } as const;
/** Team-quiz questions remembered per process (their message ids), oldest forgotten first. */
const MAX_OPEN_QUESTIONS = 1000;

/** Translates a grammY failure into a {@link PlatformError}, once, with the fields the policy acts on. */
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

type ChatId = number | string;

export const chatIdOf = (conversationId: string): ChatId => (/^-?\d+$/.test(conversationId) ? Number(conversationId) : conversationId);

/** Renders, turning a failure into a {@link RenderError} (never retried). */
function render(m: Outbound): TelegramMessage {
  try {
    return renderTelegram(m);
  } catch (err) {
    throw new RenderError('telegram', m.kind, err);
  }
}

export interface TelegramDeliveryOptions {
  api: Api;
  logger: Logger;
  retry?: Partial<RetryOptions>;
  sleep?: (ms: number) => Promise<void>;
}

export class TelegramDelivery {
  private readonly retry: RetryOptions;
  private readonly openQuestions = new Map<string, number>();

  constructor(private readonly opts: TelegramDeliveryOptions) {
    this.retry = { ...DEFAULT_RETRY, ...(opts.sleep ? { sleep: opts.sleep } : {}), ...opts.retry };
  }

  private call<T>(method: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(method, fn, toPlatformError, this.retry);
  }

  /** The toast of a tap: the reply's notices, joined. */
  static toastOf(out: Outbound[]): string {
    return out.flatMap((m) => (m.kind === 'notice' ? [m.text] : [])).join('\n');
  }

  /** Answers a tap (stops the spinner, shows the toast). An expired query is not an error. */
  async answerCallback(id: string, text: string): Promise<void> {
    const toast = render({ kind: 'notice', text, reason: 'info' });
    try {
      await this.call('answerCallbackQuery', () => this.opts.api.answerCallbackQuery(id, toast.type === 'notice' && toast.text ? { text: toast.text } : {}));
    } catch (err) {
      if (err instanceof PlatformError && err.status === 400 && /query is too old|query id is invalid/i.test(err.message)) {
        this.opts.logger.debug({ channel: 'telegram' }, 'callback query expired before it was answered');
        return;
      }
      throw err;
    }
  }

  /**
   * Carries out a reply plan in a chat. `tapped` is the message whose button brought it: a message
   * marked `edit: 'source'` replaces it. Notices are the tap's toast (sent by the caller); without a
   * tap they go to a private chat as a line in italics, never to a group.
   */
  async deliver(chatId: ChatId, inGroup: boolean, out: Outbound[], tapped?: number): Promise<PostedRefs> {
    const refs: PostedRefs = {};
    for (const m of out) {
      if (m.kind === 'notice') {
        if (tapped === undefined && !inGroup) await this.post(chatId, { kind: 'text', text: [{ type: 'paragraph', spans: [{ text: m.text, italic: true }] }] });
        continue;
      }
      if (m.kind === 'close') {
        await this.closeQuestion(chatId, m.teamQuestion, m.messageRef);
        continue;
      }
      // Telegram keeps no copy of the learner's data outside the chat itself.
      if (m.kind === 'erased') continue;
      if (tapped !== undefined && (m.kind === 'feedback' || m.kind === 'quiz') && m.edit === 'source') {
        const edit = m.kind === 'feedback' ? renderFeedbackEdit(m) : renderQuizEdit(m);
        if (edit && (await this.edit(chatId, tapped, edit))) continue;
      }
      const id = await this.post(chatId, m);
      if (m.kind === 'quiz' && m.teamQuestion && id !== undefined) refs[questionKey(m.teamQuestion)] = String(id);
    }
    return refs;
  }

  /** Proactive messages (reminders, a team quiz's posts). */
  async send(address: Address, messages: Outbound[]): Promise<PostedRefs> {
    try {
      return await this.deliver(chatIdOf(address.conversationId), address.kind === 'group', messages);
    } catch (err) {
      const failure = toPlatformError(err, 'sendMessage');
      this.opts.logger.warn({ channel: 'telegram', chat: hashId(address.conversationId), status: failure.status, unreachable: failure.unreachable, retryAfterSec: failure.retryAfterSec }, 'proactive send failed');
      throw failure;
    }
  }

  /** Edits a message in place; false when Telegram will not edit it (too old, deleted), so the caller sends anew. */
  private async edit(chatId: ChatId, messageId: number, edit: { html: string; keyboard?: InlineKeyboard }): Promise<boolean> {
    try {
      await this.call('editMessageText', () =>
        this.opts.api.editMessageText(chatId, messageId, edit.html, { parse_mode: 'HTML', link_preview_options: NO_PREVIEW, ...(edit.keyboard ? { reply_markup: edit.keyboard } : {}) }),
      );
      return true;
    } catch (err) {
      if (err instanceof PlatformError && err.status === 400) {
        // The same text again (a double tap): the message already shows it.
        if (/message is not modified/i.test(err.message)) return true;
        if (/message to edit not found|message can't be edited|message_id_invalid/i.test(err.message)) return false;
      }
      throw err;
    }
  }

  private questionKey(chatId: ChatId, q: QuestionRef): string {
    return `${chatId}|${q.quizId}|${q.index}`;
  }

  /** Posts one message; remembers a team-quiz question's message id, so that its close can take the keyboard off. */
  private async post(chatId: ChatId, m: Outbound): Promise<number | undefined> {
    const r = render(m);
    let id: number | undefined;
    if (r.type === 'document') {
      const file = new InputFile(Buffer.from(r.content, r.base64 ? 'base64' : 'utf8'), r.filename);
      id = (await this.call('sendDocument', () => this.opts.api.sendDocument(chatId, file, r.caption ? { caption: r.caption } : {}))).message_id;
    } else if (r.type === 'text') {
      for (const [i, part] of r.parts.entries()) {
        const last = i === r.parts.length - 1;
        id = (
          await this.call('sendMessage', () =>
            this.opts.api.sendMessage(chatId, part, { parse_mode: 'HTML', link_preview_options: NO_PREVIEW, ...(last && r.keyboard ? { reply_markup: r.keyboard } : {}) }),
          )
        ).message_id;
      }
    }
    if (m.kind === 'quiz' && m.teamQuestion && id !== undefined) {
      this.openQuestions.set(this.questionKey(chatId, m.teamQuestion), id);
      if (this.openQuestions.size > MAX_OPEN_QUESTIONS) this.openQuestions.delete(this.openQuestions.keys().next().value!);
    }
    return id;
  }

  /**
   * Takes the keyboard off a closed team-quiz question: the message id this process remembers, or
   * the one the group's state kept (another process posted it).
   */
  private async closeQuestion(chatId: ChatId, q: QuestionRef, messageRef?: string): Promise<void> {
    const key = this.questionKey(chatId, q);
    const messageId = this.openQuestions.get(key) ?? (messageRef && /^\d+$/.test(messageRef) ? Number(messageRef) : undefined);
    if (messageId === undefined) return;
    this.openQuestions.delete(key);
    try {
      await this.call('editMessageReplyMarkup', () => this.opts.api.editMessageReplyMarkup(chatId, messageId, { reply_markup: { inline_keyboard: [] } }));
    } catch (err) {
      // Already without buttons, or gone: nothing to take off.
      if (err instanceof PlatformError && err.status === 400 && /not modified|not found|can't be edited/i.test(err.message)) return;
      throw err;
    }
  }
}
