/**
 * Builds the Teams app package: a zip of manifest.json (with the bot's app id filled in),
 * color.png and outline.png, at the top level of the archive as Teams requires.
 *
 *   node adapters/teams/manifest/package.mjs --app-id <MICROSOFT_APP_ID> [--out digit4sd-teams.zip]
 *
 * Node has no zip writer built in, so this is a minimal one (deflate via zlib, CRC-32, one central
 * directory); it adds no dependency.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { crc32 } from './crc32.mjs';

const args = process.argv.slice(2);
const arg = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const appId = arg('--app-id');
const out = resolve(arg('--out') ?? 'digit4sd-teams.zip');
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
if (!appId || !GUID.test(appId)) {
  console.error('Usage: node adapters/teams/manifest/package.mjs --app-id <MICROSOFT_APP_ID> [--out file.zip]');
  console.error("The app id is the bot's Microsoft App ID (a GUID such as 00000000-0000-0000-0000-000000000000), from its Azure Bot resource.");
  process.exit(2);
}

const here = new URL('.', import.meta.url);
const manifest = readFileSync(new URL('manifest.json', here), 'utf8').replaceAll('{{MICROSOFT_APP_ID}}', appId);
JSON.parse(manifest); // fail here, not in Teams, if the template is broken
const files = [
  ['manifest.json', Buffer.from(manifest, 'utf8')],
  ['color.png', readFileSync(new URL('color.png', here))],
  ['outline.png', readFileSync(new URL('outline.png', here))],
];

/** A zip archive (PKZIP 2.0: deflate, no extras, no zip64). */
function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  // 1980-01-01 00:00: a fixed time keeps the package byte-for-byte reproducible.
  const dosTime = 0;
  const dosDate = (0 << 9) | (1 << 5) | 1;
  for (const [name, data] of entries) {
    const nameBuf = Buffer.from(name, 'utf8');
    const deflated = deflateRawSync(data);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // flags: UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(deflated.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // version made by
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(dosTime, 12);
    central.writeUInt16LE(dosDate, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(deflated.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, deflated);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + deflated.length;
  }
  const centralDir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralDir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralDir, end]);
}

writeFileSync(out, zip(files));
console.log(`wrote ${out}: upload it in Teams (Apps > Manage your apps > Upload an app) or in the Teams admin center`);
