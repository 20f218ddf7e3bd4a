/**
 * Finds Redis for the tests: the first candidate URL that answers PING; when none does and
 * redis-server is installed, starts one on a free port (stopped by `stop`); otherwise throws with a
 * message that says how to get Redis.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer, Socket } from 'node:net';

export function answers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port || 6379), hostname, () => {
      socket.write('PING\r\n');
      socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.once('error', reject);
  });
}

export interface TestRedis {
  url: string;
  /** Whether this run started its own redis-server. */
  started: boolean;
  stop(): Promise<void>;
}

export async function findOrStartRedis(candidates: string[]): Promise<TestRedis> {
  for (const url of candidates) if (await answers(url)) return { url, started: false, stop: async () => {} };
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error(
      `The tests need Redis, and none answers at ${candidates.join(' or ')}, and redis-server is not installed.\n` +
        'Install it (Debian/Ubuntu: apt-get install redis-server) or point REDIS_URL at a running Redis.',
    );
  }
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await answers(url)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await answers(url))) {
    child.kill();
    throw new Error(`started redis-server on port ${port}, but it does not answer`);
  }
  return {
    url,
    started: true,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}
