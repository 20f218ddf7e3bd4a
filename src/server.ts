/**
 * The one HTTP server on PORT: health endpoints now, the channels' webhooks as they are added.
 */
import express, { type Express } from 'express';
import type { Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

/**
 * Builds the app with `/healthz` (the process is alive), `/readyz` (its dependencies answer) and,
 * given a registry, `/metrics` (Prometheus).
 */
export function createHttpApp(checks: ReadinessCheck[], metrics?: Registry): Express {
  const app = express();
  app.disable('x-powered-by');
  if (metrics) {
    app.get('/metrics', async (_req, res) => {
      res.type(metrics.contentType).send(await metrics.metrics());
    });
  }
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      checks.map(async (c) => {
        try {
          await c.check();
          return [c.name, 'ok'] as const;
        } catch (err) {
          return [c.name, `failing: ${(err as Error).message}`] as const;
        }
      }),
    );
    const ok = results.every(([, r]) => r === 'ok');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready', checks: Object.fromEntries(results) });
  });
  return app;
}

/** Listens on `port` (0 picks a free one) and resolves once listening. */
export function listen(app: Express, port: number, host?: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host ?? '0.0.0.0', (err?: Error) => (err ? reject(err) : resolve(server)));
  });
}
