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
 *   state; a nudge's message is written to the outbox in the commit that records it (durable mode);
 * - posts a group is owed (a quiz's questions, reveals, final scores) are kept in the group's state
 *   until the channel has delivered them, so a failed send never skips a reveal.
 */
import { createHash } from 'node:crypto';
import type { Course } from '../content/course.js';
import { handleLearnerEvent, type Effect, type EngineOptions } from '../engine/engine.js';
import { encodeAction } from '../engine/actions.js';
import {
  claimOwed,
  claimTally,
  groupDueTimes,
  handleGroupEvent,
  leaderboardMessage,
  nextOwed,
  tallyIdle,
  tallyMessage,
  tallyQuestions,
  tallySent,
  TALLY_SPACING_MS,
  tapMayClose,
  withoutOwed,
  type AnswerTally,
  type GroupAnswer,
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
import { local } from '../learning/localtime.js';
import type { ActivityRecord, NudgeEvent } from '../engine/activity.js';
import type { Address, Channel, Inbound, LearnerKey, Outbound, PostedRefs } from '../messages.js';
import { plain, questionKey } from '../messages.js';
import { hashId } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ConversationKey, GroupRecord, LearnerRecord, OutboxInsert, Store } from '../store/store.js';
import { KeyedMutex } from './mutex.js';
import { encodeInbox, laneOf, nudgeRows, outboxRows, type OutboxPayload, type ReplyTarget } from './durable.js';
import type { LearnerStep } from './workshops.js';
import { randomUUID } from 'node:crypto';
import type { CertificateService } from '../certificates/service.js';
import type { CertificateRecord, XapiRow } from '../store/store.js';
import type { XapiRecorder } from '../xapi/recorder.js';
import { LINK_CODE_MINUTES, mergeStates, unlinkedCopy } from '../engine/link.js';

/** Whether two keys name the same account. */
/** A workshop participant's step on the learner's path (see `WorkshopRuntime`). */
type LearnerStepFn = (record: LearnerRecord | null, now: Date) => Promise<LearnerStep>;

function sameKey(a: LearnerKey, b: LearnerKey): boolean {
  return a.channel === b.channel && a.userId === b.userId;
}

/** Each channel's name as people know it. */
const CHANNEL_NAMES: Record<LearnerKey['channel'], string> = { telegram: 'Telegram', slack: 'Slack', teams: 'Microsoft Teams', console: 'console' };

/** A nudge's record for the dashboard, at the hour of the learner's local day. */
function nudgeRecord(event: NudgeEvent, now: Date, timezone: string): ActivityRecord[] {
  return [{ type: 'nudge', at: now.toISOString(), event, localHour: local(now, timezone).hour }];
}

/** A learner who cannot be reached: no more nudges until they write again, and the dashboard's record of it. */
function unreachableStep(state: LearnerState, now: Date): { state: LearnerState; nudgeAt: null; activity: ActivityRecord[] } {
  return { state: { ...state, nudges: { ...state.nudges, unreachable: true } }, nudgeAt: null, activity: nudgeRecord('unreachable', now, state.nudges.timezone) };
}

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
export type Sender = (address: Address, messages: Outbound[]) => Promise<PostedRefs | void>;

/** What a channel adapter may do with the bot: hand it an event, report an error, read a learner for a platform view. */
export interface BotPort {
  /** Applies an inbound event and returns the reply (see {@link LearningBot.handle}). */
  handle(inbound: Inbound): Promise<Outbound[]>;
  /** Receives every error with its context. */
  report: ErrorSink;
  /** The learner's state, read-only (Slack's App Home shows progress from it). */
  peek(key: LearnerKey): Promise<LearnerState | null>;
  readonly course: Course;
  /**
   * Present when the durable inbox runs: records the event (deduplicated by its id) for the inbox
   * worker to apply, and returns once it is on disk, so that the adapter may acknowledge it. The
   * reply then comes through the outbox and the channel's `deliver`, with `target`.
   */
  accept?: (inbound: Inbound, target?: ReplyTarget) => Promise<void>;
}

/** A nudge due for one learner: who, and the nudge time the scan found (part of its identity). */
export interface NudgeJob {
  channel: Channel;
  userId: string;
  plannedAt: number;
}

/**
 * What became of a nudge. 'sent': recorded (durable: and queued in the outbox; without it: sent).
 * 'unreachable' and 'failed' come only without the outbox, where the nudge is sent before its
 * commit: 'failed', the platform refused it for good (reported; not retried).
 */
export type NudgeOutcome = 'sent' | 'skipped' | 'unreachable' | 'failed';

/**
 * Where "this nudge's message was sent" marks live, for a runtime without the durable outbox (Redis
 * with BullMQ; memory in-process). The durable runtime needs none: the nudge's outbox row is
 * written in the same commit as the state that records it.
 */
export interface SentMarks {
  get(jobId: string): Promise<NudgeKind | null>;
  set(jobId: string, kind: NudgeKind): Promise<void>;
}

/** How a runtime without the durable outbox sends a nudge itself (see {@link LearningBot.nudge}). */
export interface DirectNudge {
  marks: SentMarks;
  send: Sender;
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
  /** How long a sender holds an owed group post (or a group's tally) before another may take it over (default 60 s). */
  owedLeaseMs?: number;
  /** Signs and renders certificates; without it, an earned certificate cannot be issued (an error). */
  certificates?: CertificateService;
  /** Turns learning records into xAPI statements for the outbox; without it, no statements are written. */
  xapi?: XapiRecorder;
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
  private talliesIn: (channel: Channel) => boolean = () => false;
  /** Groups with a tally look waiting for the one in progress (see deliverTallySoon). */
  private readonly tallyWaiting = new Set<string>();
  private accepted: (() => void) | undefined;
  private written: (() => void) | undefined;
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
   * Participants' events of live workshops (a join, an answer button): given the event and the
   * learner's path to run a step on, the reply, or undefined when the event is not one. Set by the
   * wiring (see `WorkshopRuntime.participant`).
   */
  participantEvents: ((inbound: Inbound, path: (step: LearnerStepFn) => Promise<Outbound[]>) => Promise<Outbound[] | undefined>) | undefined;

  private get policy(): NudgePolicy {
    return this.opts.nudges ?? DEFAULT_NUDGE_POLICY;
  }

  /**
   * Connects the channels' proactive delivery (owed group posts and tallies go out through it).
   * `talliesIn` says which channels show a group one running tally of who has answered (those
   * without private notices: Teams).
   */
  connect(send: Sender, talliesIn: (channel: Channel) => boolean = () => false): void {
    this.sender = send;
    this.talliesIn = talliesIn;
  }

  /**
   * Turns on the durable inbox and outbox: adapters `accept` events into the store, `onAccepted`
   * wakes the inbox worker, `onOutbox` wakes the outbox sender after a commit that wrote rows.
   */
  enableDurable(onAccepted: () => void, onOutbox: () => void): void {
    this.accepted = onAccepted;
    this.written = onOutbox;
    this.accept = async (inbound: Inbound, target?: ReplyTarget): Promise<void> => {
      await this.store.inboxAdd({ channel: inbound.learner.channel, eventId: inbound.id, lane: laneOf(inbound), payload: encodeInbox(inbound, target), receivedAt: this.now() });
      this.accepted?.();
    };
  }

  accept?: (inbound: Inbound, target?: ReplyTarget) => Promise<void>;

  /**
   * Applies an accepted event: the reply is written to the outbox in the same commit as the state
   * change (or, for an event that changes nothing, with its processed mark). Throws when it could
   * not be applied (the inbox keeps it for a retry); the learner is sent an apology.
   */
  async apply(inbound: Inbound, target?: ReplyTarget): Promise<void> {
    const channel = inbound.learner.channel;
    this.opts.metrics?.messagesIn.inc({ channel });
    const durable = { target };
    try {
      if (inbound.address.kind === 'group') await this.handleGroup(inbound, durable);
      else await this.handleLearner(inbound, durable);
      this.written?.();
    } catch (err) {
      this.opts.onError(err, { where: 'apply', channel, eventId: inbound.id, event: inbound.event.type });
      const lang: Lang = isLang(inbound.languageHint?.slice(0, 2)) ? (inbound.languageHint!.slice(0, 2) as Lang) : 'en';
      await this.store
        .outboxAdd(outboxRows(inbound.address, [{ kind: 'text', text: plain(t(lang, 'error.generic')) }], target), this.now())
        .then(() => this.written?.())
        .catch((e: unknown) => this.opts.onError(e, { where: 'apply-apology', channel }));
      throw err;
    }
  }

  /** Waits for the group posts being delivered in the background (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  async peek(key: LearnerKey): Promise<LearnerState | null> {
    return (await this.store.getLearner(await this.store.resolveAccount(key)))?.state ?? null;
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
      const out = inbound.address.kind === 'group' ? await this.handleGroup(inbound) : await this.handleLearner(inbound);
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
   * A learner's event, on the person's path: the account is resolved to its person (linked accounts
   * share one record), the person's lock is taken, and the turn is committed on the person's record.
   * Linking and unlinking, which touch two people, run after that under both locks. In durable mode
   * the reply goes to the outbox: in the turn's own commit, or, when effects add to it after the
   * commit (an export, an erasure, a certificate, a link), in one row once they are done.
   */
  private async handleLearner(inbound: Inbound, durable?: { target?: ReplyTarget | undefined }): Promise<Outbound[]> {
    if (this.participantEvents) {
      const out = await this.participantEvents(inbound, (step) => this.learnerPath(inbound, step, durable));
      if (out) return out;
    }
    const account = inbound.learner;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const person = await this.store.resolveAccount(account);
      const turn = await this.learnerTurn(inbound, person, durable);
      // The account was linked or unlinked while this event waited for the lock: take the new path.
      if (turn === 'moved') continue;
      const messages = [...turn.messages];
      for (const effect of turn.after) {
        if (effect.type === 'link') messages.push(...(await this.link(effect.code, inbound)));
        if (effect.type === 'unlink') messages.push(...(await this.unlink(inbound)));
      }
      if (durable && turn.late) await this.store.outboxAdd(outboxRows(inbound.address, messages, durable.target), this.now());
      return messages;
    }
    throw new ConcurrencyError(this.learnerLock(account));
  }

  /**
   * The learner's path for an event decided outside the dialog engine (a workshop participant's
   * join or answer): the account resolved to its person, the person's lock, read, `step`, and one
   * commit with the event's id, the next nudge time and (durable mode) the reply's outbox rows,
   * retried on a version conflict. An event already applied returns nothing.
   */
  private async learnerPath(inbound: Inbound, step: LearnerStepFn, durable?: { target?: ReplyTarget | undefined }): Promise<Outbound[]> {
    const account = inbound.learner;
    for (let moved = 0; moved < MAX_ATTEMPTS; moved++) {
      const person = await this.store.resolveAccount(account);
      const out = await this.locks.run(this.learnerLock(person), async () => {
        if (!sameKey(await this.store.resolveAccount(account), person)) return 'moved' as const;
        for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
          if (await this.store.isProcessed(account.channel, inbound.id)) return [];
          const record = await this.store.getLearner(person);
          const now = this.now();
          const r = await step(record, now);
          const outbox = (messages: Outbound[]) => (durable ? outboxRows(inbound.address, messages, durable.target) : undefined);
          if ('reply' in r) {
            if (r.markProcessed && !(await this.store.markProcessed(account.channel, inbound.id, now, outbox(r.reply)))) return [];
            if (!r.markProcessed && durable) await this.store.outboxAdd(outbox(r.reply)!, now);
            return r.reply;
          }
          const rows = outbox(r.messages);
          const outcome = await this.store.commitLearner({
            key: person,
            expectedVersion: record?.version ?? 0,
            state: r.state,
            address: r.state.nudges.reminderAddress ?? inbound.address,
            nudgeAt: nextNudgeAt(r.state, now, this.policy),
            eventId: inbound.id,
            ...(rows ? { outbox: rows } : {}),
            now,
          });
          if (outcome === 'duplicate') return [];
          if (outcome === 'conflict') continue;
          return r.messages;
        }
        throw new ConcurrencyError(this.learnerLock(person));
      });
      if (out !== 'moved') return out;
    }
    throw new ConcurrencyError(this.learnerLock(account));
  }

  private learnerTurn(
    inbound: Inbound,
    learner: LearnerKey,
    durable?: { target?: ReplyTarget | undefined },
  ): Promise<{ messages: Outbound[]; after: Effect[]; late: boolean } | 'moved'> {
    const account = inbound.learner;
    // One id for whatever this event creates, the same on every retry of the write.
    const nonce = randomUUID();
    return this.locks.run(this.learnerLock(learner), async () => {
      if (!sameKey(await this.store.resolveAccount(account), learner)) return 'moved';
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (await this.store.isProcessed(account.channel, inbound.id)) return { messages: [], after: [], late: false };
        const record = await this.store.getLearner(learner);
        const now = this.now();
        const result = handleLearnerEvent(this.course, this.opts.engine, { state: record?.state ?? null, inbound, now, nonce });
        // Certificates the engine decided are signed here (the key is the runtime's) and written in the same commit.
        const certificates: CertificateRecord[] = [];
        for (const effect of result.effects) if (effect.type === 'certificate') certificates.push(await this.certificates().sign(effect.issue, learner));
        // Learning records become xAPI statements in the same commit (the outbox), sent later by the sender.
        const records = result.effects.flatMap((e) => (e.type === 'record' ? [e.record] : []));
        const xapi: XapiRow[] = this.opts.xapi && records.length ? this.opts.xapi.rows(learner, result.state, records, nonce, now) : [];
        // Effects that add to the reply after the commit (all but learning records) send it later, in one row.
        const late = result.effects.some((e) => e.type !== 'record');
        const outcome = await this.store.commitLearner({
          key: learner,
          expectedVersion: record?.version ?? 0,
          state: result.state,
          // Reminders go where the learner chose, else to the conversation used last.
          address: result.state.nudges.reminderAddress ?? inbound.address,
          nudgeAt: nextNudgeAt(result.state, now, this.policy),
          eventId: inbound.id,
          ...(durable && !late ? { outbox: outboxRows(inbound.address, result.messages, durable.target) } : {}),
          ...(certificates.length ? { certificates } : {}),
          ...(xapi.length ? { xapi } : {}),
          now,
          ...(result.activity.length ? { activity: result.activity } : {}),
        });
        if (outcome === 'duplicate') return { messages: [], after: [], late: false };
        if (outcome === 'conflict') continue;
        const messages = [...result.messages];
        for (const effect of result.effects) {
          if (effect.type === 'forget') {
            // Every linked account goes with the person: links, group answers and scores, certificates.
            const linked = await this.store.linkedAccounts(learner);
            for (const a of [...linked.map((l) => l.key), learner]) await this.store.forgetLearner(a);
          }
          if (effect.type === 'export') {
            const data = await this.store.exportLearner(learner);
            const linked = [];
            for (const a of await this.store.linkedAccounts(learner)) {
              const { learner: _none, ...own } = await this.store.exportLearner(a.key);
              linked.push({ channel: a.key.channel, userId: a.key.userId, address: a.address, ...own });
            }
            messages.push({ kind: 'data', filename: 'digit4sd-mydata.json', json: JSON.stringify({ ...data, linkedAccounts: linked }, null, 2) });
          }
          if (effect.type === 'link_code') await this.store.saveLinkCode(effect.code, learner, new Date(now.getTime() + LINK_CODE_MINUTES * 60_000));
          if (effect.type === 'certificate') messages.push(await this.certificates().message(certificates.find((c) => c.id === effect.issue.id)!));
          if (effect.type === 'certificate_send') {
            const cert = await this.store.getCertificate(effect.id);
            if (!cert) throw new Error(`certificate ${effect.id} is in the learner's state but not in the store`);
            messages.push(await this.certificates().message(cert));
          }
        }
        return { messages, after: result.effects.filter((e) => e.type === 'link' || e.type === 'unlink'), late };
      }
      throw new ConcurrencyError(this.learnerLock(learner));
    });
  }

  /**
   * `link CODE`: the account's person joins the person who made the code, under both people's locks
   * (taken in a fixed order), in one store step (see {@link Store.linkAccounts}).
   */
  private async link(code: string, inbound: Inbound): Promise<Outbound[]> {
    const now = this.now();
    const own = await this.store.resolveAccount(inbound.learner);
    const lang = (await this.store.getLearner(own))?.state.lang ?? 'en';
    const say = (key: string, vars?: Record<string, string | number>): Outbound[] => [{ kind: 'text', text: plain(t(lang, key, vars)) }];
    const target = await this.store.takeLinkCode(code, now);
    if (!target) return say('link.invalid');
    if (sameKey(target, own)) return say('link.already');
    const [first, second] = [target, own].sort((a, b) => this.learnerLock(a).localeCompare(this.learnerLock(b)));
    return this.locks.run(this.learnerLock(first!), () =>
      this.locks.run(this.learnerLock(second!), async () => {
        for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
          // Both may have moved while waiting: the code's person must still be one, and this account still ours.
          if (!sameKey(await this.store.resolveAccount(inbound.learner), own) || !sameKey(await this.store.resolveAccount(target), target)) return say('link.invalid');
          const [person, joining] = await Promise.all([this.store.getLearner(target), this.store.getLearner(own)]);
          if (!person) return say('link.invalid');
          const state = joining ? mergeStates(person.state, joining.state) : person.state;
          const at = this.now();
          const outcome = await this.store.linkAccounts({
            primary: target,
            expectedVersion: person.version,
            state,
            address: person.address,
            nudgeAt: nextNudgeAt(state, at, this.policy),
            secondary: own,
            secondaryVersion: joining?.version ?? 0,
            secondaryAddress: inbound.address,
            now: at,
          });
          if (outcome === 'committed') {
            const channels = [target, ...(await this.store.linkedAccounts(target)).map((a) => a.key)].map((k) => CHANNEL_NAMES[k.channel]);
            return [{ kind: 'text', text: plain(t(state.lang, 'link.done', { channels: [...new Set(channels)].join(', ') })), choices: [{ label: t(state.lang, 'btn.reminders_here'), data: encodeAction({ type: 'reminders_here' }) }] }];
          }
        }
        throw new ConcurrencyError(this.learnerLock(target));
      }),
    );
  }

  /**
   * /unlink: an account linked to a person leaves with a copy of the progress; on the person's own
   * account, every linked account leaves so (the person's record stays here).
   */
  private async unlink(inbound: Inbound): Promise<Outbound[]> {
    const account = inbound.learner;
    const person = await this.store.resolveAccount(account);
    return this.locks.run(this.learnerLock(person), async () => {
      const record = await this.store.getLearner(person);
      const lang = record?.state.lang ?? 'en';
      const say = (key: string): Outbound[] => [{ kind: 'text', text: plain(t(lang, key)) }];
      if (!record) return say('link.not_linked');
      const now = this.now();
      const leaving = sameKey(person, account) ? await this.store.linkedAccounts(person) : [{ key: account, address: inbound.address }];
      if (!leaving.length) return say('link.not_linked');
      for (const a of leaving) {
        const state = unlinkedCopy(record.state, a.address);
        await this.store.unlinkAccount(a.key, { state, address: a.address, nudgeAt: nextNudgeAt(state, now, this.policy), now });
      }
      // Reminders no longer go to an account that left.
      const pinned = record.state.nudges.reminderAddress;
      if (pinned && leaving.some((a) => a.address.channel === pinned.channel && a.address.conversationId === pinned.conversationId)) {
        const state = structuredClone(record.state);
        delete state.nudges.reminderAddress;
        await this.store.commitLearner({ key: person, expectedVersion: record.version, state, address: record.address, nudgeAt: nextNudgeAt(state, now, this.policy), now });
      }
      return say('link.unlinked');
    });
  }

  /**
   * Runs `step` on the learner's current record under the learner's lock and writes the state it
   * returns with the version check (retrying on a conflict with another process), with its activity
   * records and outbox rows in the same write. `step` returns `{ done }` to write nothing.
   */
  private updateLearner<T>(
    key: LearnerKey,
    step: (record: LearnerRecord, now: Date) => Promise<{ state: LearnerState; nudgeAt: Date | null; then: T; activity?: ActivityRecord[]; outbox?: OutboxInsert[] } | { done: T }>,
  ): Promise<T | null> {
    return this.locks.run(this.learnerLock(key), async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const record = await this.store.getLearner(key);
        if (!record) return null;
        const now = this.now();
        const next = await step(record, now);
        if ('done' in next) return next.done;
        const outcome = await this.store.commitLearner({
          key,
          expectedVersion: record.version,
          state: next.state,
          address: record.address,
          nudgeAt: next.nudgeAt,
          now,
          ...(next.activity?.length ? { activity: next.activity } : {}),
          ...(next.outbox?.length ? { outbox: next.outbox } : {}),
        });
        if (outcome === 'committed') return next.then;
      }
      throw new ConcurrencyError(this.learnerLock(key));
    });
  }

  private certificates(): CertificateService {
    if (!this.opts.certificates) throw new Error('certificates are not set up in this runtime (BotOptions.certificates)');
    return this.opts.certificates;
  }

  /** Moves a learner's next nudge to `at` (after a platform asked us to wait). */
  async rescheduleNudge(key: LearnerKey, at: Date): Promise<void> {
    await this.updateLearner(key, async (record) => ({ state: record.state, nudgeAt: at, then: undefined }));
  }

  /** Whether the durable outbox runs (see {@link enableDurable}): nudges are then queued in it. */
  get durable(): boolean {
    return this.written !== undefined;
  }

  /**
   * A nudge's internal event, on the learner's path: under the learner's lock, decides whether a
   * nudge is still due (the learner's own state decides, so a repeated job finds nothing to do once
   * it is recorded) and records it.
   *
   * One rule per mode:
   * - durable (the app, every role): the nudge is recorded and queued in ONE commit: the state after
   *   it, the next nudge time, the dashboard's record and an outbox row with the message. The outbox
   *   sender then sends it (paced, retried, marked sent once the platform accepts it; a learner who
   *   cannot be reached is marked so through {@link nudgeRefused}). A crash between the commit and
   *   the send delays the nudge; it is never lost or doubled. 'sent' means recorded and queued.
   * - without the outbox (a runtime built without `enableDurable`: library use and tests): `direct`
   *   sends it under the lock before the commit, and its "sent" mark, written right after the
   *   platform accepted the message, covers a crash between the send and the write for as long as
   *   the marks last (Redis: two days; memory: the process). This mode throws a retryable
   *   {@link PlatformError} (the caller retries, honouring `retryAfterSec`); a learner who cannot be
   *   reached is marked so; any other refusal is reported once and the nudge is recorded as spent
   *   ('failed'), so that it is not retried forever.
   */
  async nudge(job: NudgeJob, direct?: DirectNudge): Promise<NudgeOutcome> {
    const key = { channel: job.channel, userId: job.userId };
    const jobId = nudgeJobId(job);
    if (this.durable) {
      const outcome = await this.updateLearner<NudgeOutcome>(key, async (record, now) => {
        const state = record.state;
        if (state.nudges.lastNudgeJob === jobId) return { done: 'sent' };
        const due = nudgeDue(state, now, this.policy, this.course.items);
        if (!due) return { state, nudgeAt: nextNudgeAt(state, now, this.policy), then: 'skipped' };
        const lastBeforePause = state.nudges.unanswered + 1 >= this.policy.maxUnanswered;
        const message = nudgeMessage(this.course, state, due.kind, due.dueCount, lastBeforePause);
        const next = afterNudge(state, due.kind, now, jobId);
        return {
          state: next,
          nudgeAt: nextNudgeAt(next, now, this.policy),
          then: 'sent',
          // The dashboard's record and the message itself, written with the state that records them.
          activity: nudgeRecord('sent', now, state.nudges.timezone),
          outbox: nudgeRows(record.address, [message], key),
        };
      });
      if (outcome === 'sent') this.written?.();
      return outcome ?? 'skipped';
    }
    if (!direct) throw new Error('a nudge without the durable outbox needs a direct sender (NudgeService with deliver and marks)');
    const { marks, send } = direct;
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
          if (err instanceof PlatformError && err.unreachable) return { ...unreachableStep(state, now), then: 'unreachable' };
          if (!(err instanceof PlatformError) || err.retryable) throw err;
          this.opts.onError(err, { where: 'nudge-delivery', channel: job.channel, retryable: false });
          const spent = afterNudge(state, due.kind, now, jobId);
          return { state: spent, nudgeAt: nextNudgeAt(spent, now, this.policy), then: 'failed' };
        }
        await marks.set(jobId, due.kind);
        sent = due.kind;
      }
      const next = afterNudge(state, sent!, now, jobId);
      // The dashboard's record of the nudge, written with the state that records it.
      return { state: next, nudgeAt: nextNudgeAt(next, now, this.policy), then: 'sent', activity: nudgeRecord('sent', now, state.nudges.timezone) };
    });
    return outcome ?? 'skipped';
  }

  /**
   * The outbox sender's word that the platform refused a row for good. A nudge's row refused
   * because its learner cannot be reached (blocked the bot, left the workspace) marks that learner
   * unreachable, on the learner's path: no more nudges until they write again, recorded for the
   * dashboard once (a second refusal finds the learner already marked). Other refusals change
   * nothing here (the sender has reported them).
   */
  async nudgeRefused(payload: OutboxPayload, err: unknown): Promise<void> {
    const learner = payload.learner;
    if (!learner || payload.address.kind !== 'direct' || !(err instanceof PlatformError) || !err.unreachable) return;
    await this.updateLearner<undefined>(learner, async (record, now) => (record.state.nudges.unreachable ? { done: undefined } : { ...unreachableStep(record.state, now), then: undefined }));
  }

  // ---- groups -------------------------------------------------------------------------------

  private groupLock(key: ConversationKey): string {
    return `group:${key.channel}:${key.conversationId}`;
  }

  private handleGroup(inbound: Inbound, durable?: { target?: ReplyTarget | undefined }): Promise<Outbound[]> {
    const key: ConversationKey = { channel: inbound.address.channel, conversationId: inbound.address.conversationId };
    return this.groupTurn(key, { type: 'inbound', inbound }, inbound, durable);
  }

  /**
   * One group event through the path: under the group's lock, read the group and the open
   * question's answers, run the engine, apply its effects (an answer's insert, the leaderboard),
   * write the state with the version check, then deliver what the group is owed.
   */
  private async groupTurn(key: ConversationKey, event: GroupEvent, inbound?: Inbound, durable?: { target?: ReplyTarget | undefined }): Promise<Outbound[]> {
    /** The reply's outbox row, in durable mode, written with whichever write marks the event applied. */
    const owe = (messages: Outbound[]): OutboxInsert[] | undefined => (durable && inbound ? outboxRows(inbound.address, messages, durable.target) : undefined);
    // Whether the group may be owed posts after this turn: a tick looks in any case (a post whose
    // sending failed waits for it); an event only when its commit left posts owed. A tap that only
    // records an answer owes nothing, and skips a second pass under the lock.
    let owes = event.type === 'tick';
    // Whether the group's running tally may be behind: after a recorded answer, and on every tick
    // (a tally whose sender failed or crashed is sent again once its claim lapses).
    let tallyBehind = event.type === 'tick';
    const reply = await this.locks.run(this.groupLock(key), async () => {
      let decided: Outbound[] | undefined;
      let ev = event;
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const eventId = decided ? undefined : inbound?.id;
        if (eventId && (await this.store.isProcessed(key.channel, eventId))) return [];
        const record = await this.store.getGroup(key);
        const now = this.now();
        const quiz = record?.state.quiz;
        // A tick may close the question: it reads every answer. An inbound event reads the answers'
        // tally (two numbers), and every answer only when it may be the last one owed.
        let answers: GroupAnswer[] | AnswerTally = [];
        if (quiz && ev.type === 'inbound') {
          const tally = await this.store.groupAnswerTally(key, quiz.id, quiz.index, ev.inbound.learner.userId);
          answers = tapMayClose(record.state, tally) ? await this.store.listGroupAnswers(key, quiz.id, quiz.index) : tally;
        } else if (quiz) answers = await this.store.listGroupAnswers(key, quiz.id, quiz.index);
        const r = handleGroupEvent(this.course, this.opts.group, { state: record?.state ?? null, answers, event: ev, now, quizId: now.getTime().toString(36) });
        let out = decided ?? r.reply;
        let answerStored = false;
        for (const effect of r.effects) {
          if (effect.type === 'leaderboard') out = [...out, leaderboardMessage(r.state.lang, await this.store.leaderboard(key, 20))];
        }
        for (const effect of r.effects) {
          if (effect.type === 'record_answer' && eventId) {
            const outbox = owe(out);
            const stored = await this.store.recordGroupAnswer({ key, ...effect, at: now, eventId, ...(outbox ? { outbox } : {}) });
            if (stored === 'duplicate') return [];
            if (stored === 'already_answered') {
              // Another process took this member's answer first; the event counts as applied.
              const already: Outbound[] = [{ kind: 'notice', text: t(r.state.lang, 'group.already'), reason: 'already_answered' }];
              await this.store.markProcessed(key.channel, eventId, now, owe(already));
              return already;
            }
            answerStored = true;
            tallyBehind = true;
          }
        }
        if (!r.changed) {
          // Read-only: mark the event applied (with its reply, in durable mode), so that a retry sends nothing twice.
          if (eventId && !answerStored && !(await this.store.markProcessed(key.channel, eventId, now, owe(out)))) return [];
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
          ...(eventId && !answerStored ? { eventId, ...(owe(out) ? { outbox: owe(out)! } : {}) } : {}),
          now,
        });
        if (outcome === 'duplicate') return [];
        if (outcome === 'committed') {
          owes = !!r.state.owed?.length;
          return out;
        }
        // Another process changed the group. A stored answer stays stored: look again as a tick
        // (it closes the question if everyone has now answered), keeping the reply decided here.
        if (answerStored) {
          decided = out;
          ev = { type: 'tick' };
        }
      }
      throw new ConcurrencyError(this.groupLock(key));
    });
    if (owes) this.deliverOwedSoon(key);
    if (tallyBehind && this.talliesIn(key.channel)) this.deliverTallySoon(key);
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
        let refs: PostedRefs = {};
        try {
          if (!this.sender) throw new Error(`no channel is connected to deliver to ${address.channel}`);
          refs = (await this.sender(address, post.messages)) ?? {};
          this.opts.metrics?.messagesOut.inc({ channel: address.channel }, post.messages.length);
        } catch (err) {
          const retryable = !(err instanceof PlatformError) || err.retryable;
          this.opts.onError(err, { where: 'group-delivery', channel: key.channel, retryable });
          if (retryable) return;
        }
        await this.updateGroup(key, (record) => ({ state: withoutOwed(record.state, post.id, refs), then: undefined }));
      }
    });
  }

  private deliverTallySoon(key: ConversationKey): void {
    // One waiting look per group is enough: it reads every answer recorded before it starts.
    const lock = this.groupLock(key);
    if (this.tallyWaiting.has(lock)) return;
    this.tallyWaiting.add(lock);
    const p = this.deliverTally(key, () => this.tallyWaiting.delete(lock)).catch((err) => this.opts.onError(err, { where: 'group-tally', channel: key.channel }));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /**
   * Brings a group's running tally up to date, in a channel that shows one (Teams): one message per
   * question, posted once and then edited in place, whichever process took the answers. One sender
   * at a time holds the tally (a claim in the group's state, version-checked), and keeps holding it
   * for {@link TALLY_SPACING_MS} after a send: the group's clock then looks again (its due time
   * includes the claim), so an answer recorded meanwhile, through any process, is shown by that look,
   * and a burst of answers takes a few edits, not one per answer. A question's tally is finished
   * even once the question has closed (its last answer may have closed it). A failed send leaves the
   * claim to lapse, and the clock's look sends it again.
   */
  async deliverTally(key: ConversationKey, started?: () => void): Promise<void> {
    await this.sending.run(`tally:${this.groupLock(key)}`, async () => {
      started?.();
      const record = await this.store.getGroup(key);
      if (!record) return;
      const names: Record<string, string[]> = {};
      for (const q of tallyQuestions(record.state)) {
        const answers = await this.store.listGroupAnswers(key, q.quizId, q.index);
        names[questionKey(q)] = [...answers].sort((a, b) => a.at.getTime() - b.at.getTime()).map((a) => a.displayName);
      }
      const counts = Object.fromEntries(Object.entries(names).map(([k, v]) => [k, v.length]));
      const leaseMs = this.opts.owedLeaseMs ?? 60_000;
      const claimed = await this.updateGroup(key, (rec, now) => {
        const c = claimTally(rec.state, counts, now, new Date(now.getTime() + leaseMs));
        if (c) return { state: c.state, then: { ...c, lang: rec.state.lang, address: rec.address } };
        const idle = tallyIdle(rec.state, now);
        return idle ? { state: idle, then: null } : { done: null };
      });
      if (!claimed) return;
      const shown = names[questionKey(claimed.question)] ?? [];
      let refs: PostedRefs = {};
      try {
        if (!this.sender) throw new Error(`no channel is connected to deliver to ${key.channel}`);
        refs = (await this.sender(claimed.address, [tallyMessage(claimed.lang, claimed.question, shown, claimed.messageRef)])) ?? {};
        this.opts.metrics?.messagesOut.inc({ channel: key.channel }, 1);
      } catch (err) {
        const retryable = !(err instanceof PlatformError) || err.retryable;
        this.opts.onError(err, { where: 'group-tally', channel: key.channel, retryable });
        if (retryable) return;
      }
      await this.updateGroup(key, (rec, now) => ({ state: tallySent(rec.state, claimed.question, shown.length, refs, new Date(now.getTime() + TALLY_SPACING_MS)), then: undefined }));
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
