/**
 * /forget erases: after a learner took lessons and played in team quizzes (one finished, one still
 * running), their user id and name are in no byte of the data directory: the database file, its
 * write-ahead log and shared-memory index, read as raw bytes, while the store is open and after it
 * is closed.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { decodeAction, encodeAction } from '../src/engine/actions.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { toPlainText, type Outbound } from '../src/messages.js';
import { LearningBot } from '../src/runtime/bot.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { TestClock, choice, command, fixtureCourse, inbound } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'digit4sd-erasure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Distinctive, so that a match in the files can only be the learner's own.
const USER = 'U7QZEBRA9K';
const NAME = 'Zanzibarina Quokkafield';
const FIRST = 'Zanzibarina';

/** Every file in the folder and where in it `needle` occurs (as UTF-8 or UTF-16 text). */
function occurrences(folder: string, needle: string): string[] {
  const found: string[] = [];
  for (const file of readdirSync(folder)) {
    const bytes = readFileSync(join(folder, file));
    for (const form of [Buffer.from(needle, 'utf8'), Buffer.from(needle, 'utf16le')]) {
      if (bytes.includes(form)) found.push(file);
    }
  }
  return found;
}

const plainOf = (messages: Outbound[]) => messages.map((m) => (m.kind === 'text' ? toPlainText(m.text) : m.kind === 'notice' ? m.text : m.kind)).join('\n');

describe('erasure', () => {
  it('leaves the learner\'s id and name in no byte of the data directory after /forget, team quizzes included', async () => {
    const dataDir = mkdtempSync(join(dir, 'data-'));
    const store = new SqliteStore(join(dataDir, 'digit4sd.sqlite'));
    const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
    const bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, now: clock.now, onError: vi.fn() });
    // What the group is owed (reveals, final scores) arrives through the channel's sender.
    let posts: Outbound[] = [];
    bot.connect(async (_address, messages) => void posts.push(...messages));
    /** The replies to an event, or what a clock tick closes, with what the group is then posted. */
    const withPosts = async (work: () => Promise<Outbound[] | void>): Promise<Outbound[]> => {
      posts = [];
      const replies = (await work()) ?? [];
      await bot.settled();
      return [...replies, ...posts];
    };
    const tick = () => withPosts(() => bot.tick());
    // Event ids as Slack makes them for button taps: they carry the user id.
    let n = 0;
    const me = (event: Parameters<typeof inbound>[0], group?: string) =>
      bot.handle(inbound(event, { channel: 'slack', user: USER, name: NAME, id: `act:17000000${n++}.000100:${USER}:a:17000001${n}.2`, ...(group ? { group } : {}) }));
    const other = (user: string, event: Parameters<typeof inbound>[0]) => withPosts(() => bot.handle(inbound(event, { channel: 'slack', user, name: user.toUpperCase(), group: 'C-room' })));

    // Lessons in the private chat, many state writes.
    let out = await me(command('start'));
    for (let i = 0; i < 30; i++) {
      const next = out.flatMap((m) => ('choices' in m ? (m.choices ?? []) : []))[0];
      out = await me(next ? choice(next.data) : command('next'));
    }
    await me(command('remind', '08:30'));

    // A team quiz played to the end, then a second one still running.
    const quizIn = (messages: Outbound[]) => {
      const q = messages.find((m) => m.kind === 'quiz');
      if (q?.kind !== 'quiz') throw new Error('no question');
      const action = decodeAction(q.choices[0]!.data);
      if (action?.type !== 'group_answer') throw new Error('not a group question');
      return action;
    };
    for (const finish of [true, false]) {
      let posted = await other('ana', command('quiz', 'm1 2'));
      let q = quizIn(posted);
      for (let question = 0; question < (finish ? 2 : 1); question++) {
        await other('ana', choice(encodeAction({ type: 'group_answer', quizId: q.quizId, question, option: 0 })));
        // From the second question on, everyone who joined has answered: it closes on this answer, else on time.
        const reply = await me(choice(encodeAction({ type: 'group_answer', quizId: q.quizId, question, option: 0 })), 'C-room');
        clock.advance(31_000);
        posted = [...reply, ...(await tick())];
        if (question === 0) expect(plainOf(posted)).toContain(NAME);
        if (finish && question === 1) expect(plainOf(posted)).toMatch(/Team quiz over!/);
        else q = quizIn(posted);
      }
    }
    await me(command('mydata'));
    expect(occurrences(dataDir, USER).length).toBeGreaterThan(0);
    expect(occurrences(dataDir, FIRST).length).toBeGreaterThan(0);

    const ask = await me(command('forget'));
    const yes = ask.flatMap((m) => ('choices' in m ? (m.choices ?? []) : [])).find((c) => c.label === 'Yes, erase everything')!;
    expect(plainOf(await me(choice(yes.data)))).toMatch(/erased/);

    // While the store is open: the database, its WAL and SHM files.
    expect(readdirSync(dataDir).sort()).toEqual(['digit4sd.sqlite', 'digit4sd.sqlite-shm', 'digit4sd.sqlite-wal']);
    expect(occurrences(dataDir, USER)).toEqual([]);
    expect(occurrences(dataDir, FIRST)).toEqual([]);
    expect(occurrences(dataDir, 'Quokkafield')).toEqual([]);

    // The running quiz goes on; its scores name a former participant, not the learner.
    const reply = await other('ana', choice(encodeAction({ type: 'group_answer', quizId: (await store.getGroup({ channel: 'slack', conversationId: 'C-room' }))!.state.quiz!.id, question: 1, option: 0 })));
    clock.advance(31_000);
    const final = plainOf([...reply, ...(await tick())]);
    expect(final).toMatch(/Team quiz over!/);
    expect(final).toMatch(/a former participant/);
    expect(final).not.toContain(FIRST);
    const board = plainOf(await other('ana', command('leaderboard')));
    expect(board).toMatch(/a former participant: \d+ pts/);

    await store.close();
    expect(occurrences(dataDir, USER)).toEqual([]);
    expect(occurrences(dataDir, FIRST)).toEqual([]);
  });
});
