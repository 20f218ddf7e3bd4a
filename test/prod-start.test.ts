/**
 * `npm run build && npm run start:prod` from a fresh clone, with no setting at all: the compiled
 * entry must find the shipped course by itself and chat in the console. The build runs here when
 * `dist` is missing or older than the sources, so that the test never checks a stale build.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = process.cwd();
const entry = join(root, 'dist/src/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'digit4sd-prod-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

beforeAll(() => {
  const sources = Math.max(newest(join(root, 'src')), newest(join(root, 'adapters')));
  if (!existsSync(entry) || statSync(entry).mtimeMs < sources) execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'pipe' });
}, 120_000);

/** Runs `node dist/src/main.js` in an empty folder with nothing in the environment but PATH. */
function startProd(input: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cwd = mkdtempSync(join(tmp, 'clone-'));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [entry], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input.join('\n') + '\n');
  });
}

describe('npm run start:prod', () => {
  it('starts with no setting at all, finds the shipped course and answers in the console', async () => {
    const run = await startProd(['/progress']);
    expect(run.stderr).not.toMatch(/lessons folder does not exist/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/\d+ modules, \d+ lessons/);
    expect(run.stdout).toMatch(/Lessons finished|You have not started yet/);
  }, 30_000);

  it('still takes LESSONS_DIR when it is set', async () => {
    const run = await startProd(['/start'], { LESSONS_DIR: join(root, 'test/fixtures/course'), PORT: '0' });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/2 modules, 3 lessons/);
  }, 30_000);
});
