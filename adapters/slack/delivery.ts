/**
 * Carries out the bot's reply plan on Slack: channel posts, ephemeral notices for one member,
 * in-place updates of the tapped message, a closed team-quiz question redrawn without buttons,
 * files. Every Web API call goes through the one error policy ({@link withRetry}) after Slack's
 * failures are translated once ({@link toPlatformError}); the Web API client itself does not retry
 * (its retries would multiply with ours). Replies and proactive sends take the same path.
 */
import { webApi } from '@slack/bolt';
import { PlatformError, RenderError } from '../../src/errors.js';
import type { Address, Outbound, PostedRefs, QuestionRef, QuizMessage } from '../../src/messages.js';
import { questionKey } from '../../src/messages.js';
import { KeyedMutex } from '../../src/runtime/mutex.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from '../../src/scheduling/retry.js';
import { renderAnsweredQuiz, renderClosedQuestion, renderMessage, type RenderContext, type SlackMessage } from './render.js';

type WebClient = InstanceType<typeof webApi.WebClient>;

/** Slack errors after which a learner or channel cannot be reached any more. */
const UNREACHABLE = new Set(['account_inactive', 'user_not_found', 'channel_not_found', 'is_archived', 'not_in_channel', 'user_disabled', 'cannot_dm_bot', 'messages_tab_disabled']);
/** Slack errors that mean Slack refuses the bot's token itself (wrong, revoked, expired, or not a bot token). */
const UNAUTHORIZED = new Set(['invalid_auth', 'not_authed', 'token_revoked', 'token_expired', 'not_allowed_token_type']);
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
      return new PlatformError({ platform: 'slack', method, status: TRANSIENT.has(code) ? 503 : 400, unreachable: UNREACHABLE.has(code), unauthorized: UNAUTHORIZED.has(code), description: code, cause: err });
    }
    case 'slack_webapi_http_error':
      return new PlatformError({ platform: 'slack', method, ...(e.statusCode ? { status: e.statusCode } : {}), description: `HTTP ${e.statusCode ?? '?'}`, cause: err });
    default:
      return new PlatformError({ platform: 'slack', method, description: e.message ?? 'request failed', cause: err });
  }
}

/** The message a button was on, for edits in place. */
export interface TappedMessage {
  channel: string;
  ts: string;
}

const MAX_OPEN_QUESTIONS = 1000;

export interface SlackDeliveryOptions {
  client: WebClient;
  command: string;
  retry?: Partial<RetryOptions>;
  sleep?: (ms: number) => Promise<void>;
}

export class SlackDelivery {
  private readonly retry: RetryOptions;
  private readonly dms = new Map<string, string>();
  /** Team-quiz questions posted by this process: their message ts, to close their buttons. */
  private readonly openQuestions = new Map<string, { ts: string; message: QuizMessage }>();
  private readonly order = new KeyedMutex();

  constructor(private readonly opts: SlackDeliveryOptions) {
    this.retry = { ...DEFAULT_RETRY, ...(opts.sleep ? { sleep: opts.sleep } : {}), ...opts.retry };
  }

  call<T>(method: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(method, fn, toPlatformError, this.retry);
  }

  private render(m: Outbound, ctx: RenderContext, answered = false): SlackMessage {
    try {
      return answered && m.kind === 'feedback' ? renderAnsweredQuiz(m, ctx) : renderMessage(m, ctx);
    } catch (err) {
      throw new RenderError('slack', m.kind, err);
    }
  }

  /** The bot's direct-message channel with a user (conversations.open, cached). */
  async openDm(userId: string): Promise<string> {
    const cached = this.dms.get(userId);
    if (cached) return cached;
    const res = await this.call('conversations.open', () => this.opts.client.conversations.open({ users: userId }));
    const id = res.channel?.id;
    if (!id) throw new PlatformError({ platform: 'slack', method: 'conversations.open', status: 502, description: 'no channel in the answer' });
    this.dms.set(userId, id);
    return id;
  }

  /**
   * Carries out a reply plan in a conversation. Notices go to `user` only (ephemeral) in a group,
   * and as a plain line in a direct message; a message marked `edit: 'source'` replaces the tapped
   * message; a `close` step redraws the closed question without its buttons. Posts in one
   * conversation keep their order across concurrent events.
   */
  async deliver(channel: string, user: string | undefined, where: RenderContext['where'], messages: Outbound[], tapped?: TappedMessage): Promise<PostedRefs> {
    const ctx: RenderContext = { where, command: this.opts.command };
    const refs: PostedRefs = {};
    await this.order.run(`conversation:${channel}`, async () => {
      let tappedUsed = false;
      for (const m of messages) {
        if (m.kind === 'notice' && where === 'group') {
          if (!user) continue;
          const r = this.render(m, ctx);
          await this.call('chat.postEphemeral', () => this.opts.client.chat.postEphemeral({ channel, user, text: r.text, blocks: r.blocks }));
          continue;
        }
        if (m.kind === 'close') {
          await this.closeQuestion(channel, m, ctx);
          continue;
        }
        // Slack keeps no copy of the learner's data outside the conversation itself.
        if (m.kind === 'erased') continue;
        if (tapped && !tappedUsed && (m.kind === 'feedback' || m.kind === 'quiz') && m.edit === 'source') {
          tappedUsed = true;
          const r = this.render(m, ctx, true);
          await this.call('chat.update', () => this.opts.client.chat.update({ channel: tapped.channel, ts: tapped.ts, text: r.text, blocks: r.blocks }));
          continue;
        }
        const ts = await this.post(channel, m, ctx);
        if (m.kind === 'quiz' && m.teamQuestion && ts) refs[questionKey(m.teamQuestion)] = ts;
      }
    });
    return refs;
  }

  /**
   * Proactive messages (reminders, a team quiz's posts). A direct address whose id is a user id
   * (U..., W...) is opened with conversations.open first.
   */
  async send(address: Address, messages: Outbound[]): Promise<PostedRefs> {
    const id = address.conversationId;
    const channel = address.kind === 'direct' && /^[UW]/.test(id) ? await this.openDm(id) : id;
    return this.deliver(channel, undefined, address.kind, messages);
  }

  private questionKey(channel: string, q: QuestionRef): string {
    return `${channel}|${q.quizId}|${q.index}`;
  }

  private async post(channel: string, m: Outbound, ctx: RenderContext): Promise<string | undefined> {
    if (m.kind === 'data') {
      await this.call('files.uploadV2', () => this.opts.client.filesUploadV2({ channel_id: channel, file: Buffer.from(m.json, 'utf8'), filename: m.filename, title: m.filename }));
      return undefined;
    }
    if (m.kind === 'file') {
      const file = Buffer.from(m.base64, 'base64');
      await this.call('files.uploadV2', () => this.opts.client.filesUploadV2({ channel_id: channel, file, filename: m.filename, title: m.filename, initial_comment: m.caption }));
      return;
    }
    const r = this.render(m, ctx);
    const res = await this.call('chat.postMessage', () => this.opts.client.chat.postMessage({ channel, text: r.text, blocks: r.blocks, unfurl_links: false }));
    if (m.kind === 'quiz' && m.teamQuestion && res.ts) {
      this.openQuestions.set(this.questionKey(channel, m.teamQuestion), { ts: res.ts, message: m });
      if (this.openQuestions.size > MAX_OPEN_QUESTIONS) this.openQuestions.delete(this.openQuestions.keys().next().value!);
    }
    return res.ts;
  }

  /** A closed team-quiz question, redrawn without buttons (its ts as this process remembers it, or as the group's state kept it). */
  private async closeQuestion(channel: string, m: Extract<Outbound, { kind: 'close' }>, ctx: RenderContext): Promise<void> {
    const key = this.questionKey(channel, m.teamQuestion);
    const open = this.openQuestions.get(key) ?? (m.messageRef ? { ts: m.messageRef, message: m.shown } : undefined);
    if (!open) return;
    this.openQuestions.delete(key);
    const closed = renderClosedQuestion(open.message, ctx);
    await this.call('chat.update', () => this.opts.client.chat.update({ channel, ts: open.ts, text: closed.text, blocks: closed.blocks }));
  }
}
