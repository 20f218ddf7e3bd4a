/**
 * Carries out the bot's reply plan on Teams, independent of the SDK that makes the calls (the
 * adapter hands it a {@link TeamsConversation}):
 * - {@link toPlatformError} translates a failed call, once, into a {@link PlatformError};
 * - {@link withRetry} applies the one error policy (429 with Retry-After, 412, 5xx, network errors
 *   back off and try again, a bounded number of times);
 * - {@link ConversationPacer} keeps each conversation under Teams' per-bot, per-conversation rate
 *   limits (7 messages a second, 8 in 2 s, 60 in 30 s, 1800 an hour), so that 429s stay rare.
 */
import { PlatformError, RenderError } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import { hashId } from '../../src/logger.js';
import type { Address, Outbound, PostedRefs, QuestionRef, QuizMessage } from '../../src/messages.js';
import { questionKey, tallyKey } from '../../src/messages.js';
import { DEFAULT_RETRY, realSleep, withRetry as retryPolicy, type RetryOptions } from '../../src/scheduling/retry.js';
import { renderTeams, type TeamsMessage } from './render.js';


interface HttpishError {
  statusCode?: unknown;
  status?: unknown;
  code?: unknown;
  message?: unknown;
  response?: { headers?: { get?: (name: string) => string | undefined | null } | Record<string, unknown> };
}

function header(err: HttpishError, name: string): string | undefined {
  const headers = err.response?.headers;
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get: (n: string) => string | undefined | null }).get(name) ?? undefined;
  const raw = (headers as Record<string, unknown>)[name] ?? (headers as Record<string, unknown>)[name.toLowerCase()];
  return typeof raw === 'string' ? raw : undefined;
}

/** Seconds from a Retry-After header (seconds or an HTTP date), if present and sensible. */
export function parseRetryAfter(value: string | undefined, now: Date = new Date()): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now.getTime()) / 1000);
}

/**
 * Translates a failure of a Bot Connector call into a {@link PlatformError}. 403 and 404 mean the
 * conversation is gone for the bot (uninstalled, blocked, deleted): `unreachable`.
 */
export function toPlatformError(err: unknown, method: string): PlatformError {
  if (err instanceof PlatformError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as HttpishError;
  const rawStatus = e.statusCode ?? e.status;
  const status = typeof rawStatus === 'number' && rawStatus > 0 ? rawStatus : undefined;
  const retryAfterSec = parseRetryAfter(header(e, 'retry-after'));
  const description = status ? `HTTP ${status}` : typeof e.code === 'string' ? e.code : err instanceof Error ? err.message : String(err);
  return new PlatformError({
    platform: 'teams',
    method,
    ...(status ? { status } : {}),
    ...(retryAfterSec !== undefined ? { retryAfterSec } : {}),
    unreachable: status === 403 || status === 404,
    description,
    cause: err,
  });
}

export { DEFAULT_RETRY, type RetryOptions } from '../../src/scheduling/retry.js';

/**
 * Runs a Bot Connector call under the one error policy (`src/scheduling/retry.ts`): retryable
 * failures (429 with Retry-After, 412, 5xx, network) back off and try again, others stop at once.
 */
export function withRetry<T>(method: string, call: () => Promise<T>, opts: RetryOptions = DEFAULT_RETRY): Promise<T> {
  return retryPolicy(method, call, toPlatformError, opts);
}

/** Teams' documented limits for one bot in one conversation: at most `max` messages in `ms`. */
export const TEAMS_CONVERSATION_LIMITS: readonly { ms: number; max: number }[] = [
  { ms: 1000, max: 7 },
  { ms: 2000, max: 8 },
  { ms: 30_000, max: 60 },
  { ms: 3_600_000, max: 1800 },
];

/**
 * Spaces out sends per conversation so that no window of {@link TEAMS_CONVERSATION_LIMITS} is
 * exceeded. Sends to one conversation also run one at a time, in order.
 */
export class ConversationPacer {
  private readonly sent = new Map<string, number[]>();
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = realSleep,
    private readonly limits = TEAMS_CONVERSATION_LIMITS,
  ) {}

  /** How long to wait before the next send to `conversationId` (0 when it may go now). */
  delayFor(conversationId: string): number {
    const now = this.now();
    const longest = Math.max(...this.limits.map((l) => l.ms));
    const times = (this.sent.get(conversationId) ?? []).filter((t) => t > now - longest);
    this.sent.set(conversationId, times);
    let wait = 0;
    for (const { ms, max } of this.limits) {
      const inWindow = times.filter((t) => t > now - ms);
      if (inWindow.length >= max) wait = Math.max(wait, inWindow[inWindow.length - max]! + ms - now);
    }
    return wait;
  }

  /** Runs `send` for `conversationId` once the limits allow, after earlier sends to it. */
  run<T>(conversationId: string, send: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(conversationId) ?? Promise.resolve();
    const next = previous.then(
      () => this.paced(conversationId, send),
      () => this.paced(conversationId, send),
    );
    const tail = next.catch(() => undefined);
    this.chains.set(conversationId, tail);
    void tail.then(() => {
      if (this.chains.get(conversationId) === tail) this.chains.delete(conversationId);
    });
    return next;
  }

  private async paced<T>(conversationId: string, send: () => Promise<T>): Promise<T> {
    for (let wait = this.delayFor(conversationId); wait > 0; wait = this.delayFor(conversationId)) await this.sleep(wait);
    this.sent.get(conversationId)!.push(this.now());
    return send();
  }
}

/** One conversation as the delivery sees it: post an activity (its id back), update one in place. */
export interface TeamsConversation {
  /** The conversation id (pacing is per conversation). */
  id: string;
  post(message: TeamsMessage): Promise<string | undefined>;
  update(activityId: string, message: TeamsMessage): Promise<void>;
}

const MAX_REMEMBERED = 500;

function render(m: Outbound): TeamsMessage[] {
  try {
    return renderTeams(m);
  } catch (err) {
    throw new RenderError('teams', m.kind, err);
  }
}

export class TeamsDelivery {
  /** Team-quiz question cards posted by this process, to take their buttons off when they close. */
  private readonly openQuestions = new Map<string, { activityId: string; quiz: QuizMessage }>();

  constructor(
    private readonly log: Logger,
    private readonly pacer: ConversationPacer,
    private readonly retry: RetryOptions,
  ) {}

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.set(key, value);
    if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value!);
  }

  private questionKey(address: Address, q: QuestionRef): string {
    return `${address.conversationId}|${q.quizId}|${q.index}`;
  }

  /** Sends one message, paced and retried. Returns the new activity id. */
  private post(conv: TeamsConversation, message: TeamsMessage): Promise<string | undefined> {
    return this.pacer.run(conv.id, () => withRetry('sendActivity', () => conv.post(message), this.retry));
  }

  /** Replaces a card in place; false (and a logged warning) when Teams refuses, so the caller sends instead. */
  private async tryUpdate(conv: TeamsConversation, activityId: string, message: TeamsMessage): Promise<boolean> {
    try {
      await this.pacer.run(conv.id, () => withRetry('updateActivity', () => conv.update(activityId, message), this.retry));
      return true;
    } catch (err) {
      const e = toPlatformError(err, 'updateActivity');
      this.log.warn({ status: e.status, conversation: hashId(conv.id) }, 'could not update the card in place; sending a new message instead');
      return false;
    }
  }

  /**
   * Carries out a reply plan in a conversation. `replyToId` is the card whose button brought it:
   * a message marked `edit: 'source'` replaces it. In a group, Teams has no ephemeral messages, so
   * notices are not posted there: the runtime keeps one running tally per question instead (names,
   * never options), which this posts once and then updates in place (its id goes back in the refs,
   * so that whichever process sends the next update edits the same card).
   */
  async deliver(conv: TeamsConversation, address: Address, messages: Outbound[], replyToId?: string): Promise<PostedRefs> {
    let updated = false;
    const refs: PostedRefs = {};
    for (const m of messages) {
      if (m.kind === 'notice' && address.kind === 'group') {
        this.log.debug({ conversation: hashId(address.conversationId) }, 'group notice not posted (no ephemeral messages in Teams)');
        continue;
      }
      if (m.kind === 'tally') {
        const [message] = render(m);
        if (!message) continue;
        if (m.messageRef && (await this.tryUpdate(conv, m.messageRef, message))) continue;
        const id = await this.post(conv, message);
        if (id) refs[tallyKey(m.teamQuestion)] = id;
        continue;
      }
      // Teams keeps no copy of the learner's data outside the conversation itself.
      if (m.kind === 'erased') continue;
      if (m.kind === 'close') {
        const key = this.questionKey(address, m.teamQuestion);
        const open = this.openQuestions.get(key) ?? (m.messageRef ? { activityId: m.messageRef, quiz: m.shown } : undefined);
        if (open) {
          this.openQuestions.delete(key);
          const [closed] = render({ ...open.quiz, choices: [] });
          if (closed) await this.tryUpdate(conv, open.activityId, closed);
        }
        continue;
      }
      const rendered = render(m);
      const inPlace = !!replyToId && !updated && rendered.length === 1 && (m.kind === 'feedback' || m.kind === 'quiz') && m.edit === 'source';
      if (inPlace && (await this.tryUpdate(conv, replyToId, rendered[0]!))) {
        updated = true;
        continue;
      }
      let id: string | undefined;
      for (const r of rendered) id = await this.post(conv, r);
      if (m.kind === 'quiz' && m.teamQuestion && id) {
        this.remember(this.openQuestions, this.questionKey(address, m.teamQuestion), { activityId: id, quiz: m });
        refs[questionKey(m.teamQuestion)] = id;
      }
    }
    return refs;
  }
}
