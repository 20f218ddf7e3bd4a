/**
 * The public side of certificates, on the one HTTP server (PORT):
 * - `GET /verify/<id>`: a page, readable on a phone, in the certificate's language, saying whether
 *   the certificate is genuine and not revoked;
 * - `GET /verify/<id>.json`: the credential (Open Badges 3.0 JSON), `GET /verify/<id>.jwt`: the
 *   signed credential (VC-JWT) to verify offline;
 * - `GET /.well-known/jwks.json`: the issuer's public key; `GET /issuer`: the issuer's profile.
 */
import type { Express, Response } from 'express';
import { decodeJwt } from 'jose';
import { t } from '../engine/i18n.js';
import type { Lang } from '../engine/state.js';
import type { CertificateRecord, Store } from '../store/store.js';
import { issuerId, longDate, type IssuerSettings, type OpenBadgeCredential } from './credential.js';
import { credentialHash, verifyCredential, type Jwks } from './issuer.js';

/** What `/verify/<id>` finds. */
export type CertificateStatus =
  | { status: 'valid'; record: CertificateRecord; credential: OpenBadgeCredential }
  | { status: 'revoked'; record: CertificateRecord }
  | { status: 'erased'; record: CertificateRecord }
  | { status: 'tampered'; record: CertificateRecord }
  | { status: 'unknown' };

/** Looks a certificate up and checks its stored credential against the issuer's key and the recorded hash. */
export async function certificateStatus(store: Store, jwks: Jwks, id: string): Promise<CertificateStatus> {
  const record = /^[\w-]{1,64}$/.test(id) ? await store.getCertificate(id) : null;
  if (!record) return { status: 'unknown' };
  if (record.revokedAt) return { status: 'revoked', record };
  if (!record.jwt) return { status: 'erased', record };
  const check = await verifyCredential(record.jwt, jwks);
  if (!check.valid || credentialHash(record.jwt) !== record.hash || check.credential.id !== `urn:uuid:${record.id}`) return { status: 'tampered', record };
  return { status: 'valid', record, credential: check.credential };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The verification page. */
export function verifyPage(result: CertificateStatus, settings: IssuerSettings, fallbackLang: Lang): string {
  const lang = result.status === 'unknown' ? fallbackLang : result.record.lang;
  const tr = (key: string, vars?: Record<string, string | number>) => escapeHtml(t(lang, key, vars));
  const issuer = settings.name;
  const rows: [string, string][] = [];
  let verdict: string;
  let tone: 'ok' | 'bad' | 'neutral';
  switch (result.status) {
    case 'valid': {
      const a = result.credential.credentialSubject.achievement;
      verdict = tr('verify.valid', { issuer });
      tone = 'ok';
      rows.push(
        [tr('verify.holder'), escapeHtml(result.record.name ?? '')],
        [tr('verify.achievement'), `${escapeHtml(a.name)}<br><small>${escapeHtml(a.description)}</small>`],
        [tr('verify.criteria'), escapeHtml(a.criteria.narrative)],
        [tr('verify.issued_on'), escapeHtml(longDate(result.record.issuedAt, lang))],
      );
      break;
    }
    case 'revoked':
      verdict = tr('verify.revoked', { issuer, date: longDate(result.record.revokedAt!, lang) });
      tone = 'bad';
      rows.push([tr('verify.achievement'), escapeHtml(result.record.title)], [tr('verify.issued_on'), escapeHtml(longDate(result.record.issuedAt, lang))]);
      break;
    case 'erased':
      verdict = tr('verify.erased', { issuer, date: longDate(result.record.issuedAt, lang) });
      tone = 'neutral';
      rows.push([tr('verify.achievement'), escapeHtml(result.record.title)], ['SHA-256', `<code>${escapeHtml(result.record.hash)}</code>`]);
      break;
    case 'tampered':
      verdict = tr('verify.tampered');
      tone = 'bad';
      break;
    case 'unknown':
      verdict = tr('verify.unknown');
      tone = 'bad';
      break;
  }
  if (result.status !== 'unknown') rows.push([tr('verify.number'), `<code>${escapeHtml(result.record.id)}</code>`]);
  const offline =
    result.status === 'valid'
      ? `<p class="small">${t(lang, 'verify.offline', {
          credential: `<a href="${escapeHtml(result.record.id)}.jwt">${escapeHtml(result.record.id)}.jwt</a>`,
          keys: `<a href="/.well-known/jwks.json">jwks.json</a>`,
        })}</p>`
      : '';
  const mark = tone === 'ok' ? '✔' : tone === 'bad' ? '✘' : 'ℹ';
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${tr('verify.title')}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem;background:#f5f6f8;color:#1d1d1f;line-height:1.45}
main{max-width:36rem;margin:0 auto;background:#fff;border-radius:10px;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.25rem;margin:0 0 .75rem}
.verdict{padding:.75rem 1rem;border-radius:8px;font-weight:600;margin-bottom:1rem}
.ok{background:#e6f4ea;color:#0f5323}.bad{background:#fde8e8;color:#8a1c1c}.neutral{background:#eef2f7;color:#243b55}
dl{margin:0}dt{font-size:.85rem;color:#555;margin-top:.75rem}dd{margin:.1rem 0 0;font-size:1.05rem;overflow-wrap:anywhere}
small,.small{font-size:.85rem;color:#555}code{font-size:.8rem}
</style>
</head>
<body>
<main>
<h1>${tr('verify.title')}</h1>
<p class="verdict ${tone}" id="verdict" data-status="${result.status}">${mark} ${verdict}</p>
<dl>
${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('\n')}
</dl>
${offline}
<p class="small">${escapeHtml(issuer)} · <a href="${escapeHtml(settings.publicUrl)}">${escapeHtml(settings.publicUrl)}</a></p>
</main>
</body>
</html>
`;
}

/** Mounts the certificate routes on the shared HTTP app. */
export function mountCertificateRoutes(app: Express, opts: { store: Store; settings: IssuerSettings; jwks: Jwks; onError: (err: unknown, context: Record<string, unknown>) => void }): void {
  const { store, settings, jwks } = opts;
  const fail = (res: Response, err: unknown, where: string) => {
    opts.onError(err, { where });
    res.status(500).type('text/plain').send('internal error');
  };
  app.get('/.well-known/jwks.json', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=3600').json(jwks);
  });
  app.get('/issuer', (_req, res) => {
    res.json({
      '@context': ['https://www.w3.org/ns/credentials/v2', 'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json'],
      id: issuerId(settings),
      type: ['Profile'],
      name: settings.name,
      url: settings.publicUrl,
    });
  });
  app.get('/verify/:file', async (req, res) => {
    try {
      const file = String(req.params.file);
      const [, id, ext] = /^([^.]+)(?:\.(json|jwt))?$/.exec(file) ?? [];
      const result = await certificateStatus(store, jwks, id ?? '');
      res.set('Cache-Control', 'no-store');
      if (!ext) {
        const accept = req.acceptsLanguages('en', 'fr', 'es');
        res.status(result.status === 'unknown' ? 404 : 200).type('html').send(verifyPage(result, settings, accept === 'fr' || accept === 'es' ? accept : 'en'));
        return;
      }
      // The files are there only while the holder keeps them (not after /forget); a revoked one stays readable.
      const jwt = result.status === 'unknown' ? null : result.record.jwt;
      if (!jwt) {
        res.status(result.status === 'unknown' ? 404 : 410).json({ status: result.status });
        return;
      }
      if (ext === 'jwt') res.type('application/jwt').send(jwt);
      else {
        // The credential itself, without the JWT's registered claims (iss, jti, nbf repeat its own fields).
        const { iss: _iss, jti: _jti, nbf: _nbf, ...credential } = decodeJwt(jwt);
        res.json(credential);
      }
    } catch (err) {
      fail(res, err, 'verify-page');
    }
  });
}
