/**
 * The issuer's key and signature: certificates are signed as VC-JWT (a compact JWS with EdDSA over
 * Ed25519, the JOSE proof format that Open Badges 3.0 allows) with the `jose` library, and verify
 * offline against the published key set (`/.well-known/jwks.json`).
 *
 * ```ts
 * const issuer = new CertificateIssuer(settings, loadIssuerKey({ dataDir: './data' }));
 * const record = await issuer.sign(issue, learnerKey);
 * await verifyCredential(record.jwt!, issuer.jwks()); // { valid: true, credential }
 * ```
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, exportJWK, jwtVerify, type JWK } from 'jose';
import type { CertificateIssue } from '../engine/certificates.js';
import type { LearnerKey } from '../messages.js';
import type { CertificateRecord } from '../store/store.js';
import { buildCredential, issuerId, type IssuerSettings, type OpenBadgeCredential } from './credential.js';

/** The file the generated key is kept in, under DATA_DIR. */
export const KEY_FILE = 'certificate-key.pem';

export interface IssuerKey {
  privateKey: KeyObject;
  /** The public key as a JWK, with its id (the RFC 7638 thumbprint). */
  publicJwk: JWK & { kid: string };
}

/** Thrown when the configured or stored key is not an Ed25519 private key. */
export class IssuerKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IssuerKeyError';
  }
}

/** Reads an Ed25519 private key from PEM (PKCS #8); throws {@link IssuerKeyError} for anything else. */
export function parseIssuerKey(pem: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new IssuerKeyError(`${where} is not a PEM private key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new IssuerKeyError(`${where} is a ${key.asymmetricKeyType ?? 'symmetric'} key; certificates need an Ed25519 key`);
  return key;
}

/**
 * The issuer's key: the one given (CERTIFICATE_KEY), else the one kept in `DATA_DIR`, else a new
 * one generated and kept there (readable by its owner only). Keep that file: certificates signed
 * with a lost key can no longer be checked against the published key set.
 */
export async function loadIssuerKey(opts: { pem?: string; dataDir: string }): Promise<IssuerKey> {
  let privateKey: KeyObject;
  if (opts.pem) privateKey = parseIssuerKey(opts.pem, 'CERTIFICATE_KEY');
  else {
    const path = join(opts.dataDir, KEY_FILE);
    if (existsSync(path)) privateKey = parseIssuerKey(readFileSync(path, 'utf8'), path);
    else {
      privateKey = generateKeyPairSync('ed25519').privateKey;
      mkdirSync(opts.dataDir, { recursive: true });
      writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
      chmodSync(path, 0o600);
    }
  }
  const jwk = await exportJWK(createPublicKey(privateKey));
  const kid = await calculateJwkThumbprint(jwk);
  return { privateKey, publicJwk: { ...jwk, kid, alg: 'EdDSA', use: 'sig' } };
}

/** A JSON Web Key Set with the issuer's public key, as published at `/.well-known/jwks.json`. */
export interface Jwks {
  keys: JWK[];
}

/** SHA-256 of a signed credential, in hex: what stays of it after its holder's erasure. */
export function credentialHash(jwt: string): string {
  return createHash('sha256').update(jwt, 'utf8').digest('hex');
}

export class CertificateIssuer {
  constructor(
    readonly settings: IssuerSettings,
    private readonly key: IssuerKey,
  ) {}

  jwks(): Jwks {
    return { keys: [this.key.publicJwk] };
  }

  /** Builds the credential for what the engine decided and signs it: the record to store in the learner's commit. */
  async sign(issue: CertificateIssue, learner: LearnerKey): Promise<CertificateRecord> {
    const credential = buildCredential(this.settings, issue);
    const jwt = await new SignJWT({ ...credential })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: this.key.publicJwk.kid })
      .setIssuer(issuerId(this.settings))
      .setJti(credential.id)
      .setNotBefore(Math.floor(new Date(issue.issuedAt).getTime() / 1000))
      .sign(this.key.privateKey);
    return {
      id: issue.id,
      learner,
      achievement: issue.achievement,
      title: issue.title,
      lang: issue.lang,
      name: issue.name,
      jwt,
      hash: credentialHash(jwt),
      issuedAt: new Date(issue.issuedAt),
      revokedAt: null,
    };
  }
}

export type Verification = { valid: true; credential: OpenBadgeCredential } | { valid: false; reason: string };

/**
 * Checks a signed credential against a key set (the issuer's published one): the signature, the
 * algorithm, and that the registered claims agree with the credential. Works offline.
 */
export async function verifyCredential(jwt: string, jwks: Jwks): Promise<Verification> {
  try {
    const header = decodeProtectedHeader(jwt);
    if (header.alg !== 'EdDSA') return { valid: false, reason: `unexpected algorithm ${String(header.alg)}` };
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks), { algorithms: ['EdDSA'] });
    const credential = payload as unknown as OpenBadgeCredential & { iss?: string; jti?: string };
    if (!credential.type?.includes('OpenBadgeCredential')) return { valid: false, reason: 'not an OpenBadgeCredential' };
    if (credential.jti !== credential.id || credential.iss !== credential.issuer?.id) return { valid: false, reason: 'claims do not match the credential' };
    return { valid: true, credential };
  } catch (err) {
    return { valid: false, reason: (err as Error).message };
  }
}
