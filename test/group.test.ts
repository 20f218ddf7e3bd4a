import { describe, expect, it } from 'vitest';
import { pickGroupItems, pointsFor } from '../src/engine/group.js';
import { fixtureCourse } from './helpers.js';

describe('team quiz items', () => {
  const course = fixtureCourse();

  it('favour what the team gets wrong most often, then what it has not seen, and leave out multiple-answer items', () => {
    const stats = { 'l1-q4': { asked: 4, right: 0 }, 'l2-q1': { asked: 4, right: 2 }, 'l1-q1': { asked: 4, right: 4 } };
    const items = pickGroupItems(course, stats, undefined, 9, 'seed').map((i) => i.id);
    expect(items.slice(0, 2)).toEqual(['l1-q4', 'l2-q1']);
    expect(items.at(-1)).toBe('l1-q1');
    expect(items.some((id) => id.endsWith('-q3'))).toBe(false);
    // One module only, and the same seed gives the same order.
    const m2 = pickGroupItems(course, {}, 'm2', 3, 'seed').map((i) => i.id);
    expect(m2.every((id) => id.startsWith('l3-'))).toBe(true);
    expect(pickGroupItems(course, {}, 'm2', 3, 'seed').map((i) => i.id)).toEqual(m2);
  });

  it('give 10 points for a right answer plus up to 5 for speed', () => {
    const opened = new Date('2026-03-02T09:00:00Z');
    expect(pointsFor(opened, opened, 30)).toBe(15);
    expect(pointsFor(new Date(opened.getTime() + 15_000), opened, 30)).toBe(13);
    expect(pointsFor(new Date(opened.getTime() + 30_000), opened, 30)).toBe(10);
  });
});
