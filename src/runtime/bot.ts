/**
 * The runtime around the pure engine: loads state, runs the engine, saves the result with a
 * conditional write, and hands back the messages to send. This is where exactly-once and ordering
 * are made:
 * - an event id already applied is dropped before anything is sent (platform retries);
 * - events for one learner are chained in this process, and a version check with retry orders them
 *   across processes: two events never interleave and nothing is lost;
 * - messages are returned only after the state that produced them is on disk, so a learner is
 *   never told about progress that a crash could lose.
 */
import type { Course } from '../content/course.js';
import { handleLearnerEvent, type EngineOptions } from '../engine/engine.js';
import { decodeAction } from '../engine/actions.js';
import {
  answerStatus,
  closeQuestion,
  everyoneAnswered,
  groupDueTimes,
  leaderboardMessage,
  newGroupState,
  scheduleGroupQuiz,
  startGroupQuiz,
  startScheduledQuiz,
  type GroupOptions,
  type GroupResult,
  type GroupState,
} from '../engine/group.js';
import { t } from '../engine/i18n.js';
import { isLang, type Lang } from '../engine/state.js';
import type { Address, Inbound, LearnerKey, Outbound } from '../messages.js';
import { plain } from '../messages.js';
import { nextNudgeAt, type NudgePolicy, DEFAULT_NUDGE_POLICY } from '../scheduling/nudges.js';
import type { ConversationKey, GroupRecord, ScoreRow, Store } from '../store/store.js';
import { KeyedMutex } from './mutex.js';
import type { LearnerStep } from './workshops.js';
import type { LearnerRecord } from '../store/store.js';
import type { Metrics } from '../metrics.js';

/** Messages for one conversation, to be sent by its channel. */
export interface Delivery {
  address: Address;
  messages: Outbound[];
}

/** Receives every error with its context, once. */
export type ErrorSink = (err: unknown, context: Record<string, unknown>) => void;

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
}

/** What a group update decides: finish now, or write this state (then return `then`). */
type GroupStep<T> = { done: T } | { write: { state: GroupState; address: Address; scores?: ScoreRow[]; eventId?: string }; then: T };

/** Thrown when a write keeps conflicting (a pathological burst for one learner). */
export class ConcurrencyError extends Error {
  constructor(readonly key: string) {
    super(`could not apply an event for ${key}: the record kept changing`);
    this.name = 'ConcurrencyError';
  }
}

const MAX_ATTEMPTS = 20;

export class LearningBot {
  readonly course: Course;
  readonly store: Store;
  private readonly opts: BotOptions;
  private readonly locks = new KeyedMutex();
  readonly now: () => Date;

  constructor(opts: BotOptions) {
    this.opts = opts;
    this.course = opts.course;
    this.store = opts.store;
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * Participants' events of live workshops (a join, an answer button): given the event, the reply,
   * or undefined when the event is not one. Set by the wiring (see `WorkshopRuntime.participant`).
   */
  participantEvents: ((inbound: Inbound) => Promise<Outbound[] | undefined>) | undefined;

  private get policy(): NudgePolicy {
    return this.opts.nudges ?? DEFAULT_NUDGE_POLICY;
  }

  /**
   * Applies one inbound event and returns the messages to send back in its conversation. Never
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
      this.opts.onError(err, { where: 'handle', channel: inbound.learner.channel, eventId: inbound.id, event: inbound.event.type });
      const lang: Lang = isLang(inbound.languageHint?.slice(0, 2)) ? (inbound.languageHint!.slice(0, 2) as Lang) : 'en';
      return [{ kind: 'text', text: plain(t(lang, 'error.generic')) }];
    } finally {
      timer?.();
    }
  }

  /**
   * The learner's path for an event decided outside the dialog engine (a workshop participant's
   * join or answer): under the learner's lock, read, `step`, one commit with the event's id and the
   * next nudge time, retried on a version conflict. An event already applied returns nothing.
   */
  learnerPath(inbound: Inbound, step: (record: LearnerRecord | null, now: Date) => Promise<LearnerStep>): Promise<Outbound[]> {
    const { learner } = inbound;
    return this.locks.run(`${learner.channel}:${learner.userId}`, async () => {
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
      throw new ConcurrencyError(`${learner.channel}:${learner.userId}`);
    });
  }

  private handleLearner(inbound: Inbound): Promise<Outbound[]> {
    const { learner } = inbound;
    const lockKey = `${learner.channel}:${learner.userId}`;
    return this.locks.run(lockKey, async () => {
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
      throw new ConcurrencyError(lockKey);
    });
  }

  /** Moves a learner's next nudge to `at` (after a platform asked us to wait). */
  async rescheduleNudge(key: LearnerKey, at: Date): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const record = await this.store.getLearner(key);
      if (!record) return;
      const outcome = await this.store.commitLearner({ key, expectedVersion: record.version, state: record.state, address: record.address, nudgeAt: at, now: this.now() });
      if (outcome === 'committed') return;
    }
    throw new ConcurrencyError(`${key.channel}:${key.userId}`);
  }

  private groupLang(inbound: Inbound): Lang {
    const hint = inbound.languageHint?.slice(0, 2);
    return isLang(hint) ? hint : 'en';
  }

  private async handleGroup(inbound: Inbound): Promise<Outbound[]> {
    const key: ConversationKey = { channel: inbound.address.channel, conversationId: inbound.address.conversationId };
    const ev = inbound.event;
    const lang = this.groupLang(inbound);
    if (ev.type === 'choice') {
      const action = decodeAction(ev.data);
      if (action?.type === 'group_answer') return this.groupAnswer(inbound, key, action.quizId, action.question, action.option);
    }
    if (ev.type === 'command' && ev.command.toLowerCase() === 'quiz') {
      return this.changeGroup(inbound, key, (state, now) => startGroupQuiz(this.course, this.opts.group, state, ev.args, now.getTime().toString(36), now));
    }
    if (ev.type === 'command' && ev.command.toLowerCase() === 'schedule') return this.changeGroup(inbound, key, (state, now) => scheduleGroupQuiz(state, ev.args, now));
    // Everything else in a group is read-only: mark it applied so that a retry sends nothing twice.
    if (!(await this.store.markProcessed(key.channel, inbound.id, this.now()))) return [];
    if (ev.type === 'command') {
      const command = ev.command.toLowerCase();
      if (command === 'leaderboard') {
        const group = await this.store.getGroup(key);
        return [leaderboardMessage(group?.state.lang ?? lang, await this.store.leaderboard(key, 20))];
      }
      if (command === 'start' || command === 'help') return [{ kind: 'text', text: plain(t(lang, 'welcome.group')) }];
      return [{ kind: 'text', text: plain(t(lang, 'group.only_private', { command })) }];
    }
    if (ev.type === 'choice') return [{ kind: 'notice', text: t(lang, 'group.closed'), reason: 'closed' }];
    return [{ kind: 'text', text: plain(t(lang, 'welcome.group')) }];
  }

  /**
   * Applies a group command that may change the group's state (`/quiz`, `/schedule`): the change is
   * written with the group's version check and the event id, then its messages are returned.
   */
  private changeGroup(inbound: Inbound, key: ConversationKey, apply: (state: GroupState, now: Date) => GroupResult): Promise<Outbound[]> {
    return this.updateGroup<Outbound[]>(key, [], async (record, now) => {
      const state = record?.state ?? newGroupState(this.groupLang(inbound));
      const result = apply(state, now);
      if (result.state === state) {
        // Nothing changed (a quiz is running, a bad argument, a question): just answer, once.
        return { done: (await this.store.markProcessed(key.channel, inbound.id, now)) ? result.messages : [] };
      }
      return { write: { state: result.state, address: inbound.address, eventId: inbound.id }, then: result.messages };
    });
  }

  /**
   * The one way group records change: under the group's lock in this process, `step` looks at the
   * current record and either finishes (`done`) or asks for a write, which is made with the version
   * check (and the event id, when there is one); on a conflict with another process, `step` runs
   * again on the fresh record. A write refused as a duplicate event returns `onDuplicate`.
   */
  private updateGroup<T>(
    key: ConversationKey,
    onDuplicate: T,
    step: (record: GroupRecord | null, now: Date) => Promise<GroupStep<T>> | GroupStep<T>,
  ): Promise<T> {
    return this.locks.run(`group:${key.channel}:${key.conversationId}`, async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const record = await this.store.getGroup(key);
        const now = this.now();
        const next = await step(record, now);
        if ('done' in next) return next.done;
        const { state, address, scores, eventId } = next.write;
        const outcome = await this.store.commitGroup({
          key,
          expectedVersion: record?.version ?? 0,
          state,
          address,
          ...groupDueTimes(state),
          ...(scores ? { scores } : {}),
          ...(eventId ? { eventId } : {}),
          now,
        });
        if (outcome === 'duplicate') return onDuplicate;
        if (outcome === 'committed') return next.then;
      }
      throw new ConcurrencyError(`group:${key.conversationId}`);
    });
  }

  private async groupAnswer(inbound: Inbound, key: ConversationKey, quizId: string, question: number, option: number): Promise<Outbound[]> {
    const now = this.now();
    const group = await this.store.getGroup(key);
    const lang = group?.state.lang ?? this.groupLang(inbound);
    if (answerStatus(group?.state ?? null, quizId, question, now) === 'closed') {
      return (await this.store.markProcessed(key.channel, inbound.id, now)) ? [{ kind: 'notice', text: t(lang, 'group.closed'), reason: 'closed' }] : [];
    }
    const outcome = await this.store.recordGroupAnswer({
      key,
      quizId,
      question,
      userId: inbound.learner.userId,
      displayName: inbound.displayName ?? inbound.learner.userId,
      option,
      at: now,
      eventId: inbound.id,
    });
    if (outcome === 'duplicate') return [];
    if (outcome === 'already_answered') {
      // The refused event counts as applied, so that its redelivery is a 'duplicate' and sends nothing.
      // The stores record it themselves (the contract says so); recording it here too keeps that true
      // for any store. Its result is not a redelivery test: the store may have just recorded it.
      await this.store.markProcessed(key.channel, inbound.id, now);
      return [{ kind: 'notice', text: t(lang, 'group.already'), reason: 'already_answered' }];
    }
    const letter = String.fromCharCode(65 + option);
    const messages: Outbound[] = [{ kind: 'notice', text: t(lang, 'group.recorded', { option: letter }), reason: 'recorded' }];
    const answers = await this.store.listGroupAnswers(key, quizId, question);
    if (group && everyoneAnswered(group.state, answers)) {
      const closed = await this.closeGroupQuestion(key, quizId, question);
      if (closed) messages.push(...closed.messages);
    }
    return messages;
  }

  /**
   * Closes a group question if it is still open (any process may try; the version check lets one
   * win). Returns what to post in the group, or null when someone else closed it.
   */
  async closeGroupQuestion(key: ConversationKey, quizId?: string, question?: number): Promise<Delivery | null> {
    return this.updateGroup<Delivery | null>(key, null, async (record, now) => {
      const quiz = record?.state.quiz;
      if (!record || !quiz || (quizId !== undefined && (quiz.id !== quizId || quiz.index !== question))) return { done: null };
      const answers = await this.store.listGroupAnswers(key, quiz.id, quiz.index);
      const result = closeQuestion(this.course, record.state, answers, now);
      return { write: { state: result.state, address: record.address, scores: result.scores }, then: { address: record.address, messages: result.messages } };
    });
  }

  /** Closes every group question whose time is up. Returns what to post, conversation by conversation. */
  async closeDueGroupQuestions(limit = 100): Promise<Delivery[]> {
    const due = await this.store.groupsDue(this.now(), limit);
    const out: Delivery[] = [];
    for (const key of due) {
      const record = await this.store.getGroup(key);
      const quiz = record?.state.quiz;
      if (!quiz || new Date(quiz.closesAt) > this.now()) continue;
      const delivery = await this.closeGroupQuestion(key, quiz.id, quiz.index);
      if (delivery) out.push(delivery);
    }
    return out;
  }

  /**
   * Starts the weekly team quizzes that are due, as `/quiz` would, and moves each schedule to its
   * next week in the same version-checked write: with several processes ticking, one wins and the
   * others find the schedule moved on. Returns what to post, conversation by conversation.
   */
  async startDueScheduledQuizzes(limit = 100): Promise<Delivery[]> {
    const due = await this.store.groupQuizzesDue(this.now(), limit);
    const out: Delivery[] = [];
    for (const key of due) {
      const delivery = await this.startScheduledQuiz(key);
      if (delivery) out.push(delivery);
    }
    return out;
  }

  private startScheduledQuiz(key: ConversationKey): Promise<Delivery | null> {
    return this.updateGroup<Delivery | null>(key, null, (record, now) => {
      const result = record && startScheduledQuiz(this.course, this.opts.group, record.state, now.getTime().toString(36), now);
      // Not due (any more): another process started it, or the schedule changed.
      if (!record || !result) return { done: null };
      const delivery = result.messages.length ? { address: record.address, messages: result.messages } : null;
      return { write: { state: result.state, address: record.address }, then: delivery };
    });
  }
}
