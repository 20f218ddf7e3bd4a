/**
 * Makes sure Redis is there for the tests that need it: REDIS_URL, else 127.0.0.1:6379; when
 * neither answers and redis-server is installed, starts one on a free port for this run and stops
 * it afterwards; otherwise stops with a message that says how to get Redis.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import type { TestProject } from 'vitest/node';
import type {} from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

function answers(url: string): Promise<boolean> {
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

let child: ChildProcess | undefined;

export async function setup(project: TestProject): Promise<void> {
  const candidates = [process.env.REDIS_URL, 'redis://127.0.0.1:6379'].filter((u): u is string => !!u);
  for (const url of candidates) {
    if (await answers(url)) {
      project.provide('redisUrl', url);
      return;
    }
  }
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error(
      'The tests need Redis, and none answers at REDIS_URL or 127.0.0.1:6379, and redis-server is not installed.\n' +
        'Install it (Debian/Ubuntu: apt-get install redis-server) or point REDIS_URL at a running Redis.',
    );
  }
  const port = await freePort();
  child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await answers(url)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await answers(url))) throw new Error(`started redis-server on port ${port}, but it does not answer`);
  project.provide('redisUrl', url);
}

export async function teardown(): Promise<void> {
  child?.kill();
}
