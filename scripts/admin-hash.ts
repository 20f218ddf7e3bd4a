/**
 * Makes a password hash for ADMIN_USERS: `npm run -s admin:hash -- alice` asks for the password
 * (or reads it from standard input when piped) and prints `alice:scrypt$...`, ready to paste.
 */
import { createInterface } from 'node:readline';
import { hashPassword } from '../src/web/auth.js';

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password (shown as you type; clear the terminal afterwards): ');
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

const name = process.argv[2];
if (!name || !/^[\w.@-]{1,64}$/.test(name)) {
  console.error('Usage: npm run -s admin:hash -- <name>   (letters, digits, ".", "@", "_" and "-"; then type the password)');
  process.exitCode = 2;
} else {
  const password = await readPassword();
  if (password.length < 12) {
    console.error('Choose a password of at least 12 characters.');
    process.exitCode = 2;
  } else {
    console.log(`${name}:${await hashPassword(password)}`);
  }
}
