/**
 * The runtime: the one path every event takes, for learners and groups alike.
 *
 *   lock (per learner or per group) → read → engine (pure) → one commit → effects
 *
 * - an event id already applied is dropped before anything is sent (platform retries);
 * - events for one learner (or one group) are chained in this process, and a version check with
 *   retry orders them across processes: two events never interleave and nothing is lost;
 * - messages are returned only after the state that produced them is written, so a learner is
 *   never told about progress that a crash could lose;
 * - internal events enter the same path: a nudge that is due (from a scheduler), a group's tick (a
 *   question's time is up, a weekly quiz is due). Nothing but this runtime writes learner or group
 *   state;
 * - posts a group is owed (a quiz's questions, reveals, final scores) are kept in the group's state
 *   until the channel has delivered them, so a failed send never skips a reveal.
 */
import { createHash } from 'node:crypto';
import type { Course } from '../content/course.js';
import { handleLearnerEvent, type EngineOptions } from '../engine/engine.js';
import {
  claimOwed,
  groupDueTimes,
  handleGroupEvent,
  leaderboardMessage,
  nextOwed,
  withoutOwed,
  type GroupEvent,
  type GroupOptions,
  type GroupState,
  type OwedPost,
} from '../engine/group.js';
import { t } from '../engine/i18n.js';
import { nudgeMessage } from '../engine/nudge-message.js';
import { isLang, type Lang, type LearnerState } from '../engine/state.js';
import { PlatformError } from '../errors.js';
import { afterNudge, nextNudgeAt, nudgeDue, DEFAULT_NUDGE_POLICY, type NudgeKind, type NudgePolicy } from '../learning/nudges.js';
import type { Address, Channel, Inbound, LearnerKey, Outbound } from '../messages.js';
import { plain } from '../messages.js';
import { hashId } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ConversationKey, GroupRecord, LearnerRecord, Store } from '../store/store.js';
import { KeyedMutex } from './mutex.js';
import type { LearnerStep } from './workshops.js';

/** Messages for one conversation, to be sent by its channel. */
export interface Delivery {
  address: Address;
  messages: Outbound[];
}

/** Receives every error with its context, once. */
export type ErrorSink = (err: unknown, context: Record<string, unknown>) => void;

/**
 * Sends messages to a conversation on the bot's own initiative, through its channel's delivery
 * (paced, retried on retryable failures). Throws a {@link PlatformError} when the platform refuses.
 */
export type Sender = (address: Address, messages: Outbound[]) => Promise<void>;

/** What a channel adapter may do with the bot: hand it an event, report an error, read a learner for a platform view. */
export interface BotPort {
  /** Applies an inbound event and returns the reply (see {@link LearningBot.handle}). */
  handle(inbound: Inbound): Promise<Outbound[]>;
  /** Receives every error with its context. */
  report: ErrorSink;
  /** The learner's state, read-only (Slack's App Home shows progress from it). */
  peek(key: LearnerKey): Promise<LearnerState | null>;
  readonly course: Course;
}

/** A nudge due for one learner: who, and the nudge time the scan found (part of its identity). */
export interface NudgeJob {
  channel: Channel;
  userId: string;
  plannedAt: number;
}

/** What became of a nudge. 'failed': the platform refused it for good (reported; not retried). */
export type NudgeOutcome = 'sent' | 'skipped' | 'unreachable' | 'failed';

/** Where "this nudge's message was sent" marks live (Redis with BullMQ; memory in-process). */
export interface SentMarks {
  get(jobId: string): Promise<NudgeKind | null>;
  set(jobId: string, kind: NudgeKind): Promise<void>;
}

export interface BotOptions {
  course: Course;
  store: Store;
  engine: EngineOptions;
  group: GroupOptions;
  nudges?: NudgePolicy;
  /** The clock; tests pass a controllable one. */
  now?: () => Date;
  onError: ErrorSink;
  metrics?: Metrics;
  /** How long a sender holds an owed group post before another may take it over (default 60 s). */
  owedLeaseMs?: number;
}

/** Thrown when a write keeps conflicting (a pathological burst for one learner). */
export class ConcurrencyError extends Error {
  constructor(readonly key: string) {
    super(`could not apply an event for ${key}: the record kept changing`);
    this.name = 'ConcurrencyError';
  }
}

const MAX_ATTEMPTS = 20;

/** A version-checked group update: finish with `done`, or write `state` and return `then`. */
type GroupStep<T> = { done: T } | { state: GroupState; then: T };

export class LearningBot implements BotPort {
  readonly course: Course;
  readonly store: Store;
  private readonly opts: BotOptions;
  private readonly locks = new KeyedMutex();
  private readonly sending = new KeyedMutex();
  private readonly inFlight = new Set<Promise<unknown>>();
  private sender: Sender | undefined;
  readonly now: () => Date;
  readonly report: ErrorSink;

  constructor(opts: BotOptions) {
    this.opts = opts;
    this.course = opts.course;
    this.store = opts.store;
    this.now = opts.now ?? (() => new Date());
    this.report = opts.onError;
  }

  /**
   * Participants' events of live workshops (a join, an answer button): given the event, the reply,
   * or undefined when the event is not one. Set by the wiring (see `WorkshopRuntime.participant`).
   */
  participantEvents: ((inbound: Inbound) => Promise<Outbound[] | undefined>) | undefined;

  private get policy(): NudgePolicy {
    return this.opts.nudges ?? DEFAULT_NUDGE_POLICY;
  }

  /** Connects the channels' proactive delivery (owed group posts go out through it). */
  connect(send: Sender): void {
    this.sender = send;
  }

  /** Waits for the group posts being delivered in the background (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  async peek(key: LearnerKey): Promise<LearnerState | null> {
    return (await this.store.getLearner(key))?.state ?? null;
  }

  /**
   * Applies one inbound event and returns the reply to send back in its conversation. Never
   * throws: an unexpected error is reported to `onError` and the learner gets an apology (the event
   * is not marked as applied, so the platform's retry can still succeed).
   */
  async handle(inbound: Inbound): Promise<Outbound[]> {
    const channel = inbound.learner.channel;
    const timer = this.opts.metrics?.engineSeconds.startTimer({ channel });
    this.opts.metrics?.messagesIn.inc({ channel });
    try {
      const out = inbound.address.kind === 'group' ? await this.handleGroup(inbound) : ((await this.participantEvents?.(inbound)) ?? (await this.handleLearner(inbound)));
      this.opts.metrics?.messagesOut.inc({ channel }, out.length);
      return out;
    } catch (err) {
      // Hashed: some platforms' event ids carry a user id (Slack's button events).
      this.opts.onError(err, { where: 'handle', channel: inbound.learner.channel, eventId: hashId(inbound.id), event: inbound.event.type });
      const lang: Lang = isLang(inbound.languageHint?.slice(0, 2)) ? (inbound.languageHint!.slice(0, 2) as Lang) : 'en';
      return [{ kind: 'text', text: plain(t(lang, 'error.generic')) }];
    } finally {
      timer?.();
    }
  }

  // ---- learners -----------------------------------------------------------------------------

  /** The per-learner lock key. A person's identity (several linked accounts) will replace it: one place to change. */
  private learnerLock(key: LearnerKey): string {
    return `learner:${key.channel}:${key.userId}`;
  }

  /**
   * The learner's path for an event decided outside the dialog engine (a workshop participant's
   * join or answer): under the learner's lock, read, `step`, one commit with the event's id and the
   * next nudge time, retried on a version conflict. An event already applied returns nothing.
   */
  learnerPath(inbound: Inbound, step: (record: LearnerRecord | null, now: Date) => Promise<LearnerStep>): Promise<Outbound[]> {
    const { learner } = inbound;
    return this.locks.run(this.learnerLock(learner), async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (await this.store.isProcessed(learner.channel, inbound.id)) return [];
        const record = await this.store.getLearner(learner);
        const now = this.now();
        const r = await step(record, now);
        if ('reply' in r) {
          if (r.markProcessed && !(await this.store.markProcessed(learner.channel, inbound.id, now))) return [];
          return r.reply;
        }
        const outcome = await this.store.commitLearner({ key: learner, expectedVersion: record?.version ?? 0, state: r.state, address: inbound.address, nudgeAt: nextNudgeAt(r.state, now, this.policy), eventId: inbound.id, now });
        if (outcome === 'duplicate') return [];
        if (outcome === 'conflict') continue;
        return r.messages;
      }
      throw new ConcurrencyError(this.learnerLock(learner));
    });
  }

  private handleLearner(inbound: Inbound): Promise<Outbound[]> {
    const { learner } = inbound;
    return this.locks.run(this.learnerLock(learner), async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (await this.store.isProcessed(learner.channel, inbound.id)) return [];
        const record = await this.store.getLearner(learner);
        const now = this.now();
        const result = handleLearnerEvent(this.course, this.opts.engine, { state: record?.state ?? null, inbound, now });
        const outcome = await this.store.commitLearner({
          key: learner,
          expectedVersion: record?.version ?? 0,
          state: result.state,
          address: inbound.address,
          nudgeAt: nextNudgeAt(result.state, now, this.policy),
          eventId: inbound.id,
          now,
        });
        if (outcome === 'duplicate') return [];
        if (outcome === 'conflict') continue;
        const messages = [...result.messages];
        for (const effect of result.effects) {
          if (effect.type === 'forget') await this.store.forgetLearner(learner);
          if (effect.type === 'export') {
            const data = await this.store.exportLearner(learner);
            messages.push({ kind: 'data', filename: 'digit4sd-mydata.json', json: JSON.stringify(data, null, 2) });
          }
        }
        return messages;
      }
      throw new ConcurrencyError(this.learnerLock(learner));
    });
  }

  /**
   * Runs `step` on the learner's current record under the learner's lock and writes the state it
   * returns with the version check (retrying on a conflict with another process). `step` returns
   * null to write nothing.
   */
  private updateLearner<T>(key: LearnerKey, step: (record: LearnerRecord, now: Date) => Promise<{ state: LearnerState; nudgeAt: Date | null; then: T } | { done: T }>): Promise<T | null> {
    return this.locks.run(this.learnerLock(key), async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const record = await this.store.getLearner(key);
        if (!record) return null;
        const now = this.now();
        const next = await step(record, now);
        if ('done' in next) return next.done;
        const outcome = await this.store.commitLearner({ key, expectedVersion: record.version, state: next.state, address: record.address, nudgeAt: next.nudgeAt, now });
        if (outcome === 'committed') return next.then;
      }
      throw new ConcurrencyError(this.learnerLock(key));
    });
  }

  /** Moves a learner's next nudge to `at` (after a platform asked us to wait). */
  async rescheduleNudge(key: LearnerKey, at: Date): Promise<void> {
    await this.updateLearner(key, async (record) => ({ state: record.state, nudgeAt: at, then: undefined }));
  }

  /**
   * A nudge's internal event: under the learner's lock, decides whether a nudge is still due (the
   * learner's own state decides, so a repeated job finds nothing to do once it is recorded), sends
   * it through `send`, and records it. A "sent" mark written right after the platform accepted the
   * message covers a crash between the send and the write: the retried job records the nudge
   * without sending it again.
   *
   * Throws a retryable {@link PlatformError} (the caller retries, honouring `retryAfterSec`). A
   * learner who cannot be reached is marked so; any other refusal is reported once and the nudge is
   * recorded as spent ('failed'), so that it is not retried forever.
   */
  async nudge(job: NudgeJob, marks: SentMarks, send: Sender): Promise<NudgeOutcome> {
    const key = { channel: job.channel, userId: job.userId };
    const jobId = nudgeJobId(job);
    const outcome = await this.updateLearner<NudgeOutcome>(key, async (record, now) => {
      const state = record.state;
      if (state.nudges.lastNudgeJob === jobId) return { done: 'sent' };
      let sent = await marks.get(jobId);
      const due = sent ? undefined : nudgeDue(state, now, this.policy, this.course.items);
      if (!sent && !due) return { state, nudgeAt: nextNudgeAt(state, now, this.policy), then: 'skipped' };
      if (!sent && due) {
        const lastBeforePause = state.nudges.unanswered + 1 >= this.policy.maxUnanswered;
        try {
          await send(record.address, [nudgeMessage(this.course, state, due.kind, due.dueCount, lastBeforePause)]);
        } catch (err) {
          if (err instanceof PlatformError && err.unreachable) {
            const unreachable = { ...state, nudges: { ...state.nudges, unreachable: true } };
            return { state: unreachable, nudgeAt: null, then: 'unreachable' };
          }
          if (!(err instanceof PlatformError) || err.retryable) throw err;
          this.opts.onError(err, { where: 'nudge-delivery', channel: job.channel, retryable: false });
          const spent = afterNudge(state, due.kind, now, jobId);
          return { state: spent, nudgeAt: nextNudgeAt(spent, now, this.policy), then: 'failed' };
        }
        await marks.set(jobId, due.kind);
        sent = due.kind;
      }
      const next = afterNudge(state, sent!, now, jobId);
      return { state: next, nudgeAt: nextNudgeAt(next, now, this.policy), then: 'sent' };
    });
    return outcome ?? 'skipped';
  }

  // ---- groups -------------------------------------------------------------------------------

  private groupLock(key: ConversationKey): string {
    return `group:${key.channel}:${key.conversationId}`;
  }

  private handleGroup(inbound: Inbound): Promise<Outbound[]> {
    const key: ConversationKey = { channel: inbound.address.channel, conversationId: inbound.address.conversationId };
    return this.groupTurn(key, { type: 'inbound', inbound }, inbound);
  }

  /**
   * One group event through the path: under the group's lock, read the group and the open
   * question's answers, run the engine, apply its effects (an answer's insert, the leaderboard),
   * write the state with the version check, then deliver what the group is owed.
   */
  private async groupTurn(key: ConversationKey, event: GroupEvent, inbound?: Inbound): Promise<Outbound[]> {
    const reply = await this.locks.run(this.groupLock(key), async () => {
      let decided: Outbound[] | undefined;
      let ev = event;
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const eventId = decided ? undefined : inbound?.id;
        if (eventId && (await this.store.isProcessed(key.channel, eventId))) return [];
        const record = await this.store.getGroup(key);
        const now = this.now();
        const quiz = record?.state.quiz;
        const answers = quiz ? await this.store.listGroupAnswers(key, quiz.id, quiz.index) : [];
        const r = handleGroupEvent(this.course, this.opts.group, { state: record?.state ?? null, answers, event: ev, now, quizId: now.getTime().toString(36) });
        let out = decided ?? r.reply;
        let answerStored = false;
        for (const effect of r.effects) {
          if (effect.type === 'record_answer' && eventId) {
            const stored = await this.store.recordGroupAnswer({ key, ...effect, at: now, eventId });
            if (stored === 'duplicate') return [];
            if (stored === 'already_answered') {
              // Another process took this member's answer first; the event counts as applied.
              await this.store.markProcessed(key.channel, eventId, now);
              return [{ kind: 'notice', text: t(r.state.lang, 'group.already'), reason: 'already_answered' } satisfies Outbound];
            }
            answerStored = true;
          }
          if (effect.type === 'leaderboard') out = [...out, leaderboardMessage(r.state.lang, await this.store.leaderboard(key, 20))];
        }
        if (!r.changed) {
          // Read-only: mark the event applied, so that a retry sends nothing twice.
          if (eventId && !answerStored && !(await this.store.markProcessed(key.channel, eventId, now))) return [];
          return out;
        }
        const address = inbound?.address ?? record?.address;
        if (!address) return out;
        const outcome = await this.store.commitGroup({
          key,
          expectedVersion: record?.version ?? 0,
          state: r.state,
          address,
          ...groupDueTimes(r.state),
          ...(r.scores.length ? { scores: r.scores } : {}),
          ...(eventId && !answerStored ? { eventId } : {}),
          now,
        });
        if (outcome === 'duplicate') return [];
        if (outcome === 'committed') return out;
        // Another process changed the group. A stored answer stays stored: look again as a tick
        // (it closes the question if everyone has now answered), keeping the reply decided here.
        if (answerStored) {
          decided = out;
          ev = { type: 'tick' };
        }
      }
      throw new ConcurrencyError(this.groupLock(key));
    });
    this.deliverOwedSoon(key);
    return reply;
  }

  /** The one way owed posts are claimed and cleared: a version-checked write under the group's lock. */
  private updateGroup<T>(key: ConversationKey, step: (record: GroupRecord, now: Date) => GroupStep<T>): Promise<T | undefined> {
    return this.locks.run(this.groupLock(key), async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const record = await this.store.getGroup(key);
        if (!record) return undefined;
        const now = this.now();
        const next = step(record, now);
        if ('done' in next) return next.done;
        const outcome = await this.store.commitGroup({ key, expectedVersion: record.version, state: next.state, address: record.address, ...groupDueTimes(next.state), now });
        if (outcome === 'committed') return next.then;
      }
      throw new ConcurrencyError(this.groupLock(key));
    });
  }

  private deliverOwedSoon(key: ConversationKey): void {
    const p = this.deliverOwed(key).catch((err) => this.opts.onError(err, { where: 'group-delivery', channel: key.channel }));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /**
   * Delivers the posts a group is owed, oldest first, one sender at a time: each is claimed (a
   * lease, so that one process sends it), sent through the channel, then cleared. A retryable
   * failure leaves it owed: the lease lapses and the next tick sends it again. A refusal for good
   * (bad request, a message that cannot be rendered) is reported once and the post is dropped.
   */
  async deliverOwed(key: ConversationKey): Promise<void> {
    await this.sending.run(this.groupLock(key), async () => {
      for (;;) {
        const leaseMs = this.opts.owedLeaseMs ?? 60_000;
        const claimed = await this.updateGroup<{ post: OwedPost; address: Address } | null>(key, (record, now) => {
          const post = nextOwed(record.state, now);
          return post ? { state: claimOwed(record.state, post.id, new Date(now.getTime() + leaseMs)), then: { post, address: record.address } } : { done: null };
        });
        if (!claimed) return;
        const { post, address } = claimed;
        try {
          if (!this.sender) throw new Error(`no channel is connected to deliver to ${address.channel}`);
          await this.sender(address, post.messages);
          this.opts.metrics?.messagesOut.inc({ channel: address.channel }, post.messages.length);
        } catch (err) {
          const retryable = !(err instanceof PlatformError) || err.retryable;
          this.opts.onError(err, { where: 'group-delivery', channel: key.channel, retryable });
          if (retryable) return;
        }
        await this.updateGroup(key, (record) => ({ state: withoutOwed(record.state, post.id), then: undefined }));
      }
    });
  }

  /**
   * The groups' clock: closes every question whose time is up, starts the weekly quizzes that are
   * due, and delivers what groups are owed (any number of processes may tick: the version checks
   * and the owed posts' leases let one act). Never throws: errors are reported per group.
   */
  async tick(limit = 100): Promise<void> {
    const now = this.now();
    const keys = new Map<string, ConversationKey>();
    for (const k of [...(await this.store.groupsDue(now, limit)), ...(await this.store.groupQuizzesDue(now, limit))]) keys.set(this.groupLock(k), k);
    for (const key of keys.values()) {
      try {
        await this.groupTurn(key, { type: 'tick' });
      } catch (err) {
        this.opts.onError(err, { where: 'group-tick', channel: key.channel });
      }
    }
    await this.settled();
  }
}

/** A stable id for a nudge job, without ':' (BullMQ forbids it in custom ids) and without raw user ids. */
export function nudgeJobId(job: NudgeJob): string {
  const who = createHash('sha256').update(`${job.channel}\u0000${job.userId}`).digest('base64url').slice(0, 22);
  return `nudge-${job.channel}-${who}-${job.plannedAt}`;
}
