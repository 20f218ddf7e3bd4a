/**
 * The certificate as data: an Open Badges 3.0 credential (a W3C Verifiable Credential of type
 * `OpenBadgeCredential`, data model 2.0), built from what the engine decided and the issuer's
 * settings. Pure: no clock, no key, no I/O; signing happens in `issuer.ts`.
 *
 * ```ts
 * const vc = buildCredential(issuer, { id, achievement, name: 'Amina Diallo', lang: 'fr', issuedAt });
 * ```
 */
import type { CertificateIssue } from '../engine/certificates.js';
import type { Lang } from '../engine/state.js';

/** The contexts of an Open Badges 3.0 credential, in the order the specification requires. */
export const OB3_CONTEXT = ['https://www.w3.org/ns/credentials/v2', 'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json'] as const;

/** Who issues the certificates (from settings). */
export interface IssuerSettings {
  /** The issuer's name as printed and signed (CERTIFICATE_ISSUER_NAME). */
  name: string;
  /** Where the bot is reached from outside, without a trailing slash (PUBLIC_URL). */
  publicUrl: string;
}

/** An Open Badges 3.0 credential as JSON (the fields this bot sets; the specification allows more). */
export interface OpenBadgeCredential {
  '@context': readonly string[];
  id: string;
  type: ['VerifiableCredential', 'OpenBadgeCredential'];
  name: string;
  issuer: { id: string; type: ['Profile']; name: string; url: string };
  validFrom: string;
  credentialSubject: {
    type: ['AchievementSubject'];
    identifier: { type: 'IdentityObject'; identityType: 'name'; hashed: false; identityHash: string }[];
    achievement: OpenBadgeAchievement;
  };
}

export interface OpenBadgeAchievement {
  id: string;
  type: ['Achievement'];
  achievementType: 'Certificate' | 'Badge';
  name: string;
  description: string;
  criteria: { narrative: string };
  inLanguage: string;
}

/** The page a person opens to check a certificate. */
export function verifyUrl(issuer: IssuerSettings, id: string): string {
  return `${issuer.publicUrl}/verify/${id}`;
}

/** The issuer's profile id: a URL that answers with the issuer's profile. */
export function issuerId(issuer: IssuerSettings): string {
  return `${issuer.publicUrl}/issuer`;
}

/** The achievement's id: one per course or module, the same for every learner. */
export function achievementId(issuer: IssuerSettings, achievement: string): string {
  return `${issuer.publicUrl}/achievements/${achievement.replace(':', '/')}`;
}

/** The achievement as Open Badges describes it, in the learner's language. */
export function buildAchievement(issuer: IssuerSettings, issue: Pick<CertificateIssue, 'achievement' | 'title' | 'description' | 'criteria' | 'lang'>): OpenBadgeAchievement {
  return {
    id: achievementId(issuer, issue.achievement),
    type: ['Achievement'],
    achievementType: issue.achievement === 'course' ? 'Certificate' : 'Badge',
    name: issue.title,
    description: issue.description,
    criteria: { narrative: issue.criteria },
    inLanguage: issue.lang,
  };
}

/**
 * The credential for one issue. The learner is identified only by the name they chose to print
 * (an `IdentityObject` of type `name`): never a platform id.
 */
export function buildCredential(issuer: IssuerSettings, issue: CertificateIssue): OpenBadgeCredential {
  return {
    '@context': OB3_CONTEXT,
    id: `urn:uuid:${issue.id}`,
    type: ['VerifiableCredential', 'OpenBadgeCredential'],
    name: issue.title,
    issuer: { id: issuerId(issuer), type: ['Profile'], name: issuer.name, url: issuer.publicUrl },
    validFrom: issue.issuedAt,
    credentialSubject: {
      type: ['AchievementSubject'],
      identifier: [{ type: 'IdentityObject', identityType: 'name', hashed: false, identityHash: issue.name }],
      achievement: buildAchievement(issuer, issue),
    },
  };
}

/** The date as the certificate's language writes it ("3 March 2026", "3 mars 2026", "3 de marzo de 2026"). */
export function longDate(date: Date, lang: Lang): string {
  return date.toLocaleDateString(lang === 'en' ? 'en-GB' : lang, { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
}
