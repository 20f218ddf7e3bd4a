/**
 * The workshop part of the MongoDB store (see {@link WorkshopStore}): one document per workshop
 * (version-checked updates), one per participant, one per answer (a unique index on workshop, step
 * and participant counts each answer once, whatever the number of processes).
 */
import mongoose, { Schema, type Connection, type Model } from 'mongoose';
import type { Address, Channel, LearnerKey } from '../messages.js';
import type { Lang } from '../engine/state.js';
import type { Tally, WorkshopState } from '../engine/workshop.js';
import { FORMER_PARTICIPANT_NAME } from '../engine/group.js';
import { formerParticipantId } from './store.js';
import type {
  NewWorkshopRecord,
  WorkshopAnswer,
  WorkshopAnswerInsert,
  WorkshopCommit,
  WorkshopExport,
  WorkshopJoin,
  WorkshopParticipant,
  WorkshopRecord,
  WorkshopStore,
} from './workshops.js';

interface WorkshopDoc {
  _id: string;
  code: string;
  boardToken: string;
  version: number;
  state: WorkshopState;
  createdAt: Date;
  updatedAt: Date;
}
interface ParticipantDoc {
  workshopId: string;
  channel: string;
  userId: string;
  displayName: string;
  lang: string;
  address: Address;
  joinedAt: Date;
  deliveredPost: number;
}
interface AnswerDoc {
  workshopId: string;
  step: number;
  channel: string;
  userId: string;
  displayName: string;
  itemId: string;
  option: number;
  correct: boolean;
  at: Date;
  eventId: string;
}

const workshopSchema = new Schema<WorkshopDoc>(
  {
    _id: { type: String, required: true },
    code: { type: String, required: true, unique: true },
    boardToken: { type: String, required: true, unique: true },
    version: { type: Number, required: true },
    state: { type: Schema.Types.Mixed, required: true },
    createdAt: { type: Date, required: true, index: true },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'workshops', versionKey: false, minimize: false },
);
const participantSchema = new Schema<ParticipantDoc>(
  {
    workshopId: { type: String, required: true },
    channel: { type: String, required: true },
    userId: { type: String, required: true },
    displayName: { type: String, required: true },
    lang: { type: String, required: true },
    address: { type: Schema.Types.Mixed, required: true },
    joinedAt: { type: Date, required: true },
    deliveredPost: { type: Number, required: true, default: 0 },
  },
  { collection: 'workshop_participants', versionKey: false, minimize: false },
);
participantSchema.index({ workshopId: 1, channel: 1, userId: 1 }, { unique: true });
participantSchema.index({ channel: 1, userId: 1, joinedAt: -1 });
participantSchema.index({ workshopId: 1, deliveredPost: 1 });
const answerSchema = new Schema<AnswerDoc>(
  {
    workshopId: { type: String, required: true },
    step: { type: Number, required: true },
    channel: { type: String, required: true },
    userId: { type: String, required: true },
    displayName: { type: String, required: true },
    itemId: { type: String, required: true },
    option: { type: Number, required: true },
    correct: { type: Boolean, required: true },
    at: { type: Date, required: true },
    eventId: { type: String, required: true },
  },
  { collection: 'workshop_answers', versionKey: false },
);
answerSchema.index({ workshopId: 1, step: 1, channel: 1, userId: 1 }, { unique: true });
answerSchema.index({ channel: 1, userId: 1 });

const DUPLICATE_KEY = 11000;
const isDuplicateKey = (err: unknown) => err instanceof mongoose.mongo.MongoServerError && err.code === DUPLICATE_KEY;

const toWorkshop = (d: WorkshopDoc): WorkshopRecord => ({
  id: d._id,
  code: d.code,
  boardToken: d.boardToken,
  version: d.version,
  state: d.state,
  createdAt: new Date(d.createdAt),
  updatedAt: new Date(d.updatedAt),
});
const toParticipant = (d: ParticipantDoc): WorkshopParticipant => ({
  workshopId: d.workshopId,
  learner: { channel: d.channel as Channel, userId: d.userId },
  displayName: d.displayName,
  lang: d.lang as Lang,
  address: d.address,
  joinedAt: new Date(d.joinedAt),
  deliveredPost: d.deliveredPost,
});
const toAnswer = (d: AnswerDoc): WorkshopAnswer => ({
  workshopId: d.workshopId,
  step: d.step,
  learner: { channel: d.channel as Channel, userId: d.userId },
  displayName: d.displayName,
  itemId: d.itemId,
  option: d.option,
  correct: d.correct,
  at: new Date(d.at),
});
const who = (l: LearnerKey) => ({ channel: l.channel, userId: l.userId });

export class MongoWorkshops implements WorkshopStore {
  private readonly W: Model<WorkshopDoc>;
  private readonly P: Model<ParticipantDoc>;
  private readonly A: Model<AnswerDoc>;

  /** `eventKey` hashes event ids (the store keeps no raw platform id). */
  constructor(
    conn: Connection,
    private readonly eventKey: (eventId: string) => string,
  ) {
    this.W = conn.model<WorkshopDoc>('Workshop', workshopSchema);
    this.P = conn.model<ParticipantDoc>('WorkshopParticipant', participantSchema);
    this.A = conn.model<AnswerDoc>('WorkshopAnswer', answerSchema);
  }

  /** Creates the collections and their indexes (at connect, like the store's other models). */
  async createIndexes(): Promise<void> {
    for (const model of [this.W, this.P, this.A] as Model<unknown>[]) {
      await model.createCollection();
      await model.createIndexes();
    }
  }

  async createWorkshop(w: NewWorkshopRecord): Promise<'created' | 'code_taken'> {
    try {
      await this.W.create({ _id: w.id, code: w.code, boardToken: w.boardToken, version: 1, state: w.state, createdAt: w.now, updatedAt: w.now });
      return 'created';
    } catch (err) {
      if (isDuplicateKey(err)) return 'code_taken';
      throw err;
    }
  }

  async getWorkshop(id: string): Promise<WorkshopRecord | null> {
    const d = await this.W.findById(id).lean<WorkshopDoc>();
    return d ? toWorkshop(d) : null;
  }

  async workshopByCode(code: string): Promise<WorkshopRecord | null> {
    const d = await this.W.findOne({ code }).lean<WorkshopDoc>();
    return d ? toWorkshop(d) : null;
  }

  async workshopByBoardToken(token: string): Promise<WorkshopRecord | null> {
    const d = await this.W.findOne({ boardToken: token }).lean<WorkshopDoc>();
    return d ? toWorkshop(d) : null;
  }

  async listWorkshops(limit: number): Promise<WorkshopRecord[]> {
    return (await this.W.find().sort({ createdAt: -1 }).limit(limit).lean<WorkshopDoc[]>()).map(toWorkshop);
  }

  async commitWorkshop(c: WorkshopCommit): Promise<'committed' | 'conflict'> {
    const res = await this.W.updateOne({ _id: c.id, version: c.expectedVersion }, { $set: { state: c.state, updatedAt: c.now }, $inc: { version: 1 } });
    return res.matchedCount === 1 ? 'committed' : 'conflict';
  }

  async joinWorkshop(j: WorkshopJoin): Promise<'joined' | 'rejoined'> {
    try {
      const res = await this.P.updateOne(
        { workshopId: j.workshopId, ...who(j.learner) },
        { $set: { displayName: j.displayName, lang: j.lang, address: j.address }, $setOnInsert: { joinedAt: j.now, deliveredPost: 0 } },
        { upsert: true },
      );
      return res.upsertedCount === 1 ? 'joined' : 'rejoined';
    } catch (err) {
      if (isDuplicateKey(err)) return this.joinWorkshop(j); // two upserts at once: the second is an update now
      throw err;
    }
  }

  async getParticipant(workshopId: string, learner: LearnerKey): Promise<WorkshopParticipant | null> {
    const d = await this.P.findOne({ workshopId, ...who(learner) }).lean<ParticipantDoc>();
    return d ? toParticipant(d) : null;
  }

  async countParticipants(workshopId: string): Promise<number> {
    return this.P.countDocuments({ workshopId });
  }

  async participantsOwed(workshopId: string, post: number, limit: number): Promise<WorkshopParticipant[]> {
    return (await this.P.find({ workshopId, deliveredPost: { $lt: post } }).sort({ joinedAt: 1 }).limit(limit).lean<ParticipantDoc[]>()).map(toParticipant);
  }

  async listParticipants(workshopId: string): Promise<WorkshopParticipant[]> {
    return (await this.P.find({ workshopId }).sort({ joinedAt: 1 }).lean<ParticipantDoc[]>()).map(toParticipant);
  }

  async markDelivered(workshopId: string, learner: LearnerKey, post: number): Promise<void> {
    await this.P.updateOne({ workshopId, ...who(learner) }, { $max: { deliveredPost: post } });
  }

  async lastWorkshopOf(learner: LearnerKey): Promise<string | null> {
    const d = await this.P.findOne(who(learner)).sort({ joinedAt: -1 }).lean<ParticipantDoc>();
    return d?.workshopId ?? null;
  }

  async recordWorkshopAnswer(a: WorkshopAnswerInsert): Promise<'recorded' | 'already_answered' | 'duplicate'> {
    const eventId = this.eventKey(a.eventId);
    try {
      await this.A.create({ workshopId: a.workshopId, step: a.step, ...who(a.learner), displayName: a.displayName, itemId: a.itemId, option: a.option, correct: a.correct, at: a.at, eventId });
      return 'recorded';
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const existing = await this.A.findOne({ workshopId: a.workshopId, step: a.step, ...who(a.learner) }).lean<AnswerDoc>();
      return existing?.eventId === eventId ? 'duplicate' : 'already_answered';
    }
  }

  async getWorkshopAnswer(workshopId: string, step: number, learner: LearnerKey): Promise<WorkshopAnswer | null> {
    const d = await this.A.findOne({ workshopId, step, ...who(learner) }).lean<AnswerDoc>();
    return d ? toAnswer(d) : null;
  }

  async tallyWorkshopStep(workshopId: string, step: number, options: number): Promise<Tally> {
    const rows = await this.A.aggregate<{ _id: number; n: number }>([{ $match: { workshopId, step } }, { $group: { _id: '$option', n: { $sum: 1 } } }]);
    const counts = new Array<number>(options).fill(0);
    let answered = 0;
    for (const r of rows) {
      if (r._id < options) counts[r._id] = r.n;
      answered += r.n;
    }
    return { counts, answered };
  }

  async listWorkshopAnswers(workshopId: string): Promise<WorkshopAnswer[]> {
    return (await this.A.find({ workshopId }).sort({ step: 1, at: 1 }).lean<AnswerDoc[]>()).map(toAnswer);
  }

  /** Participation rows go; answers stay counted under a random id and no name (as team-quiz answers). */
  async forgetWorkshopParticipant(learner: LearnerKey): Promise<void> {
    for (const workshopId of await this.A.distinct('workshopId', who(learner))) {
      const anonymous = formerParticipantId();
      await this.A.updateMany({ workshopId, ...who(learner) }, { $set: { userId: anonymous, displayName: FORMER_PARTICIPANT_NAME, eventId: anonymous } });
    }
    await this.P.deleteMany(who(learner));
  }

  async exportWorkshopParticipant(learner: LearnerKey): Promise<WorkshopExport> {
    const [ps, as] = await Promise.all([this.P.find(who(learner)).sort({ joinedAt: 1 }).lean<ParticipantDoc[]>(), this.A.find(who(learner)).sort({ at: 1 }).lean<AnswerDoc[]>()]);
    return {
      workshops: ps.map((p) => ({ workshopId: p.workshopId, displayName: p.displayName, lang: p.lang, joinedAt: new Date(p.joinedAt).toISOString() })),
      answers: as.map((a) => ({ workshopId: a.workshopId, step: a.step, itemId: a.itemId, option: a.option, correct: a.correct, at: new Date(a.at).toISOString() })),
    };
  }
}
