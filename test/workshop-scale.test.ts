/**
 * A full room: 300 participants on Telegram (the local fake, through grammY) join, get the
 * question and answer it within seconds; some tap twice. Every answer is counted once, each participant's own review card is written,
 * and the board's live stream ends on the right count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TgUser } from './fakes/telegram-api.js';
import { Room, waitFor } from './workshop-harness.js';

const N = 300;
const people: TgUser[] = Array.from({ length: N }, (_, i) => ({ id: 50_000 + i, is_bot: false, first_name: `P${i}`, language_code: ['en', 'fr', 'es'][i % 3]! }));
let room: Room;

beforeAll(async () => {
  room = await new Room({ channels: {}, unpaced: true }).start();
}, 30_000);
afterAll(async () => {
  await room?.stop();
});

/** Reads the board's server-sent events until one satisfies `done`; returns it. */
async function boardUntil(url: string, done: (v: { joined: number; question?: { answered: number; options: { count: number }[] } }) => boolean) {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  const reader = res.body!.getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) throw new Error('the board stream ended');
      buffer += new TextDecoder().decode(value);
      let i: number;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const chunk = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const data = chunk.split('\n').find((l) => l.startsWith('data: '));
        if (!data) continue;
        const v = JSON.parse(data.slice(6));
        if (done(v)) return v;
      }
    }
  } finally {
    ac.abort();
  }
}

describe('a room of 300 on Telegram', () => {
  it('counts every answer once and the board ends on the right count', async () => {
    const ws = await room.createWorkshop('Plenary', ['l1'], 'en');
    const events = ws.board.replace('/board/', '/board/') + '/events';

    const joins = people.map((p) => room.telegram.message(p, `/start ws-${ws.code}`));
    room.telegram.push(...joins);
    await room.telegram.handled(joins.at(-1)!.update_id, 60_000);
    // Updates are acknowledged once in the durable inbox and applied just after: wait for the joins.
    await waitFor(async () => (await room.app.workshops.store.countParticipants(ws.id)) === N, 'all 300 joined', 60_000);

    await room.act(ws.id, 'go', 3); // the first question
    const questionOf = (p: TgUser) => room.telegram.sentTo(p.id).find((m) => m.message.reply_markup?.inline_keyboard.flat().some((b) => b.callback_data?.startsWith('1|w|')));
    await waitFor(() => people.every((p) => questionOf(p)), 'the question to reach all 300', 60_000);

    // Everyone answers at once; 30 tap twice (another option).
    const taps = people.map((p, i) => room.telegram.tap(p, questionOf(p)!, questionOf(p)!.message.reply_markup!.inline_keyboard.flat()[i % 3]!.text));
    const second = people.slice(0, 30).map((p, i) => room.telegram.tap(p, questionOf(p)!, questionOf(p)!.message.reply_markup!.inline_keyboard.flat()[(i + 1) % 3]!.text));
    room.telegram.push(...taps, ...second);
    await room.telegram.handled(second.at(-1)!.update_id, 60_000);

    await waitFor(() => room.telegram.callsOf('answerCallbackQuery').length >= N + second.length, 'every tap answered', 60_000);
    const tally = await room.app.workshops.store.tallyWorkshopStep(ws.id, 3, 3);
    expect(tally.answered).toBe(N);
    expect(tally.counts).toEqual([100, 100, 100]);
    // The board's stream shows the same count (a fresh connection gets the current view at once).
    const view = await boardUntil(events, (v) => v.question?.answered === N);
    expect(view.joined).toBe(N);
    expect(view.question!.options.map((o: { count: number }) => o.count)).toEqual([100, 100, 100]);
    // Every participant has their own review card for the item, written once.
    const cards = await Promise.all(people.map((p) => room.app.bot.store.getLearner({ channel: 'telegram', userId: String(p.id) })));
    expect(cards.every((c) => c!.state.reviews['l1-q1']?.seen === 1)).toBe(true);
    // The second taps were refused, and nothing more is counted afterwards.
    await waitFor(() => room.telegram.callsOf('answerCallbackQuery').filter((c) => /already|déjà|Ya respondió/.test(String(c.payload.text))).length >= 30, 'the 30 refusals', 30_000);
    expect(room.telegram.callsOf('answerCallbackQuery').filter((c) => /already|déjà|Ya respondió/.test(String(c.payload.text))).length).toBe(30);
    await room.act(ws.id, 'close');
    expect((await room.app.workshops.store.tallyWorkshopStep(ws.id, 3, 3)).answered).toBe(N);
  }, 180_000);
});
