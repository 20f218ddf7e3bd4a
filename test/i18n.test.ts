import { describe, expect, it } from 'vitest';
import { catalog, t } from '../src/engine/i18n.js';
import { LANGS } from '../src/engine/state.js';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('interface text', () => {
  it('has every key, with the same placeholders, in every language', () => {
    const en = catalog('en');
    for (const lang of LANGS) {
      const c = catalog(lang);
      expect(Object.keys(c).sort(), lang).toEqual(Object.keys(en).sort());
      for (const key of Object.keys(en)) expect(placeholders(c[key]!), `${lang} ${key}`).toEqual(placeholders(en[key]!));
    }
  });

  it('fills placeholders and throws on an unknown key', () => {
    expect(t('en', 'lesson.done', { title: 'X', correct: 3, total: 4 })).toBe('Lesson complete: X. You got 3 of 4 right.');
    expect(t('fr', 'lang.set')).not.toBe(t('en', 'lang.set'));
    expect(() => t('en', 'no.such.key')).toThrow(/missing interface text/);
  });
});

describe('day lists', () => {
  it('read naturally in each language, with no doubled full stop', async () => {
    const { describeDays } = await import('../src/engine/i18n.js');
    expect(describeDays('en', [1, 2, 3, 4, 5])).toBe('weekdays');
    expect(describeDays('en', [0, 1, 2, 3, 4, 5, 6])).toBe('every day');
    expect(describeDays('en', [1, 3])).toBe('Mon, Wed');
    expect(describeDays('fr', [1, 3])).toBe('lun, mer');
    expect(t('fr', 'remind.set', { time: '07:45', tz: 'UTC', days: describeDays('fr', [1, 3]) })).not.toMatch(/\.\./);
  });
});
