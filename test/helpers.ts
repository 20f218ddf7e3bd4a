/** Shared test helpers: the fixture course, inbound events, a controllable clock. */
import { fileURLToPath } from 'node:url';
import { loadCourse } from '../src/content/load.js';
import type { Course } from '../src/content/course.js';
import type { Address, Channel, Inbound, InboundEvent } from '../src/messages.js';

export const FIXTURE_DIR = fileURLToPath(new URL('./fixtures/course', import.meta.url));
export const LESSONS_DIR = fileURLToPath(new URL('../lessons', import.meta.url));

let fixture: Course | undefined;
export function fixtureCourse(): Course {
  return (fixture ??= loadCourse(FIXTURE_DIR));
}

/** A clock the test moves by hand. */
export class TestClock {
  constructor(public current: Date) {}
  now = (): Date => new Date(this.current);
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
  set(iso: string): void {
    this.current = new Date(iso);
  }
}

let seq = 0;
/** An inbound event for a learner in a direct conversation (or a group, with `group`). */
export function inbound(
  event: InboundEvent,
  opts: { user?: string; channel?: Channel; id?: string; group?: string; name?: string; lang?: string; at?: Date } = {},
): Inbound {
  const channel = opts.channel ?? 'console';
  const user = opts.user ?? 'learner-1';
  const address: Address = opts.group
    ? { channel, conversationId: opts.group, kind: 'group' }
    : { channel, conversationId: `dm-${user}`, kind: 'direct' };
  return {
    id: opts.id ?? `evt-${++seq}-${Math.random().toString(36).slice(2)}`,
    learner: { channel, userId: user },
    address,
    displayName: opts.name ?? user,
    ...(opts.lang ? { languageHint: opts.lang } : {}),
    event,
    at: opts.at ?? new Date(),
  };
}

export const command = (name: string, args = ''): InboundEvent => ({ type: 'command', command: name, args });
export const text = (t: string): InboundEvent => ({ type: 'text', text: t });
export const choice = (data: string): InboundEvent => ({ type: 'choice', data });
