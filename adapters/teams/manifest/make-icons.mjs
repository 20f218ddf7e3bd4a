/**
 * Draws the two Teams app icons as PNG files: color.png (192x192, UN blue with a white ring and
 * dot) and outline.png (32x32, white on transparent, as Teams requires). Run once; the PNGs are
 * committed. `node adapters/teams/manifest/make-icons.mjs`
 */
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { crc32 } from './crc32.mjs';

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** An RGBA PNG from a pixel function (x, y) => [r, g, b, a]. */
function png(size, pixel) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) raw.set(pixel(x, y), y * (size * 4 + 1) + 1 + x * 4);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A ring and a centre dot, in units of the icon's size. */
function mark(size, x, y) {
  const c = (size - 1) / 2;
  const d = Math.hypot(x - c, y - c) / size;
  return (d > 0.3 && d < 0.4) || d < 0.12;
}

const here = new URL('.', import.meta.url);
writeFileSync(new URL('color.png', here), png(192, (x, y) => (mark(192, x, y) ? [255, 255, 255, 255] : [0, 158, 219, 255])));
writeFileSync(new URL('outline.png', here), png(32, (x, y) => (mark(32, x, y) ? [255, 255, 255, 255] : [0, 0, 0, 0])));
console.log('wrote color.png (192x192) and outline.png (32x32)');
