/**
 * The certificate as a one-page PDF (A4 landscape, pdfkit): the learner's chosen name, the
 * achievement, the issuer, the date, and a verification link with its QR code. The DejaVu Sans
 * font ships with the bot, so names in Latin, Greek and Cyrillic scripts print as typed.
 */
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import QRCode from 'qrcode';
import { t } from '../engine/i18n.js';
import type { Lang } from '../engine/state.js';
import type { Outbound } from '../messages.js';
import { certificateFilename } from '../engine/certificates.js';
import { longDate } from './credential.js';

const require = createRequire(import.meta.url);
const FONT = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');
const FONT_BOLD = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf');

export interface CertificateDocument {
  id: string;
  achievement: string;
  title: string;
  description: string;
  /** The name as printed; null once erased (then the document is not made). */
  name: string;
  issuer: string;
  lang: Lang;
  issuedAt: Date;
  verifyUrl: string;
}

/** Renders the PDF. */
export async function certificatePdf(c: CertificateDocument): Promise<Buffer> {
  const qr = await QRCode.toBuffer(c.verifyUrl, { type: 'png', errorCorrectionLevel: 'M', margin: 1, width: 240 });
  const doc = new PDFDocument({
    size: 'A4',
    layout: 'landscape',
    margin: 48,
    info: { Title: `${c.title}: ${c.name}`, Author: c.issuer, Subject: c.verifyUrl, CreationDate: c.issuedAt },
    lang: c.lang,
  });
  doc.registerFont('regular', FONT);
  doc.registerFont('bold', FONT_BOLD);
  const chunks: Buffer[] = [];
  doc.on('data', (b: Buffer) => chunks.push(b));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  const { width, height } = doc.page;
  const inner = width - 2 * 72;
  const accent = '#1a4d8f';
  doc.lineWidth(3).strokeColor(accent).rect(24, 24, width - 48, height - 48).stroke();
  doc.lineWidth(0.8).rect(32, 32, width - 64, height - 64).stroke();

  const center = (text: string, font: string, size: number, color = '#222222', gap = 8) => {
    doc.font(font).fontSize(size).fillColor(color).text(text, 72, doc.y, { width: inner, align: 'center' });
    doc.moveDown(gap / size);
  };
  doc.y = 70;
  center(c.issuer, 'regular', 12, '#555555', 14);
  center(t(c.lang, 'pdf.kind', { scope: c.achievement === 'course' ? 'course' : 'module' }), 'bold', 30, accent, 20);
  center(t(c.lang, 'pdf.certifies'), 'regular', 14, '#444444', 10);
  center(c.name, 'bold', 32, '#111111', 12);
  center(t(c.lang, 'pdf.completed'), 'regular', 14, '#444444', 10);
  center(c.title, 'bold', 18, accent, 10);
  center(c.description, 'regular', 11, '#444444', 14);
  center(t(c.lang, 'pdf.issued_on', { date: longDate(c.issuedAt, c.lang), issuer: c.issuer }), 'regular', 11, '#444444', 6);

  // The verification block at the foot: the QR code, the link and the number beside it.
  const qrSize = 96;
  const footY = height - 48 - qrSize - 16;
  doc.image(qr, 72, footY, { width: qrSize, height: qrSize });
  doc.font('regular').fontSize(10).fillColor('#444444').text(t(c.lang, 'pdf.check'), 72 + qrSize + 16, footY + 18, { width: inner - qrSize - 16 });
  doc.font('bold').fontSize(10).fillColor(accent).text(c.verifyUrl, { width: inner - qrSize - 16, link: c.verifyUrl, underline: true });
  doc.font('regular').fontSize(9).fillColor('#666666').text(t(c.lang, 'pdf.number', { id: c.id }), { width: inner - qrSize - 16 });
  doc.end();
  return done;
}

/** The certificate as a message: the PDF, and a caption with the verification link. */
export async function certificateMessage(c: CertificateDocument): Promise<Extract<Outbound, { kind: 'file' }>> {
  const pdf = await certificatePdf(c);
  return {
    kind: 'file',
    filename: certificateFilename(c.achievement, c.id),
    mediaType: 'application/pdf',
    base64: pdf.toString('base64'),
    caption: t(c.lang, 'certificate.document', { title: c.title, name: c.name, url: c.verifyUrl }),
    link: c.verifyUrl,
  };
}
