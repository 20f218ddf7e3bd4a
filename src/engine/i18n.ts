/**
 * Interface text in several languages, kept in `src/i18n/<lang>.json` so that a new language is
 * one file away. Every text is an ICU message (https://unicode-org.github.io/icu/userguide/format_parse/messages/)
 * formatted by intl-messageformat, so that plurals and selects follow each language's own rules:
 *
 * ```ts
 * t('fr', 'review.intro', { count: 1, minutes: 1 }); // "1 élément à réviser, environ 1 min."
 * ```
 *
 * Lessons stay in the language they are written in.
 */
import { readFileSync } from 'node:fs';
import { IntlMessageFormat } from 'intl-messageformat';
import { LANGS, type Lang } from './state.js';

export type Catalog = Record<string, string>;

const catalogs = new Map<Lang, Catalog>(
  LANGS.map((lang) => [lang, JSON.parse(readFileSync(new URL(`../i18n/${lang}.json`, import.meta.url), 'utf8')) as Catalog]),
);

/** The catalog of a language (for tests and tools). */
export function catalog(lang: Lang): Catalog {
  return catalogs.get(lang)!;
}

/** Each language's own name, as shown on the language buttons. */
export const LANGUAGE_NAMES: Record<Lang, string> = { en: 'English', fr: 'Français', es: 'Español' };

const compiled = new Map<string, IntlMessageFormat>();

/** The parsed message for `key` in `lang` (English when the language lacks it). Throws on an unknown key. */
export function message(lang: Lang, key: string): IntlMessageFormat {
  const own = catalogs.get(lang)?.[key];
  const source = own ?? catalogs.get('en')![key];
  if (source === undefined) throw new Error(`missing interface text "${key}"`);
  const locale = own === undefined ? 'en' : lang;
  const id = `${locale}\u0000${key}`;
  let format = compiled.get(id);
  if (!format) {
    // Tags are off: interface texts never contain markup, and "<" must stay a plain character.
    format = new IntlMessageFormat(source, locale, undefined, { ignoreTag: true });
    compiled.set(id, format);
  }
  return format;
}

/**
 * Formats the interface text `key` in `lang` with `vars`. An unknown key or a variable the text
 * needs but was not given is a programming error and throws, so that tests catch it.
 *
 * A full stop right after a value that already ends a sentence is dropped, so that a lesson titled
 * "Why a toolkit?" reads "Lesson complete: Why a toolkit? You got..." and not "toolkit?. You got".
 */
export function t(lang: Lang, key: string, vars: Record<string, string | number> = {}): string {
  let text: string;
  try {
    text = String(message(lang, key).format(vars));
  } catch (err) {
    throw new Error(`interface text "${key}" (${lang}) could not be formatted: ${(err as Error).message}`);
  }
  return text.replace(/([?!…])\.(?=\s|$)/g, '$1');
}

/** How a reminder's days read in a sentence: "every day", "Monday to Friday", "on Mon, Wed and Fri". */
export function describeDays(lang: Lang, days: number[]): string {
  const sorted = [...new Set(days)].sort();
  if (sorted.length === 7) return t(lang, 'days.every');
  if (sorted.join() === '1,2,3,4,5') return t(lang, 'days.weekdays');
  const base = new Date(Date.UTC(2026, 0, 4)); // a Sunday
  const names = sorted.map((d) => new Date(base.getTime() + d * 86_400_000).toLocaleDateString(lang, { weekday: 'short', timeZone: 'UTC' }).replace(/\.$/, ''));
  return t(lang, 'days.list', { days: new Intl.ListFormat(lang, { style: 'long', type: 'conjunction' }).format(names) });
}
