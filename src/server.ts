/**
 * The one HTTP server on PORT: health endpoints and the channels' webhooks, with one error handler
 * for all of them.
 */
import express, { type ErrorRequestHandler, type Express } from 'express';
import { STATUS_CODES, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { safeError, type Logger } from './logger.js';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

/** How long one readiness check may take before it counts as failing: /readyz answers within 2 s. */
export const READY_CHECK_TIMEOUT_MS = 1500;

/** Rejects when `work` takes longer than `ms`. */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Builds the app with `/healthz` (the process is alive), `/readyz` (its dependencies answer, each
 * within {@link READY_CHECK_TIMEOUT_MS}) and, given a registry, `/metrics` (Prometheus). Errors are
 * answered by {@link httpErrorHandler}, added by {@link listen} after every route.
 */
export function createHttpApp(checks: ReadinessCheck[], metrics?: Registry, logger?: Logger): Express {
  const app = express();
  app.disable('x-powered-by');
  // Express's own last-resort handler prints stack traces unless its env is production; ours comes
  // first, and this keeps the fallback quiet too, whatever NODE_ENV says.
  app.set('env', 'production');
  if (logger) app.locals.logger = logger;
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
          await within(c.check(), READY_CHECK_TIMEOUT_MS);
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

/**
 * The one error handler of the HTTP server: answers with the status and its standard phrase only
 * (never the request body, an error message or a stack trace), and logs one structured line. A
 * refused request (4xx: a body that is not JSON, too large, ...) is logged without its message,
 * since body parsers quote the body in it.
 */
export function httpErrorHandler(logger?: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const e = (err ?? {}) as { status?: unknown; statusCode?: unknown; type?: unknown; name?: unknown };
    const given = Number(e.status ?? e.statusCode);
    const status = Number.isInteger(given) && given >= 400 && given < 600 ? given : 500;
    const fields = { where: 'http', method: req.method, route: req.route?.path ?? req.path, status };
    if (status < 500) logger?.warn({ ...fields, type: typeof e.type === 'string' ? e.type : String(e.name ?? 'Error') }, 'request refused');
    else logger?.error({ ...fields, error: safeError(err) }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(status).type('text/plain').send(STATUS_CODES[status] ?? 'Error');
  };
}

/** Adds the error handler after every route, then listens on `port` (0 picks a free one) and resolves once listening. */
export function listen(app: Express, port: number, host?: string): Promise<Server> {
  app.use((_req, res) => {
    res.status(404).type('text/plain').send(STATUS_CODES[404]);
  });
  app.use(httpErrorHandler(app.locals.logger as Logger | undefined));
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host ?? '0.0.0.0', (err?: Error) => (err ? reject(err) : resolve(server)));
  });
}
