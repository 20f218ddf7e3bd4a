/**
 * Learning records: what the learner just did, as the engine saw it, for the programme's own
 * learning platform (xAPI statements, `src/xapi`). Plain data with ids and numbers only, never a
 * name or a platform id; the runtime turns them into statements in the learner's commit.
 */
export type LearningRecord =
  /** A lesson's quiz finished: the lesson is done (again). */
  | { kind: 'lesson_completed'; lessonId: string; correct: number; total: number }
  /** One quiz item answered, in a lesson's quiz, a practice quiz or a review. */
  | { kind: 'answered'; itemId: string; mode: 'lesson' | 'practice' | 'review'; picked: number[]; correct: boolean; durationMs: number }
  /** A review session finished. */
  | { kind: 'review_completed'; correct: number; total: number }
  /** A certificate issued (`achievement` is `course` or `module:<id>`). */
  | { kind: 'certificate'; achievement: string; certificateId: string };
