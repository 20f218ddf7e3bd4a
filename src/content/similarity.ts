/**
 * How alike two question texts are, to find the same question asked twice in the course (in any of
 * its languages). A question becomes the set of its content words, stemmed: stop words ("which",
 * "the", "of"...) dropped with the `stopword` lists, each word reduced to its stem with the Snowball
 * stemmers of `@orama/stemmers`, accents removed. Two questions are compared by the weighted
 * Jaccard index of their sets: the weight of the words they share over the weight of all their
 * words. Each word weighs its inverse document frequency in the questions compared (log(1 + N/df)),
 * so the words every question about a topic uses ("EGDI", "Survey", "countries") count less than
 * the ones that say what is asked ("custodian", "typical", "top three"). Word order does not count,
 * so a reworded question ("Since 2008, how often has the Survey been published?" / "How often has
 * the UN E-Government Survey been published since 2008?") scores high, while two questions on one
 * topic that ask different things ("What does indicator 17.8.1 measure?" / "Which agency is the
 * custodian of indicator 17.8.1?") score low. Two questions about different years ("the top three
 * in the 2018 Survey" / "in the 2024 Survey") ask about different facts and are never near-duplicates.
 * Tuned on the English course of November 2026 and in `test/similarity.test.ts`.
 */
import { stemmer as englishStem } from '@orama/stemmers/english';
import { stemmer as frenchStem } from '@orama/stemmers/french';
import { stemmer as spanishStem } from '@orama/stemmers/spanish';
import { eng, fra, removeStopwords, spa } from 'stopword';
import type { CourseLang } from './course.js';

/** Two questions at or above this Jaccard index are reported as near-duplicates (tuned in test/similarity.test.ts). */
export const NEAR_DUPLICATE_THRESHOLD = 0.55;

const STOP: Record<CourseLang, string[]> = { en: eng, fr: fra, es: spa };
const STEM: Record<CourseLang, (w: string) => string> = { en: englishStem, fr: frenchStem, es: spanishStem };

const stripAccents = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '');

/** The standard end of a multiple-answer stem, in each language: it says nothing about the question. */
const PICK_ALL = /\((pick all that apply|plusieurs réponses possibles|puede haber varias respuestas correctas)\.?\)/giu;

/** The set of stemmed content words of a text. */
export function contentTokens(text: string, lang: CourseLang): Set<string> {
  text = text.replace(PICK_ALL, ' ');
  // A number like 17.8.1 or 3.5 is one word; an apostrophe separates ("l'Enquête").
  const words = [...text.toLowerCase().matchAll(/\p{N}+(?:[.,]\p{N}+)*|[\p{L}\p{N}]+/gu)].map((m) => m[0]);
  // Words of one or two letters ("e" of e-government, "ha", "y") say nothing about the question.
  const content = removeStopwords(words, STOP[lang]).filter((w) => w.length > 2 || /\p{N}/u.test(w));
  return new Set(content.map((w) => stripAccents(STEM[lang](w))));
}

/**
 * Weighted Jaccard index of two sets: the weight of what they share over the weight of their union
 * (1 for two empty sets). Every element weighs 1 unless `weight` says otherwise.
 */
export function jaccard(a: Set<string>, b: Set<string>, weight: (token: string) => number = () => 1): number {
  let common = 0;
  let union = 0;
  for (const x of new Set([...a, ...b])) {
    const w = weight(x);
    union += w;
    if (a.has(x) && b.has(x)) common += w;
  }
  return union ? common / union : 1;
}

/** The years (1900-2099) a text mentions. */
function years(text: string): Set<string> {
  return new Set(text.match(/\b(?:19|20)\d\d\b/g) ?? []);
}

/** Whether two texts both name years, and none in common: then they ask about different facts. */
export function aboutDifferentYears(a: string, b: string): boolean {
  const [ya, yb] = [years(a), years(b)];
  return ya.size > 0 && yb.size > 0 && ![...ya].some((y) => yb.has(y));
}

/** Inverse document frequency weights, log(1 + N / df), of the words of a set of texts. */
export function idfWeights(docs: Set<string>[]): (token: string) => number {
  const df = new Map<string, number>();
  for (const d of docs) for (const t of d) df.set(t, (df.get(t) ?? 0) + 1);
  const n = Math.max(1, docs.length);
  return (t) => Math.log(1 + n / (df.get(t) ?? 1));
}

/**
 * How alike two question texts in `lang` are, from 0 (no content word shared) to 1 (the same
 * content words), with word weights from `corpus` (the questions of the course) when given.
 */
export function questionSimilarity(a: string, b: string, lang: CourseLang, corpus: string[] = []): number {
  if (aboutDifferentYears(a, b)) return 0;
  const [ta, tb] = [contentTokens(a, lang), contentTokens(b, lang)];
  return jaccard(ta, tb, idfWeights([ta, tb, ...corpus.map((q) => contentTokens(q, lang))]));
}

/** A question text with where it is. */
export interface LocatedQuestion {
  id: string;
  text: string;
  file: string;
  line: number;
}

export interface NearDuplicate {
  a: LocatedQuestion;
  b: LocatedQuestion;
  similarity: number;
}

/**
 * Every pair of questions (of different items) in one language whose similarity, weighted over these
 * questions, reaches the threshold.
 */
export function nearDuplicates(questions: LocatedQuestion[], lang: CourseLang, threshold = NEAR_DUPLICATE_THRESHOLD): NearDuplicate[] {
  const tokens = questions.map((q) => contentTokens(q.text, lang));
  const weight = idfWeights(tokens);
  const found: NearDuplicate[] = [];
  for (let i = 0; i < questions.length; i++)
    for (let j = i + 1; j < questions.length; j++) {
      if (questions[i]!.id === questions[j]!.id || aboutDifferentYears(questions[i]!.text, questions[j]!.text)) continue;
      const similarity = jaccard(tokens[i]!, tokens[j]!, weight);
      if (similarity >= threshold) found.push({ a: questions[i]!, b: questions[j]!, similarity });
    }
  return found;
}
