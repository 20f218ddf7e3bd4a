/**
 * The two optional profile fields a learner may give: the country they work for and their
 * organisation. They let the people who run the programme filter the dashboard (groups of fewer
 * than 5 learners are never shown on their own). Pure.
 */
import { LANGS, type Lang } from './state.js';

/** Longest organisation name kept. */
export const ORG_MAX_CHARS = 80;

const fold = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();

let countryIndex: Map<string, string> | undefined;

/** Every ISO 3166-1 alpha-2 region code the runtime's Intl knows, by its names in en, fr and es and by its code. */
function countries(): Map<string, string> {
  if (countryIndex) return countryIndex;
  const index = new Map<string, string>();
  const names = LANGS.map((l) => new Intl.DisplayNames([l], { type: 'region', fallback: 'none' }));
  for (let a = 65; a <= 90; a++) {
    for (let b = 65; b <= 90; b++) {
      const code = String.fromCharCode(a, b);
      // Unassigned and private-use codes have no name.
      const named = names.map((n) => n.of(code)).filter((x): x is string => !!x && x !== code);
      if (!named.length || ['AA', 'QM', 'QN', 'QO', 'QP', 'QQ', 'QR', 'QS', 'QT', 'QU', 'QV', 'QW', 'QX', 'QY', 'QZ', 'XA', 'XB', 'ZZ', 'EU', 'EZ', 'UN'].includes(code)) continue;
      index.set(code.toLowerCase(), code);
      for (const n of named) index.set(fold(n), code);
    }
  }
  countryIndex = index;
  return index;
}

/** The ISO code of a country typed by name (English, French or Spanish, accents optional) or by code; undefined if unknown. */
export function parseCountry(text: string): string | undefined {
  const key = fold(text);
  return key ? countries().get(key) : undefined;
}

/** A country's name in a language. */
export function countryName(code: string, lang: Lang): string {
  return new Intl.DisplayNames([lang], { type: 'region', fallback: 'code' }).of(code) ?? code;
}

/** An organisation as kept: spaces collapsed, at most {@link ORG_MAX_CHARS} characters; undefined when empty. */
export function cleanOrg(text: string): string | undefined {
  const s = text.replace(/\s+/g, ' ').trim().slice(0, ORG_MAX_CHARS).trim();
  return s || undefined;
}
