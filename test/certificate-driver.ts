/**
 * A learner driven through the runtime by button data, language-independently: finish lessons with
 * chosen answers, ask for a certificate, read what came back.
 */
import { correctIndices } from '../src/content/course.js';
import { decodeAction, encodeAction, type Action } from '../src/engine/actions.js';
import type { Channel, Inbound, InboundEvent, Outbound } from '../src/messages.js';
import { toPlainText } from '../src/messages.js';
import { choice, command, fixtureCourse, inbound, text } from './helpers.js';

export interface Handler {
  handle(i: Inbound): Promise<Outbound[]>;
}

export class Learner {
  last: Outbound[] = [];
  constructor(
    private readonly bot: Handler,
    readonly user: string,
    readonly opts: { channel?: Channel; lang?: string } = {},
  ) {}

  async send(event: InboundEvent): Promise<Outbound[]> {
    this.last = await this.bot.handle(inbound(event, { user: this.user, ...(this.opts.channel ? { channel: this.opts.channel } : {}), ...(this.opts.lang ? { lang: this.opts.lang } : {}) }));
    return this.last;
  }

  command(name: string, args = ''): Promise<Outbound[]> {
    return this.send(command(name, args));
  }

  say(t: string): Promise<Outbound[]> {
    return this.send(text(t));
  }

  act(a: Action): Promise<Outbound[]> {
    return this.send(choice(encodeAction(a)));
  }

  /** The actions on the last messages' buttons. */
  actions(): Action[] {
    return this.last.flatMap((m) => ('choices' in m ? (m.choices ?? []) : [])).map((c) => decodeAction(c.data)!);
  }

  /** Taps the first button whose action matches. */
  async tap(match: (a: Action) => boolean): Promise<Outbound[]> {
    const a = this.actions().find(match);
    if (!a) throw new Error(`no such button among ${JSON.stringify(this.actions())}`);
    return this.act(a);
  }

  text(messages = this.last): string {
    return messages.map((m) => (m.kind === 'text' ? toPlainText(m.text) : m.kind === 'notice' ? m.text : m.kind === 'file' ? m.caption : '')).join('\n');
  }

  /** Answers the open quiz (a review, a practice quiz) to its end, every item right. */
  async finishQuiz(): Promise<void> {
    const course = fixtureCourse().in('en');
    for (let guard = 0; guard < 100; guard++) {
      const shown = this.last.find((m) => m.kind === 'quiz' || m.kind === 'feedback');
      if (!shown) return;
      if (shown.kind === 'feedback') {
        await this.tap((a) => a.type === 'continue');
        continue;
      }
      const item = course.items.get(shown.itemId)!;
      const correct = correctIndices(item);
      if (item.type === 'multiple') {
        for (const option of correct) await this.act({ type: 'answer', itemId: item.id, option });
        await this.act({ type: 'submit', itemId: item.id });
      } else await this.act({ type: 'answer', itemId: item.id, option: correct[0]! });
    }
    throw new Error('the quiz did not end');
  }

  /** Takes a lesson from its first card to its score; `right(i)` says whether to answer item i right. */
  async finishLesson(lessonId: string, right: (index: number) => boolean = () => true): Promise<void> {
    const course = fixtureCourse().in('en');
    const lesson = course.lessons.get(lessonId)!;
    await this.act({ type: 'lesson', lessonId });
    for (let guard = 0; guard < 100; guard++) {
      const shown = this.last.find((m) => m.kind === 'card' || m.kind === 'quiz' || m.kind === 'feedback');
      if (!shown) return;
      if (shown.kind === 'card') await this.tap((a) => a.type === 'next_card');
      else if (shown.kind === 'feedback') await this.tap((a) => a.type === 'continue');
      else {
        const index = lesson.items.findIndex((i) => i.id === shown.itemId);
        const item = lesson.items[index]!;
        const correct = correctIndices(item);
        const wrong = item.options.map((_, i) => i).filter((i) => !correct.includes(i));
        const picks = right(index) ? correct : [wrong[0]!];
        if (item.type === 'multiple') {
          for (const option of picks) await this.act({ type: 'answer', itemId: item.id, option });
          await this.act({ type: 'submit', itemId: item.id });
        } else await this.act({ type: 'answer', itemId: item.id, option: picks[0]! });
      }
    }
    throw new Error(`lesson ${lessonId} did not end`);
  }
}
