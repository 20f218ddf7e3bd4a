/**
 * Certificate rules, pure: which achievements a learner has earned, what a certificate says, and
 * whether a typed name can be printed. The engine decides; the runtime signs, stores and sends.
 *
 * An achievement is `course` (every lesson of the course) or `module:<id>` (every lesson of one
 * module, a module badge). It is earned when every lesson in it is done and the first-try score
 * over its lessons (right answers at each lesson's first finished quiz) is at least the
 * programme's minimum (`CERTIFICATE_MIN_SCORE`).
 */
import type { CourseView, Lesson } from '../content/course.js';
import { t } from './i18n.js';
import type { Lang, LearnerState, LessonProgress } from './state.js';

/** What the engine asks the runtime to issue: everything the signed credential says. */
export interface CertificateIssue {
  /** A fresh random id (a UUID), drawn by the runtime for the turn. */
  id: string;
  /** `course` or `module:<moduleId>`. */
  achievement: string;
  /** The name to print, as the learner typed it. */
  name: string;
  lang: Lang;
  issuedAt: string;
  /** The achievement's name, description and criteria in the learner's language. */
  title: string;
  description: string;
  criteria: string;
  /** The first-try score, 0 to 1. */
  score: number;
}

/** A certificate the learner holds (kept in the learner's state; the signed record is in the store). */
export interface CertificateRef {
  id: string;
  achievement: string;
  issuedAt: string;
}

/** One achievement and how the learner stands on it. */
export interface AchievementStatus {
  achievement: string;
  /** 1-based module number, for module badges. */
  n?: number;
  title: string;
  /** Every lesson in it is done. */
  complete: boolean;
  /** First-try score over its lessons (0 to 1), when complete. */
  score?: number;
  earned: boolean;
}

/** The score a lesson's first finished quiz got (records from before first scores were kept: the last score). */
export function firstTry(p: LessonProgress | undefined): { correct: number; total: number } | undefined {
  if (p?.status !== 'done') return undefined;
  return p.firstScore ?? p.lastScore;
}

function standing(state: LearnerState, lessons: Lesson[], minScore: number): { complete: boolean; score?: number; earned: boolean } {
  let correct = 0;
  let total = 0;
  for (const l of lessons) {
    const score = firstTry(state.lessons[l.id]);
    if (!score) return { complete: false, earned: false };
    correct += score.correct;
    total += score.total;
  }
  const score = total ? correct / total : 1;
  // A tiny tolerance so that 7 of 10 meets 0.7 despite floating point.
  return { complete: lessons.length > 0, score, earned: lessons.length > 0 && score + 1e-9 >= minScore };
}

/** Every achievement of the course (each module, then the course) and the learner's standing on it. */
export function achievements(course: CourseView, state: LearnerState, minScore: number): AchievementStatus[] {
  const lang = course.lang;
  const modules = course.modules.map((m, i) => ({
    achievement: `module:${m.id}`,
    n: i + 1,
    title: t(lang, 'certificate.module_title', { n: i + 1, title: m.title }),
    ...standing(state, m.lessons, minScore),
  }));
  return [...modules, { achievement: 'course', title: t(lang, 'certificate.course_title'), ...standing(state, course.sequence, minScore) }];
}

/** The certificate already issued for an achievement, if any. */
export function issuedFor(state: LearnerState, achievement: string): CertificateRef | undefined {
  return state.certificates?.find((c) => c.achievement === achievement);
}

/** Longest name printed. */
export const NAME_MAX = 80;

/**
 * The name as it will be printed (spaces tidied), or undefined when it cannot be: 2 to 80
 * characters, starting with a letter, made of letters (any script), marks, spaces, hyphens,
 * apostrophes, full stops and commas.
 */
export function cleanName(typed: string): string | undefined {
  const name = typed.normalize('NFC').replace(/\s+/gu, ' ').trim();
  if ([...name].length < 2 || [...name].length > NAME_MAX) return undefined;
  return /^\p{L}[\p{L}\p{M} .,'’-]*$/u.test(name) ? name : undefined;
}

/** What a certificate for `a` says, in `lang` (texts for the credential and the PDF). */
export function certificateTexts(course: CourseView, a: AchievementStatus, minScore: number): Pick<CertificateIssue, 'title' | 'description' | 'criteria'> {
  const lang = course.lang;
  const percent = Math.round(minScore * 100);
  if (a.achievement === 'course') {
    return {
      title: a.title,
      description: t(lang, 'certificate.course_description', { modules: course.modules.length, lessons: course.sequence.length }),
      criteria: t(lang, 'certificate.criteria', { scope: 'course', percent }),
    };
  }
  const m = course.modules[(a.n ?? 1) - 1]!;
  return {
    title: a.title,
    description: t(lang, 'certificate.module_description', { n: a.n ?? 1, title: m.title, lessons: m.lessons.length }),
    criteria: t(lang, 'certificate.criteria', { scope: 'module', percent }),
  };
}

/** The file name a certificate is sent under (the console keeps it in DATA_DIR until /forget). */
export function certificateFilename(achievement: string, id: string): string {
  const what = achievement === 'course' ? 'course' : achievement.replace(/^module:/, 'module-');
  return `digit4sd-certificate-${what}-${id.slice(0, 8)}.pdf`.replace(/[^\w.-]/g, '_');
}
