/**
 * Who may run workshops: the trainer's check, in one small place so that the dashboard's login
 * (`/admin`, ADMIN_USERS, its session cookie) can replace it. Today: `ADMIN_TOKEN`, given either as
 * `Authorization: Bearer <token>` or once on a login form that sets an HttpOnly, SameSite=Strict
 * cookie holding a keyed digest of the token (never the token itself).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';

const COOKIE = 'digit4sd_trainer';

function same(a: string, b: string): boolean {
  const d = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(d(a), d(b));
}

export interface TrainerAuth {
  /** Whether the request comes from a trainer. */
  check(req: Request): boolean;
  /** Checks a token typed on the login form; on success sets the session cookie. */
  login(req: Request, res: Response, token: string): boolean;
}

export function tokenTrainerAuth(adminToken: string): TrainerAuth {
  const session = createHmac('sha256', adminToken).update('digit4sd workshop trainer session v1').digest('base64url');
  const cookieOf = (req: Request): string | undefined => {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [name, ...value] = part.trim().split('=');
      if (name === COOKIE) return value.join('=');
    }
    return undefined;
  };
  return {
    check(req) {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (bearer) return same(bearer, adminToken);
      const cookie = cookieOf(req);
      return !!cookie && same(cookie, session);
    },
    login(req, res, token) {
      if (!token || !same(token, adminToken)) return false;
      res.cookie(COOKIE, session, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/workshops', maxAge: 12 * 3_600_000 });
      return true;
    },
  };
}
