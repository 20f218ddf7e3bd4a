/**
 * Figures that tell an author whether the course's questions give their answers away (issue 12),
 * per language: near-duplicate questions, right options that are the longest, where the right
 * options sit, absolute words in right and wrong options, counts given away in multiple-answer
 * stems, and the computed minutes per lesson. Each figure comes with its limit and whether it holds.
 */
import type { CourseLang } from './course.js';
import type { CheckResult, LessonFile } from './load.js';

/** Words that, in wrong options more than in right ones, tell a test-wise reader what to avoid. */
export const ABSOLUTE_WORDS: Record<CourseLang, string[]> = {
  en: ['only', 'always', 'never', 'all', 'none', 'every'],
  fr: ['seul', 'seule', 'seuls', 'seules', 'toujours', 'jamais', 'tous', 'toutes', 'aucun', 'aucune'],
  es: ['solo', 'sólo', 'siempre', 'nunca', 'todos', 'todas', 'ningún', 'ninguno', 'ninguna'],
};

/** A multiple-answer stem that says how many options are right ("Which two ..."). */
const COUNT_IN_STEM: Record<CourseLang, RegExp> = {
  en: /\b(which|what|name|pick|choose|select)\s+(two|three|four|five|[2-5])\b|\b(two|three|four|five|[2-5])\s+of\s+(these|the following)\b/i,
  fr: /\b(quel(le)?s|lesquel(le)?s|citez|choisissez|nommez)\s+(sont\s+les\s+)?(deux|trois|quatre|cinq|[2-5])\b|\b(deux|trois|quatre|cinq|[2-5])\s+(de\s+ces|des\s+(options|propositions|réponses)\s+suivantes)\b/iu,
  es: /\b(cu[aá]les|qu[eé]|elija|seleccione|nombre)\s+(son\s+l[oa]s\s+)?(dos|tres|cuatro|cinco|[2-5])\b|\b(dos|tres|cuatro|cinco|[2-5])\s+de\s+(estas|estos|las\s+siguientes|los\s+siguientes)\b/iu,
};

/** Limits from issue 12. */
export const STATS_LIMITS = {
  longestRightShare: 1 / 3,
  positionMin: 0.15,
  positionMax: 0.35,
  /** Absolute words are a tell when one side's rate is more than this times the other's... */
  absoluteRatio: 1.5,
  /** ...and the rates differ by more than this (a few options either way are noise). */
  absoluteMinGap: 0.02,
  minutesMin: 4,
  minutesMax: 6,
} as const;

export interface Figure {
  name: string;
  value: string;
  limit: string;
  holds: boolean;
  /** Where the figure comes from, `file:line: ...`, for the ones an author has to fix. */
  details: string[];
}

export interface LanguageStats {
  lang: CourseLang;
  lessons: number;
  items: number;
  figures: Figure[];
}

function containsAbsolute(text: string, lang: CourseLang): boolean {
  const words = text.toLowerCase().split(/[^\p{L}\p{N}]+/u);
  return ABSOLUTE_WORDS[lang].some((w) => words.includes(w));
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

/** The figures for one language, from the files of that language. */
export function languageStats(lang: CourseLang, files: LessonFile[], duplicates: CheckResult['duplicates'][CourseLang]): LanguageStats {
  const mine = files.filter((f) => f.lang === lang);
  const located = mine.flatMap((f) => f.lesson.items.map((item) => ({ item, where: `${f.file}:${f.lines.items.find((i) => i.id === item.id)?.line ?? 1}` })));
  const single = located.filter(({ item }) => item.type === 'single');
  const figures: Figure[] = [];

  figures.push({
    name: 'near-duplicate questions',
    value: String(duplicates.length),
    limit: '0',
    holds: duplicates.length === 0,
    details: duplicates.map((d) => `${d.b.file}:${d.b.line}: "${d.b.id}" nearly repeats "${d.a.id}" at ${d.a.file}:${d.a.line} (${d.similarity.toFixed(2)})`),
  });

  const longest = single.filter(({ item }) => {
    const right = item.options.find((o) => o.correct);
    return !!right && item.options.every((o) => o === right || o.text.length < right.text.length);
  });
  const longestShare = single.length ? longest.length / single.length : 0;
  figures.push({
    name: 'single-choice items whose right option is strictly the longest',
    value: `${longest.length} of ${single.length} (${pct(longestShare)})`,
    limit: `at most ${pct(STATS_LIMITS.longestRightShare)}`,
    holds: longestShare <= STATS_LIMITS.longestRightShare,
    details: [],
  });

  const positions = [0, 0, 0, 0, 0];
  for (const { item } of single) {
    const i = item.options.findIndex((o) => o.correct);
    if (i >= 0) positions[i] = (positions[i] ?? 0) + 1;
  }
  const shares = positions.map((n) => (single.length ? n / single.length : 0));
  const abcd = shares.slice(0, 4);
  const positionsHold = !single.length || abcd.every((s) => s >= STATS_LIMITS.positionMin && s <= STATS_LIMITS.positionMax);
  figures.push({
    name: 'right-answer positions in single-choice items',
    value: shares.map((s, i) => `${String.fromCharCode(65 + i)} ${pct(s)}`).filter((_, i) => i < 4 || positions[i]).join(', '),
    limit: `A-D each ${pct(STATS_LIMITS.positionMin)} to ${pct(STATS_LIMITS.positionMax)}`,
    holds: positionsHold,
    details: [],
  });

  const optionsOf = (right: boolean) => located.filter(({ item }) => item.type !== 'truefalse').flatMap(({ item }) => item.options.filter((o) => o.correct === right));
  const rightOptions = optionsOf(true);
  const wrongOptions = optionsOf(false);
  const rightAbs = rightOptions.filter((o) => containsAbsolute(o.text, lang)).length;
  const wrongAbs = wrongOptions.filter((o) => containsAbsolute(o.text, lang)).length;
  const rightRate = rightOptions.length ? rightAbs / rightOptions.length : 0;
  const wrongRate = wrongOptions.length ? wrongAbs / wrongOptions.length : 0;
  const [hi, lo] = [Math.max(rightRate, wrongRate), Math.min(rightRate, wrongRate)];
  figures.push({
    name: `absolute words (${ABSOLUTE_WORDS[lang].join(', ')}) per option`,
    value: `wrong options ${wrongAbs} of ${wrongOptions.length} (${pct(wrongRate)}), right options ${rightAbs} of ${rightOptions.length} (${pct(rightRate)})`,
    limit: `about as frequent in both (within ${pct(STATS_LIMITS.absoluteMinGap)} or ${STATS_LIMITS.absoluteRatio}x)`,
    holds: hi - lo <= STATS_LIMITS.absoluteMinGap || hi <= lo * STATS_LIMITS.absoluteRatio,
    details: [],
  });

  const counted = located.filter(({ item }) => item.type === 'multiple' && COUNT_IN_STEM[lang].test(item.question));
  figures.push({
    name: 'multiple-answer stems that give the count away',
    value: String(counted.length),
    limit: '0',
    holds: counted.length === 0,
    details: counted.map(({ item, where }) => `${where}: "${item.id}" says how many options are right: ask "Which of these ...?" instead`),
  });

  const minutes = mine.map((f) => f.lesson.minutes).sort((a, b) => a - b);
  const outside = mine.filter((f) => f.lesson.minutes < STATS_LIMITS.minutesMin || f.lesson.minutes > STATS_LIMITS.minutesMax);
  figures.push({
    name: 'computed minutes per lesson',
    value: minutes.length ? `min ${minutes[0]}, median ${minutes[Math.floor(minutes.length / 2)]}, max ${minutes[minutes.length - 1]}; ${outside.length} of ${minutes.length} outside the aim` : 'no lessons',
    limit: `aim at ${STATS_LIMITS.minutesMin} to ${STATS_LIMITS.minutesMax}`,
    holds: outside.length === 0,
    details: outside.map((f) => `${f.file}:${f.lines.body}: about ${f.lesson.minutes} min`),
  });

  return { lang, lessons: mine.length, items: located.length, figures };
}

/** The figures for every language that has lessons. */
export function courseStats(result: CheckResult): LanguageStats[] {
  return (['en', 'fr', 'es'] as const).filter((lang) => result.files.some((f) => f.lang === lang)).map((lang) => languageStats(lang, result.files, result.duplicates[lang]));
}

const NAMES: Record<CourseLang, string> = { en: 'English', fr: 'French', es: 'Spanish' };

/** The figures as text for a terminal: one line per figure with its limit and "ok" or "OVER", then what to fix. */
export function formatStats(stats: LanguageStats[]): string {
  const out: string[] = [];
  for (const s of stats) {
    out.push(`\n${NAMES[s.lang]} (${s.lang}): ${s.lessons} lessons, ${s.items} quiz items`);
    for (const f of s.figures) {
      out.push(`  [${f.holds ? 'ok' : 'OVER'}] ${f.name}: ${f.value} (limit: ${f.limit})`);
      for (const d of f.details) out.push(`      ${d}`);
    }
  }
  return out.join('\n');
}

