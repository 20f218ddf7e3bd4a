/**
 * Learning records as xAPI 1.0.3 statements, for the programme's own Learning Record Store. Pure:
 * the statement id, the time and the actor are passed in.
 *
 * The actor is an account on the programme's home page whose name is a keyed hash (HMAC-SHA256)
 * of the learner: never a platform id, a display name or the name printed on a certificate. A
 * learner who erases their data and starts again gets a new hash (the learner's creation time is
 * part of what is hashed), so the two are not joined in the LRS.
 *
 * ```ts
 * const actor = xapiActor(settings, key, 'telegram:42', state.createdAt);
 * const statement = toStatement(course, settings, { actor, id, timestamp, lang: 'fr' }, record);
 * ```
 */
import { createHash, createHmac } from 'node:crypto';
import type { Course } from '../content/course.js';
import { correctIndices } from '../content/course.js';
import type { LearningRecord } from '../engine/records.js';
import type { Lang } from '../engine/state.js';

/** xAPI version sent in the `X-Experience-API-Version` header and set on each statement. */
export const XAPI_VERSION = '1.0.3';

/** Verbs from the ADL vocabulary and the xAPI registry. */
export const VERBS = {
  completed: { id: 'http://adlnet.gov/expapi/verbs/completed', display: { en: 'completed' } },
  answered: { id: 'http://adlnet.gov/expapi/verbs/answered', display: { en: 'answered' } },
  earned: { id: 'http://id.tincanapi.com/verb/earned', display: { en: 'earned' } },
} as const;

/** Activity types from the ADL vocabulary. */
const TYPES = {
  course: 'http://adlnet.gov/expapi/activities/course',
  lesson: 'http://adlnet.gov/expapi/activities/lesson',
  module: 'http://adlnet.gov/expapi/activities/module',
  interaction: 'http://adlnet.gov/expapi/activities/cmi.interaction',
  assessment: 'http://adlnet.gov/expapi/activities/assessment',
  badge: 'https://w3id.org/xapi/tla/activity-types/badge',
} as const;

export interface XapiSettings {
  /** The programme's home page: the actor accounts' `homePage`, and the base of activity ids. */
  homePage: string;
  /** The platform named in each statement's context. */
  platform: string;
}

export interface XapiAgent {
  objectType: 'Agent';
  account: { homePage: string; name: string };
}

export type LanguageMap = Record<string, string>;

/** An xAPI statement (the parts this bot sends). */
export interface XapiStatement {
  id: string;
  actor: XapiAgent;
  verb: { id: string; display: LanguageMap };
  object: { objectType: 'Activity'; id: string; definition: Record<string, unknown> };
  result?: { success?: boolean; completion?: boolean; response?: string; duration?: string; score?: { raw: number; min: number; max: number; scaled: number } };
  context: {
    platform: string;
    language: string;
    contextActivities?: { parent?: { objectType: 'Activity'; id: string }[]; grouping?: { objectType: 'Activity'; id: string }[] };
    extensions?: Record<string, unknown>;
  };
  timestamp: string;
  version: typeof XAPI_VERSION;
}

/**
 * The actor for a learner: `name` is HMAC-SHA256(key, learner + creation time), hex. The key is the
 * programme's secret (XAPI_ACTOR_KEY, or generated in DATA_DIR): without it, nobody can tell which
 * account a hash belongs to, even knowing the platform ids.
 */
export function xapiActor(settings: XapiSettings, key: string, learner: string, createdAt: string): XapiAgent {
  const name = createHmac('sha256', key).update(`${learner}\u0000${createdAt}`).digest('hex');
  return { objectType: 'Agent', account: { homePage: settings.homePage, name } };
}

/**
 * A statement id derived from the turn's random id and the record's position in the turn: a retry
 * of the same commit gives the same ids, and any two turns give different ones. An RFC 4122
 * variant UUID (version 4 layout).
 */
export function statementId(nonce: string, index: number): string {
  const h = createHash('sha256').update(`${nonce}:${index}`).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** An ISO 8601 duration in seconds, as xAPI wants it ("PT12.5S"). */
export function isoDuration(ms: number): string {
  return `PT${Math.round(Math.max(0, ms) / 100) / 10}S`;
}

const activityBase = (s: XapiSettings) => `${s.homePage}/xapi/activities`;
const activity = (id: string) => ({ objectType: 'Activity' as const, id });

export interface StatementContext {
  actor: XapiAgent;
  id: string;
  timestamp: string;
  /** The learner's interface language. */
  lang: Lang;
}

/** The statement for one learning record. */
export function toStatement(course: Course, settings: XapiSettings, ctx: StatementContext, record: LearningRecord): XapiStatement {
  const base = activityBase(settings);
  const view = course.in(ctx.lang);
  const courseActivity = activity(`${base}/course`);
  const common = { id: ctx.id, actor: ctx.actor, timestamp: ctx.timestamp, version: XAPI_VERSION } as const;
  const context = (extra: Partial<XapiStatement['context']> = {}): XapiStatement['context'] => ({ platform: settings.platform, language: ctx.lang, ...extra });
  switch (record.kind) {
    case 'lesson_completed': {
      const lesson = view.lessons.get(record.lessonId);
      return {
        ...common,
        verb: VERBS.completed,
        object: {
          objectType: 'Activity',
          id: `${base}/lessons/${record.lessonId}`,
          definition: { type: TYPES.lesson, name: { [ctx.lang]: lesson?.title ?? record.lessonId } },
        },
        result: { completion: true, score: score(record.correct, record.total) },
        context: context({ contextActivities: { parent: lesson ? [activity(`${base}/modules/${lesson.moduleId}`)] : [], grouping: [courseActivity] } }),
      };
    }
    case 'answered': {
      const item = view.items.get(record.itemId);
      const definition: Record<string, unknown> = { type: TYPES.interaction, interactionType: 'choice' };
      if (item) {
        definition.name = { [ctx.lang]: item.question };
        definition.correctResponsesPattern = [correctIndices(item).join('[,]')];
        definition.choices = item.options.map((o, i) => ({ id: String(i), description: { [ctx.lang]: o.text } }));
      }
      return {
        ...common,
        verb: VERBS.answered,
        object: { objectType: 'Activity', id: `${base}/items/${record.itemId}`, definition },
        result: { success: record.correct, response: record.picked.join('[,]'), duration: isoDuration(record.durationMs) },
        context: context({
          contextActivities: { ...(item ? { parent: [activity(`${base}/lessons/${item.lessonId}`)] } : {}), grouping: [courseActivity] },
          extensions: { [`${base}/extensions/mode`]: record.mode },
        }),
      };
    }
    case 'review_completed':
      return {
        ...common,
        verb: VERBS.completed,
        object: { objectType: 'Activity', id: `${base}/review`, definition: { type: TYPES.assessment, name: { en: 'Spaced review', fr: 'Révision espacée', es: 'Repaso espaciado' } } },
        result: { completion: true, score: score(record.correct, record.total) },
        context: context({ contextActivities: { grouping: [courseActivity] } }),
      };
    case 'certificate':
      return {
        ...common,
        verb: VERBS.earned,
        object: {
          objectType: 'Activity',
          id: `${base}/achievements/${record.achievement.replace(':', '/')}`,
          definition: { type: TYPES.badge, name: { [ctx.lang]: achievementName(view, record.achievement) } },
        },
        context: context({ contextActivities: { grouping: [courseActivity] } }),
      };
  }
}

function score(correct: number, total: number): { raw: number; min: number; max: number; scaled: number } {
  return { raw: correct, min: 0, max: total, scaled: total ? Math.round((correct / total) * 1000) / 1000 : 1 };
}

function achievementName(view: ReturnType<Course['in']>, achievement: string): string {
  if (achievement === 'course') return 'DiGIT4SD';
  const id = achievement.replace(/^module:/, '');
  return view.module(id)?.title ?? id;
}
