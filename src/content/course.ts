/**
 * The course as the engine sees it: modules, lessons, cards and quiz items, already validated, in
 * English and in every translation that exists. Built by {@link import('./load.js').loadCourse} from the
 * Markdown files in `lessons/`.
 *
 * ```ts
 * const fr = course.in('fr');           // the course as a French reader sees it
 * fr.lessons.get('m1-why-toolkit');     // the French lesson, or the English one when untranslated
 * course.item('m1-why-toolkit-q1', 'es');
 * ```
 */
import type { RichText } from '../messages.js';

/** Languages the course can be written in: English first, then its translations. */
export const COURSE_LANGS = ['en', 'fr', 'es'] as const;
export type CourseLang = (typeof COURSE_LANGS)[number];
/** Languages a lesson can be translated into (`<lesson>.fr.md`, `<lesson>.es.md`). */
export const TRANSLATION_LANGS = ['fr', 'es'] as const;
export type TranslationLang = (typeof TRANSLATION_LANGS)[number];

export type ItemType = 'single' | 'multiple' | 'truefalse';

export interface QuizItem {
  id: string;
  lessonId: string;
  moduleId: string;
  type: ItemType;
  question: string;
  /** For `truefalse` items: option 0 is "true", option 1 is "false" (in the lesson's language). */
  options: { text: string; correct: boolean }[];
  explanation: string;
  /** The line of the item's "## quiz" heading in its lesson file (set by the loader). */
  line?: number;
}

export interface Lesson {
  id: string;
  moduleId: string;
  order: number;
  /** The language this lesson is written in. */
  lang: CourseLang;
  title: string;
  /** Minutes to read the cards and answer the items, computed from the text (see `readingMinutes`). */
  minutes: number;
  sources: string[];
  cards: RichText[];
  items: QuizItem[];
  /** The lesson's file: as shown in problems (relative) and its absolute path (set by the loader). */
  source?: { file: string; path: string };
  /** One or two sentences the learner keeps, shown with the score and in /progress. */
  takeaway?: string;
}

export interface Module {
  id: string;
  title: string;
  summary: string;
  lessons: Lesson[];
}

/** The translated texts of one language: its lessons and its module titles and summaries. */
export interface CourseTranslation {
  lessons: Map<string, Lesson>;
  modules: Map<string, { title: string; summary: string }>;
}

/**
 * The course in one language, with look-ups. Every lesson, item and module has the same id and
 * position in every language, so a learner's place (lesson id, card index, item id) carries over
 * when the language changes.
 */
export class CourseView {
  readonly lessons: Map<string, Lesson>;
  readonly items: Map<string, QuizItem>;
  /** Every lesson in course order: module by module, then by `order`. */
  readonly sequence: Lesson[];

  constructor(
    readonly lang: CourseLang,
    readonly modules: Module[],
  ) {
    this.sequence = modules.flatMap((m) => m.lessons);
    this.lessons = new Map(this.sequence.map((l) => [l.id, l]));
    this.items = new Map(this.sequence.flatMap((l) => l.items.map((i) => [i.id, i] as const)));
  }

  module(id: string): Module | undefined {
    return this.modules.find((m) => m.id === id);
  }

  /** The lesson after `lessonId` in course order, if any. */
  nextLesson(lessonId: string): Lesson | undefined {
    const i = this.sequence.findIndex((l) => l.id === lessonId);
    return i >= 0 ? this.sequence[i + 1] : undefined;
  }
}

/** The whole course: the English course (its own fields) and a view per language ({@link Course.in}). */
export class Course extends CourseView {
  private readonly views = new Map<string, CourseView>();

  constructor(
    modules: Module[],
    private readonly translations: Partial<Record<TranslationLang, CourseTranslation>> = {},
  ) {
    super('en', modules);
    this.views.set('en', this);
    for (const lang of TRANSLATION_LANGS) {
      const tr = translations[lang];
      if (!tr) continue;
      const translated = modules.map((m) => ({
        id: m.id,
        title: tr.modules.get(m.id)?.title ?? m.title,
        summary: tr.modules.get(m.id)?.summary ?? m.summary,
        lessons: m.lessons.map((l) => tr.lessons.get(l.id) ?? l),
      }));
      this.views.set(lang, new CourseView(lang, translated));
    }
  }

  /**
   * The course as a reader of `lang` sees it: each lesson (cards, items, options, explanations,
   * takeaway) and module title in `lang` when a translation exists, else in English.
   */
  in(lang: string): CourseView {
    return this.views.get(lang) ?? this;
  }

  /** A lesson in `lang` (English when it has no translation). */
  lesson(id: string, lang: string = 'en'): Lesson | undefined {
    return this.in(lang).lessons.get(id);
  }

  /** A quiz item in `lang` (English when its lesson has no translation): for lessons, reviews and team quizzes. */
  item(id: string, lang: string = 'en'): QuizItem | undefined {
    return this.in(lang).items.get(id);
  }

  /** Whether lesson `id` has a translation into `lang` (English always counts). */
  isTranslated(id: string, lang: string): boolean {
    return lang === 'en' ? this.lessons.has(id) : !!this.translations[lang as TranslationLang]?.lessons.has(id);
  }
}

/** Indices of the right options of an item. */
export function correctIndices(item: QuizItem): number[] {
  return item.options.flatMap((o, i) => (o.correct ? [i] : []));
}
