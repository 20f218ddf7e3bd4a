/**
 * Interface text in several languages, kept in `src/i18n/<lang>.json` so that a new language is
 * one file away. Lessons stay in the language they are written in.
 */
import { readFileSync } from 'node:fs';
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

/**
 * Looks up `key` in `lang`, falling back to English, and fills `{name}` placeholders.
 * An unknown key is a programming error and throws, so that tests catch it.
 */
export function t(lang: Lang, key: string, vars: Record<string, string | number> = {}): string {
  const text = catalogs.get(lang)?.[key] ?? catalogs.get('en')![key];
  if (text === undefined) throw new Error(`missing interface text "${key}"`);
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/** "weekdays", "every day" or a list of day names. */
export function describeDays(lang: Lang, days: number[]): string {
  const sorted = [...days].sort();
  if (sorted.join() === '1,2,3,4,5') return t(lang, 'days.weekdays');
  if (sorted.length === 7) return t(lang, 'days.every');
  const base = new Date(Date.UTC(2026, 0, 4)); // a Sunday
  return sorted.map((d) => new Date(base.getTime() + d * 86_400_000).toLocaleDateString(lang, { weekday: 'short', timeZone: 'UTC' }).replace(/\.$/, '')).join(', ');
}
