/**
 * The near-duplicate threshold: paraphrases of one question are caught, different questions on one
 * topic are not. The English pairs are taken from the course as it stood in November 2026.
 */
import { describe, expect, it } from 'vitest';
import { contentTokens, jaccard, nearDuplicates, NEAR_DUPLICATE_THRESHOLD, questionSimilarity } from '../src/content/similarity.js';
import type { CourseLang } from '../src/content/course.js';

const EN_PARAPHRASES: [string, string][] = [
  ['Since 2008, how often has the Survey been published?', 'How often has the UN E-Government Survey been published since 2008?'],
  ['Which SDG target is about legal identity for all, including birth registration?', 'Which SDG target covers legal identity for all, including birth registration?'],
  ['E-participation is most directly linked to which SDG target?', 'Which SDG target is e-participation most closely linked to?'],
  ['Which UN publication does the toolkit build on?', 'Which UN publication does DiGIT4SD build on?'],
  ['Which of these are demand-side measures? (Pick all that apply.)', 'Which of these is a demand-side measure?'],
];
const EN_DIFFERENT: [string, string][] = [
  ['What does SDG indicator 17.8.1 measure?', 'Which agency is the custodian of SDG indicator 17.8.1?'],
  ['How many landlocked developing countries are there?', 'Which challenge is typical of landlocked developing countries?'],
  ['How is the EGDI calculated from its three indices?', 'Which index of the EGDI measures human capital?'],
  ['Which country ranked first in every edition of the Survey from 2018 to 2024?', 'How many countries does the UN E-Government Survey cover?'],
  ['What is the main purpose of the DiGIT4SD toolkit?', 'Who created UN-OHRLLS, and when?'],
  // The same template about another Survey edition asks about another fact.
  ['Which countries were the top three in the 2018 Survey?', 'Which countries were the top three in the 2024 Survey?'],
];
/** Other questions of the course, so that word weights are those of a real course. */
const EN_BACKGROUND = [
  'Which organisations co-organised the Bangkok workshop? (Pick all that apply.)',
  'In the 2024 Survey, how many countries were in the very high EGDI group?',
  'Which indicator group was the largest in the 2022 LOSI?',
  'Which challenges are typical for small island developing states? (Pick all that apply.)',
  'The E-Participation Index measures how many citizens actually take part in online consultations.',
  'A better EGDI rank always means a country\'s own online services improved.',
  'Which steps does this lesson suggest for a small country building a one-stop portal? (Pick all that apply.)',
  'The implementation canvas is designed to rank your country against other countries.',
  'Which of these were indicators of the TII in 2018? (Pick all that apply.)',
  'Where does the data for the Human Capital Index come from?',
];

function located(texts: string[]) {
  return texts.map((text, i) => ({ id: `q${i}`, text, file: 'x.md', line: i + 1 }));
}

function check(lang: CourseLang, paraphrases: [string, string][], different: [string, string][], background: string[] = []) {
  const texts = [...paraphrases.flat(), ...different.flat(), ...background];
  const found = nearDuplicates(located(texts), lang).map((d) => [d.a.text, d.b.text]);
  expect(found).toEqual(paraphrases);
}

describe('near-duplicate questions', () => {
  it('catches English paraphrases and leaves different questions on one topic alone', () => {
    check('en', EN_PARAPHRASES, EN_DIFFERENT, EN_BACKGROUND);
  });

  it('catches French and Spanish paraphrases and leaves different questions alone', () => {
    check(
      'fr',
      [
        ['Depuis 2008, à quelle fréquence l\u2019Enquête est-elle publiée\u202f?', 'À quelle fréquence l\u2019Enquête des Nations Unies sur l\u2019administration en ligne est-elle publiée depuis 2008\u202f?'],
        ['Quelle cible des ODD porte sur l\u2019identité juridique pour tous\u202f?', 'L\u2019identité juridique pour tous relève de quelle cible des ODD\u202f?'],
      ],
      [
        ['Que mesure l\u2019indicateur 17.8.1 des ODD\u202f?', 'Quelle institution est responsable de l\u2019indicateur 17.8.1 des ODD\u202f?'],
        ['Combien de pays en développement sans littoral compte-t-on\u202f?', 'Quelle difficulté est propre aux pays en développement sans littoral\u202f?'],
      ],
      [
        'Dans l\u2019Enquête des Nations Unies sur l\u2019administration en ligne de 2024, combien de pays avaient un EGDI très élevé\u202f?',
        'Quels indicateurs composent l\u2019indice de l\u2019infrastructure des télécommunications (TII)\u202f?',
        'L\u2019administration en ligne des petits États insulaires en développement a progressé en 2024.',
        'Quel pays était premier de l\u2019Enquête des Nations Unies en 2022\u202f?',
        'Qui a organisé l\u2019atelier de Bangkok sur l\u2019administration numérique\u202f?',
        'Que mesure l\u2019indice de participation en ligne (EPI)\u202f?',
        'Quelle région avait l\u2019EGDI moyen le plus élevé dans l\u2019Enquête des Nations Unies sur l\u2019administration en ligne de 2022\u202f?',
      ],
    );
    check(
      'es',
      [
        ['¿Con qué frecuencia se publica la Encuesta desde 2008?', '¿Con qué frecuencia se ha publicado la Encuesta de las Naciones Unidas sobre Gobierno Electrónico desde 2008?'],
        ['¿Qué meta de los ODS trata de la identidad jurídica para todos?', 'La identidad jurídica para todos, ¿en qué meta de los ODS figura?'],
      ],
      [
        ['¿Qué mide el indicador 17.8.1 de los ODS?', '¿Qué organismo es el custodio del indicador 17.8.1 de los ODS?'],
        ['¿Cuántos países en desarrollo sin litoral hay?', '¿Qué dificultad es propia de los países en desarrollo sin litoral?'],
      ],
      [
        'En la Encuesta de las Naciones Unidas sobre Gobierno Electrónico de 2024, ¿cuántos países tenían un EGDI muy alto?',
        '¿Qué indicadores forman el índice de infraestructura de telecomunicaciones (TII)?',
        'El gobierno electrónico de los pequeños Estados insulares en desarrollo avanzó en 2024.',
        '¿Qué país ocupó el primer lugar de la Encuesta de las Naciones Unidas en 2022?',
        '¿Quién organizó el taller de Bangkok sobre gobierno digital?',
        '¿Qué mide el índice de participación electrónica (EPI)?',
        '¿Qué región tuvo el EGDI medio más alto en la Encuesta de las Naciones Unidas sobre Gobierno Electrónico de 2022?',
      ],
    );
  });

  it('scores a word-for-word repeat 1 and ignores case, punctuation, accents and word order', () => {
    expect(questionSimilarity('Which index measures human capital?', 'WHICH INDEX MEASURES HUMAN CAPITAL', 'en')).toBe(1);
    expect(questionSimilarity('Human capital: which index measures it?', 'Which index measures human capital?', 'en')).toBe(1);
    expect(questionSimilarity('Qué índice mide el capital humano', 'que indice mide el capital humano', 'es')).toBe(1);
    expect(questionSimilarity('Which index measures human capital?', 'When was the Survey first published?', 'en')).toBe(0);
  });

  it('never pairs an item with itself (a translation keeps its id) and weighs rare words more', () => {
    expect(nearDuplicates([{ id: 'a', text: 'Same?', file: 'x', line: 1 }, { id: 'a', text: 'Same?', file: 'y', line: 1 }], 'en')).toEqual([]);
    const a = contentTokens('custodian indicator', 'en');
    const b = contentTokens('measure indicator', 'en');
    expect(jaccard(a, b)).toBeCloseTo(1 / 3);
    expect(jaccard(a, b, (t) => (t === 'indic' ? 0.1 : 1))).toBeLessThan(1 / 3);
    expect(NEAR_DUPLICATE_THRESHOLD).toBeGreaterThan(0.5);
  });
});
