/**
 * The dashboard's pages in a real headless browser: Debian's Chromium driven by playwright-core
 * (no browser download). Logs in, sees charts drawn, filters by channel, exports CSV and reads it
 * back, and is refused with a wrong token or without a session. Writes a screenshot of each page
 * at laptop and phone width into test-output/screenshots/ (gitignored) for a reviewer to look at.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCourse } from '../src/content/load.js';
import { createHttpApp, listen } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { createAdminApp } from '../src/web/admin.js';
import { seedDashboard } from '../scripts/dashboard-seed.js';
import { LESSONS_DIR } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../test-output/screenshots/', import.meta.url));
const TOKEN = 'dashboard-test-token-0123456789';
const NOW = new Date('2026-11-30T12:00:00Z');
if (!existsSync(CHROMIUM)) console.log(`Dashboard browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`);

describe.skipIf(!existsSync(CHROMIUM))('the dashboard in a browser', () => {
  let store: SqliteStore;
  let server: Server;
  let base: string;
  let browser: Browser;
  const course = loadCourse(LESSONS_DIR);

  beforeAll(async () => {
    store = new SqliteStore(':memory:');
    await seedDashboard(store, course, { learners: 400, from: new Date(NOW.getTime() - 45 * 86_400_000), now: NOW, seed: 7, teamGroups: 2 });
    const app = createHttpApp([]);
    app.use('/admin', createAdminApp({ store, course, login: { kind: 'token', token: TOKEN }, now: () => NOW }));
    server = await listen(app, 0, '127.0.0.1');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    mkdirSync(SHOTS, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await store?.close();
  });

  async function loggedIn(viewport = { width: 1366, height: 768 }): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport, acceptDownloads: true });
    const page = await context.newPage();
    await page.goto(`${base}/admin/login?ui=en`);
    await page.fill('input[name=password]', TOKEN);
    await Promise.all([page.waitForURL(/\/admin\?ui=en$/), page.click('button[type=submit]')]);
    return { context, page };
  }

  /** How many non-blank pixels a chart's canvas has, and how many data points its chart holds. */
  async function chartMarks(page: Page, id: string): Promise<{ pixels: number; points: number }> {
    await page.waitForSelector(`canvas#${id}`);
    return page.evaluate(`(() => {
      const canvas = document.getElementById(${JSON.stringify(id)});
      const chart = Chart.getChart(canvas);
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let pixels = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) pixels++;
      const points = chart ? chart.data.datasets.reduce((n, d) => n + d.data.filter((v) => v !== null && v !== 0).length, 0) : 0;
      return { pixels, points };
    })()`);
  }

  const kpi = (page: Page, label: string) => page.locator('.kpi', { hasText: label }).locator('.kpi-value').innerText();

  it('refuses every page, export and script without a session, and with a forged cookie', async () => {
    for (const path of ['/admin', '/admin/items', '/admin/source/m1-why-digital-government']) {
      const res = await fetch(`${base}${path}`, { redirect: 'manual' });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toMatch(/^\/admin\/login/);
    }
    for (const path of ['/admin/csv/funnel/lesson-funnel', '/admin/assets/chart.umd.min.js', '/admin/assets/admin.js']) {
      expect((await fetch(`${base}${path}`)).status).toBe(401);
    }
    const forged = `${Buffer.from('admin').toString('base64url')}.${NOW.getTime() + 3_600_000}.${'A'.repeat(43)}`;
    expect((await fetch(`${base}/admin/csv/funnel/lesson-funnel`, { headers: { cookie: `digit4sd_admin=${forged}` } })).status).toBe(401);
  });

  it('refuses a wrong token in the browser and stays on the login page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/admin/login?ui=en`);
    await page.fill('input[name=password]', 'not-the-token-at-all');
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().includes('/admin/login') && r.request().method() === 'POST'), page.click('button[type=submit]')]);
    expect(response.status()).toBe(401);
    await expect(page.locator('[role=alert]').innerText()).resolves.toBe('Wrong name or password.');
    expect(await context.cookies()).toEqual([]);
    await context.close();
  });

  it('logs in with a strict HttpOnly cookie, draws the charts, filters by channel and exports a CSV that matches the page', async () => {
    const { context, page } = await loggedIn();
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'digit4sd_admin', httpOnly: true, sameSite: 'Strict', path: '/admin' });
    const daily = await chartMarks(page, 'chart-daily');
    expect(daily.points).toBeGreaterThan(10);
    expect(daily.pixels).toBeGreaterThan(2000);
    const everyone = Number((await kpi(page, 'Learners in the period')).replace(/\D/g, ''));
    expect(everyone).toBeGreaterThan(50);

    await page.selectOption('select[name=channel]', 'telegram');
    await Promise.all([page.waitForURL(/channel=telegram/), page.click('form.filters button')]);
    const telegram = Number((await kpi(page, 'Learners in the period')).replace(/\D/g, ''));
    expect(telegram).toBeGreaterThan(0);
    expect(telegram).toBeLessThan(everyone);
    const rows = page.locator('section[data-table="learners-by-channel"] tbody tr');
    await expect(rows.count()).resolves.toBe(1);
    await expect(rows.first().innerText()).resolves.toMatch(/^Telegram\s+\d+/);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('section[data-table="learners-by-channel"] a.csv')]);
    expect(download.suggestedFilename()).toMatch(/^digit4sd-learners-by-channel-\d{4}-\d{2}-\d{2}-to-2026-11-30\.csv$/);
    const csv = readFileSync((await download.path())!, 'utf8').replace(/^\uFEFF/, '');
    expect(csv.trim().split('\r\n')).toEqual(['Group,Learners', `Telegram,${telegram}`]);
    await context.close();
  });

  it('shows the questions to fix first, each linking to its lesson file and line', async () => {
    const { context, page } = await loggedIn();
    await page.goto(`${base}/admin/items?ui=en`);
    const flagged = page.locator('section[data-table="items-to-fix"] tbody tr');
    expect(await flagged.count()).toBeGreaterThanOrEqual(3);
    const first = await flagged.first().innerText();
    expect(first).toMatch(/Stronger learners get it wrong more often/);
    const scatter = await chartMarks(page, 'chart-items');
    expect(scatter.points).toBeGreaterThan(20);
    const link = flagged.first().locator('a').first();
    const where = await link.innerText();
    expect(where).toMatch(/^lessons\/.+\.md:\d+$/);
    await Promise.all([page.waitForURL(/\/admin\/source\/.+#L\d+$/), link.click()]);
    const line = Number(where.split(':').pop());
    await expect(page.locator(`#L${line}`).innerText()).resolves.toMatch(new RegExp(`^${line}## quiz `));
    await context.close();
  });

  it('exports every table of every page as CSV', async () => {
    const { context, page } = await loggedIn();
    for (const path of ['/admin', '/admin/funnel', '/admin/items', '/admin/retention', '/admin/reminders', '/admin/team']) {
      await page.goto(`${base}${path}?ui=en`);
      const links = await page.locator('a.csv').evaluateAll((as) => as.map((a) => (a as unknown as { href: string }).href));
      expect(links.length).toBeGreaterThan(0);
      for (const href of links) {
        const res = await context.request.get(href);
        expect(res.status(), href).toBe(200);
        expect(res.headers()['content-type']).toMatch(/^text\/csv/);
        const lines = (await res.text()).replace(/^\uFEFF/, '').trim().split('\r\n');
        expect(lines[0]!.split(',').length).toBeGreaterThan(1);
      }
    }
    await context.close();
  });

  it('draws a chart on every page and fits a phone screen; writes screenshots at laptop and phone width', async () => {
    const pages = [
      ['overview', '/admin', 'chart-daily'],
      ['funnel', '/admin/funnel', 'chart-funnel'],
      ['items', '/admin/items', 'chart-items'],
      ['retention', '/admin/retention', 'chart-retention'],
      ['reminders', '/admin/reminders', 'chart-reminders'],
      ['team', '/admin/team', 'chart-team'],
    ] as const;
    for (const [device, viewport] of [['laptop', { width: 1366, height: 768 }], ['phone', { width: 390, height: 844 }]] as const) {
      const { context, page } = await loggedIn(viewport);
      for (const [name, path, chart] of pages) {
        await page.goto(`${base}${path}?ui=en`);
        const marks = await chartMarks(page, chart);
        expect(marks.points, `${name} chart`).toBeGreaterThan(0);
        expect(marks.pixels, `${name} chart`).toBeGreaterThan(500);
        // Wide tables scroll inside their own box; the page itself never scrolls sideways.
        const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
        expect(overflow, `${name} at ${device} width`).toBeLessThanOrEqual(0);
        const file = join(SHOTS, `${name}-${device}.png`);
        await page.screenshot({ path: file, fullPage: true });
        await page.screenshot({ path: join(SHOTS, `${name}-${device}-top.png`) });
        expect(statSync(file).size).toBeGreaterThan(10_000);
      }
      await page.goto(`${base}/admin/items?ui=fr`);
      await page.screenshot({ path: join(SHOTS, `items-fr-${device}.png`), fullPage: true });
      await context.close();
      const anon = await browser.newContext({ viewport });
      const login = await anon.newPage();
      await login.goto(`${base}/admin/login?ui=es`);
      await expect(login.locator('h1').innerText()).resolves.toBe('Acceso al panel del programa');
      await login.screenshot({ path: join(SHOTS, `login-${device}.png`), fullPage: true });
      await anon.close();
    }
  }, 120_000);
});
