import { describe, expect, it } from 'vitest';
import { PassRunner } from '../src/scheduling/passes.js';

/** A pass that waits until the test lets it finish. */
function gatedPasses() {
  const gates: (() => void)[] = [];
  let started = 0;
  const pass = () =>
    new Promise<void>((resolve) => {
      started += 1;
      gates.push(resolve);
    });
  return { pass, gates, started: () => started };
}

describe('a worker\'s passes', () => {
  it('never overlap, and kicks during a pass run exactly one more pass after it', async () => {
    const g = gatedPasses();
    const runner = new PassRunner(g.pass, () => undefined);
    runner.kick();
    runner.kick();
    runner.kick();
    expect(g.started()).toBe(1);
    g.gates.shift()!();
    await new Promise((r) => setImmediate(r));
    expect(g.started()).toBe(2);
    g.gates.shift()!();
    await runner.settled();
    expect(g.started()).toBe(2);
  });

  it('reports a failed pass and goes on; after stop, kicks are ignored', async () => {
    const errors: unknown[] = [];
    let n = 0;
    const runner = new PassRunner(async () => {
      n += 1;
      if (n === 1) throw new Error('store away');
    }, (err) => errors.push(err));
    runner.kick();
    await runner.settled();
    runner.kick();
    await runner.settled();
    expect(n).toBe(2);
    expect(errors).toHaveLength(1);
    await runner.stop();
    runner.kick();
    await runner.settled();
    expect(n).toBe(2);
    expect(runner.stopped).toBe(true);
  });
});
