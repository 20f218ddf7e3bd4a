/**
 * Shared pieces of the benchmarks under `bench/`: child processes and what they cost (CPU time and
 * resident memory read from /proc, children included), percentiles, free ports, waiting for a
 * server, and recording a result section in BENCHMARKS.md with the command, the date and the machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

/** The repository's root (benchmarks run from `dist/bench`, sources live in `bench`). */
export const ROOT = fileURLToPath(new URL(existsSync(new URL('../../package.json', import.meta.url)) ? '../../' : '../', import.meta.url));

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** The process ids of `pid` and all its descendants. */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // The process ended while we read the list.
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** CPU time (user + system) of a process and its descendants, in milliseconds. */
export function cpuMs(pid: number): number {
  const { user, system } = cpuSplitMs(pid);
  return user + system;
}

/** User and system CPU time of a process and its descendants, in milliseconds. */
export function cpuSplitMs(pid: number): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const p of tree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(fields[11]); // utime (field 14 of stat)
      system += Number(fields[12]); // stime (field 15)
    } catch {
      // Gone.
    }
  }
  return { user: (user * 1000) / CLOCK_TICKS, system: (system * 1000) / CLOCK_TICKS };
}

/** Resident memory of a process and its descendants, in MB (VmRSS). */
export function rssMb(pid: number): number {
  let kb = 0;
  for (const p of tree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // Gone.
    }
  }
  return kb / 1024;
}

/** Peak resident memory (VmHWM) of one process, in MB. */
export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** The p-th percentile (0-100) of a list of numbers, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `node <script>` (a file under dist/) with the given environment; its output is kept for errors. */
export function startNode(script: string, env: Record<string, string>, args: string[] = []): ChildProcess & { output: () => string } {
  // BENCH_PROFILE=<dir>: write a CPU profile of each started process there (node --cpu-prof).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, ...args, script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...(process.env.LESSONS_DIR ? { LESSONS_DIR: process.env.LESSONS_DIR } : {}), ...(process.env.SQLITE_SYNCHRONOUS ? { SQLITE_SYNCHRONOUS: process.env.SQLITE_SYNCHRONOUS } : {}), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return Object.assign(child, { output: () => output });
}

/** Waits until `url` answers 200, or throws after `timeoutMs`. */
export async function waitHttp(url: string, timeoutMs = 20_000, child?: { exitCode: number | null; output?: () => string }): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child && child.exitCode !== null) throw new Error(`the process exited (${child.exitCode}) before ${url} answered:\n${child.output?.() ?? ''}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms${child?.output ? `:\n${child.output()}` : ''}`);
}

/** Stops a child with SIGTERM and waits for its exit (SIGKILL after 10 s). */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Runs `work` on up to `concurrency` items at a time. */
export async function pool<T>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i]!, i);
    }
  });
  await Promise.all(runners);
}

/** One line that says what machine a result comes from. */
export function machine(): string {
  const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  return `${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node.js ${process.versions.node}`;
}

export const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/**
 * Writes (or replaces) the section `name` of BENCHMARKS.md, between the markers
 * `<!-- bench:name -->` and `<!-- /bench:name -->`, with the command, date and machine on top.
 * Set BENCH_NO_RECORD=1 to print only.
 */
export function record(name: string, title: string, command: string, body: string): void {
  const section = [
    `<!-- bench:${name} -->`,
    `### ${title}`,
    '',
    `\`${command}\`, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${machine()}.`,
    '',
    body.trim(),
    `<!-- /bench:${name} -->`,
  ].join('\n');
  process.stdout.write(`\n${section}\n`);
  if (process.env.BENCH_NO_RECORD === '1') return;
  const path = `${ROOT}BENCHMARKS.md`;
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const re = new RegExp(`<!-- bench:${name} -->[\\s\\S]*?<!-- /bench:${name} -->`);
  const marker = '<!-- bench:results -->';
  let next: string;
  if (re.test(text)) next = text.replace(re, () => section);
  else if (text.includes(marker)) next = text.replace(marker, () => `${marker}\n\n${section}`);
  else next = `${text.trimEnd()}\n\n## Latest results of \`npm run bench\`\n\n${marker}\n\n${section}\n`;
  writeFileSync(path, next);
}
