/**
 * The dashboard at `/admin`: login, the pages, CSV exports, the lesson source viewer and the
 * assets (styles, the chart library and the page script, all served by the bot itself: no CDN).
 * Read-only: nothing here changes a learner. Mounted on the bot's one HTTP app:
 *
 * ```ts
 * http.use('/admin', createAdminApp({ store, course, login: config.admin, now }));
 * ```
 */
import type { WorkshopStore } from '../store/workshops.js';
import express, { type Express, type Request, type Response } from 'express';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { Course } from '../content/course.js';
import { LANGS, isLang, type Lang } from '../engine/state.js';
import { LANGUAGE_NAMES } from '../engine/i18n.js';
import { countryName } from '../engine/profile.js';
import type { DashboardFilter, DashboardReads } from '../store/dashboard.js';
import type { Channel } from '../messages.js';
import { checkLogin, LoginThrottle, Sessions, type AdminLogin, type ThrottleOptions } from './auth.js';
import { PAGES, PAGE_PATHS, PAGE_TITLES, buildPage, escapeHtml, toCsv, type Block, type ChartSpec, type PageContext, type PageModel, type PageName, type Table } from './pages.js';
import { filterOptions } from './read-models.js';
import { wt, type WebTextKey } from './texts.js';

export interface AdminOptions {
  store: DashboardReads;
  course: Course;
  /** Trainers' workshops, listed on their own page. */
  workshops?: WorkshopStore;
  login: AdminLogin;
  now?: () => Date;
  /** Express "trust proxy" for the client address and HTTPS behind a proxy. */
  trustProxy?: number | boolean | string;
  throttle?: ThrottleOptions;
  /** Days shown when no period is chosen. */
  defaultDays?: number;
  /**
   * How long a page's numbers are served as they are for the same filters (CSV exports of what was
   * just shown, several trainers opening the same view), in seconds; older ones, up to 30 minutes,
   * are served while fresh ones are computed. Default 60; 0 turns caching off.
   */
  cacheSeconds?: number;
  /** Reports errors of background refreshes (a request's own errors go to the HTTP server's error handler). */
  onError?: (err: unknown, context: Record<string, unknown>) => void;
}

const COOKIE = 'digit4sd_admin';
/** The channels a filter may name (not imported from the MongoDB schemas: mongoose loads only when MONGODB_URI is set). */
const CHANNELS = ['console', 'telegram', 'slack', 'teams'] as const satisfies readonly Channel[];
const ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url));
const CHART_JS = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
};

const DAY = 86_400_000;
const dateString = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'dates are YYYY-MM-DD')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)), 'not a date');
const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const querySchema = z.object({
  channel: z.preprocess(blankToUndefined, z.enum(CHANNELS).optional()),
  lang: z.preprocess(blankToUndefined, z.enum(LANGS).optional()),
  country: z.preprocess(blankToUndefined, z.string().regex(/^[A-Z]{2}$/, 'a country is a two-letter code').optional()),
  org: z.preprocess(blankToUndefined, z.string().max(80).optional()),
  from: z.preprocess(blankToUndefined, dateString.optional()),
  to: z.preprocess(blankToUndefined, dateString.optional()),
});

interface ParsedQuery {
  filter: DashboardFilter;
  /** The query as given (for links and the form). */
  params: Record<string, string>;
  from: string;
  to: string;
}

function parseQuery(q: Request['query'], now: Date, defaultDays: number): ParsedQuery | { error: string } {
  const raw = Object.fromEntries(Object.entries(q).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
  const parsed = querySchema.safeParse(raw);
  if (!parsed.success) return { error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  const p = parsed.data;
  const today = new Date(Math.floor(now.getTime() / DAY) * DAY);
  const to = p.to ? new Date(Date.parse(`${p.to}T00:00:00Z`) + DAY) : new Date(today.getTime() + DAY);
  const from = p.from ? new Date(`${p.from}T00:00:00Z`) : new Date(to.getTime() - defaultDays * DAY);
  if (from >= to) return { error: 'from: must be before to' };
  if (to.getTime() - from.getTime() > 3 * 366 * DAY) return { error: 'from: the period is at most three years' };
  const filter: DashboardFilter = {
    from,
    to,
    ...(p.channel ? { channel: p.channel } : {}),
    ...(p.lang ? { lang: p.lang } : {}),
    ...(p.country ? { country: p.country } : {}),
    ...(p.org ? { org: p.org } : {}),
  };
  const params: Record<string, string> = {};
  for (const k of ['channel', 'lang', 'country', 'org'] as const) if (p[k]) params[k] = p[k]!;
  const iso = (d: Date) => d.toISOString().slice(0, 10);
  return { filter, params, from: iso(from), to: iso(new Date(to.getTime() - DAY)) };
}

function pageLang(req: Request): Lang {
  // `ui` is the pages' language; `lang` is the learners' language filter.
  const q = typeof req.query.ui === 'string' ? req.query.ui : undefined;
  if (isLang(q)) return q;
  const accepted = req.acceptsLanguages(...LANGS);
  return isLang(accepted || undefined) ? (accepted as Lang) : 'en';
}

function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

function queryString(params: Record<string, string>): string {
  const s = new URLSearchParams(params).toString();
  return s ? `?${s}` : '';
}

function layout(lang: Lang, title: string, body: string, opts: { nav?: { current: PageName | null; query: string }; charts?: ChartSpec[] } = {}): string {
  const nav = opts.nav
    ? `<nav class="tabs" aria-label="${escapeHtml(wt(lang, 'app.brand'))}">${PAGES.map(
        (p) => `<a href="${PAGE_PATHS[p]}${opts.nav!.query}"${p === opts.nav!.current ? ' aria-current="page"' : ''}>${escapeHtml(wt(lang, PAGE_TITLES[p]))}</a>`,
      ).join('')}</nav>`
    : '';
  const logout = opts.nav
    ? `<form method="post" action="/admin/logout" class="logout"><button type="submit">${escapeHtml(wt(lang, 'nav.logout'))}</button></form>`
    : '';
  // Changing the language keeps the filters.
  const withUi = (l: Lang) => {
    const params = new URLSearchParams(opts.nav?.query.slice(1) ?? '');
    params.set('ui', l);
    return `?${params.toString()}`;
  };
  const langs = LANGS.map((l) => (l === lang ? `<strong>${l.toUpperCase()}</strong>` : `<a href="${escapeHtml(withUi(l))}" hreflang="${l}">${l.toUpperCase()}</a>`)).join(' ');
  const charts = opts.charts?.length
    ? `<script type="application/json" id="chart-specs">${JSON.stringify(opts.charts).replace(/</g, '\\u003c')}</script><script src="/admin/assets/chart.umd.min.js"></script><script src="/admin/assets/admin.js"></script>`
    : '';
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · ${escapeHtml(wt(lang, 'app.title'))}</title>
<link rel="stylesheet" href="/admin/assets/admin.css">
</head>
<body>
<header class="top"><div class="brand">${escapeHtml(wt(lang, 'app.brand'))}</div><div class="langs">${langs}</div>${logout}</header>
${nav}
<main>
${body}
</main>
${charts}
</body>
</html>`;
}

function filterForm(lang: Lang, q: ParsedQuery, options: { countries: string[]; orgs: string[] }): string {
  const select = (name: string, label: WebTextKey, values: { value: string; label: string }[], current: string | undefined) =>
    `<label><span>${escapeHtml(wt(lang, label))}</span><select name="${name}"><option value="">${escapeHtml(wt(lang, 'filter.any'))}</option>${values
      .map((v) => `<option value="${escapeHtml(v.value)}"${v.value === current ? ' selected' : ''}>${escapeHtml(v.label)}</option>`)
      .join('')}</select></label>`;
  return `<form class="filters" method="get">
${select('channel', 'filter.channel', CHANNELS.map((c) => ({ value: c, label: c.charAt(0).toUpperCase() + c.slice(1) })), q.params.channel)}
${select('lang', 'filter.lang', LANGS.map((l) => ({ value: l, label: LANGUAGE_NAMES[l] })), q.params.lang)}
${select('country', 'filter.country', options.countries.map((c) => ({ value: c, label: countryName(c, lang) })), q.params.country)}
${select('org', 'filter.org', options.orgs.map((o) => ({ value: o, label: o })), q.params.org)}
<label><span>${escapeHtml(wt(lang, 'filter.from'))}</span><input type="date" name="from" value="${q.from}"></label>
<label><span>${escapeHtml(wt(lang, 'filter.to'))}</span><input type="date" name="to" value="${q.to}"></label>
<input type="hidden" name="ui" value="${lang}">
<button type="submit">${escapeHtml(wt(lang, 'filter.apply'))}</button>
</form>`;
}

function renderTable(t: Table<never>, csvHref: string, lang: Lang): string {
  const head = `<div class="table-head"><h2>${escapeHtml(t.title)}</h2><a class="csv" href="${escapeHtml(csvHref)}" download>${escapeHtml(wt(lang, 'csv'))}</a></div>`;
  if (!t.rows.length && t.empty) return `<section class="card" data-table="${t.name}">${head}<p class="empty">${escapeHtml(t.empty)}</p></section>`;
  const ths = t.columns.map((c) => `<th scope="col"${c.numeric ? ' class="num"' : ''}>${escapeHtml(c.header)}</th>`).join('');
  const rows = t.rows
    .map((r) => `<tr>${t.columns.map((c) => `<td${c.numeric ? ' class="num"' : ''}>${c.html ? c.html(r) : escapeHtml(String(c.value(r) ?? '–'))}</td>`).join('')}</tr>`)
    .join('\n');
  return `<section class="card" data-table="${t.name}">${head}<div class="table-wrap"><table><thead><tr>${ths}</tr></thead><tbody>${rows}</tbody></table></div></section>`;
}

function renderBlocks(blocks: Block[], page: PageName, query: string, lang: Lang): string {
  return blocks
    .map((b) => {
      switch (b.kind) {
        case 'kpis':
          return `<section class="kpis">${b.items.map((k) => `<div class="kpi"><div class="kpi-value">${escapeHtml(k.value)}</div><div class="kpi-label">${escapeHtml(k.label)}</div></div>`).join('')}</section>`;
        case 'chart':
          return `<section class="card chart"><h2>${escapeHtml(b.chart.title)}</h2><div class="chart-box"><canvas id="${b.chart.id}" role="img" aria-label="${escapeHtml(b.chart.title)}"></canvas></div></section>`;
        case 'note':
          return `<p class="note ${b.tone ?? 'info'}">${escapeHtml(b.text)}</p>`;
        case 'table':
          return renderTable(b.table, `/admin/csv/${page}/${b.table.name}${query}`, lang);
      }
    })
    .join('\n');
}

/** Builds the dashboard as an Express app to mount at `/admin`. */
export function createAdminApp(opts: AdminOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  if (opts.trustProxy !== undefined) app.set('trust proxy', opts.trustProxy);
  const now = opts.now ?? (() => new Date());
  const sessions = new Sessions(opts.login.kind === 'token' ? `token:${opts.login.token}` : `users:${opts.login.users.map((u) => `${u.name}:${u.hash}`).join(',')}`);
  const throttle = new LoginThrottle(opts.throttle);
  const defaultDays = opts.defaultDays ?? 30;
  const cacheMs = (opts.cacheSeconds ?? 60) * 1000;

  // Computed pages and filter options, by page, language and filters. A result younger than
  // cacheMs is served as is; an older one (up to 30 minutes) is served at once while a fresh one is
  // computed in the background, so that a trainer rarely waits for a large aggregation twice.
  const cache = new Map<string, { at: number; value: Promise<unknown>; settled: boolean; refreshing: boolean }>();
  const STALE_MS = 30 * 60_000;
  function cached<T>(key: unknown[], compute: () => Promise<T>): Promise<T> {
    if (!cacheMs) return compute();
    const k = JSON.stringify(key);
    const t = now().getTime();
    const start = (background: boolean) => {
      const entry = { at: t, value: compute() as Promise<unknown>, settled: false, refreshing: false };
      entry.value.then(
        () => {
          entry.settled = true;
          cache.set(k, entry);
        },
        (err: unknown) => {
          if (cache.get(k) === entry) cache.delete(k);
          // A request waiting for it reports its own error; a background refresh has nobody else to tell.
          if (background) opts.onError?.(err, { where: 'admin-refresh' });
        },
      );
      return entry;
    };
    const hit = cache.get(k);
    if (hit && t - hit.at < cacheMs) return hit.value as Promise<T>;
    if (hit?.settled && t - hit.at < STALE_MS) {
      if (!hit.refreshing) {
        hit.refreshing = true;
        start(true);
      }
      return hit.value as Promise<T>;
    }
    const entry = start(false);
    cache.set(k, entry);
    if (cache.size > 200) cache.delete(cache.keys().next().value!);
    return entry.value as Promise<T>;
  }
  const cachedPage = (name: PageName, ctx: PageContext): Promise<PageModel> => cached([name, ctx.lang, ctx.filter], () => buildPage(name, ctx));
  const options = (f: DashboardFilter) => cached(['options', f.from, f.to], () => filterOptions(opts.store, f));

  app.use((_req, res, next) => {
    res.set(SECURITY_HEADERS);
    next();
  });

  // The login page's styles are public; everything else needs a session.
  app.get('/assets/admin.css', (_req, res) => res.type('text/css').sendFile(join(ASSETS_DIR, 'admin.css')));

  const loginPage = (req: Request, res: Response, status: number, message?: string) => {
    const lang = pageLang(req);
    const fields =
      opts.login.kind === 'users'
        ? `<label><span>${escapeHtml(wt(lang, 'login.name'))}</span><input name="name" autocomplete="username" required autofocus></label>
<label><span>${escapeHtml(wt(lang, 'login.password'))}</span><input name="password" type="password" autocomplete="current-password" required></label>`
        : `<label><span>${escapeHtml(wt(lang, 'login.token'))}</span><input name="password" type="password" autocomplete="current-password" required autofocus></label>`;
    const body = `<section class="card login"><h1>${escapeHtml(wt(lang, 'login.title'))}</h1>${message ? `<p class="note warn" role="alert">${escapeHtml(message)}</p>` : ''}
<form method="post" action="/admin/login?ui=${lang}">${fields}<button type="submit">${escapeHtml(wt(lang, 'login.submit'))}</button></form></section>`;
    res.status(status).type('html').send(layout(lang, wt(lang, 'login.title'), body));
  };

  app.get('/login', (req, res) => loginPage(req, res, 200));

  app.post('/login', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res, next) => {
    try {
      const lang = pageLang(req);
      const address = req.ip ?? 'unknown';
      const wait = throttle.waitSeconds(address, now());
      if (wait > 0) {
        res.set('Retry-After', String(wait));
        return loginPage(req, res, 429, wt(lang, 'login.wait', { seconds: wait }));
      }
      const body = (req.body ?? {}) as Record<string, unknown>;
      const name = typeof body.name === 'string' ? body.name.slice(0, 64) : '';
      const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
      const user = await checkLogin(opts.login, name, password);
      if (!user) {
        throttle.failure(address, now());
        return loginPage(req, res, 401, wt(lang, 'login.failed'));
      }
      throttle.success(address);
      res.cookie(COOKIE, sessions.issue(user, now()), { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/admin', maxAge: sessions.ttlMs });
      res.redirect(303, `/admin?ui=${lang}`);
    } catch (err) {
      next(err);
    }
  });

  app.post('/logout', (req, res) => {
    res.clearCookie(COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/admin' });
    res.redirect(303, '/admin/login');
  });

  // Everything below needs a valid session.
  app.use((req, res, next) => {
    const user = sessions.verify(readCookie(req, COOKIE), now());
    if (user) return next();
    if (req.method === 'GET' && !req.path.startsWith('/csv') && !req.path.startsWith('/assets')) return res.redirect(303, `/admin/login${req.query.ui ? `?ui=${encodeURIComponent(String(req.query.ui))}` : ''}`);
    res.status(401).type('text/plain').send('Sign in at /admin/login first.');
  });

  app.get('/assets/chart.umd.min.js', (_req, res) => res.type('application/javascript').sendFile(CHART_JS));
  app.get('/assets/admin.js', (_req, res) => res.type('application/javascript').sendFile(join(ASSETS_DIR, 'admin.js')));

  const withQuery = (handler: (req: Request, res: Response, q: ParsedQuery, lang: Lang) => Promise<void>) => async (req: Request, res: Response, next: (err?: unknown) => void) => {
    try {
      const lang = pageLang(req);
      const q = parseQuery(req.query, now(), defaultDays);
      if ('error' in q) {
        res.status(400).type('html').send(layout(lang, wt(lang, 'app.title'), `<p class="note warn" role="alert">${escapeHtml(wt(lang, 'filter.bad', { problem: q.error }))}</p><p><a href="/admin">${escapeHtml(wt(lang, 'nav.overview'))}</a></p>`));
        return;
      }
      await handler(req, res, q, lang);
    } catch (err) {
      // The HTTP server's one error handler answers and logs it.
      next(err);
    }
  };

  for (const page of PAGES) {
    app.get(PAGE_PATHS[page].slice('/admin'.length) || '/', withQuery(async (_req, res, q, lang) => {
      const ctx = { store: opts.store, course: opts.course, filter: q.filter, lang, now: now(), ...(opts.workshops ? { workshops: opts.workshops } : {}) };
      const [model, filterValues] = await Promise.all([cachedPage(page, ctx), options(q.filter)]);
      const query = queryString({ ...q.params, from: q.from, to: q.to, ui: lang });
      const charts = model.blocks.flatMap((b) => (b.kind === 'chart' ? [b.chart] : []));
      const body = `<h1>${escapeHtml(wt(lang, PAGE_TITLES[page]))}</h1>${filterForm(lang, q, filterValues)}${renderBlocks(model.blocks, page, query, lang)}`;
      res.type('html').send(layout(lang, wt(lang, PAGE_TITLES[page]), body, { nav: { current: page, query }, charts }));
    }));
  }

  app.get('/csv/:page/:table', withQuery(async (req, res, q, lang) => {
    const page = req.params.page as PageName;
    if (!(PAGES as readonly string[]).includes(page)) {
      res.status(404).type('text/plain').send(wt(lang, 'not_found'));
      return;
    }
    const model = await cachedPage(page, { store: opts.store, course: opts.course, filter: q.filter, lang, now: now(), ...(opts.workshops ? { workshops: opts.workshops } : {}) });
    const t = model.blocks.flatMap((b) => (b.kind === 'table' ? [b.table] : [])).find((x) => x.name === req.params.table);
    if (!t) {
      res.status(404).type('text/plain').send(wt(lang, 'not_found'));
      return;
    }
    const name = `digit4sd-${t.name}-${q.from}-to-${q.to}.csv`;
    res.type('text/csv; charset=utf-8').attachment(name).send(`\uFEFF${toCsv(t)}`);
  }));

  app.get('/source/:lessonId', async (req, res, next) => {
    try {
      const lang = pageLang(req);
      const lesson = opts.course.lessons.get(req.params.lessonId);
      if (!lesson?.source) {
        res.status(404).type('html').send(layout(lang, wt(lang, 'not_found'), `<p>${escapeHtml(wt(lang, 'not_found'))}</p>`));
        return;
      }
      const lines = (await readFile(lesson.source.path, 'utf8')).replace(/\r\n?/g, '\n').split('\n');
      const flagged = new Set(lesson.items.map((i) => i.line).filter((l): l is number => l !== undefined));
      const code = lines
        .map((l, i) => `<span id="L${i + 1}" class="line${flagged.has(i + 1) ? ' item' : ''}"><a class="ln" href="#L${i + 1}">${i + 1}</a>${escapeHtml(l) || ' '}</span>`)
        .join('\n');
      const body = `<p><a href="/admin/items?ui=${lang}">← ${escapeHtml(wt(lang, 'source.back'))}</a></p><h1>${escapeHtml(wt(lang, 'source.title', { file: lesson.source.file }))}</h1><pre class="source">${code}</pre>`;
      res.type('html').send(layout(lang, lesson.source.file, body, { nav: { current: null, query: `?ui=${lang}` } }));
    } catch (err) {
      next(err);
    }
  });

  return app;
}
