/**
 * The course as the engine sees it: modules, lessons, cards and quiz items, already validated.
 * Built by {@link import('./load.js').loadCourse} from the Markdown files in `lessons/`.
 */
import type { RichText } from '../messages.js';

export type ItemType = 'single' | 'multiple' | 'truefalse';

export interface QuizItem {
  id: string;
  lessonId: string;
  moduleId: string;
  type: ItemType;
  question: string;
  options: { text: string; correct: boolean }[];
  explanation: string;
  /** The line of the item's "## quiz" heading in its lesson file (set by the loader). */
  line?: number;
}

export interface Lesson {
  id: string;
  moduleId: string;
  order: number;
  title: string;
  minutes: number;
  sources: string[];
  cards: RichText[];
  items: QuizItem[];
  /** The lesson's file: as shown in problems (relative) and its absolute path (set by the loader). */
  source?: { file: string; path: string };
}

export interface Module {
  id: string;
  title: string;
  summary: string;
  lessons: Lesson[];
}

/** The whole course, with look-ups. */
export class Course {
  readonly lessons: Map<string, Lesson>;
  readonly items: Map<string, QuizItem>;
  /** Every lesson in course order: module by module, then by `order`. */
  readonly sequence: Lesson[];

  constructor(readonly modules: Module[]) {
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

/** Indices of the right options of an item. */
export function correctIndices(item: QuizItem): number[] {
  return item.options.flatMap((o, i) => (o.correct ? [i] : []));
}
