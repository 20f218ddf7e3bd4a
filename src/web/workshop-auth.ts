/**
 * Who may run workshops: the dashboard's login (`ADMIN_TOKEN` or `ADMIN_USERS`, checked by the
 * dashboard's {@link checkLogin}, slowed down by its {@link LoginThrottle}) and its signed session
 * format ({@link Sessions}), in a cookie for the workshop pages' path. `Authorization: Bearer
 * <ADMIN_TOKEN>` works too, for scripts. One small interface, so that the pages never see how.
 */
import type { Request, Response } from 'express';
import { checkLogin, LoginThrottle, sameSecret, Sessions, type AdminLogin } from './auth.js';

const COOKIE = 'digit4sd_trainer';

export interface TrainerAuth {
  /** Whether the request comes from a trainer. */
  check(req: Request): boolean;
  /** Checks a login form (name, and the token or password); on success sets the session cookie. */
  login(req: Request, res: Response, name: string, secret: string): Promise<boolean>;
  /** Whether the login form asks for a name (ADMIN_USERS) or only the token. */
  readonly named: boolean;
}

function readCookie(req: Request): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === COOKIE) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

export function trainerAuth(login: AdminLogin, now: () => Date = () => new Date()): TrainerAuth {
  // A key of its own (the workshop pages' cookie is not the dashboard's), from the same settings.
  const sessions = new Sessions(`workshop:${login.kind === 'token' ? `token:${login.token}` : `users:${login.users.map((u) => `${u.name}:${u.hash}`).join(',')}`}`, 12 * 3_600_000);
  const throttle = new LoginThrottle();
  return {
    named: login.kind === 'users',
    check(req) {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (bearer) return login.kind === 'token' && sameSecret(bearer, login.token);
      return sessions.verify(readCookie(req), now()) !== null;
    },
    async login(req, res, name, secret) {
      const who = req.ip ?? 'unknown';
      // An address that failed too often must wait (the dashboard's backoff) before it may try again.
      if (throttle.waitSeconds(who, now()) > 0) return false;
      const user = await checkLogin(login, name, secret);
      if (!user) {
        throttle.failure(who, now());
        return false;
      }
      throttle.success(who);
      res.cookie(COOKIE, sessions.issue(user, now()), { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/workshops', maxAge: sessions.ttlMs });
      return true;
    },
  };
}
