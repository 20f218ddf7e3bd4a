import { Writable } from 'node:stream';
import { GrammyError } from 'grammy';
import { describe, expect, it } from 'vitest';
import { createLogger, hashId, safeError } from '../src/logger.js';
import { PlatformError } from '../src/errors.js';

describe('logs', () => {
  it('keep an error\'s structured fields but never the message text it carried', () => {
    const grammy = new GrammyError("Call to 'sendMessage' failed!", { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' }, 'sendMessage', {
      chat_id: 42,
      text: 'Secret lesson text for Amina',
    });
    const err = new PlatformError({ platform: 'telegram', method: 'sendMessage', status: 403, unreachable: true, description: grammy.description, cause: grammy });
    let out = '';
    const sink = new Writable({ write: (chunk, _enc, done) => ((out += chunk), done()) });
    createLogger('info', sink as never).error({ error: safeError(err), where: 'test' }, 'error');
    const line = JSON.parse(out) as { error: Record<string, unknown> };
    expect(line.error).toMatchObject({ type: 'PlatformError', platform: 'telegram', method: 'sendMessage', status: 403, unreachable: true });
    expect(out).not.toContain('Secret lesson text');
    expect(out).not.toContain('Amina');
  });

  it('hash ids: stable, short, and not the id', () => {
    expect(hashId('123456')).toBe(hashId('123456'));
    expect(hashId('123456')).not.toContain('123456');
    expect(hashId('123456')).toHaveLength(12);
  });
});
