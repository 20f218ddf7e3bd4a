import { IntlMessageFormat } from 'intl-messageformat';
import { describe, expect, it } from 'vitest';
import { catalog, describeDays, t } from '../src/engine/i18n.js';
import { LANGS, type Lang } from '../src/engine/state.js';

/** A message's variables: name → how it is used (plural or number, select with its keys, plain). */
type Use = { kind: 'number' } | { kind: 'select'; keys: string[] } | { kind: 'plain' };
type Element = { type: number; value?: string; options?: Record<string, { value: Element[] }> };

function variables(ast: Element[], into = new Map<string, Use>()): Map<string, Use> {
  for (const el of ast) {
    if (el.type === 1 && !into.has(el.value!)) into.set(el.value!, { kind: 'plain' });
    if (el.type === 2 || el.type === 6) into.set(el.value!, { kind: 'number' });
    if (el.type === 5) into.set(el.value!, { kind: 'select', keys: Object.keys(el.options!) });
    for (const option of Object.values(el.options ?? {})) variables(option.value, into);
  }
  return into;
}

const ast = (lang: Lang, key: string) => new IntlMessageFormat(catalog(lang)[key]!, lang, undefined, { ignoreTag: true }).getAst() as unknown as Element[];

/** Variables that hold numbers wherever they appear, plural or not. */
const NUMERIC = new Set(['n', 'index', 'total', 'done', 'correct', 'right', 'seen', 'percent', 'minutes', 'modules', 'lessons', 'count', 'seconds', 'rank', 'points', 'answered', 'max', 'now', 'later', 'week', 'items']);

/** Every way to fill a message's variables: 0, 1 and 2 for each number, each key of each select. */
function samples(vars: Map<string, Use>): Record<string, string | number>[] {
  let out: Record<string, string | number>[] = [{}];
  for (const [name, use] of vars) {
    const values: (string | number)[] =
      use.kind === 'number' || NUMERIC.has(name) ? [0, 1, 2] : use.kind === 'select' ? use.keys.map((k) => (k === 'other' ? 'Sample' : k)) : [name === 'title' ? 'Why a digital government toolkit?' : 'Sample'];
    out = out.flatMap((vs) => values.map((v) => ({ ...vs, [name]: v })));
  }
  return out;
}

/** Words that name more than one thing: after the number 1 they mean a plural rule is missing. */
const PLURAL_ONLY: Record<Lang, RegExp> = {
  en: /(?<![\d/]|sur |de |of )\b1 (items|lessons|questions|modules|seconds|pts|answers|reviews)\b/,
  fr: /(?<![\d/]|sur |de |of )\b1 (leçons|éléments|questions|modules|secondes|bonnes|pts|ont)\b|sur 1 leçons/,
  es: /(?<![\d/]|sur |de |of )\b1 (lecciones|elementos|preguntas|módulos|segundos|correctas|pts|acertaron)\b|unos 1 /,
};

/** English words that have no business in a French or Spanish text (commands and the toolkit's English title aside). */
const ENGLISH = /\b(the|and|you|your|items?|lessons?|reminders?|weekdays|daily|tap|buttons?|right|wrong|due|please|of|to|is|are|with|for|every|off)\b/i;
const withoutCode = (s: string) =>
  s
    .replace(/\*[^*]+\*/g, '') // the toolkit's English title, in italics
    .replace(/\/\w+( (off|[\d:]+|\w+\/\w+))?/g, '') // commands and their arguments
    .replace(/\{\w+, (plural|select),/g, ' ') // ICU syntax: the argument, the keys of its cases, the braces
    .replace(/(^|\s)(=\d+|zero|one|two|few|many|other|off)\s*\{/g, ' ')
    .replace(/\{\w+\}/g, ' ')
    .replace(/[{}#]/g, ' ');

describe('interface text', () => {
  it('has every key in every language, each an ICU message with the same variables', () => {
    const en = catalog('en');
    for (const lang of LANGS) {
      expect(Object.keys(catalog(lang)).sort(), lang).toEqual(Object.keys(en).sort());
      for (const key of Object.keys(en)) {
        expect(() => ast(lang, key), `${lang} ${key} must parse`).not.toThrow();
        expect([...variables(ast(lang, key)).keys()].sort(), `${lang} ${key}`).toEqual([...variables(ast('en', key)).keys()].sort());
      }
    }
  });

  it('renders every message in every language with 0, 1 and 2 for each number, and fails on a missing variable', () => {
    let rendered = 0;
    for (const lang of LANGS) {
      for (const key of Object.keys(catalog('en'))) {
        const vars = variables(ast('en', key));
        for (const [name] of variables(ast(lang, key))) if (!vars.has(name)) vars.set(name, { kind: 'plain' });
        for (const sample of samples(vars)) {
          const text = t(lang, key, sample);
          rendered++;
          const where = `${lang} ${key} ${JSON.stringify(sample)}: ${text}`;
          expect(text, where).not.toMatch(/[{}]/);
          expect(text, where).not.toMatch(PLURAL_ONLY[lang]);
          expect(text, where).not.toMatch(/[?!]\.|\.\.(?!\.)/);
        }
        if (vars.size) expect(() => t(lang, key, {}), `${lang} ${key} without its variables`).toThrow(/could not be formatted/);
      }
    }
    expect(rendered).toBeGreaterThan(3 * 100);
  });

  it('leaves no English in French and Spanish', () => {
    for (const lang of ['fr', 'es'] as const) {
      for (const [key, text] of Object.entries(catalog(lang))) {
        const words = withoutCode(text);
        expect(words, `${lang} ${key}`).not.toMatch(ENGLISH);
        if (words.replace(/[^\p{L}]/gu, '').length > 12) expect(text, `${lang} ${key} is the English text`).not.toBe(catalog('en')[key]);
      }
    }
  });

  it('puts a non-breaking space before French ; : ! ? » and after «', () => {
    for (const [key, text] of Object.entries(catalog('fr'))) {
      const where = `fr ${key}: ${text}`;
      // Before ; ! ? »: a narrow no-break space (U+202F) or a no-break space (U+00A0), never a plain space or none.
      for (const m of text.matchAll(/(.)([;!?»])/gu)) expect(m[1], where).toMatch(/[\u202f\u00a0]/);
      // A colon in running text (followed by a space or the end) takes a no-break space; 08:30 and HH:MM take none.
      for (const m of text.matchAll(/(.):(?=\s|$)/gu)) expect(m[1], where).toMatch(/[\u202f\u00a0]/);
      for (const m of text.matchAll(/«(.)/gu)) expect(m[1], where).toMatch(/[\u202f\u00a0]/);
    }
  });

  it('writes the toolkit the way it writes itself: DiGIT4SD', () => {
    for (const lang of LANGS) for (const [key, text] of Object.entries(catalog(lang))) expect(text, `${lang} ${key}`).not.toMatch(/DIGIT4SD/);
    expect(t('en', 'welcome.title')).toContain('DiGIT4SD');
  });

  it('fills placeholders, picks plural forms, and throws on an unknown key', () => {
    expect(t('en', 'lesson.done', { title: 'X', correct: 3, total: 4 })).toBe('Lesson complete: X. You got 3 of 4 right.');
    expect(t('en', 'review.intro', { count: 1, minutes: 1 })).toBe('1 item to review, about 1 min.');
    expect(t('fr', 'welcome.how', { modules: 1, lessons: 1, minutes: 1 })).toMatch(/^1 module, 1 leçon\. Une leçon dure environ 1 minute\u00a0:/);
    expect(t('es', 'welcome.how', { modules: 6, lessons: 37, minutes: 5 })).toMatch(/^6 módulos, 37 lecciones\. Cada lección dura unos 5 minutos:/);
    expect(t('fr', 'group.right_count', { right: 1, total: 5 })).toBe('1 sur 5 a trouvé la bonne réponse.');
    expect(t('es', 'review.intro', { count: 2, minutes: 1 })).toBe('2 elementos para repasar, alrededor de 1 min.');
    expect(t('fr', 'lang.set')).not.toBe(t('en', 'lang.set'));
    expect(() => t('en', 'no.such.key')).toThrow(/missing interface text/);
  });

  it('never doubles the punctuation after a title that ends a sentence', () => {
    expect(t('en', 'lesson.done', { title: 'Why a digital government toolkit?', correct: 4, total: 7 })).toBe('Lesson complete: Why a digital government toolkit? You got 4 of 7 right.');
    expect(t('en', 'lesson.next_up', { title: 'Ready!', minutes: 5 })).toBe('Up next: Ready! (about 5 min).');
  });
});

describe('day lists', () => {
  it('say exactly which days a reminder comes, with no doubled full stop', () => {
    expect(describeDays('en', [1, 2, 3, 4, 5])).toBe('Monday to Friday');
    expect(describeDays('en', [0, 1, 2, 3, 4, 5, 6])).toBe('every day');
    expect(describeDays('en', [1, 3, 5])).toBe('on Mon, Wed, and Fri');
    expect(describeDays('fr', [1, 3])).toBe('chaque lun et mer');
    expect(describeDays('es', [1, 3])).toBe('los lun y mié');
    expect(t('en', 'remind.set', { time: '08:30', tz: 'UTC', days: describeDays('en', [1, 2, 3, 4, 5]) })).toBe('Reminder set for 08:30 (UTC), Monday to Friday.');
    expect(t('en', 'remind.set', { time: '08:30', tz: 'UTC', days: describeDays('en', [0, 1, 2, 3, 4, 5, 6]) })).toBe('Reminder set for 08:30 (UTC), every day.');
    expect(t('fr', 'remind.set', { time: '07:45', tz: 'UTC', days: describeDays('fr', [1, 3]) })).not.toMatch(/\.\./);
  });
});
