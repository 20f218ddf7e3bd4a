import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('licence', () => {
  it('ships the Apache-2.0 text, names it in package.json, and says in the README what may be reused of the lessons', () => {
    const licence = readFileSync('LICENSE', 'utf8');
    expect(licence).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    expect(licence).toMatch(/TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION/);
    expect(licence).toMatch(/END OF TERMS AND CONDITIONS/);
    expect(JSON.parse(readFileSync('package.json', 'utf8')).license).toBe('Apache-2.0');
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('## Licence and reuse'));
    expect(section).toMatch(/lesson texts .* are the project's own words/s);
    expect(section).toMatch(/under the same Apache-2\.0\s+licence/);
    expect(section).toMatch(/stays under its own terms/);
    expect(section).toMatch(/sources:/);
  });
});
