/**
 * The dashboard's pages as data: each page is a list of blocks (key figures, charts, tables, notes)
 * built from the read models. The same tables render as HTML and as CSV, so that every table on a
 * page can be exported exactly as shown.
 */
import type { Course } from '../content/course.js';
import type { Lang } from '../engine/state.js';
import type { DashboardFilter, DashboardReads } from '../store/dashboard.js';
import { countryName } from '../engine/profile.js';
import { LANGUAGE_NAMES } from '../engine/i18n.js';
import { NUDGE_EVENTS } from '../engine/activity.js';
import {
  OTHER,
  itemAnalysis,
  lessonFunnel,
  overview,
  reminders,
  retention,
  teamQuizzes,
  type Breakdown,
  type FunnelRow,
  type HourRow,
  type ItemRow,
  type RetentionBin,
  type StopRow,
} from './read-models.js';
import { wt, type WebTextKey } from './texts.js';
import type { WorkshopStore } from '../store/workshops.js';
import { wt as workshopText } from './workshop-texts.js';

export const PAGES = ['overview', 'funnel', 'items', 'retention', 'reminders', 'team', 'workshops'] as const;
export type PageName = (typeof PAGES)[number];

export const PAGE_PATHS: Record<PageName, string> = {
  overview: '/admin',
  funnel: '/admin/funnel',
  items: '/admin/items',
  retention: '/admin/retention',
  reminders: '/admin/reminders',
  team: '/admin/team',
  workshops: '/admin/workshops',
};

export const PAGE_TITLES: Record<PageName, WebTextKey> = {
  overview: 'nav.overview',
  funnel: 'nav.funnel',
  items: 'nav.items',
  retention: 'nav.retention',
  reminders: 'nav.reminders',
  team: 'nav.team',
  workshops: 'nav.workshops',
};

type Cell = string | number | null;

export interface Column<R> {
  header: string;
  /** The value as exported (numbers raw, rates as fractions). */
  value: (r: R) => Cell;
  /** The value as shown, when it differs (formatted, or HTML). Must be escaped HTML. */
  html?: (r: R) => string;
  numeric?: boolean;
}

export interface Table<R = unknown> {
  name: string;
  title: string;
  columns: Column<R>[];
  rows: R[];
  /** Shown instead of an empty table. */
  empty?: string;
}

export interface ChartSpec {
  id: string;
  title: string;
  type: 'line' | 'bar' | 'scatter';
  labels?: string[];
  datasets: { label: string; data: (number | null)[] | { x: number; y: number; label?: string }[]; color: string; axis?: 'y' | 'y1'; kind?: 'line' | 'bar' }[];
  /** Values are fractions shown as percentages. */
  percent?: boolean;
  stacked?: boolean;
  xTitle?: string;
  yTitle?: string;
}

export type Block =
  | { kind: 'kpis'; items: { label: string; value: string }[] }
  | { kind: 'chart'; chart: ChartSpec }
  | { kind: 'table'; table: Table<never> }
  | { kind: 'note'; text: string; tone?: 'warn' | 'info' };

export interface PageModel {
  page: PageName;
  blocks: Block[];
}

export interface PageContext {
  store: DashboardReads;
  course: Course;
  filter: DashboardFilter;
  lang: Lang;
  now: Date;
  /** The workshops (their own page), when the store has them. */
  workshops?: WorkshopStore;
}

const COLORS = { blue: '#0072bc', sky: '#009edb', green: '#3c8d2f', orange: '#e56a2e', red: '#c0392b', purple: '#6f4e9c', grey: '#6b7280', gold: '#b7860b' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const table = <R>(t: Table<R>): Block => ({ kind: 'table', table: t as unknown as Table<never> });

function fmt(lang: Lang) {
  const nf = new Intl.NumberFormat(lang);
  const pf = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 0 });
  const df = new Intl.NumberFormat(lang, { maximumFractionDigits: 2, minimumFractionDigits: 2 });
  return {
    n: (x: number | null) => (x === null ? '–' : nf.format(x)),
    pct: (x: number | null) => (x === null ? '–' : pf.format(x)),
    dec: (x: number | null) => (x === null ? '–' : df.format(x)),
    minutes: (m: number | null) =>
      m === null ? '–' : m < 120 ? wt(lang, 'time.min', { n: m }) : m < 4320 ? wt(lang, 'time.h', { n: Math.round(m / 60) }) : wt(lang, 'time.d', { n: Math.round(m / 1440) }),
  };
}

const round4 = (x: number | null) => (x === null ? null : Math.round(x * 10_000) / 10_000);

function groupLabel(lang: Lang, dim: 'channel' | 'lang' | 'country' | 'org', value: string | null): string {
  if (value === OTHER) return wt(lang, 'other.groups');
  if (value === null) return wt(lang, 'value.none');
  if (dim === 'lang') return LANGUAGE_NAMES[value as Lang] ?? value;
  if (dim === 'country') return `${countryName(value, lang)} (${value})`;
  if (dim === 'channel') return value.charAt(0).toUpperCase() + value.slice(1);
  return value;
}

function breakdownTable(lang: Lang, name: string, title: WebTextKey, dim: 'channel' | 'lang' | 'country' | 'org', rows: Breakdown[]): Block {
  const f = fmt(lang);
  return table<Breakdown>({
    name,
    title: wt(lang, title),
    columns: [
      { header: wt(lang, 'col.value'), value: (r) => groupLabel(lang, dim, r.value) },
      { header: wt(lang, 'col.learners'), value: (r) => r.learners, html: (r) => f.n(r.learners), numeric: true },
    ],
    rows,
  });
}

async function overviewPage(ctx: PageContext): Promise<Block[]> {
  const { lang } = ctx;
  const f = fmt(lang);
  const o = await overview(ctx.store, ctx.filter);
  if (o.suppressed) return [{ kind: 'note', tone: 'warn', text: wt(lang, 'privacy.suppressed') }];
  const days = o.daily.length || 1;
  const activeMean = o.daily.reduce((n, r) => n + r.learners, 0) / days;
  const completed = o.daily.reduce((n, r) => n + r.lessonsCompleted, 0);
  const answers = o.daily.reduce((n, r) => n + r.answers, 0);
  type P = (typeof o.daily)[number];
  return [
    {
      kind: 'kpis',
      items: [
        { label: wt(lang, 'kpi.learners'), value: f.n(o.learners) },
        { label: wt(lang, 'kpi.active_days'), value: f.n(Math.round(activeMean * 10) / 10) },
        { label: wt(lang, 'kpi.completed'), value: f.n(completed) },
        { label: wt(lang, 'kpi.answers'), value: f.n(answers) },
      ],
    },
    {
      kind: 'chart',
      chart: {
        id: 'chart-daily',
        title: wt(lang, 'overview.activity'),
        type: 'line',
        labels: o.daily.map((r) => r.period),
        datasets: [
          { label: wt(lang, 'col.active'), data: o.daily.map((r) => r.learners), color: COLORS.blue },
          { label: wt(lang, 'col.completed'), data: o.daily.map((r) => r.lessonsCompleted), color: COLORS.orange },
        ],
      },
    },
    {
      kind: 'chart',
      chart: {
        id: 'chart-weekly',
        title: wt(lang, 'overview.weekly'),
        type: 'bar',
        labels: o.weekly.map((r) => r.period),
        datasets: [{ label: wt(lang, 'col.active'), data: o.weekly.map((r) => r.learners), color: COLORS.sky }],
      },
    },
    breakdownTable(lang, 'learners-by-channel', 'overview.by_channel', 'channel', o.byChannel),
    breakdownTable(lang, 'learners-by-language', 'overview.by_lang', 'lang', o.byLang),
    breakdownTable(lang, 'learners-by-country', 'overview.by_country', 'country', o.byCountry),
    breakdownTable(lang, 'learners-by-organisation', 'overview.by_org', 'org', o.byOrg),
    table<P>({
      name: 'activity-by-day',
      title: wt(lang, 'overview.activity'),
      columns: [
        { header: wt(lang, 'col.day'), value: (r) => r.period },
        { header: wt(lang, 'col.active'), value: (r) => r.learners, html: (r) => f.n(r.learners), numeric: true },
        { header: wt(lang, 'col.completed'), value: (r) => r.lessonsCompleted, html: (r) => f.n(r.lessonsCompleted), numeric: true },
        { header: wt(lang, 'col.answers'), value: (r) => r.answers, html: (r) => f.n(r.answers), numeric: true },
      ],
      rows: [...o.daily].reverse(),
    }),
    table<P>({
      name: 'activity-by-week',
      title: wt(lang, 'overview.weekly'),
      columns: [
        { header: wt(lang, 'col.week'), value: (r) => r.period },
        { header: wt(lang, 'col.active'), value: (r) => r.learners, html: (r) => f.n(r.learners), numeric: true },
        { header: wt(lang, 'col.completed'), value: (r) => r.lessonsCompleted, html: (r) => f.n(r.lessonsCompleted), numeric: true },
      ],
      rows: [...o.weekly].reverse(),
    }),
  ];
}

function stopLabel(lang: Lang, r: StopRow): string {
  if (r.kind === 'other') return wt(lang, 'funnel.stop_other');
  if (r.kind === 'idle') return wt(lang, 'funnel.stop_idle');
  if (r.kind === 'card') return wt(lang, 'funnel.stop_card', { lesson: r.title ?? r.lessonId ?? '?', card: r.card ?? '?', cards: r.cards ?? '?' });
  return r.lessonId ? wt(lang, 'funnel.stop_quiz', { lesson: r.title ?? r.lessonId, item: r.itemId ?? '?' }) : wt(lang, 'funnel.stop_practice', { item: r.itemId ?? '?' });
}

async function funnelPage(ctx: PageContext): Promise<Block[]> {
  const { lang, course } = ctx;
  const f = fmt(lang);
  const funnel = await lessonFunnel(ctx.store, course, ctx.filter, ctx.now);
  if (funnel.suppressed) return [{ kind: 'note', tone: 'warn', text: wt(lang, 'privacy.suppressed') }];
  const moduleNo = new Map(course.modules.map((m, i) => [m.id, i + 1]));
  const short = (r: FunnelRow) => {
    const m = course.module(r.moduleId)!;
    return `${moduleNo.get(r.moduleId)}.${m.lessons.findIndex((l) => l.id === r.lessonId) + 1}`;
  };
  return [
    {
      kind: 'chart',
      chart: {
        id: 'chart-funnel',
        title: wt(lang, 'funnel.chart'),
        type: 'bar',
        labels: funnel.lessons.map(short),
        datasets: [
          { label: wt(lang, 'col.started'), data: funnel.lessons.map((r) => r.started), color: COLORS.sky },
          { label: wt(lang, 'col.finished'), data: funnel.lessons.map((r) => r.completed), color: COLORS.green },
        ],
      },
    },
    table<StopRow>({
      name: 'stop-points',
      title: wt(lang, 'funnel.stops'),
      columns: [
        { header: wt(lang, 'col.where'), value: (r) => stopLabel(lang, r) },
        { header: wt(lang, 'col.learners'), value: (r) => r.learners, html: (r) => f.n(r.learners), numeric: true },
      ],
      rows: funnel.stops,
      empty: wt(lang, 'funnel.none'),
    }),
    table<FunnelRow>({
      name: 'lesson-funnel',
      title: wt(lang, 'funnel.table'),
      columns: [
        { header: '#', value: short },
        { header: wt(lang, 'col.lesson'), value: (r) => r.title },
        { header: wt(lang, 'col.started'), value: (r) => r.started, html: (r) => f.n(r.started), numeric: true },
        { header: wt(lang, 'col.finished'), value: (r) => r.completed, html: (r) => f.n(r.completed), numeric: true },
        { header: wt(lang, 'col.completion'), value: (r) => round4(r.completionRate), html: (r) => f.pct(r.completionRate), numeric: true },
        { header: wt(lang, 'col.first_score'), value: (r) => round4(r.firstTryScore), html: (r) => f.pct(r.firstTryScore), numeric: true },
        { header: wt(lang, 'col.median_time'), value: (r) => r.medianMinutes, html: (r) => f.minutes(r.medianMinutes), numeric: true },
      ],
      rows: funnel.lessons,
    }),
    { kind: 'note', tone: 'info', text: wt(lang, 'privacy.note') },
  ];
}

function sourceLink(r: ItemRow): string {
  if (!r.file) return escapeHtml(r.itemId);
  const where = `${r.file}${r.line ? `:${r.line}` : ''}`;
  return `<a href="/admin/source/${encodeURIComponent(r.lessonId)}${r.line ? `#L${r.line}` : ''}">${escapeHtml(where)}</a>`;
}

function itemColumns(lang: Lang, withFlags: boolean): Column<ItemRow>[] {
  const f = fmt(lang);
  const cols: Column<ItemRow>[] = [
    { header: wt(lang, 'col.item'), value: (r) => r.itemId, html: (r) => `<strong>${escapeHtml(r.itemId)}</strong><br><span class="q">${escapeHtml(r.question.length > 110 ? `${r.question.slice(0, 109)}…` : r.question)}</span>` },
    { header: wt(lang, 'col.source'), value: (r) => (r.file ? `${r.file}${r.line ? `:${r.line}` : ''}` : null), html: sourceLink },
  ];
  if (withFlags) cols.push({ header: wt(lang, 'col.flags'), value: (r) => r.flags.join(' '), html: (r) => r.flags.map((fl) => `<span class="flag flag-${fl}">${escapeHtml(wt(lang, `flag.${fl}`))}</span>`).join(' ') });
  cols.push(
    { header: wt(lang, 'col.first_tries'), value: (r) => r.firstTries, html: (r) => f.n(r.firstTries), numeric: true },
    { header: wt(lang, 'col.first_rate'), value: (r) => round4(r.firstTryRate), html: (r) => f.pct(r.firstTryRate), numeric: true },
    { header: wt(lang, 'col.right_option'), value: (r) => r.rightOption },
    { header: wt(lang, 'col.top_wrong'), value: (r) => (r.topWrong ? r.topWrong.option : null), html: (r) => (r.topWrong ? `${escapeHtml(r.topWrong.option)} (${f.pct(r.topWrong.share)})` : '–') },
    { header: wt(lang, 'col.discrimination'), value: (r) => round4(r.discrimination), html: (r) => f.dec(r.discrimination), numeric: true },
  );
  if (!withFlags) cols.push({ header: wt(lang, 'col.attempts'), value: (r) => r.attempts, html: (r) => f.n(r.attempts), numeric: true });
  return cols;
}

async function itemsPage(ctx: PageContext): Promise<Block[]> {
  const { lang } = ctx;
  const a = await itemAnalysis(ctx.store, ctx.course, ctx.filter);
  if (a.suppressed) return [{ kind: 'note', tone: 'warn', text: wt(lang, 'privacy.suppressed') }];
  const judged = a.items.filter((r) => r.firstTryRate !== null);
  return [
    { kind: 'note', tone: 'info', text: wt(lang, 'items.fix_first_help') },
    table<ItemRow>({ name: 'items-to-fix', title: wt(lang, 'items.fix_first'), columns: itemColumns(lang, true), rows: a.flagged, empty: wt(lang, 'items.none_flagged') }),
    {
      kind: 'chart',
      chart: {
        id: 'chart-items',
        title: wt(lang, 'items.chart'),
        type: 'scatter',
        datasets: [
          {
            label: wt(lang, 'items.all'),
            data: judged.filter((r) => !r.flags.length).map((r) => ({ x: r.firstTryRate!, y: r.discrimination ?? 0, label: r.itemId })),
            color: COLORS.blue,
          },
          {
            label: wt(lang, 'items.fix_first'),
            data: judged.filter((r) => r.flags.length).map((r) => ({ x: r.firstTryRate!, y: r.discrimination ?? 0, label: r.itemId })),
            color: COLORS.red,
          },
        ],
        xTitle: wt(lang, 'col.first_rate'),
        yTitle: wt(lang, 'col.discrimination'),
      },
    },
    { kind: 'note', tone: 'info', text: wt(lang, 'items.help') },
    table<ItemRow>({ name: 'items', title: wt(lang, 'items.all'), columns: itemColumns(lang, false), rows: a.items }),
  ];
}

async function retentionPage(ctx: PageContext): Promise<Block[]> {
  const { lang } = ctx;
  const f = fmt(lang);
  const r = await retention(ctx.store, ctx.filter);
  if (r.suppressed) return [{ kind: 'note', tone: 'warn', text: wt(lang, 'privacy.suppressed') }];
  const c = r.calibration;
  return [
    {
      kind: 'kpis',
      items: [
        { label: wt(lang, 'col.reviews'), value: f.n(c.reviews) },
        { label: wt(lang, 'retention.log_loss'), value: f.dec(c.logLoss) },
        { label: wt(lang, 'retention.rmse'), value: f.dec(c.rmse) },
      ],
    },
    {
      kind: 'chart',
      chart: {
        id: 'chart-retention',
        title: wt(lang, 'retention.chart'),
        type: 'line',
        labels: r.bins.map((b) => b.label),
        percent: true,
        datasets: [
          { label: wt(lang, 'col.observed'), data: r.bins.map((b) => b.observed), color: COLORS.green },
          { label: wt(lang, 'col.predicted'), data: r.bins.map((b) => b.predicted), color: COLORS.purple },
        ],
        xTitle: wt(lang, 'col.days'),
      },
    },
    { kind: 'note', tone: 'info', text: wt(lang, 'retention.help') },
    table<RetentionBin>({
      name: 'retention',
      title: wt(lang, 'retention.table'),
      columns: [
        { header: wt(lang, 'col.days'), value: (b) => b.label },
        { header: wt(lang, 'col.reviews'), value: (b) => b.reviews, html: (b) => f.n(b.reviews), numeric: true },
        { header: wt(lang, 'col.observed'), value: (b) => round4(b.observed), html: (b) => f.pct(b.observed), numeric: true },
        { header: wt(lang, 'col.predicted'), value: (b) => round4(b.predicted), html: (b) => f.pct(b.predicted), numeric: true },
      ],
      rows: r.bins,
      ...(c.reviews ? {} : { empty: wt(lang, 'retention.none') }),
    }),
    table<{ measure: string; value: number | null; count?: boolean }>({
      name: 'calibration',
      title: wt(lang, 'retention.calibration'),
      columns: [
        { header: wt(lang, 'col.measure'), value: (x) => x.measure },
        { header: wt(lang, 'col.result'), value: (x) => round4(x.value), html: (x) => (x.count ? f.n(x.value) : f.dec(x.value)), numeric: true },
      ],
      rows: [
        { measure: wt(lang, 'col.reviews'), value: c.reviews, count: true },
        { measure: wt(lang, 'retention.log_loss'), value: c.logLoss },
        { measure: wt(lang, 'retention.rmse'), value: c.rmse },
      ],
    }),
  ];
}

const EVENT_COLORS = { sent: COLORS.blue, answered: COLORS.green, snoozed: COLORS.gold, paused: COLORS.orange, stopped: COLORS.red, unreachable: COLORS.grey } as const;

async function remindersPage(ctx: PageContext): Promise<Block[]> {
  const { lang } = ctx;
  const f = fmt(lang);
  const r = await reminders(ctx.store, ctx.filter);
  if (r.suppressed) return [{ kind: 'note', tone: 'warn', text: wt(lang, 'privacy.suppressed') }];
  return [
    {
      kind: 'kpis',
      items: [
        ...NUDGE_EVENTS.map((e) => ({ label: wt(lang, `event.${e}`), value: f.n(r.totals[e]) })),
        { label: wt(lang, 'reminders.answered_rate'), value: f.pct(r.answeredRate) },
      ],
    },
    {
      kind: 'chart',
      chart: {
        id: 'chart-reminders',
        title: wt(lang, 'reminders.chart'),
        type: 'bar',
        labels: r.byHour.map((h) => String(h.hour).padStart(2, '0')),
        datasets: NUDGE_EVENTS.map((e) => ({ label: wt(lang, `event.${e}`), data: r.byHour.map((h) => h[e]), color: EVENT_COLORS[e] })),
        xTitle: wt(lang, 'col.hour'),
      },
    },
    table<HourRow>({
      name: 'reminders-by-hour',
      title: wt(lang, 'reminders.chart'),
      columns: [
        { header: wt(lang, 'col.hour'), value: (h) => h.hour, html: (h) => `${String(h.hour).padStart(2, '0')}:00` },
        ...NUDGE_EVENTS.map((e) => ({ header: wt(lang, `event.${e}`), value: (h: HourRow) => h[e], html: (h: HourRow) => f.n(h[e]), numeric: true })),
      ],
      rows: r.byHour.filter((h) => NUDGE_EVENTS.some((e) => h[e] > 0)),
    }),
  ];
}

async function teamPage(ctx: PageContext): Promise<Block[]> {
  const { lang } = ctx;
  const f = fmt(lang);
  const t = await teamQuizzes(ctx.store, ctx.filter);
  const days = [...new Set(t.byDay.map((r) => r.day))].sort();
  const sum = (day: string, k: 'quizzes' | 'players') => t.byDay.filter((r) => r.day === day).reduce((n, r) => n + r[k], 0);
  type C = (typeof t.byChannel)[number];
  type D = (typeof t.byDay)[number];
  return [
    {
      kind: 'kpis',
      items: [
        { label: wt(lang, 'col.quizzes'), value: f.n(t.quizzes) },
        { label: wt(lang, 'col.players_per_quiz'), value: t.playersPerQuiz === null ? '–' : f.n(Math.round(t.playersPerQuiz * 10) / 10) },
      ],
    },
    {
      kind: 'chart',
      chart: {
        id: 'chart-team',
        title: wt(lang, 'team.chart'),
        type: 'bar',
        labels: days,
        datasets: [
          { label: wt(lang, 'col.quizzes'), data: days.map((d) => sum(d, 'quizzes')), color: COLORS.sky },
          { label: wt(lang, 'col.players'), data: days.map((d) => sum(d, 'players')), color: COLORS.green, kind: 'line' },
        ],
      },
    },
    { kind: 'note', tone: 'info', text: wt(lang, 'team.help') },
    table<C>({
      name: 'team-by-channel',
      title: wt(lang, 'team.by_channel'),
      columns: [
        { header: wt(lang, 'col.channel'), value: (r) => groupLabel(lang, 'channel', r.channel) },
        { header: wt(lang, 'col.quizzes'), value: (r) => r.quizzes, html: (r) => f.n(r.quizzes), numeric: true },
        { header: wt(lang, 'col.players'), value: (r) => r.players, html: (r) => f.n(r.players), numeric: true },
        { header: wt(lang, 'col.players_per_quiz'), value: (r) => round4(r.playersPerQuiz), html: (r) => f.dec(r.playersPerQuiz), numeric: true },
      ],
      rows: t.byChannel,
      empty: wt(lang, 'team.none'),
    }),
    table<D>({
      name: 'team-by-day',
      title: wt(lang, 'team.by_day'),
      columns: [
        { header: wt(lang, 'col.day'), value: (r) => r.day },
        { header: wt(lang, 'col.channel'), value: (r) => groupLabel(lang, 'channel', r.channel) },
        { header: wt(lang, 'col.quizzes'), value: (r) => r.quizzes, html: (r) => f.n(r.quizzes), numeric: true },
        { header: wt(lang, 'col.players'), value: (r) => r.players, html: (r) => f.n(r.players), numeric: true },
        { header: wt(lang, 'col.answers'), value: (r) => r.answers, html: (r) => f.n(r.answers), numeric: true },
      ],
      rows: [...t.byDay].reverse(),
      empty: wt(lang, 'team.none'),
    }),
  ];
}

/** Trainers' live sessions: each with its participants, answers and share right, linked to its control page and results. */
async function workshopsPage(ctx: PageContext): Promise<Block[]> {
  const { lang } = ctx;
  const f = fmt(lang);
  const list = ctx.workshops ? await ctx.workshops.listWorkshops(200) : [];
  const rows = await Promise.all(
    list.map(async (w) => {
      const answers = await ctx.workshops!.listWorkshopAnswers(w.id);
      const right = answers.filter((a) => a.correct).length;
      return { w, participants: await ctx.workshops!.countParticipants(w.id), answers: answers.length, share: answers.length ? right / answers.length : null };
    }),
  );
  type R = (typeof rows)[number];
  return [
    { kind: 'note', tone: 'info', text: wt(lang, 'workshops.help') },
    table<R>({
      name: 'workshops',
      title: wt(lang, 'workshops.table'),
      columns: [
        { header: wt(lang, 'col.workshop'), value: (r) => r.w.state.title, html: (r) => `<a href="/workshops/${encodeURIComponent(r.w.id)}?lang=${lang}">${escapeHtml(r.w.state.title)}</a>` },
        { header: wt(lang, 'col.code'), value: (r) => r.w.code },
        { header: wt(lang, 'col.status'), value: (r) => workshopText(lang, `phase.${r.w.state.phase}`) },
        { header: wt(lang, 'col.participants'), value: (r) => r.participants, html: (r) => f.n(r.participants), numeric: true },
        { header: wt(lang, 'col.answers'), value: (r) => r.answers, html: (r) => `<a href="/workshops/${encodeURIComponent(r.w.id)}/results.csv">${f.n(r.answers)}</a>`, numeric: true },
        { header: wt(lang, 'col.right_share'), value: (r) => (r.share === null ? null : round4(r.share)), html: (r) => (r.share === null ? '–' : `${Math.round(r.share * 100)}%`), numeric: true },
        { header: wt(lang, 'col.created'), value: (r) => r.w.createdAt.toISOString().slice(0, 10) },
      ],
      rows,
      empty: wt(lang, 'workshops.none'),
    }),
  ];
}

const BUILDERS: Record<PageName, (ctx: PageContext) => Promise<Block[]>> = {
  overview: overviewPage,
  funnel: funnelPage,
  items: itemsPage,
  retention: retentionPage,
  reminders: remindersPage,
  team: teamPage,
  workshops: workshopsPage,
};

export async function buildPage(page: PageName, ctx: PageContext): Promise<PageModel> {
  return { page, blocks: await BUILDERS[page](ctx) };
}

/** A CSV cell: quoted when needed; text that a spreadsheet would run as a formula is prefixed with '. */
function csvCell(v: Cell): string {
  if (v === null) return '';
  if (typeof v === 'number') return String(v);
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A table as CSV (RFC 4180, CRLF line ends). */
export function toCsv(t: Table<never>): string {
  const lines = [t.columns.map((c) => csvCell(c.header)).join(',')];
  for (const r of t.rows) lines.push(t.columns.map((c) => csvCell(c.value(r))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
