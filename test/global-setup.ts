/**
 * Makes sure Redis is there for the tests that need it: REDIS_URL, else 127.0.0.1:6379; when
 * neither answers and redis-server is installed, starts one on a free port for this run and stops
 * it afterwards; otherwise stops with a message that says how to get Redis.
 */
import type { TestProject } from 'vitest/node';
import type {} from 'vitest';
import { findOrStartRedis, type TestRedis } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let redis: TestRedis | undefined;

export async function setup(project: TestProject): Promise<void> {
  redis = await findOrStartRedis([process.env.REDIS_URL, 'redis://127.0.0.1:6379'].filter((u): u is string => !!u));
  if (redis.started) console.log(`No Redis answered: started redis-server at ${redis.url} for this run.`);
  project.provide('redisUrl', redis.url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}
