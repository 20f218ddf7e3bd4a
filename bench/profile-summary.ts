/**
 * Summarises `.cpuprofile` files (from `node --cpu-prof`, e.g. `BENCH_PROFILE=prof npm run bench:channels`):
 * the functions with the most self time, and the packages or project folders where the time goes.
 *
 * `node dist/bench/profile-summary.js prof/CPU.*.cpuprofile`
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

for (const file of process.argv.slice(2)) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const where = (url: string) => {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    if (m) return m[1]!;
    const d = /\/dist\/([^/]+\/[^/]+)/.exec(url);
    if (d) return d[1]!;
    return url.startsWith('node:') ? 'node (built-in)' : url ? url.split('/').slice(-2).join('/') : '(native, GC, idle)';
  };
  const fns = new Map<string, number>();
  const places = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const name = `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    fns.set(name, (fns.get(name) ?? 0) + us);
    places.set(where(n.callFrame.url), (places.get(where(n.callFrame.url)) ?? 0) + us);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `  ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`).join('\n');
  process.stdout.write(`${file}: ${(total / 1000).toFixed(0)} ms sampled\nBy package or folder:\n${top(places, 15)}\nBy function (self time):\n${top(fns, 25)}\n\n`);
}
