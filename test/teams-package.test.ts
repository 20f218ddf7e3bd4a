/** The Teams app package script: a valid zip with the manifest (app id filled in) and both icons. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

/** Reads a zip's entries through its central directory. */
function unzip(buf: Buffer): Map<string, Buffer> {
  const end = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = buf.readUInt16LE(end + 10);
  let at = buf.readUInt32LE(end + 16);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    expect(buf.readUInt32LE(at)).toBe(0x02014b50);
    const size = buf.readUInt32LE(at + 20);
    const nameLen = buf.readUInt16LE(at + 28);
    const local = buf.readUInt32LE(at + 42);
    const name = buf.toString('utf8', at + 46, at + 46 + nameLen);
    const dataAt = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    out.set(name, inflateRawSync(buf.subarray(dataAt, dataAt + size)));
    at += 46 + nameLen + buf.readUInt16LE(at + 30) + buf.readUInt16LE(at + 32);
  }
  return out;
}

describe('Teams app package', () => {
  const script = new URL('../adapters/teams/manifest/package.mjs', import.meta.url).pathname;

  it('zips the manifest with the app id filled in, and the two icons', () => {
    const dir = mkdtempSync(join(tmpdir(), 'teams-pkg-'));
    try {
      const out = join(dir, 'app.zip');
      const appId = '12345678-aaaa-bbbb-cccc-1234567890ab';
      const run = spawnSync(process.execPath, [script, '--app-id', appId, '--out', out], { encoding: 'utf8' });
      expect(run.status).toBe(0);
      const files = unzip(readFileSync(out));
      expect([...files.keys()].sort()).toEqual(['color.png', 'manifest.json', 'outline.png']);
      const manifest = JSON.parse(files.get('manifest.json')!.toString('utf8'));
      expect(manifest.id).toBe(appId);
      expect(manifest.bots[0].botId).toBe(appId);
      expect(JSON.stringify(manifest)).not.toContain('{{');
      const size = (png: Buffer) => [png.readUInt32BE(16), png.readUInt32BE(20)];
      expect(size(files.get('color.png')!)).toEqual([192, 192]);
      expect(size(files.get('outline.png')!)).toEqual([32, 32]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to build without a valid app id', () => {
    const run = spawnSync(process.execPath, [script, '--app-id', 'not-a-guid'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--app-id/);
  });
});
