/**
 * A test fixture in a process of its own (node with tsx's loader, one process so that a signal
 * reaches the fixture itself): for the kill -9, restart and two-process tests.
 *
 * ```ts
 * const { child, port } = await startFixture('test/fixtures/durable-bot.ts', [dataDir, 'REDIS_URL=...'], cleanups);
 * ```
 * Resolves once the fixture prints "ready" (with its port when it prints one, "ready 41234"); rejects
 * with its stderr if it exits first. After the test (`cleanups`), a process still running is ended
 * with `kill` (SIGKILL by default: nothing of it is kept; SIGTERM for a clean shutdown).
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Fixture {
  child: ChildProcess;
  /** The port it printed after "ready" (0 when it printed none). */
  port: number;
  /** What it wrote on stderr so far. */
  stderr(): string;
}

export function startFixture(script: string, args: string[], cleanups: (() => Promise<void>)[], kill: NodeJS.Signals = 'SIGKILL'): Promise<Fixture> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(kill);
    await exited;
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready(?: (\d+))?/.exec(out);
      if (m) resolve({ child, port: Number(m[1] ?? 0), stderr: () => err });
    });
    child.once('exit', (code) => reject(new Error(`${script} exited early with ${code}: ${err.slice(0, 2000)}`)));
  });
}
