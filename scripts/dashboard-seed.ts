/**
 * Seeds a store with made-up but plausible learners for the dashboard's browser test, its
 * screenshots and its benchmark: learners who start lessons and drop out along the way, answer
 * questions according to their ability and each question's difficulty (three questions are broken
 * on purpose: one that strong learners get wrong, one whose wrong option is preferred, one nearly
 * everyone gets right), review with FSRS-like predictions, get reminders and play team quizzes.
 * Deterministic for a given seed. Written through the store contract (commitLearner with activity).
 */
import type { Course, QuizItem } from '../src/content/course.js';
import { correctIndices } from '../src/content/course.js';
import type { ActivityRecord, NudgeEvent } from '../src/engine/activity.js';
import { newLearnerState, type Lang, type LearnerState, type Position } from '../src/engine/state.js';
import type { Channel } from '../src/messages.js';
import type { Store } from '../src/store/store.js';

export interface SeedOptions {
  learners: number;
  /** Learners join between `from` and `now`. */
  from: Date;
  now: Date;
  seed?: number;
  /** Team quizzes per group conversation and week (0 for none). */
  teamGroups?: number;
  /** Called every 1,000 learners. */
  progress?: (done: number) => void;
}

/** Mulberry32: a small, fast, seedable PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHANNELS: [Channel, number][] = [['telegram', 0.5], ['slack', 0.2], ['teams', 0.2], ['console', 0.1]];
const LANG_WEIGHTS: [Lang, number][] = [['en', 0.5], ['fr', 0.3], ['es', 0.2]];
const COUNTRIES: [string | null, number][] = [['NP', 0.12], ['SN', 0.1], ['BD', 0.1], ['FJ', 0.06], ['HT', 0.06], ['RW', 0.08], ['BO', 0.06], ['LA', 0.05], ['TD', 0.04], ['KI', 0.01], [null, 0.32]];
const ORGS: [string | null, number][] = [['Ministry of ICT', 0.2], ['National Statistics Office', 0.1], ['E-Government Agency', 0.15], ['Ministry of Finance', 0.08], ['Prime Minister\'s Office', 0.05], [null, 0.42]];

function pick<T>(r: () => number, weights: [T, number][]): T {
  let x = r() * weights.reduce((s, [, w]) => s + w, 0);
  for (const [v, w] of weights) if ((x -= w) <= 0) return v;
  return weights[weights.length - 1]![0];
}

function hash(s: string): number {
  let h = 2166136261;
  for (const ch of s) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return (h >>> 0) / 4294967296;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** How items behave: most by difficulty; three broken on purpose, chosen by position in the course. */
function itemModel(course: Course): Map<string, { difficulty: number; broken?: 'negative' | 'distractor' | 'easy' }> {
  const items = course.sequence.flatMap((l) => l.items);
  const model = new Map<string, { difficulty: number; broken?: 'negative' | 'distractor' | 'easy' }>();
  items.forEach((it, i) => model.set(it.id, { difficulty: (hash(it.id) - 0.5) * 3 - 0.8 }));
  const broken: ('negative' | 'distractor' | 'easy')[] = ['negative', 'distractor', 'easy'];
  broken.forEach((b, k) => {
    const it = items[Math.min(items.length - 1, 2 + k * 5)];
    if (it) model.get(it.id)!.broken = b;
  });
  return model;
}

function answerOf(item: QuizItem, r: () => number, ability: number, m: { difficulty: number; broken?: string }): { options: number[]; correct: boolean } {
  const right = correctIndices(item);
  const wrong = item.options.map((_, i) => i).filter((i) => !right.includes(i));
  let p = sigmoid(1.6 * ability - m.difficulty);
  if (m.broken === 'negative') p = sigmoid(-1.8 * ability - 0.2);
  if (m.broken === 'easy') p = 0.985;
  if (m.broken === 'distractor') p = sigmoid(ability - 1.5);
  const correct = r() < p;
  if (correct || !wrong.length) return { options: right, correct: true };
  // The distractor item's first wrong option is the one nearly everyone picks.
  const option = m.broken === 'distractor' ? wrong[0]! : wrong[Math.floor(r() * wrong.length)]!;
  return { options: [option], correct: false };
}

/** Seeds `opts.learners` learners (and team quizzes) into the store. Returns how many activity records were written. */
export async function seedDashboard(store: Store, course: Course, opts: SeedOptions): Promise<{ learners: number; records: number }> {
  const r = rng(opts.seed ?? 42);
  const model = itemModel(course);
  const DAY = 86_400_000;
  const span = opts.now.getTime() - opts.from.getTime();
  let records = 0;
  for (let n = 0; n < opts.learners; n++) {
    const channel = pick(r, CHANNELS);
    const lang = pick(r, LANG_WEIGHTS);
    const country = pick(r, COUNTRIES);
    const org = country ? pick(r, ORGS) : null;
    const created = new Date(opts.from.getTime() + r() * span * 0.9);
    const tzOffset = Math.floor(r() * 12) - 4;
    const ability = normal(r);
    const stickiness = 0.55 + 0.4 * sigmoid(ability);
    const activity: ActivityRecord[] = [];
    const state: LearnerState = newLearnerState(created, lang);
    if (country) state.country = country;
    if (org) state.org = org;
    state.profileAsked = true;
    let t = created.getTime() + 60_000;
    let position: Position = { kind: 'idle' };
    const seen = new Map<string, { at: number; stability: number }>();
    const at = () => new Date(t).toISOString();
    const hourOf = (ms: number) => (((new Date(ms).getUTCHours() + tzOffset) % 24) + 24) % 24;
    for (const lesson of course.sequence) {
      if (t >= opts.now.getTime()) break;
      activity.push({ type: 'lesson_started', at: at(), lessonId: lesson.id });
      const startedAt = t;
      state.lessons[lesson.id] = { status: 'in_progress', startedAt: at() };
      // Some leave during the cards (a long lesson loses more), some during the quiz.
      const leaveAtCard = r() < (1 - stickiness) * 0.6 ? Math.floor(r() * lesson.cards.length) : -1;
      if (leaveAtCard >= 0) {
        t += (leaveAtCard + 1) * 40_000;
        position = { kind: 'card', lessonId: lesson.id, index: leaveAtCard };
        break;
      }
      t += Math.round(lesson.cards.length * (30_000 + r() * 60_000));
      let correct = 0;
      let left = false;
      for (const [i, item] of lesson.items.entries()) {
        if (r() < (1 - stickiness) * 0.08) {
          position = { kind: 'quiz', mode: 'lesson', lessonId: lesson.id, itemIds: lesson.items.map((x) => x.id), index: i, correct, selected: [], shownAt: at(), wrongTries: 0 };
          left = true;
          break;
        }
        const duration = 8_000 + Math.floor(r() * 40_000);
        t += duration;
        const a = answerOf(item, r, ability, model.get(item.id)!);
        if (a.correct) correct++;
        activity.push({ type: 'item_answered', at: at(), itemId: item.id, lessonId: lesson.id, mode: 'lesson', options: a.options, correct: a.correct, firstTry: true, durationMs: duration });
        seen.set(item.id, { at: t, stability: a.correct ? 2 + r() * 4 : 0.5 + r() });
      }
      if (left) break;
      const first = true;
      activity.push({ type: 'lesson_completed', at: at(), lessonId: lesson.id, correct, total: lesson.items.length, first, durationMs: t - startedAt });
      state.lessons[lesson.id] = { status: 'done', startedAt: new Date(startedAt).toISOString(), completedAt: at(), lastScore: { correct, total: lesson.items.length } };
      // Reviews of earlier items, at FSRS-like predicted recall.
      for (const [itemId, s] of seen) {
        if (r() > 0.15) continue;
        const days = (t - s.at) / DAY + r() * 6;
        if (days <= 0) continue;
        const predicted = Math.pow(1 + days / (9 * s.stability), -1);
        const recalled = r() < Math.min(0.99, predicted * (0.9 + 0.15 * sigmoid(ability)));
        const when = s.at + days * DAY;
        if (when >= opts.now.getTime()) continue;
        activity.push({
          type: 'item_answered',
          at: new Date(when).toISOString(),
          itemId,
          lessonId: course.items.get(itemId)!.lessonId,
          mode: 'review',
          options: recalled ? correctIndices(course.items.get(itemId)!) : [0],
          correct: recalled,
          firstTry: false,
          durationMs: 10_000,
          predictedRecall: Math.round(predicted * 1000) / 1000,
          daysSinceSeen: Math.round(days * 1000) / 1000,
        });
        seen.set(itemId, { at: when, stability: recalled ? s.stability * 2.5 : s.stability * 0.5 });
      }
      // A reminder or two between lessons.
      const gap = Math.round((0.3 + r() * 3) * DAY);
      if (r() < 0.6) {
        const sentAt = t + gap * 0.8;
        if (sentAt < opts.now.getTime()) {
          const hour = hourOf(sentAt);
          const push = (event: NudgeEvent, ms: number, h = hourOf(ms)) => activity.push({ type: 'nudge', at: new Date(ms).toISOString(), event, localHour: h });
          const x = r();
          if (x < 0.005) push('unreachable', sentAt, hour);
          else {
            push('sent', sentAt, hour);
            if (x < 0.4) push('answered', sentAt + 20 * 60_000, hour);
            else if (x < 0.47) push('snoozed', sentAt + 5 * 60_000);
            else if (x < 0.49) push('paused', sentAt + 5 * 60_000);
            else if (x < 0.5) push('stopped', sentAt + 5 * 60_000);
          }
        }
      }
      if (r() > stickiness) break;
      t += gap;
    }
    activity.sort((a, b) => a.at.localeCompare(b.at));
    const last = activity.filter((a) => !(a.type === 'nudge' && (a.event === 'sent' || a.event === 'unreachable'))).at(-1);
    state.lastSeenAt = last ? last.at : created.toISOString();
    state.position = position;
    const kept = activity.filter((a) => a.at < opts.now.toISOString());
    const key = { channel, userId: `seed-${opts.seed ?? 42}-${n}` };
    await store.commitLearner({ key, expectedVersion: 0, state, address: { channel, conversationId: key.userId, kind: 'direct' }, nudgeAt: null, now: new Date(state.lastSeenAt), activity: kept });
    records += kept.length;
    if ((n + 1) % 1000 === 0) opts.progress?.(n + 1);
  }
  // Team quizzes: weekly in a few group conversations per channel.
  const groups = opts.teamGroups ?? 3;
  for (const channel of ['telegram', 'slack', 'teams'] as const) {
    for (let g = 0; g < groups; g++) {
      const key = { channel, conversationId: `seed-group-${channel}-${g}` };
      for (let w = opts.from.getTime() + (g + 1) * DAY; w < opts.now.getTime(); w += 7 * DAY) {
        if (r() < 0.25) continue;
        const quizId = `q${w.toString(36)}`;
        const players = 3 + Math.floor(r() * 12);
        for (let question = 0; question < 5; question++) {
          for (let p = 0; p < players; p++) {
            if (r() < 0.15) continue;
            await store.recordGroupAnswer({ key, quizId, question, userId: `m${g}-${p}`, displayName: `Member ${p}`, option: Math.floor(r() * 3), at: new Date(w + question * 40_000 + p * 1000), eventId: `${key.conversationId}-${quizId}-${question}-${p}` });
          }
        }
      }
    }
  }
  return { learners: opts.learners, records };
}
