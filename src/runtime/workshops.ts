/**
 * Workshops on the one path. Three kinds of events, each with one writer:
 *
 * - a trainer's action (control page) is an internal event for the workshop's record: lock, read,
 *   pure {@link handleTrainerEvent}, one version-checked commit; then the participants are owed the
 *   new post;
 * - a participant's join or answer is an event of that participant's own learner path (the
 *   runtime's {@link LearnerPath}: per-learner lock, read, pure {@link participantAnswer}, one
 *   commit with the event id), so their FSRS card for the item is written in the same commit as
 *   the event is applied; the answer itself is an insert-only row counted once per step;
 * - fan-out: each participant is owed the workshop's current post until their channel's delivery
 *   has taken it (their row keeps the last post delivered), so a restart resends what was owed
 *   and nothing twice. Any process may deliver: the tick finds what is owed.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Course } from '../content/course.js';
import { t } from '../engine/i18n.js';
import { isLang, newLearnerState, type Lang, type LearnerState } from '../engine/state.js';
import {
  boardView,
  CODE_ALPHABET,
  currentStep,
  decodeWorkshopAnswer,
  handleTrainerEvent,
  joinRequest,
  newWorkshop,
  participantAnswer,
  participantMessages,
  type BoardView,
  type ItemResult,
  type NewWorkshop,
  type Standing,
  type TrainerEvent,
  type WorkshopState,
} from '../engine/workshop.js';
import { PlatformError } from '../errors.js';
import type { Address, Inbound, LearnerKey, Outbound } from '../messages.js';
import { plain } from '../messages.js';
import type { LearnerRecord, Store } from '../store/store.js';
import type { WorkshopAnswer, WorkshopParticipant, WorkshopRecord } from '../store/workshops.js';
import { KeyedMutex } from './mutex.js';

/** What a participant's event decides: a new learner state and the reply, or only a reply. */
export type LearnerStep = { state: LearnerState; messages: Outbound[] } | { reply: Outbound[]; markProcessed?: boolean };

/**
 * The learner's path as the runtime runs it for one event: under the learner's (person's) lock,
 * read the record, run `step`, and write its state in one commit with the event's id (retrying on
 * a version conflict; an event already applied returns nothing).
 */
export type LearnerPath = (step: (record: LearnerRecord | null, now: Date) => Promise<LearnerStep>) => Promise<Outbound[]>;

/** Sends to one conversation through its channel's delivery (paced, retried); throws PlatformError. */
export type WorkshopSender = (address: Address, messages: Outbound[]) => Promise<void>;

export interface WorkshopRuntimeOptions {
  course: Course;
  store: Store;
  send: WorkshopSender;
  now: () => Date;
  retention: number;
  onError: (err: unknown, context: Record<string, unknown>) => void;
  /** Participants sent to at once during a fan-out (each channel's own delivery paces its API calls). */
  fanOutConcurrency?: number;
}

/** A change anyone watching a workshop (its board, its control page) should see. */
export type WorkshopListener = (workshopId: string) => void;

const MAX_ATTEMPTS = 20;

export class WorkshopError extends Error {
  constructor(
    readonly code: 'not_found' | 'conflict',
    message: string,
  ) {
    super(message);
    this.name = 'WorkshopError';
  }
}

export class WorkshopRuntime {
  private readonly locks = new KeyedMutex();
  private readonly fanning = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly listeners = new Set<WorkshopListener>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly o: WorkshopRuntimeOptions) {}

  get store() {
    return this.o.store.workshops;
  }

  /** Calls `l` whenever a workshop changes in this process (boards also poll, for other processes). */
  subscribe(l: WorkshopListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private changed(id: string): void {
    for (const l of this.listeners) l(id);
  }

  /** Creates a workshop with a fresh join code and board token. */
  async create(w: NewWorkshop): Promise<WorkshopRecord> {
    const state = newWorkshop(this.o.course, w);
    for (let attempt = 0; attempt < 10; attempt++) {
      const code = Array.from({ length: 6 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
      const id = randomBytes(9).toString('base64url');
      const boardToken = randomBytes(24).toString('base64url');
      if ((await this.store.createWorkshop({ id, code, boardToken, state, now: this.o.now() })) === 'created') return (await this.store.getWorkshop(id))!;
    }
    throw new Error('could not find a free join code after 10 tries');
  }

  /**
   * A trainer's action: lock, read, engine, one version-checked commit; then the participants are
   * owed the new post. Returns the workshop as written.
   */
  async trainer(id: string, event: TrainerEvent): Promise<WorkshopRecord> {
    const result = await this.locks.run(`workshop:${id}`, async () => {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const record = await this.store.getWorkshop(id);
        if (!record) throw new WorkshopError('not_found', 'no such workshop');
        const now = this.o.now();
        const r = handleTrainerEvent(record.state, event, now);
        if (!r.changed) return record;
        if ((await this.store.commitWorkshop({ id, expectedVersion: record.version, state: r.state, now })) === 'committed') return { ...record, version: record.version + 1, state: r.state, updatedAt: now };
      }
      throw new WorkshopError('conflict', 'the workshop kept changing');
    });
    this.changed(id);
    this.fanOutSoon(id);
    return result;
  }

  // ---- participants ---------------------------------------------------------------------------

  /**
   * A participant's event, if it is one (a join request or a workshop answer button): runs it
   * through the learner's path and returns the reply. Returns undefined for every other event.
   */
  async participant(inbound: Inbound, path: LearnerPath): Promise<Outbound[] | undefined> {
    if (inbound.address.kind !== 'direct') return undefined;
    const code = joinRequest(inbound.event);
    if (code) return this.join(inbound, code, path);
    if (inbound.event.type === 'choice') {
      const action = decodeWorkshopAnswer(inbound.event.data);
      if (action) return this.answer(inbound, action, path);
    }
    return undefined;
  }

  private langOf(record: LearnerRecord | null, inbound: Inbound): Lang {
    const hint = inbound.languageHint?.slice(0, 2);
    return record?.state.lang ?? (isLang(hint) ? hint : 'en');
  }

  private async join(inbound: Inbound, code: string, path: LearnerPath): Promise<Outbound[]> {
    const workshop = await this.store.workshopByCode(code);
    let joined: { id: string; post: number } | undefined;
    const out = await path(async (record, now) => {
      const lang = this.langOf(record, inbound);
      if (!workshop || workshop.state.phase === 'ended') return { reply: [{ kind: 'text', text: plain(t(lang, 'workshop.unknown_code', { code })) }], markProcessed: true };
      const state = record?.state ?? newLearnerState(now, lang, inbound.displayName);
      const learner = { ...state, lastSeenAt: now.toISOString() };
      // Joining again (a lost connection, a second device) continues in the current step.
      await this.store.joinWorkshop({ workshopId: workshop.id, learner: inbound.learner, displayName: inbound.displayName ?? learner.displayName ?? 'Participant', lang: learner.lang, address: inbound.address, now });
      const current = (await this.store.getWorkshop(workshop.id))!;
      joined = { id: workshop.id, post: current.state.post };
      const own = await this.ownAnswer(current, inbound.learner);
      return { state: learner, messages: [{ kind: 'text', text: plain(t(learner.lang, 'workshop.joined', { title: current.state.title })) }, ...(await this.messagesFor(current, inbound.learner, learner.lang, own))] };
    });
    if (joined) {
      // What the reply carried counts as delivered; a newer post is owed and goes out with the fan-out.
      await this.store.markDelivered(joined.id, inbound.learner, joined.post);
      this.changed(joined.id);
      this.fanOutSoon(joined.id);
    }
    return out;
  }

  private async answer(inbound: Inbound, action: { workshopId: string; step: number; option: number }, path: LearnerPath): Promise<Outbound[]> {
    let recorded = false;
    const out = await path(async (record, now) => {
      const lang = this.langOf(record, inbound);
      const closed: LearnerStep = { reply: [{ kind: 'notice', text: t(lang, 'workshop.not_open'), reason: 'closed' }], markProcessed: true };
      const [workshop, participant] = await Promise.all([this.store.getWorkshop(action.workshopId), this.store.getParticipant(action.workshopId, inbound.learner)]);
      if (!workshop || !record || !participant) return closed;
      const r = participantAnswer(this.o.course, workshop.state, record.state, action, now, this.o.retention);
      if ('notice' in r) return { reply: [r.notice], markProcessed: true };
      const stored = await this.store.recordWorkshopAnswer({
        workshopId: workshop.id,
        step: action.step,
        learner: inbound.learner,
        displayName: participant.displayName,
        itemId: r.itemId,
        option: action.option,
        correct: r.correct,
        at: now,
        eventId: inbound.id,
      });
      if (stored === 'already_answered') return { reply: [{ kind: 'notice', text: t(lang, 'workshop.already'), reason: 'already_answered' }], markProcessed: true };
      // 'recorded', or 'duplicate' (this event's own answer, kept from an attempt whose commit lost a race): commit the card.
      recorded = true;
      return { state: r.learner, messages: r.messages };
    });
    if (recorded) this.changed(action.workshopId);
    return out;
  }

  private async ownAnswer(w: WorkshopRecord, learner: LearnerKey): Promise<{ option: number; correct: boolean } | undefined> {
    if (w.state.phase !== 'revealed' || w.state.index < 0) return undefined;
    const a = await this.store.getWorkshopAnswer(w.id, w.state.index, learner);
    return a ? { option: a.option, correct: a.correct } : undefined;
  }

  private async messagesFor(w: WorkshopRecord, learner: LearnerKey, lang: Lang, own?: { option: number; correct: boolean }, answers?: WorkshopAnswer[]): Promise<Outbound[]> {
    let totals: { right: number; answered: number } | undefined;
    if (w.state.phase === 'ended') {
      const mine = (answers ?? (await this.store.listWorkshopAnswers(w.id))).filter((a) => a.learner.channel === learner.channel && a.learner.userId === learner.userId);
      totals = { right: mine.filter((a) => a.correct).length, answered: mine.length };
    }
    return participantMessages(this.o.course, w.state, w.id, lang, own, totals);
  }

  // ---- fan-out ----------------------------------------------------------------------------------

  private fanOutSoon(id: string): void {
    const p = this.fanOut(id).catch((err) => this.o.onError(err, { where: 'workshop-fan-out' }));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Waits for fan-outs in progress (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Delivers the workshop's current post to every participant still owed it; one run per workshop
   * in this process (a run that starts while another is going makes it look again at the end).
   * Returns how many participants are still owed (retryable failures), for the tick to try again.
   */
  async fanOut(id: string): Promise<void> {
    const running = this.fanning.get(id);
    if (running) {
      this.again.add(id);
      return running;
    }
    const run = (async () => {
      do {
        this.again.delete(id);
        await this.fanOutOnce(id);
      } while (this.again.has(id));
    })().finally(() => this.fanning.delete(id));
    this.fanning.set(id, run);
    return run;
  }

  private async fanOutOnce(id: string): Promise<void> {
    const failed = new Set<string>();
    for (;;) {
      const w = await this.store.getWorkshop(id);
      if (!w || w.state.post === 0) return;
      const owed = (await this.store.participantsOwed(id, w.state.post, 1000)).filter((p) => !failed.has(`${p.learner.channel}\u0000${p.learner.userId}`));
      if (!owed.length) return;
      const answers = w.state.phase === 'ended' ? await this.store.listWorkshopAnswers(id) : undefined;
      const ownByLearner = new Map<string, { option: number; correct: boolean }>();
      if (w.state.phase === 'revealed') for (const a of await this.store.listWorkshopAnswers(id)) if (a.step === w.state.index) ownByLearner.set(`${a.learner.channel}\u0000${a.learner.userId}`, { option: a.option, correct: a.correct });
      const queue = [...owed];
      const worker = async () => {
        for (let p = queue.shift(); p; p = queue.shift()) {
          const key = `${p.learner.channel}\u0000${p.learner.userId}`;
          const ok = await this.deliverTo(w, p, ownByLearner.get(key), answers);
          if (!ok) failed.add(key);
        }
      };
      await Promise.all(Array.from({ length: this.o.fanOutConcurrency ?? 16 }, worker));
    }
  }

  /** Sends one participant the current post; false when it stays owed (a retryable failure). */
  private async deliverTo(w: WorkshopRecord, p: WorkshopParticipant, own: { option: number; correct: boolean } | undefined, answers?: WorkshopAnswer[]): Promise<boolean> {
    try {
      await this.o.send(p.address, await this.messagesFor(w, p.learner, p.lang, own, answers));
    } catch (err) {
      const retryable = !(err instanceof PlatformError) || err.retryable;
      this.o.onError(err, { where: 'workshop-delivery', channel: p.learner.channel, retryable });
      if (retryable) return false;
      // Refused for good (blocked the bot, a bad request): reported once, not sent again.
    }
    await this.store.markDelivered(w.id, p.learner, w.state.post);
    return true;
  }

  /**
   * The workshops' clock: delivers whatever recent workshops still owe (after a restart, or a
   * retryable failure). Any number of processes may tick.
   */
  async tick(): Promise<void> {
    for (const w of await this.store.listWorkshops(20)) {
      if (w.state.post === 0) continue;
      await this.fanOut(w.id);
    }
  }

  // ---- read models (board, control page, CSV) ---------------------------------------------------

  /** What the board shows now, in the board's language (the workshop's unless `lang` is given). */
  async board(w: WorkshopRecord, lang?: Lang): Promise<BoardView> {
    const state: WorkshopState = lang ? { ...w.state, lang } : w.state;
    const joined = await this.store.countParticipants(w.id);
    const step = currentStep(state);
    if (state.phase === 'ended') {
      const answers = await this.store.listWorkshopAnswers(w.id);
      return boardView(this.o.course, state, { code: w.code, joined, standings: standings(answers), results: itemResults(answers) });
    }
    if (step?.kind === 'question') {
      const item = this.o.course.items.get(step.itemId)!;
      return boardView(this.o.course, state, { code: w.code, joined, tally: await this.store.tallyWorkshopStep(w.id, state.index, item.options.length) });
    }
    return boardView(this.o.course, state, { code: w.code, joined });
  }

  /** The session's results, one row per answer, as CSV (RFC 4180). */
  async resultsCsv(w: WorkshopRecord): Promise<string> {
    const answers = await this.store.listWorkshopAnswers(w.id);
    const rows = [['step', 'question', 'item', 'participant', 'channel', 'option', 'correct', 'answered_at']];
    for (const a of answers) {
      const qNumber = w.state.steps.slice(0, a.step + 1).filter((s) => s.kind === 'question').length;
      rows.push([String(a.step + 1), String(qNumber), a.itemId, a.displayName, a.learner.channel, String.fromCharCode(65 + a.option), a.correct ? 'yes' : 'no', a.at.toISOString()]);
    }
    return rows.map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
  }
}

function csvCell(v: string): string {
  // A leading = + - @ would make a spreadsheet run it as a formula: quote it as text.
  const safe = /^[=+\-@]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) || safe !== v ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** Each participant's right and answered counts (names as they joined). */
export function standings(answers: WorkshopAnswer[]): Standing[] {
  const by = new Map<string, Standing>();
  for (const a of answers) {
    const key = `${a.learner.channel}\u0000${a.learner.userId}`;
    const s = by.get(key) ?? { name: a.displayName, right: 0, answered: 0 };
    s.answered += 1;
    if (a.correct) s.right += 1;
    by.set(key, s);
  }
  return [...by.values()];
}

/** Each asked item's right and answered counts. */
export function itemResults(answers: WorkshopAnswer[]): ItemResult[] {
  const by = new Map<string, ItemResult>();
  for (const a of answers) {
    const r = by.get(a.itemId) ?? { itemId: a.itemId, question: '', right: 0, answered: 0 };
    r.answered += 1;
    if (a.correct) r.right += 1;
    by.set(a.itemId, r);
  }
  return [...by.values()];
}
