/** Telegram rendering rules: escaping, splitting under the limits, keyboards, edits in place. */
import { describe, expect, it } from 'vitest';
import { commandMenus, groupCommands, privateCommands } from '../adapters/telegram/commands.js';
import { escapeHtml, keyboardOf, MAX_MESSAGE_CHARS, renderFeedbackEdit, renderTelegram, RenderError } from '../adapters/telegram/render.js';
import type { Outbound, RichText } from '../src/messages.js';
import { visibleText } from './fakes/telegram-api.js';

/** Checks what Telegram checks: balanced known tags, escaped text. */
function wellFormed(html: string): boolean {
  const stack: string[] = [];
  for (const m of html.matchAll(/<(\/?)([a-z]+)[^>]*>/g)) {
    if (!['b', 'i', 'a'].includes(m[2]!)) return false;
    if (!m[1]) stack.push(m[2]!);
    else if (stack.pop() !== m[2]) return false;
  }
  return stack.length === 0 && !/&(?!amp;|lt;|gt;|quot;)/.test(html);
}

function parts(m: Outbound): string[] {
  const r = renderTelegram(m);
  if (r.type !== 'text') throw new Error(`expected text, got ${r.type}`);
  return r.parts;
}

describe('Telegram rendering', () => {
  it('escapes every lesson- or learner-supplied string, including link targets', () => {
    const text: RichText = [
      { type: 'paragraph', spans: [{ text: 'A <script> & "quotes"', bold: true }, { text: ' see ' }, { text: 'this', href: 'https://example.org/?a=1&b="2"' }] },
      { type: 'bullet', spans: [{ text: '</b> not a tag', italic: true }] },
    ];
    const [html] = parts({ kind: 'text', text });
    expect(html).toBe(
      '<b>A &lt;script&gt; &amp; "quotes"</b> see <a href="https://example.org/?a=1&amp;b=&quot;2&quot;">this</a>\n• <i>&lt;/b&gt; not a tag</i>',
    );
    expect(wellFormed(html!)).toBe(true);
    const [quiz] = parts({ kind: 'quiz', itemId: 'x', heading: 'Q <1>', question: 'Is 1 < 2 & 3 > 2?', options: [{ key: 'A', text: '<yes>' }], multiple: false, choices: [] });
    expect(quiz).toBe('<b>Q &lt;1&gt;</b>\nIs 1 &lt; 2 &amp; 3 &gt; 2?\n\n<b>A.</b> &lt;yes&gt;');
  });

  it('drops links that are not http(s)', () => {
    const [html] = parts({ kind: 'text', text: [{ type: 'paragraph', spans: [{ text: 'x', href: 'javascript:alert(1)' }] }] });
    expect(html).toBe('x');
  });

  it('splits a long card at paragraph boundaries, under the limit, with the buttons on the last part', () => {
    const para = (n: number) => ({ type: 'paragraph' as const, spans: [{ text: `[p${n}] ${'word '.repeat(300)}`, bold: n % 2 === 0 }] });
    const body: RichText = Array.from({ length: 12 }, (_, i) => para(i));
    const r = renderTelegram({ kind: 'card', lessonTitle: 'Long <lesson>', index: 1, total: 2, body, choices: [{ label: 'Next', data: '1|n|l1|0' }] });
    if (r.type !== 'text') throw new Error('expected text');
    expect(r.parts.length).toBeGreaterThan(1);
    for (const p of r.parts) {
      expect(p.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
      expect(wellFormed(p)).toBe(true);
    }
    // Nothing lost, nothing duplicated, in order.
    const shown = r.parts.map(visibleText).join('\n');
    for (let i = 0; i < 12; i++) expect(shown.split(`[p${i}]`).length).toBe(2);
    expect(shown.indexOf('[p3]')).toBeLessThan(shown.indexOf('[p4]'));
    expect(r.parts[0]!.startsWith('<b>Long &lt;lesson&gt;</b> · 1/2')).toBe(true);
    expect(r.keyboard?.inline_keyboard.flat().map((b) => b.text)).toEqual(['Next']);
  });

  it('splits a single paragraph longer than a message inside its spans, keeping tags balanced and entities whole', () => {
    const huge = 'a&b '.repeat(3000) + 'x'.repeat(5000);
    const r = parts({ kind: 'text', text: [{ type: 'paragraph', spans: [{ text: 'Start ' }, { text: huge, bold: true, italic: true }] }] });
    expect(r.length).toBeGreaterThan(2);
    for (const p of r) {
      expect(p.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
      expect(wellFormed(p)).toBe(true);
    }
    expect(r.map(visibleText).join('')).toBe(`Start ${huge}`);
  });

  it('lays out short choices side by side and long ones on their own rows', () => {
    const kb = keyboardOf([
      { label: 'A', data: '1|a|q|0' },
      { label: 'B', data: '1|a|q|1' },
      { label: 'C', data: '1|a|q|2' },
      { label: 'Submit answer', data: '1|s|q' },
      { label: 'Next: A lesson with a rather long title', data: '1|l|l2' },
      { label: 'Menu', data: '1|m' },
    ]);
    expect(kb!.inline_keyboard.map((row) => row.map((b) => b.text))).toEqual([['A', 'B', 'C'], ['Submit answer'], ['Next: A lesson with a rather long title'], ['Menu']]);
    expect(keyboardOf([])).toBeUndefined();
  });

  it('refuses callback data over 64 bytes rather than sending a button Telegram rejects', () => {
    expect(() => keyboardOf([{ label: 'x', data: `1|l|${'é'.repeat(40)}` }])).toThrow(RenderError);
  });

  it('edits an answered question to show the right option, the learner pick and the explanation', () => {
    const edit = renderFeedbackEdit(
      {
        kind: 'feedback',
        correct: false,
        heading: 'Not quite.',
        answer: ['B. Right <B>'],
        answerLabel: 'Answer',
        explanation: 'Because & so.',
        right: [1],
        picked: [0],
        edit: 'source',
        question: 'Pick one',
        options: [
          { key: 'A', text: 'Wrong' },
          { key: 'B', text: 'Right <B>' },
        ],
        choices: [{ label: 'Next question', data: '1|c|q' }],
      },
    );
    expect(edit!.html).toBe('Pick one\n\n❌ <b>A.</b> Wrong\n✅ <b>B.</b> Right &lt;B&gt;\n\n❌ <b>Not quite.</b>\n<i>Because &amp; so.</i>');
    expect(edit!.keyboard?.inline_keyboard).toEqual([[{ text: 'Next question', callback_data: '1|c|q' }]]);
  });

  it('renders feedback sent as a new message with its localised answer label', () => {
    const [html] = parts({
      kind: 'feedback',
      correct: true,
      heading: '¡Correcto!',
      answer: ['A. <x>', 'C. y'],
      answerLabel: 'Respuestas',
      explanation: 'Porque sí.',
      right: [0, 2],
      picked: [0, 2],
      question: 'q',
      options: [],
      choices: [],
    });
    expect(html).toBe('✅ <b>¡Correcto!</b>\nRespuestas: A. &lt;x&gt;; C. y\n\n<i>Porque sí.</i>');
  });

  it('shows notices as toasts (clipped to 200 characters) and data as a document', () => {
    expect(renderTelegram({ kind: 'notice', text: 'x'.repeat(300), reason: 'info' })).toEqual({ type: 'notice', text: `${'x'.repeat(199)}…` });
    expect(renderTelegram({ kind: 'data', filename: 'd.json', json: '{}' })).toEqual({ type: 'document', filename: 'd.json', content: '{}' });
  });

  it('escapes nothing twice: plain text with no specials is unchanged', () => {
    expect(escapeHtml('Lesson one')).toBe('Lesson one');
  });
});

describe('Telegram command menus', () => {
  it('lists the private commands of /help in each language, within Telegram limits', () => {
    for (const menu of commandMenus()) {
      expect(menu.commands.length).toBeGreaterThan(0);
      for (const c of menu.commands) {
        expect(c.command).toMatch(/^[a-z0-9_]{1,32}$/);
        expect(c.description.length).toBeGreaterThan(0);
        expect(c.description.length).toBeLessThanOrEqual(256);
      }
    }
    const en = privateCommands('en');
    expect(en.map((c) => c.command)).toEqual(['start', 'help', 'next', 'menu', 'quiz', 'review', 'progress', 'certificate', 'remind', 'timezone', 'snooze', 'pause', 'resume', 'settings', 'lang', 'link', 'unlink', 'mydata', 'forget', 'stop']);
    expect(en.find((c) => c.command === 'remind')!.description).toBe('A reminder, Monday to Friday (/remind 08:30 daily, /remind off)');
    expect(groupCommands('es')).toEqual([
      { command: 'quiz', description: 'Inicia un cuestionario por equipos' },
      { command: 'leaderboard', description: 'Muestra las puntuaciones' },
      { command: 'schedule', description: 'Programa un cuestionario semanal (por ejemplo: vie 15:00)' },
    ]);
  });
});
