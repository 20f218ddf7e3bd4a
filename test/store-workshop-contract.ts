/**
 * The workshop part of the store contract: every Store implementation runs it (see
 * workshop-store.test.ts), the same way as `store-contract.ts`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkshopState } from '../src/engine/workshop.js';
import { newLearnerState } from '../src/engine/state.js';
import type { Address, LearnerKey } from '../src/messages.js';
import { EMPTY_EXPORT, type Store } from '../src/store/store.js';

const T0 = new Date('2026-03-02T09:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

const state = (over: Partial<WorkshopState> = {}): WorkshopState => ({
  schema: 1,
  title: 'Kigali, day 1',
  lang: 'en',
  lessonIds: ['l1'],
  steps: [{ kind: 'question', itemId: 'l1-q1' }],
  index: -1,
  phase: 'lobby',
  post: 0,
  ...over,
});

export function workshopStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`${name}: workshop store contract`, () => {
    let store: Store;
    let n = 0;
    let id: string;
    let code: string;
    let token: string;
    let amina: LearnerKey;
    let bruno: LearnerKey;
    const addr = (l: LearnerKey): Address => ({ channel: l.channel, conversationId: `dm-${l.userId}`, kind: 'direct' });

    beforeEach(async () => {
      store = await open();
      n += 1;
      const s = `${Date.now().toString(36)}${n}`;
      id = `ws${s}`;
      code = `C${s}`.slice(-6).toUpperCase().padStart(6, 'Z');
      token = `tok-${s}-${Math.random().toString(36).slice(2)}`;
      amina = { channel: 'telegram', userId: `a-${s}` };
      bruno = { channel: 'slack', userId: `b-${s}` };
    });
    afterEach(async () => {
      await store.close();
    });

    it('creates a workshop, finds it by id, code and board token, and refuses a second one with the same code', async () => {
      expect(await store.workshops.createWorkshop({ id, code, boardToken: token, state: state(), now: T0 })).toBe('created');
      const byId = await store.workshops.getWorkshop(id);
      expect(byId).toMatchObject({ id, code, boardToken: token, version: 1, state: state() });
      expect(byId?.createdAt.getTime()).toBe(T0.getTime());
      expect((await store.workshops.workshopByCode(code))?.id).toBe(id);
      expect((await store.workshops.workshopByBoardToken(token))?.id).toBe(id);
      expect(await store.workshops.workshopByBoardToken(`${token}x`)).toBeNull();
      expect(await store.workshops.createWorkshop({ id: `${id}b`, code, boardToken: `${token}b`, state: state(), now: T0 })).toBe('code_taken');
      expect((await store.workshops.listWorkshops(50)).some((w) => w.id === id)).toBe(true);
    });

    it('writes the state only from the version it read', async () => {
      await store.workshops.createWorkshop({ id, code, boardToken: token, state: state(), now: T0 });
      expect(await store.workshops.commitWorkshop({ id, expectedVersion: 1, state: state({ index: 0, phase: 'open', post: 1 }), now: at(5) })).toBe('committed');
      expect(await store.workshops.commitWorkshop({ id, expectedVersion: 1, state: state({ phase: 'ended' }), now: at(6) })).toBe('conflict');
      const w = await store.workshops.getWorkshop(id);
      expect(w).toMatchObject({ version: 2, state: { phase: 'open', index: 0, post: 1 } });
      expect(w?.updatedAt.getTime()).toBe(at(5).getTime());
    });

    it('adds participants once, updates them when they join again, and tracks what was delivered to each', async () => {
      await store.workshops.createWorkshop({ id, code, boardToken: token, state: state(), now: T0 });
      expect(await store.workshops.joinWorkshop({ workshopId: id, learner: amina, displayName: 'Amina', lang: 'fr', address: addr(amina), now: at(1) })).toBe('joined');
      expect(await store.workshops.joinWorkshop({ workshopId: id, learner: bruno, displayName: 'Bruno', lang: 'es', address: addr(bruno), now: at(2) })).toBe('joined');
      expect(await store.workshops.countParticipants(id)).toBe(2);
      await store.workshops.markDelivered(id, amina, 3);
      await store.workshops.markDelivered(id, amina, 2); // never backwards
      expect(await store.workshops.joinWorkshop({ workshopId: id, learner: amina, displayName: 'Amina K.', lang: 'en', address: addr(amina), now: at(9) })).toBe('rejoined');
      expect(await store.workshops.countParticipants(id)).toBe(2);
      const a = await store.workshops.getParticipant(id, amina);
      expect(a).toMatchObject({ displayName: 'Amina K.', lang: 'en', deliveredPost: 3, address: addr(amina) });
      expect(a?.joinedAt.getTime()).toBe(at(1).getTime());
      expect((await store.workshops.participantsOwed(id, 3, 10)).map((p) => p.learner)).toEqual([bruno]);
      expect((await store.workshops.participantsOwed(id, 4, 10)).map((p) => p.learner)).toEqual([amina, bruno]);
      expect((await store.workshops.participantsOwed(id, 4, 1)).map((p) => p.learner)).toEqual([amina]);
      expect((await store.workshops.listParticipants(id)).map((p) => p.displayName)).toEqual(['Amina K.', 'Bruno']);
      expect(await store.workshops.lastWorkshopOf(amina)).toBe(id);
      expect(await store.workshops.lastWorkshopOf({ channel: 'teams', userId: 'nobody' })).toBeNull();
    });

    it('counts each participant once per step: a second answer is refused, a redelivered event is a duplicate', async () => {
      await store.workshops.createWorkshop({ id, code, boardToken: token, state: state(), now: T0 });
      const base = { workshopId: id, step: 0, itemId: 'l1-q1', at: at(3) };
      expect(await store.workshops.recordWorkshopAnswer({ ...base, learner: amina, displayName: 'Amina', option: 1, correct: true, eventId: 'e1' })).toBe('recorded');
      expect(await store.workshops.recordWorkshopAnswer({ ...base, learner: amina, displayName: 'Amina', option: 1, correct: true, eventId: 'e1' })).toBe('duplicate');
      expect(await store.workshops.recordWorkshopAnswer({ ...base, learner: amina, displayName: 'Amina', option: 2, correct: false, eventId: 'e2' })).toBe('already_answered');
      expect(await store.workshops.recordWorkshopAnswer({ ...base, at: at(4), learner: bruno, displayName: 'Bruno', option: 2, correct: false, eventId: 'e3' })).toBe('recorded');
      expect(await store.workshops.recordWorkshopAnswer({ ...base, step: 1, learner: bruno, displayName: 'Bruno', option: 0, correct: true, eventId: 'e4' })).toBe('recorded');
      expect(await store.workshops.tallyWorkshopStep(id, 0, 4)).toEqual({ counts: [0, 1, 1, 0], answered: 2 });
      expect(await store.workshops.tallyWorkshopStep(id, 1, 3)).toEqual({ counts: [1, 0, 0], answered: 1 });
      expect(await store.workshops.getWorkshopAnswer(id, 0, amina)).toMatchObject({ option: 1, correct: true, itemId: 'l1-q1' });
      expect((await store.workshops.listWorkshopAnswers(id)).map((a) => [a.step, a.learner.userId, a.option])).toEqual([
        [0, amina.userId, 1],
        [0, bruno.userId, 2],
        [1, bruno.userId, 0],
      ]);
    });

    it('counts answers arriving all at once exactly once', async () => {
      await store.workshops.createWorkshop({ id, code, boardToken: token, state: state(), now: T0 });
      const people = Array.from({ length: 60 }, (_, i): LearnerKey => ({ channel: 'telegram', userId: `${id}-p${i}` }));
      const results = await Promise.all(
        people.flatMap((learner, i) => [0, 1].map((k) => store.workshops.recordWorkshopAnswer({ workshopId: id, step: 0, learner, displayName: `P${i}`, itemId: 'l1-q1', option: (i + k) % 3, correct: false, at: at(4), eventId: `${learner.userId}-${k}` }))),
      );
      expect(results.filter((r) => r === 'recorded')).toHaveLength(60);
      expect((await store.workshops.tallyWorkshopStep(id, 0, 3)).answered).toBe(60);
    });

    it('shows a participant their workshops in /mydata and erases them with the learner on /forget', async () => {
      await store.workshops.createWorkshop({ id, code, boardToken: token, state: state(), now: T0 });
      await store.commitLearner({ key: amina, expectedVersion: 0, state: newLearnerState(T0, 'fr'), address: addr(amina), nudgeAt: null, now: T0 });
      await store.workshops.joinWorkshop({ workshopId: id, learner: amina, displayName: 'Amina', lang: 'fr', address: addr(amina), now: at(1) });
      await store.workshops.joinWorkshop({ workshopId: id, learner: bruno, displayName: 'Bruno', lang: 'es', address: addr(bruno), now: at(1) });
      await store.workshops.recordWorkshopAnswer({ workshopId: id, step: 0, learner: amina, displayName: 'Amina', itemId: 'l1-q1', option: 1, correct: true, at: at(3), eventId: 'e1' });
      await store.workshops.recordWorkshopAnswer({ workshopId: id, step: 0, learner: bruno, displayName: 'Bruno', itemId: 'l1-q1', option: 0, correct: false, at: at(3), eventId: 'e2' });
      const data = await store.exportLearner(amina);
      expect(data.workshops).toEqual({
        workshops: [{ workshopId: id, displayName: 'Amina', lang: 'fr', joinedAt: at(1).toISOString() }],
        answers: [{ workshopId: id, step: 0, itemId: 'l1-q1', option: 1, correct: true, at: at(3).toISOString() }],
      });
      await store.forgetLearner(amina);
      expect(await store.workshops.getParticipant(id, amina)).toBeNull();
      expect(await store.workshops.getWorkshopAnswer(id, 0, amina)).toBeNull();
      expect(await store.exportLearner(amina)).toEqual(EMPTY_EXPORT);
      // Her answer still counts in the session's results, with no name and nothing linking it to her.
      expect((await store.workshops.tallyWorkshopStep(id, 0, 2)).answered).toBe(2);
      const left = (await store.workshops.listWorkshopAnswers(id)).find((a) => a.option === 1)!;
      expect(left.displayName).toBe('');
      expect(left.learner.userId).not.toContain(amina.userId);
      // Others are untouched.
      expect(await store.workshops.getParticipant(id, bruno)).not.toBeNull();
    });
  });
}
