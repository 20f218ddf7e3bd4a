import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { ConsoleDelivery } from '../adapters/console/delivery.js';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyUrl } from '../src/certificates/credential.js';
import { mountCertificateRoutes } from '../src/certificates/http.js';
import { KEY_FILE, loadIssuerKey, verifyCredential, type Jwks } from '../src/certificates/issuer.js';
import { revokeCertificateCommand } from '../src/certificates/revoke.js';
import { CertificateService } from '../src/certificates/service.js';
import { loadConfig } from '../src/config.js';
import { cleanName } from '../src/engine/certificates.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import type { Outbound } from '../src/messages.js';
import { LearningBot } from '../src/runtime/bot.js';
import { createHttpApp, listen } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { Learner } from './certificate-driver.js';
import { TestClock, fixtureCourse } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'digit4sd-certificates-'));
const dbPath = join(dir, 'store.sqlite');
let store: SqliteStore;
let bot: LearningBot;
let server: Server;
let base: string;
const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));

beforeAll(async () => {
  store = new SqliteStore(dbPath);
  const http = createHttpApp([]);
  // The routes go on before the server listens (it adds its error handler last); the address is known after.
  const settings = { name: 'DiGIT4SD Test Programme', publicUrl: '' };
  const certificates = new CertificateService(settings, await loadIssuerKey({ dataDir: dir }));
  mountCertificateRoutes(http, { store, settings, jwks: certificates.issuer.jwks(), onError: vi.fn() });
  server = await listen(http, 0, '127.0.0.1');
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  settings.publicUrl = base;
  bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, now: clock.now, onError: (err) => { throw err; }, certificates });
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const fileOf = (messages: Outbound[]) => messages.find((m): m is Extract<Outbound, { kind: 'file' }> => m.kind === 'file');
const idOf = (url: string) => url.split('/verify/')[1]!;

async function page(id: string): Promise<{ status: number; html: string; verdict: string | undefined }> {
  const res = await fetch(`${base}/verify/${id}`);
  const html = await res.text();
  return { status: res.status, html, verdict: /data-status="(\w+)"/.exec(html)?.[1] };
}

/** Finishes module 1 (lessons l1 and l2) all right and asks for its badge with the name given. */
async function earnModuleBadge(learner: Learner, name: string): Promise<{ id: string; file: Extract<Outbound, { kind: 'file' }> }> {
  await learner.command('start');
  await learner.finishLesson('l1');
  await learner.finishLesson('l2');
  await learner.tap((a) => a.type === 'certificate');
  await learner.say(name);
  await learner.tap((a) => a.type === 'certificate_name' && a.ok);
  const file = fileOf(learner.last)!;
  expect(file, learner.text()).toBeDefined();
  return { id: idOf(file.link!), file };
}

describe('certificates', () => {
  it('offers the module badge when a module is finished, prints the typed name, and the credential verifies on /verify and offline', async () => {
    const amina = new Learner(bot, 'amina');
    await amina.command('start');
    await amina.finishLesson('l1');
    expect(amina.actions().some((a) => a.type === 'certificate')).toBe(false);
    await amina.finishLesson('l2');
    // The lesson that finishes module 1 offers its badge.
    expect(amina.text()).toMatch(/You have earned the badge for this module!/);
    await amina.tap((a) => a.type === 'certificate' && a.achievement === 'module:m1');
    expect(amina.text()).toMatch(/what name should be printed on it\?/);
    // The name typed, not the platform's ("amina").
    await amina.say('  Amina   Diallo-Ndiaye ');
    expect(amina.text()).toMatch(/Your certificate will read: Amina Diallo-Ndiaye/);
    await amina.tap((a) => a.type === 'certificate_name' && a.ok);
    expect(amina.text()).toMatch(/Your certificate for DiGIT4SD toolkit, module 1: Basics is issued/);

    const file = fileOf(amina.last)!;
    expect(file.mediaType).toBe('application/pdf');
    expect(Buffer.from(file.base64, 'base64').subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(file.caption).toContain('Amina Diallo-Ndiaye');
    const id = idOf(file.link!);
    expect(file.link).toBe(verifyUrl({ name: '', publicUrl: base }, id));
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const shown = await page(id);
    expect(shown.status).toBe(200);
    expect(shown.verdict).toBe('valid');
    expect(shown.html).toContain('Amina Diallo-Ndiaye');
    expect(shown.html).toContain('<html lang="en">');
    expect(shown.html).toContain('name="viewport"');

    // Offline: the signed credential and the published key are all a verifier needs.
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as Jwks;
    const jwt = await (await fetch(`${base}/verify/${id}.jwt`)).text();
    const check = await verifyCredential(jwt, jwks);
    expect(check.valid).toBe(true);
    if (!check.valid) return;
    const vc = check.credential;
    expect(vc['@context']).toEqual(['https://www.w3.org/ns/credentials/v2', 'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json']);
    expect(vc.type).toEqual(['VerifiableCredential', 'OpenBadgeCredential']);
    expect(vc.id).toBe(`urn:uuid:${id}`);
    expect(vc.issuer).toMatchObject({ id: `${base}/issuer`, type: ['Profile'], name: 'DiGIT4SD Test Programme' });
    expect(vc.validFrom).toBe(clock.now().toISOString());
    expect(vc.credentialSubject.identifier).toEqual([{ type: 'IdentityObject', identityType: 'name', hashed: false, identityHash: 'Amina Diallo-Ndiaye' }]);
    expect(vc.credentialSubject.achievement).toMatchObject({ type: ['Achievement'], achievementType: 'Badge', name: 'DiGIT4SD toolkit, module 1: Basics', inLanguage: 'en' });
    expect(vc.credentialSubject.achievement.criteria.narrative).toMatch(/at least 70% of the quiz questions answered right at the first try/);
    // No platform id anywhere in what is signed.
    const signed = jwt.split('.').map((p) => Buffer.from(p, 'base64url').toString('utf8')).join('');
    expect(signed).not.toContain('amina'); // the platform's user id (the printed name is "Amina ...")
    expect(signed).not.toContain('console');
    // The JSON form is the same credential.
    expect(await (await fetch(`${base}/verify/${id}.json`)).json()).toEqual(Object.fromEntries(Object.entries(vc).filter(([k]) => !['iss', 'jti', 'nbf'].includes(k))));
    // The issuer's profile answers at its id.
    expect(await (await fetch(`${base}/issuer`)).json()).toMatchObject({ id: `${base}/issuer`, name: 'DiGIT4SD Test Programme' });
  });

  it('finds a credential altered by one byte invalid, offline and on /verify', async () => {
    const { id } = await earnModuleBadge(new Learner(bot, 'bako'), 'Bako Traoré');
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as Jwks;
    const jwt = await (await fetch(`${base}/verify/${id}.jwt`)).text();
    expect((await verifyCredential(jwt, jwks)).valid).toBe(true);
    // One byte of the signed payload changed: "Bako" becomes "Bakp" in the name.
    const [h, p, s] = jwt.split('.') as [string, string, string];
    const payload = Buffer.from(p, 'base64url');
    const at = payload.indexOf('Bako');
    payload[at + 3] = payload[at + 3]! + 1;
    const forged = `${h}.${payload.toString('base64url')}.${s}`;
    expect(forged).not.toBe(jwt);
    expect(await verifyCredential(forged, jwks)).toMatchObject({ valid: false });
    // The same change made in the stored record: the page no longer calls it genuine.
    const db = new Database(dbPath);
    db.prepare('UPDATE certificates SET jwt = ? WHERE id = ?').run(forged, id);
    db.close();
    const shown = await page(id);
    expect(shown.verdict).toBe('tampered');
    expect(shown.html).toMatch(/Not genuine/);
    expect(shown.html).not.toContain('Bakp');
  });

  it('revokes a certificate with the operator command: /verify then says revoked', async () => {
    const { id, file } = await earnModuleBadge(new Learner(bot, 'chidi'), 'Chidi Okafor');
    expect((await page(id)).verdict).toBe('valid');
    clock.advance(86_400_000);
    expect(await revokeCertificateCommand(store, [file.link!], clock.now())).toEqual({ ok: true, message: expect.stringMatching(/is revoked/) });
    const shown = await page(id);
    expect(shown.verdict).toBe('revoked');
    expect(shown.html).toMatch(/Revoked: DiGIT4SD Test Programme withdrew this certificate on 3 March 2026/);
    expect(shown.html).not.toContain('Chidi Okafor');
    // Again: nothing changes; an unknown id and a missing one are refused with a clear line.
    expect((await revokeCertificateCommand(store, [id], clock.now())).message).toMatch(/already revoked/);
    expect(await revokeCertificateCommand(store, ['no-such-id'], clock.now())).toMatchObject({ ok: false, message: expect.stringMatching(/no certificate has the id no-such-id/) });
    expect(await revokeCertificateCommand(store, [], clock.now())).toMatchObject({ ok: false, message: expect.stringMatching(/^usage: npm run certificate:revoke/) });
  });

  it('answers an unknown number with 404 in the reader\'s language', async () => {
    const res = await fetch(`${base}/verify/00000000-0000-4000-8000-000000000000`, { headers: { 'Accept-Language': 'es' } });
    expect(res.status).toBe(404);
    const html = await res.text();
    expect(html).toContain('<html lang="es">');
    expect(html).toMatch(/Ningún certificado tiene este número/);
    expect((await fetch(`${base}/verify/00000000-0000-4000-8000-000000000000.json`)).status).toBe(404);
  });

  it('sends the same certificate again on a second /certificate, without issuing another', async () => {
    const learner = new Learner(bot, 'dina');
    const { id } = await earnModuleBadge(learner, 'Dina Haddad');
    await learner.command('certificate');
    expect(learner.text()).toMatch(/Here is your certificate for DiGIT4SD toolkit, module 1: Basics again/);
    expect(idOf(fileOf(learner.last)!.link!)).toBe(id);
    const state = (await store.getLearner({ channel: 'console', userId: 'dina' }))!.state;
    expect(state.certificates).toHaveLength(1);
  });

  it('says what it takes before a certificate is earned, and names a module finished below the score', async () => {
    const learner = new Learner(bot, 'emeka');
    await learner.command('start');
    await learner.command('certificate');
    expect(learner.text()).toMatch(/A certificate comes when you finish every lesson of a module .* with at least 70% of the quiz questions right at the first try/);
    // Module 1 finished with 1 of 4 and 1 of n right at the first try: below 70%.
    await learner.finishLesson('l1', (i) => i === 0);
    await learner.finishLesson('l2', (i) => i === 0);
    expect(learner.actions().some((a) => a.type === 'certificate')).toBe(false);
    // Taking the lessons again right does not change the first try.
    await learner.finishLesson('l1');
    await learner.finishLesson('l2');
    await learner.command('certificate');
    expect(learner.text()).toMatch(/DiGIT4SD toolkit, module 1: Basics: \d+% right at the first try \(70% needed\)/);
    expect(fileOf(learner.last)).toBeUndefined();
  });

  it('refuses a name that cannot be printed, and lets the learner change it before issuing', async () => {
    const learner = new Learner(bot, 'fatou');
    await learner.command('start');
    await learner.finishLesson('l1');
    await learner.finishLesson('l2');
    await learner.command('certificate');
    await learner.say('<script>');
    expect(learner.text()).toMatch(/cannot be printed as a name/);
    await learner.say('Fatou Sow');
    await learner.tap((a) => a.type === 'certificate_name' && !a.ok);
    expect(learner.text()).toMatch(/Type the name to print/);
    await learner.say('Fatou Binetou Sow');
    await learner.tap((a) => a.type === 'certificate_name' && a.ok);
    expect(fileOf(learner.last)!.caption).toContain('Fatou Binetou Sow');
    // Another command in the middle drops a draft: typed text is no longer taken as a name.
    await learner.command('menu');
    expect((await store.getLearner({ channel: 'console', userId: 'fatou' }))!.state.certificateDraft).toBeUndefined();
    expect(cleanName('Ngũgĩ wa Thiong’o')).toBe('Ngũgĩ wa Thiong’o');
    expect(cleanName('Дмитрий Иванов')).toBe('Дмитрий Иванов');
    expect(cleanName('x')).toBeUndefined();
    expect(cleanName('A'.repeat(81))).toBeUndefined();
    expect(cleanName('http://spam')).toBeUndefined();
  });

  it('shows certificates in /mydata; /forget erases the name, and /verify keeps only that one was issued', async () => {
    const learner = new Learner(bot, 'gloria', { lang: 'fr' });
    const { id } = await earnModuleBadge(learner, 'Gloria Mensah');
    expect(learner.text()).toMatch(/Gloria Mensah/);
    expect((await page(id)).html).toContain('<html lang="fr">');
    expect((await page(id)).html).toMatch(/Authentique/);

    await learner.command('mydata');
    expect(learner.text()).toMatch(/1 certificat délivré/);
    const data = learner.last.find((m) => m.kind === 'data');
    const exported = JSON.parse(data!.kind === 'data' ? data!.json : '{}') as { certificates: { id: string; name: string; credential: string }[] };
    expect(exported.certificates).toMatchObject([{ id, name: 'Gloria Mensah' }]);
    expect(exported.certificates[0]!.credential.split('.')).toHaveLength(3);

    await learner.command('forget');
    await learner.tap((a) => a.type === 'forget' && a.confirm);
    const shown = await page(id);
    expect(shown.verdict).toBe('erased');
    expect(shown.html).not.toContain('Gloria');
    expect(shown.html).toMatch(/son titulaire a depuis effacé ses données/);
    expect((await fetch(`${base}/verify/${id}.jwt`)).status).toBe(410);
    const row = await store.getCertificate(id);
    expect(row).toMatchObject({ learner: null, name: null, jwt: null });
    expect(row!.hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('certificates on the console', () => {
  it('saves the PDF in the data folder and deletes it on /forget', async () => {
    const learner = new Learner(bot, 'hawa');
    await earnModuleBadge(learner, 'Hawa Kamara');
    const consoleDir = mkdtempSync(join(tmpdir(), 'digit4sd-console-cert-'));
    try {
      let printed = '';
      const output = new PassThrough();
      output.on('data', (d: Buffer) => (printed += d.toString()));
      const delivery = new ConsoleDelivery({ output, ansi: false, dataDir: consoleDir, prompt: false });
      await delivery.deliver(learner.last);
      const file = fileOf(learner.last)!;
      const path = join(consoleDir, file.filename);
      expect(printed).toContain(path);
      expect(printed).toContain('Hawa Kamara');
      expect(readFileSync(path).subarray(0, 5).toString('latin1')).toBe('%PDF-');
      expect(statSync(path).mode & 0o777).toBe(0o600);
      await learner.command('forget');
      await learner.tap((a) => a.type === 'forget' && a.confirm);
      await delivery.deliver(learner.last);
      expect(existsSync(path)).toBe(false);
    } finally {
      rmSync(consoleDir, { recursive: true, force: true });
    }
  });
});

describe('the issuer key', () => {
  it('is generated once in DATA_DIR, readable by its owner only, and reused', async () => {
    const keyDir = mkdtempSync(join(tmpdir(), 'digit4sd-key-'));
    try {
      const first = await loadIssuerKey({ dataDir: keyDir });
      const path = join(keyDir, KEY_FILE);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const again = await loadIssuerKey({ dataDir: keyDir });
      expect(again.publicJwk).toEqual(first.publicJwk);
      // Given as a setting, the same key gives the same published key.
      const given = await loadIssuerKey({ dataDir: join(keyDir, 'elsewhere'), pem: readFileSync(path, 'utf8') });
      expect(given.publicJwk).toEqual(first.publicJwk);
      expect(first.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
      expect(first.publicJwk).not.toHaveProperty('d');
    } finally {
      rmSync(keyDir, { recursive: true, force: true });
    }
  });

  it('settings: a bad key, score or URL is named with its fix', () => {
    expect(() => loadConfig({ CERTIFICATE_KEY: 'not a key' })).toThrow(/CERTIFICATE_KEY: is not an Ed25519 private key.*got a value that is not valid.*openssl genpkey -algorithm ed25519/);
    expect(() => loadConfig({ CERTIFICATE_MIN_SCORE: '1.5' })).toThrow(/CERTIFICATE_MIN_SCORE: .*Fix: set CERTIFICATE_MIN_SCORE/);
    expect(() => loadConfig({ PUBLIC_URL: 'learn.example.org' })).toThrow(/PUBLIC_URL: must be an http/);
    const config = loadConfig({ PORT: '8080' });
    expect(config.publicUrl).toBe('http://localhost:8080');
    expect(config.certificates).toEqual({ minScore: 0.7, issuerName: 'DiGIT4SD Learning Programme' });
    expect(loadConfig({ PUBLIC_URL: 'https://learn.example.org/' }).publicUrl).toBe('https://learn.example.org');
  });
});
