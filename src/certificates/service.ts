/**
 * What the runtime needs to carry out the engine's certificate effects: sign an issue into a
 * record for the learner's commit, and turn a stored record into the message with its PDF.
 */
import { decodeJwt } from 'jose';
import type { CertificateIssue } from '../engine/certificates.js';
import type { LearnerKey, Outbound } from '../messages.js';
import type { CertificateRecord } from '../store/store.js';
import { verifyUrl, type IssuerSettings, type OpenBadgeCredential } from './credential.js';
import { CertificateIssuer, type IssuerKey } from './issuer.js';

export class CertificateService {
  readonly issuer: CertificateIssuer;

  constructor(
    readonly settings: IssuerSettings,
    key: IssuerKey,
  ) {
    this.issuer = new CertificateIssuer(settings, key);
  }

  sign(issue: CertificateIssue, learner: LearnerKey): Promise<CertificateRecord> {
    return this.issuer.sign(issue, learner);
  }

  /** The certificate's PDF as a message, made from the stored signed credential. */
  async message(record: CertificateRecord): Promise<Outbound> {
    if (!record.jwt || !record.name) throw new Error(`certificate ${record.id} has been erased and cannot be sent`);
    const credential = decodeJwt(record.jwt) as unknown as OpenBadgeCredential;
    // pdfkit and its fonts load on the first certificate, not at start-up.
    const { certificateMessage } = await import('./pdf.js');
    return certificateMessage({
      id: record.id,
      achievement: record.achievement,
      title: record.title,
      description: credential.credentialSubject.achievement.description,
      name: record.name,
      issuer: this.settings.name,
      lang: record.lang,
      issuedAt: record.issuedAt,
      verifyUrl: verifyUrl(this.settings, record.id),
    });
  }
}
