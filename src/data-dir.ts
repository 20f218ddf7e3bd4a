/**
 * Checks DATA_DIR before anything is stored there: it must be a folder this process can create
 * files in. An unusable one stops start-up with a message that names DATA_DIR and the fix (exit
 * code 2, as for any bad setting), rather than a raw SQLite error or, under /proc, a `mkdir -p`
 * that never returns (Node's recursive mkdir loops on some virtual file systems).
 */
import { closeSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** DATA_DIR cannot be used; `message` names the variable, the folder, the cause and the fix. */
export class DataDirError extends Error {
  constructor(dir: string, problem: string) {
    super(`DATA_DIR: ${problem} (${dir}). Fix: set DATA_DIR to a folder this process can write to, for example DATA_DIR=./data, or give it write access to this one.`);
    this.name = 'DataDirError';
  }
}

const VIRTUAL = /^\/(proc|sys|dev)(\/|$)/;

function kindOf(path: string): 'dir' | 'other' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'other';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    throw err;
  }
}

/**
 * Creates `dir` if needed (one level at a time) and proves it writable by creating and removing a
 * file in it. Throws {@link DataDirError}.
 */
export function prepareDataDir(dir: string): void {
  if (VIRTUAL.test(dir)) throw new DataDirError(dir, 'is on a system file system (/proc, /sys or /dev), where files cannot be stored');
  const missing: string[] = [];
  let existing = dir;
  try {
    while (kindOf(existing) === 'missing') {
      missing.unshift(existing);
      const parent = dirname(existing);
      if (parent === existing) break;
      existing = parent;
    }
    if (kindOf(existing) !== 'dir') throw new DataDirError(dir, existing === dir ? 'is a file, not a folder' : `is inside ${existing}, which is a file, not a folder`);
    for (const level of missing) mkdirSync(level);
    const probe = join(dir, `.write-test-${process.pid}`);
    closeSync(openSync(probe, 'wx'));
    unlinkSync(probe);
  } catch (err) {
    if (err instanceof DataDirError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const reason: Record<string, string> = {
      EACCES: 'is not writable by this process (permission denied)',
      EPERM: 'is not writable by this process (operation not permitted)',
      EROFS: 'is on a read-only file system',
      ENOSPC: 'is on a full disk',
      ENOTDIR: 'is inside a file, not a folder',
    };
    throw new DataDirError(dir, reason[code] ?? `cannot be used (${code})`);
  }
}
