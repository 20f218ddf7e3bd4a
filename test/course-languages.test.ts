/**
 * The learner reads the course in their language (issue 12): lessons, items, options, explanations,
 * takeaways and module titles in French or Spanish when translated, English otherwise; switching
 * language mid-lesson carries on at the same card or question; the computed minutes where a lesson
 * begins; the takeaway with the score; "what you have learned" in /progress.
 */
import { describe, expect, it } from 'vitest';
import { Course, type CourseView, type Lesson } from '../src/content/course.js';
import { handleLearnerEvent, DEFAULT_ENGINE_OPTIONS, PROGRESS_TAKEAWAYS, LEARNED_PAGE, type TurnResult } from '../src/engine/engine.js';
import { newLearnerState, type LearnerState } from '../src/engine/state.js';
import type { Choice, InboundEvent, Outbound, RichText } from '../src/messages.js';
import { toPlainText } from '../src/messages.js';
import { loadCourse } from '../src/content/load.js';
import { choice, command, fixtureCourse, inbound, LESSONS_DIR } from './helpers.js';

const T0 = new Date('2026-03-02T09:00:00Z');

class Session {
  state: LearnerState | null = null;
  last: TurnResult | undefined;
  /** Every message sent so far. */
  all: Outbound[] = [];
  now = new Date(T0);
  constructor(readonly course: Course = fixtureCourse()) {}
  send(event: InboundEvent, lang?: string): TurnResult {
    this.now = new Date(this.now.getTime() + 20_000);
    const result = handleLearnerEvent(this.course, DEFAULT_ENGINE_OPTIONS, { state: this.state, inbound: inbound(event, lang ? { lang } : {}), now: this.now });
    this.state = result.state;
    this.last = result;
    this.all.push(...result.messages);
    return result;
  }
  tap(label: string | RegExp): TurnResult {
    const c = this.choices().find((x) => (typeof label === 'string' ? x.label === label : label.test(x.label)));
    if (!c) throw new Error(`no choice ${label} among ${this.choices().map((x) => x.label).join(', ')}`);
    return this.send(choice(c.data));
  }
  /** Taps the first choice (Next, Start the quiz, an answer, Next question...). */
  first(): TurnResult {
    return this.send(choice(this.choices()[0]!.data));
  }
  choices(): Choice[] {
    const withChoices = [...(this.last?.messages ?? [])].reverse().find((m) => 'choices' in m && m.choices?.length);
    return withChoices && 'choices' in withChoices ? (withChoices.choices ?? []) : [];
  }
  text(messages = this.last?.messages ?? []): string {
    return messages.map(shown).join('\n');
  }
}

/** Everything a learner can read in a message: texts, titles, options, buttons. */
function shown(m: Outbound): string {
  const labels = 'choices' in m && m.choices ? m.choices.map((c) => c.label) : [];
  const parts: string[] = (() => {
    switch (m.kind) {
      case 'text':
        return [toPlainText(m.text)];
      case 'card':
        return [m.lessonTitle, toPlainText(m.body)];
      case 'quiz':
        return [m.heading, m.question, ...m.options.map((o) => o.text)];
      case 'feedback':
        return [m.heading, m.answerLabel, ...m.answer, m.explanation, m.question, ...m.options.map((o) => o.text)];
      case 'progress':
        return [m.heading, ...m.modules.map((x) => x.title), toPlainText(m.summary)];
      case 'notice':
      case 'tally':
        return [m.text];
      case 'data':
      case 'close':
      case 'erased':
        return [];
      case 'file':
        return [m.caption];
    }
  })();
  return [...parts, ...labels].join('\n');
}

const richLines = (r: RichText) => r.map((b) => b.spans.map((s) => s.text).join('').trim()).filter(Boolean);
/** Every sentence of a lesson as written in English, and its module's title and summary. */
function englishTexts(course: Course | CourseView, lessonId: string): string[] {
  const l = course.lessons.get(lessonId)!;
  const m = course.module(l.moduleId)!;
  return [l.title, m.title, m.summary, l.takeaway!, ...l.cards.flatMap(richLines), ...l.items.flatMap((i) => [i.question, i.explanation, ...i.options.map((o) => o.text)])];
}

/** Takes lesson l1 from the module menu to the score, answering every item with its first option. */
function takeLesson(s: Session): void {
  s.send(command('menu'));
  s.tap(/^1\. /);
  s.tap(/ (Lesson one|Leçon un|Lección uno)$/);
  while (s.last!.messages.at(-1)!.kind === 'card') s.first();
  for (let guard = 0; guard < 20 && s.state!.position.kind === 'quiz'; guard++) {
    const last = s.last!.messages.at(-1)!;
    if (last.kind === 'quiz' && last.multiple) {
      s.send(choice(last.choices[0]!.data)); // tick A
      s.send(choice(s.choices().at(-1)!.data)); // submit
    } else s.first();
  }
}

describe('a French learner', () => {
  it('reads a whole lesson, its module title and its takeaway without an English sentence from the lesson', () => {
    const s = new Session();
    s.send(command('start'), 'fr');
    expect(s.state!.lang).toBe('fr');
    takeLesson(s);
    expect(s.state!.lessons.l1).toMatchObject({ status: 'done' });
    const read = s.text(s.all);
    for (const english of englishTexts(s.course, 'l1')) expect(read, english).not.toContain(english);
    // ... and reads the French ones instead.
    const fr = s.course.in('fr');
    const l1 = fr.lessons.get('l1')!;
    expect(read).toContain('Notions de base');
    expect(read).toContain('Première fiche de la leçon un, avec un lien.');
    for (const item of l1.items) expect(read).toContain(item.question);
    expect(read).toContain('La B est juste, comme le veut le jeu d\'essai.');
    expect(read).toContain('Vrai');
  });

  it('sees the computed minutes where the lesson begins and the takeaway with the score', () => {
    const s = new Session();
    s.send(command('start'), 'fr');
    takeLesson(s);
    const begin = s.all.find((m) => m.kind === 'card' && m.index === 1)!;
    expect(begin.kind === 'card' && toPlainText(begin.body).split('\n')[0]).toBe('Environ 2 min');
    const end = s.last!.messages.at(-1)!;
    expect(end.kind).toBe('text');
    const lines = s.text([end]).split('\n');
    expect(lines[0]).toMatch(/^Leçon terminée\u00a0: Leçon un\. \d bonnes? réponses? sur 4\.$/);
    expect(lines).toContain('À retenir\u00a0: La leçon un montre comment un fichier de leçon est construit\u202f: des fiches, puis le quiz, puis une chose à retenir.');
    expect(s.text([end])).toMatch(/À suivre\u00a0: Leçon deux \(environ 2 min\)\./);
  });

  it('gets the English lesson when it has no French translation', () => {
    const base = fixtureCourse();
    const fr = base.in('fr');
    const partial = new Course(base.modules, { fr: { lessons: new Map([['l1', fr.lessons.get('l1')!]]), modules: new Map() } });
    const s = new Session(partial);
    s.send(command('lang'), 'fr');
    s.send(command('lang', 'fr'));
    s.send(command('start', 'l2'));
    expect(s.last!.messages.at(-1)).toMatchObject({ kind: 'card', lessonTitle: 'Lesson two' });
    s.send(command('start', 'l1'));
    expect(s.last!.messages.at(-1)).toMatchObject({ kind: 'card', lessonTitle: 'Leçon un' });
  });
});

describe('switching language mid-lesson', () => {
  it('carries on at the same card, then at the same question, in the new language', () => {
    const s = new Session();
    s.send(command('start'), 'en');
    s.tap('Begin module 1');
    s.tap('Next');
    s.send(command('lang', 'es'));
    const card = s.last!.messages.at(-1)!;
    expect(card).toMatchObject({ kind: 'card', lessonTitle: 'Lección uno', index: 2, total: 3 });
    expect(card.kind === 'card' && toPlainText(card.body)).toMatch(/^Segunda tarjeta/);
    expect(s.state!.position).toEqual({ kind: 'card', lessonId: 'l1', index: 1 });
    s.first();
    s.first(); // Start the quiz, in Spanish.
    expect(s.last!.messages.at(-1)).toMatchObject({ kind: 'quiz', itemId: 'l1-q1', question: '¿Qué respuesta es la correcta en la pregunta uno de la lección uno?' });
    s.tap('B');
    expect(s.last!.messages.at(-1)).toMatchObject({ kind: 'feedback', correct: true, answer: ['B. Correcta B'], explanation: 'La B es correcta porque así lo dice el caso de prueba.' });
    s.first(); // Next question: l1-q2.
    s.send(command('lang', 'fr'));
    expect(s.last!.messages.at(-1)).toMatchObject({ kind: 'quiz', itemId: 'l1-q2', question: "L'énoncé deux de la leçon un est vrai.", options: [{ key: 'A', text: 'Vrai' }, { key: 'B', text: 'Faux' }] });
    s.tap('Vrai');
    expect(s.last!.messages.at(-1)).toMatchObject({ kind: 'feedback', correct: true, explanation: 'Il est vrai par construction.' });
    // The score counts the answers given in both languages.
    expect(s.state!.position).toMatchObject({ kind: 'quiz', index: 1, correct: 2 });
  });
});

describe('reviews and practice', () => {
  it('ask items in the learner\'s current language', () => {
    const s = new Session();
    s.send(command('start'), 'en');
    takeLesson(s);
    s.send(command('lang', 'es'));
    s.send(command('quiz'));
    const q = s.last!.messages.at(-1)!;
    expect(q.kind).toBe('quiz');
    const es = s.course.in('es');
    expect(q.kind === 'quiz' && q.question).toBe(es.items.get(q.kind === 'quiz' ? q.itemId : '')!.question);
    // Due reviews too.
    s.now = new Date(T0.getTime() + 30 * 86_400_000);
    s.send(command('review'));
    const r = s.last!.messages.at(-1)!;
    expect(r).toMatchObject({ kind: 'quiz', heading: expect.stringMatching(/^Repaso/) });
    expect(r.kind === 'quiz' && r.question).toBe(es.items.get(r.kind === 'quiz' ? r.itemId : '')!.question);
  });
});

describe('what you have learned', () => {
  /** The fixture course with its lessons repeated, so that a learner can finish more than a few. */
  function longCourse(copies: number): Course {
    const base = fixtureCourse();
    const clone = (l: Lesson, k: number): Lesson => ({ ...l, id: `${l.id}x${k}`, order: l.order + 10 * k, title: `${l.title} ${k}`, takeaway: `${l.takeaway} (${k})`, items: l.items.map((i) => ({ ...i, id: `${i.id}x${k}`, lessonId: `${l.id}x${k}` })) });
    const modules = base.modules.map((m) => ({ ...m, lessons: [...m.lessons, ...Array.from({ length: copies }, (_, k) => m.lessons.map((l) => clone(l, k + 1))).flat()] }));
    return new Course(modules);
  }
  function finished(ids: string[]): LearnerState {
    const state = newLearnerState(T0, 'en');
    ids.forEach((id, i) => (state.lessons[id] = { status: 'done', lastScore: { correct: 4, total: 4 }, completedAt: new Date(T0.getTime() + i * 60_000).toISOString() }));
    return state;
  }

  it('lists the takeaways of finished lessons in /progress, newest first', () => {
    const s = new Session();
    s.send(command('start'), 'en');
    takeLesson(s);
    s.send(command('progress'));
    const p = s.last!.messages[0]!;
    expect(p.kind).toBe('progress');
    const summary = p.kind === 'progress' ? p.summary : [];
    const heading = summary.findIndex((b) => b.spans[0]?.text === 'What you have learned');
    expect(heading).toBeGreaterThan(-1);
    expect(summary.slice(heading + 1)).toEqual([{ type: 'bullet', spans: [{ text: s.course.lessons.get('l1')!.takeaway! }] }]);
    // Not yet: nothing to gather.
    const fresh = new Session();
    fresh.send(command('progress'));
    expect(fresh.text()).not.toMatch(/What you have learned/);
  });

  it('keeps /progress short on a phone: the last few, and a button for all of them, a page at a time', () => {
    const course = longCourse(3); // 12 lessons
    const ids = course.sequence.map((l) => l.id);
    const s = new Session(course);
    s.state = finished(ids);
    s.send(command('progress'));
    const p = s.last!.messages[0]!;
    const bullets = p.kind === 'progress' ? p.summary.filter((b) => b.type === 'bullet').map((b) => b.spans[0]!.text) : [];
    expect(bullets).toEqual(ids.slice(-PROGRESS_TAKEAWAYS).reverse().map((id) => course.lessons.get(id)!.takeaway));
    s.tap(`All ${ids.length} takeaways`);
    expect(s.text()).toMatch(new RegExp(`^What you have learned \\(1 to ${LEARNED_PAGE} of ${ids.length}\\)`));
    expect(s.text()).toContain(`${course.sequence[0]!.title}: ${course.sequence[0]!.takeaway}`);
    expect(s.last!.messages[0]!.kind === 'text' && s.last!.messages[0]!.text.filter((b) => b.type === 'bullet')).toHaveLength(LEARNED_PAGE);
    s.tap('More');
    expect(s.text()).toMatch(new RegExp(`^What you have learned \\(${LEARNED_PAGE + 1} to ${ids.length} of ${ids.length}\\)`));
    expect(s.choices().map((c) => c.label)).toEqual(['My progress', 'Continue']);
  });
});

describe('the shipped course in French and Spanish', () => {
  const course = loadCourse(LESSONS_DIR);
  const m1 = [...course.lessons.values()].filter((l) => l.moduleId === 'm1').sort((a, b) => a.order - b.order);

  /** Opens a lesson and goes through its cards and its whole quiz, answering with the first option. */
  function take(s: Session, lessonId: string): void {
    s.send(command('start', lessonId));
    for (let guard = 0; guard < 10 && s.last!.messages.at(-1)!.kind === 'card'; guard++) s.first();
    for (let guard = 0; guard < 40 && s.state!.position.kind === 'quiz'; guard++) {
      const last = s.last!.messages.at(-1)!;
      if (last.kind === 'quiz' && last.multiple) {
        s.send(choice(last.choices[0]!.data)); // tick A
        s.send(choice(s.choices().at(-1)!.data)); // submit
      } else s.first();
    }
  }

  it.each(['fr', 'es'] as const)('a learner who picks %s reads the whole of module 1 without an English sentence from it', (lang) => {
    expect(m1.length).toBeGreaterThanOrEqual(5);
    const s = new Session(course);
    s.send(command('start'), 'en');
    s.send(command('lang', lang));
    expect(s.state!.lang).toBe(lang);
    for (const lesson of m1) {
      take(s, lesson.id);
      expect(s.state!.lessons[lesson.id], lesson.id).toMatchObject({ status: 'done' });
    }
    const read = s.text(s.all);
    const translated = course.in(lang);
    for (const lesson of m1) {
      // Proper names the translation keeps in English on purpose (a toolkit's title) are not leaks.
      const keptOnPurpose = englishTexts(translated, lesson.id).join('\n');
      for (const english of englishTexts(course, lesson.id)) {
        // A few strings are the same in every language (SDG 16, EGDI...): only sentences count.
        if (english.split(/\s+/).length < 4 || keptOnPurpose.includes(english)) continue;
        expect(read, `${lesson.id}: ${english}`).not.toContain(english);
      }
      const own = translated.lessons.get(lesson.id)!;
      for (const item of own.items) expect(read, item.id).toContain(item.question);
      expect(read).toContain(own.takeaway!);
    }
  });
});
