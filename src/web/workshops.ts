/**
 * Workshop pages on PORT:
 *
 * - `/workshops` (trainer): the list and the form that creates a workshop (title, lessons, board language);
 * - `/workshops/:id` (trainer): the control page: how to join (QR code, Telegram deep link, `join CODE`),
 *   the plan, and the buttons that move the room (next, close, reveal, end); live counts;
 * - `/workshops/:id/results.csv` (trainer): every answer of the session;
 * - `/board/:token` (no login; the token is the read link): the projector's board, updated live by
 *   server-sent events (`/board/:token/events`), which the browser's EventSource reconnects by itself.
 *
 * Every script and style is served by the bot (chart.js from its package): no CDN.
 */
import express, { type Express, type Request, type Response } from 'express';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import QRCode from 'qrcode';
import type { Course } from '../content/course.js';
import { isLang, LANGS, type Lang } from '../engine/state.js';
import { checkNewWorkshop, questionNumber, type TrainerEvent } from '../engine/workshop.js';
import type { RichText } from '../messages.js';
import type { WorkshopRuntime } from '../runtime/workshops.js';
import type { WorkshopRecord } from '../store/workshops.js';
import type { TrainerAuth } from './workshop-auth.js';
import { boardTexts, wt, type WorkshopTextKey } from './workshop-texts.js';

export interface WorkshopWebOptions {
  http: Express;
  runtime: WorkshopRuntime;
  course: Course;
  auth: TrainerAuth;
  /** The Telegram bot's username, for the deep link and its QR code. */
  telegramUsername?: string;
  onError: (err: unknown, context: Record<string, unknown>) => void;
  /** How often a board looks at the store for changes made by other processes, in ms (default 1000). */
  pollMs?: number;
}

const require = createRequire(import.meta.url);
const CHART_JS = join(dirname(require.resolve('chart.js')), 'chart.umd.min.js');
const ASSETS = new URL('./assets/', import.meta.url);
const asset = (name: string) => readFileSync(new URL(name, ASSETS), 'utf8');

export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Rich text as HTML (escaped; links only to https). */
export function richHtml(rich: RichText): string {
  let html = '';
  let list = false;
  for (const b of rich) {
    const spans = b.spans
      .map((s) => {
        let h = esc(s.text);
        if (s.bold) h = `<strong>${h}</strong>`;
        if (s.italic) h = `<em>${h}</em>`;
        if (s.href && /^https:\/\//.test(s.href)) h = `<a href="${esc(s.href)}" rel="noreferrer">${h}</a>`;
        return h;
      })
      .join('');
    if (b.type === 'bullet' && !list) (html += '<ul>'), (list = true);
    if (b.type !== 'bullet' && list) (html += '</ul>'), (list = false);
    html += b.type === 'bullet' ? `<li>${spans}</li>` : `<p>${spans}</p>`;
  }
  return list ? `${html}</ul>` : html;
}

function pageLang(req: Request, fallback: Lang = 'en'): Lang {
  const q = typeof req.query.lang === 'string' ? req.query.lang : undefined;
  if (isLang(q)) return q;
  const accepted = (req.headers['accept-language'] ?? '').split(',').map((p) => p.trim().slice(0, 2));
  return accepted.find((l): l is Lang => isLang(l)) ?? fallback;
}

function layout(lang: Lang, title: string, body: string, opts: { board?: boolean; scripts?: string[] } = {}): string {
  return `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><link rel="stylesheet" href="/workshop-assets/workshop.css"></head>
<body class="${opts.board ? 'board' : 'trainer'}">${body}${(opts.scripts ?? []).map((s) => `<script src="${s}"></script>`).join('')}</body></html>`;
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** The join link, its QR code (SVG) and the words to type. */
export async function joinInfo(code: string, telegramUsername?: string): Promise<{ link?: string; qrSvg?: string; words: string }> {
  const words = `join ${code}`;
  if (!telegramUsername) return { words };
  const link = `https://t.me/${telegramUsername}?start=ws-${code}`;
  const qrSvg = await QRCode.toString(link, { type: 'svg', errorCorrectionLevel: 'M', margin: 1, color: { dark: '#000000', light: '#ffffff' } });
  return { link, qrSvg, words };
}

/** Mounts the workshop pages on the shared HTTP app. Returns a stop function (closes live streams). */
export function mountWorkshopPages(o: WorkshopWebOptions): () => void {
  const { http, runtime, course } = o;
  const form = express.urlencoded({ extended: false, limit: '20kb' });

  http.use(['/workshops', '/board', '/workshop-assets'], (_req, res, next) => {
    res.set(SECURITY_HEADERS);
    next();
  });
  http.get('/workshop-assets/chart.umd.min.js', (_req, res) => res.type('application/javascript').set('Cache-Control', 'public, max-age=86400').sendFile(CHART_JS));
  for (const [name, type] of [
    ['workshop.css', 'text/css'],
    ['workshop-board.js', 'application/javascript'],
    ['workshop-control.js', 'application/javascript'],
  ] as const) {
    http.get(`/workshop-assets/${name}`, (_req, res) => res.type(type).set('Cache-Control', 'no-cache').send(asset(name)));
  }

  const trainer = (req: Request, res: Response): boolean => {
    if (o.auth.check(req)) return true;
    const lang = pageLang(req);
    if (req.method === 'GET' && !req.path.endsWith('.csv') && !req.path.endsWith('/events')) res.status(401).send(loginPage(lang, req.originalUrl));
    else res.status(401).json({ error: 'log in first: /workshops' });
    return false;
  };

  function loginPage(lang: Lang, back: string, wrong = false): string {
    return layout(
      lang,
      wt(lang, 'login.title'),
      `<main class="narrow"><h1>${esc(wt(lang, 'login.title'))}</h1>${wrong ? `<p class="error" role="alert">${esc(wt(lang, 'login.wrong'))}</p>` : ''}
<form method="post" action="/workshops/login"><input type="hidden" name="back" value="${esc(back)}">
${o.auth.named ? `<label>${esc(wt(lang, 'login.name'))}<input name="name" autocomplete="username" required></label>` : ''}
<label>${esc(wt(lang, o.auth.named ? 'login.password' : 'login.token'))}<input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">${esc(wt(lang, 'login.submit'))}</button></form></main>`,
    );
  }

  http.post('/workshops/login', form, async (req, res) => {
    const body = req.body as Record<string, string>;
    const back = typeof body.back === 'string' && /^\/workshops(\/[\w-]*)*(\?[\w=&-]*)?$/.test(body.back) ? body.back : '/workshops';
    if (await o.auth.login(req, res, String(body.name ?? ''), String(body.token ?? ''))) return res.redirect(303, back);
    res.status(401).send(loginPage(pageLang(req), back, true));
  });

  // ---- the list and the creation form ----
  const lessonOptions = (lang: Lang, chosen: string[]) =>
    course
      .in(lang)
      .modules.map(
        (m) =>
          `<fieldset><legend>${esc(m.title)}</legend>${m.lessons
            .map((l) => `<label class="check"><input type="checkbox" name="lessons" value="${esc(l.id)}"${chosen.includes(l.id) ? ' checked' : ''}> ${esc(l.title)}</label>`)
            .join('')}</fieldset>`,
      )
      .join('');

  async function listPage(lang: Lang, error?: WorkshopTextKey, values: { title?: string; lessons?: string[] } = {}): Promise<string> {
    const list = await runtime.store.listWorkshops(50);
    const rows = list.length
      ? `<table><thead><tr><th>${esc(wt(lang, 'field.title'))}</th><th>${esc(wt(lang, 'join.code'))}</th><th>${esc(wt(lang, 'list.phase'))}</th></tr></thead><tbody>${list
          .map((w) => `<tr><td><a href="/workshops/${esc(w.id)}?lang=${lang}">${esc(w.state.title)}</a></td><td class="code">${esc(w.code)}</td><td>${esc(wt(lang, `phase.${w.state.phase}`))}</td></tr>`)
          .join('')}</tbody></table>`
      : `<p>${esc(wt(lang, 'list.empty'))}</p>`;
    return layout(
      lang,
      wt(lang, 'page.workshops'),
      `<main><nav class="langs">${LANGS.map((l) => `<a href="?lang=${l}"${l === lang ? ' aria-current="true"' : ''}>${l.toUpperCase()}</a>`).join(' ')}</nav>
<h1>${esc(wt(lang, 'page.workshops'))}</h1>${rows}
<h2>${esc(wt(lang, 'page.new'))}</h2>${error ? `<p class="error" role="alert">${esc(wt(lang, error))}</p>` : ''}
<form method="post" action="/workshops?lang=${lang}" class="create">
<label>${esc(wt(lang, 'field.title'))}<input name="title" maxlength="120" required value="${esc(values.title ?? '')}"></label>
<label>${esc(wt(lang, 'field.lang'))}<select name="lang">${LANGS.map((l) => `<option value="${l}"${l === lang ? ' selected' : ''}>${l.toUpperCase()}</option>`).join('')}</select></label>
<div class="lessons"><p>${esc(wt(lang, 'field.lessons'))}</p>${lessonOptions(lang, values.lessons ?? [])}</div>
<button type="submit">${esc(wt(lang, 'btn.create'))}</button></form></main>`,
    );
  }

  http.get('/workshops', async (req, res) => {
    if (!trainer(req, res)) return;
    res.send(await listPage(pageLang(req)));
  });

  http.post('/workshops', form, async (req, res) => {
    if (!trainer(req, res)) return;
    const lang = pageLang(req);
    const body = req.body as Record<string, string | string[]>;
    const title = typeof body.title === 'string' ? body.title : '';
    const lessons = ([] as string[]).concat(body.lessons ?? []).filter((l) => typeof l === 'string');
    const boardLang = typeof body.lang === 'string' && isLang(body.lang) ? body.lang : lang;
    const problem = checkNewWorkshop(course, { title, lessonIds: lessons, lang: boardLang });
    if (problem) return res.status(400).send(await listPage(lang, problem === 'workshop.error_title' ? 'error.title' : 'error.lessons', { title, lessons }));
    const w = await runtime.create({ title, lessonIds: lessons, lang: boardLang });
    res.redirect(303, `/workshops/${w.id}?lang=${lang}`);
  });

  const load = async (req: Request, res: Response): Promise<WorkshopRecord | undefined> => {
    const w = await runtime.store.getWorkshop(String(req.params.id));
    if (!w) res.status(404).send('No such workshop.');
    return w ?? undefined;
  };

  // ---- the control page ----
  http.get('/workshops/:id', async (req, res) => {
    if (!trainer(req, res)) return;
    const w = await load(req, res);
    if (!w) return;
    const lang = pageLang(req, w.state.lang);
    const join = await joinInfo(w.code, o.telegramUsername);
    const view = course.in(lang);
    const plan = w.state.steps
      .map((s, i) => {
        const label =
          s.kind === 'card'
            ? `${wt(lang, 'control.card')} ${s.card + 1}/${view.lessons.get(s.lessonId)?.cards.length ?? '?'} · ${view.lessons.get(s.lessonId)?.title ?? s.lessonId}`
            : `${wt(lang, 'control.question')} ${questionNumber(w.state, i)} · ${view.items.get(s.itemId)?.question ?? s.itemId}`;
        return `<li${i === w.state.index ? ' class="current" aria-current="step"' : ''}><form method="post" action="/workshops/${esc(w.id)}/action?lang=${lang}"><input type="hidden" name="action" value="go"><input type="hidden" name="index" value="${i}"><button class="link" type="submit"${w.state.phase === 'open' || w.state.phase === 'ended' ? ' disabled' : ''}>${esc(wt(lang, 'control.show'))}</button></form> ${esc(label)}</li>`;
      })
      .join('');
    const button = (action: string, key: WorkshopTextKey, enabled: boolean, cls = '') =>
      `<form method="post" action="/workshops/${esc(w.id)}/action?lang=${lang}"><input type="hidden" name="action" value="${action}"><button type="submit" name="do" class="${cls}" data-action="${action}"${enabled ? '' : ' disabled'}>${esc(wt(lang, key))}</button></form>`;
    const p = w.state.phase;
    const boardUrl = `/board/${w.boardToken}`;
    res.send(
      layout(
        lang,
        w.state.title,
        `<main data-events="/workshops/${esc(w.id)}/events" data-texts="${esc(JSON.stringify(boardTexts(lang)))}">
<p><a href="/workshops?lang=${lang}">← ${esc(wt(lang, 'page.workshops'))}</a></p>
<h1>${esc(w.state.title)}</h1>
<p class="status"><span id="phase">${esc(wt(lang, `phase.${p}`))}</span> · <span id="joined">0</span> ${esc(wt(lang, 'board.joined'))} · <span id="answered"></span></p>
<div class="controls">${button('next', 'control.next', p !== 'open' && p !== 'ended', 'primary')}${button('close', 'control.close', p === 'open')}${button('reveal', 'control.reveal', p === 'open' || p === 'closed')}${button('end', 'control.end', p !== 'ended', 'danger')}</div>
<section class="join"><h2>${esc(wt(lang, 'join.heading'))}</h2>
<p>${esc(wt(lang, 'join.code'))}: <strong class="code">${esc(w.code)}</strong></p>
${join.qrSvg ? `<div class="qr" aria-label="${esc(wt(lang, 'join.scan'))}">${join.qrSvg}</div><p>${esc(wt(lang, 'join.telegram'))}: <a href="${esc(join.link!)}">${esc(join.link!)}</a></p>` : ''}
<p>${esc(wt(lang, 'join.type'))}: <kbd>${esc(join.words)}</kbd></p>
<p>${esc(wt(lang, 'control.board_link'))}: <a id="board-link" href="${esc(boardUrl)}" target="_blank">${esc(wt(lang, 'control.open_board'))}</a></p>
<p><a href="/workshops/${esc(w.id)}/results.csv">${esc(wt(lang, 'control.csv'))}</a></p></section>
<section><h2>${esc(wt(lang, 'control.plan'))}</h2><ol class="plan">${plan}</ol></section></main>`,
        { scripts: ['/workshop-assets/workshop-control.js'] },
      ),
    );
  });

  http.post('/workshops/:id/action', form, async (req, res) => {
    if (!trainer(req, res)) return;
    const body = req.body as Record<string, string>;
    const action = body.action;
    const event: TrainerEvent | undefined =
      action === 'next' || action === 'close' || action === 'reveal' || action === 'end' ? { type: action } : action === 'go' && /^\d{1,4}$/.test(body.index ?? '') ? { type: 'go', index: Number(body.index) } : undefined;
    if (!event) return res.status(400).send('Unknown action: use next, close, reveal, end or go with an index.');
    try {
      await runtime.trainer(String(req.params.id), event);
    } catch (err) {
      if ((err as { code?: string }).code === 'not_found') return res.status(404).send('No such workshop.');
      throw err;
    }
    const lang = typeof req.query.lang === 'string' && isLang(req.query.lang) ? req.query.lang : '';
    res.redirect(303, `/workshops/${encodeURIComponent(String(req.params.id))}${lang ? `?lang=${lang}` : ''}`);
  });

  http.get('/workshops/:id/results.csv', async (req, res) => {
    if (!trainer(req, res)) return;
    const w = await load(req, res);
    if (!w) return;
    res
      .type('text/csv; charset=utf-8')
      .set('Content-Disposition', `attachment; filename="workshop-${w.code}.csv"`)
      .send('\ufeff' + (await runtime.resultsCsv(w)));
  });

  // ---- the board ----
  http.get('/board/:token', async (req, res) => {
    const w = await runtime.store.workshopByBoardToken(String(req.params.token));
    if (!w) return res.status(404).send('No such board.');
    const lang = isLang(String(req.query.lang)) ? (String(req.query.lang) as Lang) : w.state.lang;
    const join = await joinInfo(w.code, o.telegramUsername);
    res.set('Cache-Control', 'no-store').send(
      layout(
        lang,
        w.state.title,
        `<main id="board" data-events="/board/${esc(w.boardToken)}/events?lang=${lang}" data-texts="${esc(JSON.stringify(boardTexts(lang)))}">
<header><h1 id="title">${esc(w.state.title)}</h1><div class="counter"><span id="joined">0</span> <span>${esc(wt(lang, 'board.joined'))}</span></div></header>
<section id="lobby" hidden><div class="join-big"><div class="join-text"><p class="lead">${esc(wt(lang, 'board.waiting'))}</p>
<p>${esc(wt(lang, 'join.type'))}</p><p class="words"><kbd>${esc(join.words)}</kbd></p>
${join.link ? `<p>${esc(wt(lang, 'join.telegram'))}</p><p class="link">${esc(join.link.replace('https://', ''))}</p>` : ''}</div>
${join.qrSvg ? `<div class="qr big" aria-label="${esc(wt(lang, 'join.scan'))}">${join.qrSvg}</div>` : ''}</div></section>
<section id="card" hidden><p class="kicker" id="card-title"></p><div id="card-body" class="card-body"></div></section>
<section id="question" hidden><p class="kicker" id="q-number"></p><h2 id="q-text"></h2>
<div class="q-main"><ol id="q-options" class="options"></ol><div class="chart-box"><canvas id="chart" role="img"></canvas></div></div>
<p class="answered" id="q-answered"></p><div id="explanation" class="explanation" hidden></div></section>
<section id="end" hidden><h2>${esc(wt(lang, 'board.podium'))}</h2><ol id="podium" class="podium"></ol>
<h2>${esc(wt(lang, 'board.hardest'))}</h2><ol id="hardest" class="hardest"></ol><p class="lead">${esc(wt(lang, 'board.ended'))}</p></section>
<footer><span class="code">${esc(join.words)}</span><span id="conn" hidden>${esc(wt(lang, 'board.reconnecting'))}</span></footer></main>`,
        { board: true, scripts: ['/workshop-assets/chart.umd.min.js', '/workshop-assets/workshop-board.js'] },
      ),
    );
  });

  // ---- live updates (server-sent events) ----
  const streams = new BoardStreams(runtime, o.pollMs ?? 1000, o.onError);
  http.get('/board/:token/events', async (req, res) => {
    const w = await runtime.store.workshopByBoardToken(String(req.params.token));
    if (!w) return res.status(404).end();
    const lang = isLang(String(req.query.lang)) ? (String(req.query.lang) as Lang) : w.state.lang;
    streams.open(w.id, lang, req, res);
  });
  http.get('/workshops/:id/events', async (req, res) => {
    if (!trainer(req, res)) return;
    const w = await load(req, res);
    if (!w) return;
    streams.open(w.id, pageLang(req, w.state.lang), req, res);
  });
  return () => streams.close();
}

/** The boards watching each workshop in this process, and the view each last got. */
class BoardStreams {
  private readonly watched = new Map<string, { clients: Set<{ res: Response; lang: Lang; last: string }>; timer: NodeJS.Timeout; pending?: NodeJS.Timeout | undefined }>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly runtime: WorkshopRuntime,
    private readonly pollMs: number,
    private readonly onError: (err: unknown, context: Record<string, unknown>) => void,
  ) {
    // A change in this process is shown at once (within 100 ms, so that a burst of answers is one update).
    this.unsubscribe = runtime.subscribe((id) => {
      const w = this.watched.get(id);
      if (w && !w.pending) w.pending = setTimeout(() => ((w.pending = undefined), void this.push(id)), 100);
    });
  }

  open(id: string, lang: Lang, req: Request, res: Response): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 1000\n\n');
    let w = this.watched.get(id);
    if (!w) {
      // Other processes' changes (answers they took, a restart) are seen by looking at the store.
      const timer = setInterval(() => void this.push(id), this.pollMs);
      timer.unref();
      w = { clients: new Set(), timer };
      this.watched.set(id, w);
    }
    const client = { res, lang, last: '' };
    w.clients.add(client);
    req.on('close', () => {
      const x = this.watched.get(id);
      if (!x) return;
      x.clients.delete(client);
      if (!x.clients.size) {
        clearInterval(x.timer);
        if (x.pending) clearTimeout(x.pending);
        this.watched.delete(id);
      }
    });
    void this.push(id);
  }

  private async push(id: string): Promise<void> {
    const w = this.watched.get(id);
    if (!w) return;
    try {
      const record = await this.runtime.store.getWorkshop(id);
      if (!record) return;
      const byLang = new Map<Lang, string>();
      for (const c of w.clients) {
        if (!byLang.has(c.lang)) byLang.set(c.lang, JSON.stringify(await this.runtime.board(record, c.lang)));
        const data = byLang.get(c.lang)!;
        if (data === c.last) continue;
        c.last = data;
        c.res.write(`data: ${data}\n\n`);
      }
    } catch (err) {
      this.onError(err, { where: 'workshop-board' });
    }
  }

  close(): void {
    this.unsubscribe();
    for (const w of this.watched.values()) {
      clearInterval(w.timer);
      if (w.pending) clearTimeout(w.pending);
      for (const c of w.clients) c.res.end();
    }
    this.watched.clear();
  }
}
