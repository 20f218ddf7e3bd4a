/**
 * One person across channels, pure: link codes, and how two learners' states become one.
 *
 * A person is the learner record of the account that gave the link code (the primary); each linked
 * account points to it. Merging keeps the better of each lesson and every review card's history,
 * so that nothing learned on either channel is lost.
 */
import { createHash } from 'node:crypto';
import type { Address } from '../messages.js';
import type { LearnerState, LessonProgress, ReviewCard } from './state.js';

/** How long a link code is valid. */
export const LINK_CODE_MINUTES = 10;

/** Letters and digits that cannot be misread for one another (no 0/O, 1/I/L). */
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

/** A six-character code derived from the turn's random id. */
export function linkCode(nonce: string): string {
  const bytes = createHash('sha256').update(`link:${nonce}`).digest();
  return [...bytes.subarray(0, 6)].map((b) => ALPHABET[b % ALPHABET.length]).join('');
}

/** A typed code as stored: upper case, without spaces or dashes; undefined when it cannot be one. */
export function normalizeLinkCode(typed: string): string | undefined {
  const code = typed.replace(/[\s-]/g, '').toUpperCase();
  return /^[A-Z0-9]{6}$/.test(code) ? code : undefined;
}

function ratio(p: LessonProgress): number {
  const s = p.lastScore;
  return s && s.total ? s.correct / s.total : 0;
}

/** The better of two records of one lesson: done beats started; between two done, the better score. */
export function betterLesson(a: LessonProgress | undefined, b: LessonProgress | undefined): LessonProgress | undefined {
  if (!a || !b) return a ?? b;
  if (a.status !== b.status) return a.status === 'done' ? a : b;
  if (a.status === 'done' && ratio(b) > ratio(a)) return { ...b, ...(a.firstScore || b.firstScore ? { firstScore: earlierFirst(a, b) } : {}) };
  return a.status === 'done' ? { ...a, ...(a.firstScore || b.firstScore ? { firstScore: earlierFirst(a, b) } : {}) } : a;
}

/** The first-try score of whichever account finished the lesson first. */
function earlierFirst(a: LessonProgress, b: LessonProgress): LessonProgress['firstScore'] {
  const first = (a.completedAt ?? '') <= (b.completedAt ?? '') ? a : b;
  return first.firstScore ?? first.lastScore;
}

/**
 * One card from two histories of the same item: the answers of both count (seen, right, reps,
 * lapses add up), and the schedule is the one of the most recent review, so that the item comes back
 * when the latest answer says it should.
 */
export function mergeCards(a: ReviewCard | undefined, b: ReviewCard | undefined): ReviewCard | undefined {
  if (!a || !b) return a ?? b;
  const latest = (a.last_review ?? '') >= (b.last_review ?? '') ? a : b;
  return { ...latest, seen: a.seen + b.seen, right: a.right + b.right, reps: a.reps + b.reps, lapses: a.lapses + b.lapses };
}

/**
 * The person's state after linking `joining` into `primary`: the primary's settings and place, the
 * better of each lesson, every review card's history, the certificates of both.
 */
export function mergeStates(primary: LearnerState, joining: LearnerState): LearnerState {
  const merged = structuredClone(primary);
  for (const id of new Set([...Object.keys(primary.lessons), ...Object.keys(joining.lessons)])) {
    merged.lessons[id] = structuredClone(betterLesson(primary.lessons[id], joining.lessons[id])!);
  }
  for (const id of new Set([...Object.keys(primary.reviews), ...Object.keys(joining.reviews)])) {
    merged.reviews[id] = structuredClone(mergeCards(primary.reviews[id], joining.reviews[id])!);
  }
  const certificates = [...(primary.certificates ?? []), ...(joining.certificates ?? []).filter((c) => !primary.certificates?.some((p) => p.achievement === c.achievement))];
  if (certificates.length) merged.certificates = certificates;
  if (joining.lastLearnedAt && (!merged.lastLearnedAt || joining.lastLearnedAt > merged.lastLearnedAt)) merged.lastLearnedAt = joining.lastLearnedAt;
  delete merged.certificateDraft;
  merged.confirmingForget = false;
  return merged;
}

/**
 * The state an account leaves with on /unlink: a copy of the person's progress and settings, without
 * the certificates (they stay with the person) and without a reminder address that is not its own.
 */
export function unlinkedCopy(person: LearnerState, own: Address): LearnerState {
  const copy = structuredClone(person);
  delete copy.certificates;
  delete copy.certificateDraft;
  copy.confirmingForget = false;
  const pinned = copy.nudges.reminderAddress;
  if (pinned && (pinned.channel !== own.channel || pinned.conversationId !== own.conversationId)) delete copy.nudges.reminderAddress;
  return copy;
}
