import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConsoleLine } from '../adapters/console/adapter.js';
import { consolePrompt, renderConsole, wrapText } from '../adapters/console/render.js';
import { existsSync, readFileSync, statSync } from 'node:fs';
import stringWidth from 'string-width';
import { startApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { ContentError } from '../src/content/load.js';
import { createLogger } from '../src/logger.js';
import { FIXTURE_DIR } from './helpers.js';
import { toPlainText, type RichText } from '../src/messages.js';

const tmp = mkdtempSync(join(tmpdir(), 'digit4sd-console-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('console rendering and input', () => {
  it('numbers choices like [1] Next  [2] Menu', () => {
    const { text, choices } = renderConsole(
      { kind: 'card', lessonTitle: 'L', index: 1, total: 3, body: [{ type: 'paragraph', spans: [{ text: 'Hi ' }, { text: 'there', bold: true, href: 'https://x.org' }] }], choices: [{ label: 'Next', data: 'n' }, { label: 'Menu', data: 'm' }] },
      { ansi: false },
    );
    expect(text).toBe('L (1/3)\nHi there (https://x.org)\n[1] Next  [2] Menu');
    expect(choices).toHaveLength(2);
  });

  it('turns a number into the choice on screen, /x into a command, anything else into text', () => {
    const choices = [{ label: 'Next', data: '1|n|l1|0' }];
    expect(parseConsoleLine('1', choices)).toEqual({ type: 'choice', data: '1|n|l1|0' });
    expect(parseConsoleLine('7', choices)).toEqual({ type: 'text', text: '7' });
    expect(parseConsoleLine('/remind 08:30', choices)).toEqual({ type: 'command', command: 'remind', args: '08:30' });
    expect(parseConsoleLine('  ', choices)).toEqual({ type: 'text', text: '' });
    expect(parseConsoleLine('hello', choices)).toEqual({ type: 'text', text: 'hello' });
  });
});

describe('console layout on narrow and wide terminals', () => {
  const long: RichText = [
    { type: 'paragraph', spans: [{ text: 'This short course teaches the UN DESA Digital Government Implementation Toolkit: how digital government can help your country reach its SDG targets.' }] },
    { type: 'bullet', spans: [{ text: 'a bullet point long enough to wrap onto a second line at forty columns' }] },
  ];
  const labels = ['Begin module 1', 'Pick a module', 'Continue where you left off'];
  const choices = labels.map((label, i) => ({ label, data: String(i) }));

  for (const width of [40, 80]) {
    it(`wraps at word boundaries at ${width} columns, and never splits a word`, () => {
      const { text } = renderConsole({ kind: 'text', text: long, choices }, { ansi: false, width });
      const words = new Set(toPlainText(long).split(/\s+/));
      for (const line of text.split('\n')) {
        expect(stringWidth(line), line).toBeLessThanOrEqual(width);
        for (const word of line.trim().split(/\s+/)) if (!/^(\[\d\]|•)$/.test(word)) expect(labels.join(' ').split(' ').includes(word) || words.has(word), `"${word}" in "${line}"`).toBe(true);
      }
    });
  }

  it('puts choices on one line when they fit, else one per line, labels whole', () => {
    const wide = renderConsole({ kind: 'text', text: [], choices }, { ansi: false, width: 80 }).text;
    expect(wide).toBe('\n[1] Begin module 1  [2] Pick a module  [3] Continue where you left off');
    const narrow = renderConsole({ kind: 'text', text: [], choices }, { ansi: false, width: 40 }).text;
    expect(narrow).toBe('\n[1] Begin module 1\n[2] Pick a module\n[3] Continue where you left off');
  });

  it('hangs wrapped bullet lines under the bullet, and leaves long links whole', () => {
    expect(wrapText('  • one two three four five six seven eight nine ten', 20)).toBe('  • one two three\n    four five six\n    seven eight nine\n    ten');
    const url = 'https://example.org/a/very/long/path/that/cannot/break';
    expect(wrapText(`see ${url} now`, 30).split('\n')).toContain(url);
  });

  it('shows a prompt with the numbers that pick a choice', () => {
    expect(consolePrompt(choices)).toBe('[1-3] › ');
    expect(consolePrompt([])).toBe('› ');
  });
});

describe('the app', () => {
  it('chats through the console channel and serves /healthz and /readyz on PORT', async () => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    let printed = '';
    stdout.on('data', (d) => (printed += d));
    const config = loadConfig({ PORT: '0', DATA_DIR: join(tmp, 'app') });
    const app = await startApp({ config, logger: createLogger('silent'), lessonsDir: FIXTURE_DIR, stdin, stdout });
    await app.console!.line('/start');
    await app.console!.line('1');
    expect(printed).toMatch(/Lesson one \(1\/3\)/);
    expect(printed).toMatch(/\[1\] Next {2}\[2\] Menu/);
    const port = (app.server!.address() as { port: number }).port;
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { store: 'ok' } });
    await app.stop();
  });

  it('refuses to start on invalid lessons', async () => {
    const config = loadConfig({ PORT: '0', DATA_DIR: join(tmp, 'bad') });
    await expect(startApp({ config, logger: createLogger('silent'), lessonsDir: join(tmp, 'nowhere') })).rejects.toBeInstanceOf(ContentError);
  });
});

/** Runs `npm start`'s command with piped input, as the README's "try it" step does. */
function runBot(input: string[], dataDir: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(process.cwd(), 'node_modules/.bin/tsx'), ['src/main.ts'], {
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, PORT: '0', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input.join('\n') + '\n');
  });
}

describe('npm start on a fresh machine', () => {
  it('takes a newcomer through a full lesson and its quiz, and resumes after a restart', async () => {
    const dataDir = join(tmp, 'fresh');
    // The fixture course: begin module 1, three cards, then four questions (the third ticks A and submits).
    const lessonSteps = ['1', '1', '1', '1', '1', '1', '1', '1', '1', '4', '1', '1', '1'];
    const first = await runBot(lessonSteps, dataDir, { LESSONS_DIR: FIXTURE_DIR });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/Welcome to DiGIT4SD Learning/);
    expect(first.stdout).toMatch(/\[1\] Begin module 1 {2}\[2\] Pick a module/);
    expect(first.stdout).toMatch(/Question 1 of \d/);
    expect(first.stdout).toMatch(/(Right!|Not quite\.)/);
    expect(first.stdout).toMatch(/Lesson complete: .* You got \d of \d right\./);
    expect(first.stdout).toMatch(/Answers: A\. Right A; C\. Right C/);
    const second = await runBot(['/progress'], dataDir, { LESSONS_DIR: FIXTURE_DIR });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/Welcome back! You have finished 1 of \d+ lessons\./);
    expect(second.stdout).toMatch(/Lessons finished: 1 of/);
  }, 60_000);

  it('greets a new learner as new, answers an empty line, wraps to COLUMNS, shows a prompt and no buttons to tap', async () => {
    const dataDir = join(tmp, 'newcomer');
    const run = await runBot(['', 'blah', '/help'], dataDir, { LESSONS_DIR: FIXTURE_DIR, COLUMNS: '40' });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Welcome to DiGIT4SD Learning/);
    expect(run.stdout).not.toMatch(/Welcome back/);
    expect(run.stdout).toMatch(/Your message was empty/);
    expect(run.stdout).not.toMatch(/tap/i);
    expect(run.stdout).toMatch(/\[1-2\] › /);
    for (const line of run.stdout.split('\n')) expect(stringWidth(line), line).toBeLessThanOrEqual(40);
    // A learner who began a lesson but finished none is welcomed back without "finished 0".
    const again = await runBot(['1', '/start'], dataDir, { LESSONS_DIR: FIXTURE_DIR });
    expect(again.stdout).not.toMatch(/finished 0/);
    expect(again.stdout).toMatch(/Welcome back! Your first lesson is waiting/);
  }, 60_000);

  it('writes /mydata to a file in DATA_DIR and prints its path, with a summary in the chat', async () => {
    const dataDir = join(tmp, 'mydata');
    const run = await runBot(['/mydata'], dataDir, { LESSONS_DIR: FIXTURE_DIR });
    expect(run.code).toBe(0);
    const path = join(dataDir, 'digit4sd-mydata.json');
    expect(run.stdout).toContain(`📄 ${path}`);
    expect(run.stdout).toMatch(/Everything stored about you, in short/);
    expect(run.stdout).not.toMatch(/"reviews"/);
    expect(existsSync(path)).toBe(true);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toBeTypeOf('object');
    expect(statSync(path).mode & 0o077).toBe(0);

    // /forget erases the file too: nothing about the learner stays in DATA_DIR.
    const forget = await runBot(['/forget', '1'], dataDir, { LESSONS_DIR: FIXTURE_DIR });
    expect(forget.stdout).toMatch(/erased/);
    expect(existsSync(path)).toBe(false);
  }, 60_000);

  it('stops with a message naming the variable when a setting is wrong', async () => {
    const run = await runBot([], join(tmp, 'cfg'), { PORT: 'eighty' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/PORT: .*Fix: set PORT/);
  });
});

describe('metrics', () => {
  it('serves Prometheus metrics: messages in and out per channel and engine latency', async () => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const config = loadConfig({ PORT: '0', DATA_DIR: join(tmp, 'metrics') });
    const app = await startApp({ config, logger: createLogger('silent'), lessonsDir: FIXTURE_DIR, stdin, stdout });
    await app.console!.line('/start');
    await app.console!.line('1');
    const port = (app.server!.address() as { port: number }).port;
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toMatch(/digit4sd_messages_in_total\{channel="console"\} 2/);
    expect(body).toMatch(/digit4sd_messages_out_total\{channel="console"\} 2/);
    expect(body).toMatch(/digit4sd_engine_seconds_count\{channel="console"\} 2/);
    await app.stop();
  });
});
