/**
 * Workshop mode end to end: a trainer creates a session from the web page and runs it; participants
 * on Telegram, Slack and Teams (their local fakes, driven through the real SDKs) and the console
 * join, get the cards and questions in their own language, answer three questions and see the
 * reveal; the board, in a real headless browser (Debian's chromium), shows the counts and bars
 * change as answers arrive, then the podium. Screenshots at projector width go to
 * test-output/workshop/ (gitignored). Afterwards the answers are the participants' own reviews.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TgUser } from './fakes/telegram-api.js';
import { ADMIN_TOKEN, Room, waitFor } from './workshop-harness.js';

const SHOTS = fileURLToPath(new URL('../test-output/workshop/', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

const ana: TgUser = { id: 3001, is_bot: false, first_name: 'Ana', language_code: 'fr' };
const ben: TgUser = { id: 3002, is_bot: false, first_name: 'Ben', language_code: 'en' };
const SLACK_USER = 'UWS1';
const teo = { id: '29:teo', name: 'Teo' };

/* The board's script runs in the browser: these are its globals, as the page's evaluate sees them. */
interface El {
  getAttribute(name: string): string | null;
  textContent: string | null;
  innerText: string;
}
declare const document: { getElementById(id: string): El };
declare const window: { Chart: { getChart(c: El): { data: { datasets: { data: number[] }[] } } | undefined } };

let room: Room;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  room = await new Room().start();
  room.slack.users.set(SLACK_USER, { id: SLACK_USER, name: 'sam', displayName: 'Sam', locale: 'en-US' });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await room?.stop();
});

/** The board's numbers as the page shows them (data attributes its script sets) and the chart's bars. */
async function boardState(p: Page) {
  return p.evaluate(() => {
    const main = document.getElementById('board')!;
    const chart = window.Chart.getChart(document.getElementById('chart'));
    return {
      section: main.getAttribute('data-section'),
      phase: main.getAttribute('data-phase'),
      answered: main.getAttribute('data-answered'),
      counts: main.getAttribute('data-counts'),
      bars: chart ? chart.data.datasets[0]!.data.join(',') : null,
      joined: document.getElementById('joined')!.textContent,
      text: main.innerText,
    };
  });
}

describe('a workshop session, end to end', () => {
  it('refuses the trainer pages without the token, and the board without its link', async () => {
    expect((await fetch(`${room.base}/workshops`)).status).toBe(401);
    expect((await fetch(`${room.base}/workshops`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await fetch(`${room.base}/board/not-a-token`)).status).toBe(404);
    // The login form sets a session cookie that opens the pages.
    const login = await fetch(`${room.base}/workshops/login`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ token: ADMIN_TOKEN, back: '/workshops' }) });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).not.toContain(ADMIN_TOKEN);
    expect((await fetch(`${room.base}/workshops`, { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(200);
    // A workshop needs a title and a lesson with questions.
    const bad = await room.trainerFetch('/workshops', { method: 'POST', body: new URLSearchParams({ title: '' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(bad.status).toBe(400);
  });

  it('runs a room on four channels: join, cards, three questions, reveals, podium, results and reviews', async () => {
    const ws = await room.createWorkshop('Kigali, day 1', ['l1'], 'en');
    expect(ws.code).toMatch(/^[A-Z2-9]{6}$/);
    const control = await (await room.trainerFetch(`/workshops/${ws.id}`)).text();
    expect(control).toContain(`https://t.me/digit4sd_test_bot?start=ws-${ws.code}`);
    expect(control).toContain(`join ${ws.code}`);
    expect(control).toMatch(/<svg[^>]*>.*<path/s); // the QR code, drawn server-side

    // The board opens in the lobby with the join instructions.
    await page.goto(ws.board);
    await page.waitForSelector('#board[data-section="lobby"]');
    expect((await boardState(page)).text).toContain(`join ${ws.code}`);
    await page.screenshot({ path: `${SHOTS}board-1-lobby.png` });

    // Participants join from four channels, each in their own language.
    await room.tgSend(ana, `/start ws-${ws.code}`);
    // Replies leave from the durable outbox after the update is acknowledged: wait for them.
    await waitFor(() => room.telegram.sentTo(ana.id).some((m) => (m.message.text ?? '').includes('Vous avez rejoint l’atelier')), 'Ana’s join reply in French');
    await room.tgSend(ben, `join ${ws.code.toLowerCase()}`);
    await waitFor(() => room.telegram.sentTo(ben.id).some((m) => (m.message.text ?? '').includes('You joined the workshop')), 'Ben’s join reply');
    await room.slackSay(SLACK_USER, `join ${ws.code}`);
    await waitFor(() => room.slackTo(SLACK_USER).some((c) => String(c.args.text ?? '').includes('You joined')), 'Slack join reply');
    await room.teamsSay(teo, `join ${ws.code}`);
    await waitFor(() => room.teamsTo(teo).some((c) => room.teamsText(c).includes('Se ha unido al taller')), 'Teams join reply');
    await room.consoleLine(`join ${ws.code}`);
    await waitFor(() => room.consoleOut.includes('You joined the workshop'), 'the console’s join reply');
    await waitFor(async () => (await boardState(page)).joined === '5', 'the board to count 5 joined');

    // A card for everyone.
    await room.act(ws.id, 'next');
    await page.waitForSelector('#board[data-section="card"]');
    await waitFor(() => room.telegram.sentTo(ana.id).some((m) => (m.message.text ?? '').includes('1/3')), 'the card on Telegram');
    await page.screenshot({ path: `${SHOTS}board-2-card.png` });

    const tgQuestions = (u: TgUser) => room.telegram.sentTo(u.id).filter((m) => m.message.reply_markup?.inline_keyboard.flat().some((b) => b.callback_data?.startsWith('1|w|')));
    const slackQuestions = () => room.slackTo(SLACK_USER).filter((c) => room.slackButtons(c).some((b) => b.value.startsWith('1|w|')));
    const teamsQuestions = () => room.teamsTo(teo).filter((c) => room.teamsActions(c).some((a) => a.d.startsWith('1|w|')));

    // Three questions (the plan's steps 3, 4 and 5 after the lesson's three cards).
    const rights: Record<string, number> = { ana: 0, ben: 0, sam: 0, teo: 0, me: 0 };
    for (const [n, step] of [
      [1, 3],
      [2, 4],
      [3, 5],
    ] as const) {
      if (n === 1) await room.act(ws.id, 'go', step);
      else await room.act(ws.id, 'next');
      await page.waitForSelector(`#board[data-phase="open"]`);
      await waitFor(() => tgQuestions(ana).length === n && tgQuestions(ben).length === n && slackQuestions().length === n && teamsQuestions().length === n, `question ${n} on every channel`);
      await waitFor(() => room.consoleOut.split('question').length > 1 && /1\)|\[1\]|1\./.test(room.consoleOut), 'the question on the console');
      expect(tgQuestions(ana).at(-1)!.message.text).toMatch(/question \d sur 3/); // French for Ana
      expect((await boardState(page)).answered).toBe('0');

      // Answers arrive one by one; the board's count and bars follow each.
      const q = tgQuestions(ana).at(-1)!;
      const labels = q.message.reply_markup!.inline_keyboard.flat().map((b) => b.text);
      room.telegram.push(room.telegram.tap(ana, q, labels[0]!));
      await waitFor(async () => (await boardState(page)).answered === '1', 'one answer on the board', 5000);
      expect((await boardState(page)).bars).toBe((await boardState(page)).counts);
      const afterOne = (await boardState(page)).bars;
      if (n === 1) await page.screenshot({ path: `${SHOTS}board-3-first-answer.png` });

      room.telegram.push(room.telegram.tap(ben, tgQuestions(ben).at(-1)!, tgQuestions(ben).at(-1)!.message.reply_markup!.inline_keyboard.flat()[1]!.text));
      await room.slackTap(SLACK_USER, slackQuestions().at(-1)!, room.slackButtons(slackQuestions().at(-1)!)[0]!.label);
      await room.teamsTap(teo, teamsQuestions().at(-1)!, room.teamsActions(teamsQuestions().at(-1)!)[1]!.title);
      await room.consoleLine('1');
      await waitFor(async () => (await boardState(page)).answered === '5', 'five answers on the board', 5000);
      const s = await boardState(page);
      expect(s.bars).not.toBe(afterOne);
      expect(s.bars!.split(',').map(Number).reduce((a, b) => a + b, 0)).toBe(5);
      expect(s.text).toContain('5 of 5 answered');
      if (n === 1) await page.screenshot({ path: `${SHOTS}board-4-answers.png` });

      // A second tap is refused and not counted.
      const tap2 = room.telegram.tap(ana, q, labels[1]!);
      room.telegram.push(tap2);
      await waitFor(() => room.telegram.callsOf('answerCallbackQuery').some((c) => String(c.payload.callback_query_id) === tap2.callback_query!.id && String(c.payload.text).includes('déjà répondu')), 'the refusal of a second answer');
      expect((await room.app.workshops.store.tallyWorkshopStep(ws.id, step, labels.length)).answered).toBe(5);

      // Close, then reveal: everyone sees the answer and the explanation.
      await room.act(ws.id, 'close');
      await page.waitForSelector('#board[data-phase="closed"]');
      await room.act(ws.id, 'reveal');
      await page.waitForSelector('#board[data-phase="revealed"]');
      await page.waitForSelector('#q-options li.right');
      expect(await page.isVisible('#explanation')).toBe(true);
      if (n === 1) await page.screenshot({ path: `${SHOTS}board-5-reveal.png` });
      await waitFor(() => room.telegram.sentTo(ana.id).some((m) => /Bonne réponse|Pas tout à fait/.test(m.message.text ?? '') && m.message.message_id > q.message.message_id), 'the reveal on Telegram');
      await waitFor(() => room.teamsTo(teo).filter((c) => /¡Correcto!|No del todo/.test(room.teamsText(c))).length === n, 'the reveal on Teams');
      await waitFor(() => room.slackTo(SLACK_USER).filter((c) => /Right!|Not quite/.test(JSON.stringify(c.args))).length >= n, 'the reveal on Slack');
      const answers = await room.app.workshops.store.listWorkshopAnswers(ws.id);
      for (const a of answers.filter((x) => x.step === step)) {
        const who = a.learner.channel === 'telegram' ? (a.learner.userId === String(ana.id) ? 'ana' : 'ben') : a.learner.channel === 'slack' ? 'sam' : a.learner.channel === 'teams' ? 'teo' : 'me';
        if (a.correct) rights[who]! += 1;
      }
    }

    // The end: the podium and the hardest items, on the board and in each chat.
    await room.act(ws.id, 'next');
    await page.waitForSelector('#board[data-section="end"]');
    const podium = await page.$$eval('#podium li .name', (els) => els.map((e) => e.textContent));
    expect(podium).toHaveLength(3);
    const best = Math.max(...Object.values(rights));
    expect(await page.$$eval('#podium li.place-1 .score', (els) => els[0]!.textContent)).toContain(String(best));
    expect(await page.$$eval('#hardest li', (els) => els.length)).toBeGreaterThan(0);
    await page.screenshot({ path: `${SHOTS}board-6-podium.png` });
    await waitFor(() => room.telegram.sentTo(ana.id).some((m) => (m.message.text ?? '').includes('est terminé')), 'the end on Telegram');

    // The results, as CSV: one row per answer.
    const csv = await (await room.trainerFetch(`/workshops/${ws.id}/results.csv`)).text();
    const lines = csv.replace(/^\ufeff/, '').trim().split('\r\n');
    expect(lines[0]).toBe('step,question,item,participant,channel,option,correct,answered_at');
    expect(lines).toHaveLength(1 + 15);
    expect(csv).toContain(',Ana,telegram,');

    // The programme dashboard lists the session, with its participants and answers, linked to its pages.
    const adminLogin = await fetch(`${room.base}/admin/login`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ password: ADMIN_TOKEN }) });
    expect(adminLogin.status).toBe(303);
    const adminPage = await (await fetch(`${room.base}/admin/workshops`, { headers: { cookie: adminLogin.headers.get('set-cookie')!.split(';')[0]! } })).text();
    expect(adminPage).toContain(`href="/workshops/${ws.id}?lang=en">Kigali, day 1</a>`);
    expect(adminPage).toContain(`href="/workshops/${ws.id}/results.csv">15</a>`);
    expect(adminPage).toMatch(/Session over/);

    // After the room: Ana's answers are her own review cards; a day later /review serves them.
    const record = await room.app.bot.store.getLearner({ channel: 'telegram', userId: String(ana.id) });
    expect(Object.keys(record!.state.reviews).sort()).toEqual(['l1-q1', 'l1-q2', 'l1-q4']);
    room.clock.advance(5 * 86_400_000);
    const before = room.telegram.sentTo(ana.id).length;
    await room.tgSend(ana, '/review');
    await waitFor(() => room.telegram.sentTo(ana.id).slice(before).some((m) => m.message.reply_markup?.inline_keyboard.length), 'a review question');
    const review = room.telegram.sentTo(ana.id).slice(before).find((m) => m.message.reply_markup?.inline_keyboard.length)!;
    expect(review.message.reply_markup?.inline_keyboard.length).toBeGreaterThan(0);
    expect(review.message.text).toMatch(/Révision/);
    expect(room.errors).toEqual([]);
  }, 120_000);
});
