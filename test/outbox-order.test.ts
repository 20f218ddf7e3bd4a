import { describe, expect, it } from 'vitest';
import type { Address, Outbound } from '../src/messages.js';
import { outboxRows } from '../src/runtime/durable.js';
import { OutboxSender, personalOnly } from '../src/scheduling/outbox.js';
import { SqliteStore } from '../src/store/sqlite.js';

const group: Address = { channel: 'telegram', conversationId: '-100', kind: 'group' };
const dm: Address = { channel: 'telegram', conversationId: '7', kind: 'direct' };
const toast: Outbound = { kind: 'notice', text: 'Answer B recorded', reason: 'recorded' };
const post: Outbound = { kind: 'text', text: [{ type: 'paragraph', spans: [{ text: 'Reveal' }] }] };

describe('the outbox order per conversation', () => {
  it('tells a tap\'s acknowledgement in a group (notices with a reply target) from anything posted or sent to a direct chat', () => {
    const payload = (address: Address, messages: Outbound[], target?: Record<string, string>) => outboxRows(address, messages, target)[0]!.payload;
    expect(personalOnly(payload(group, [toast], { callbackQueryId: 'q1' }))).toBe(true);
    expect(personalOnly(payload(group, [toast, post], { callbackQueryId: 'q1' }))).toBe(false);
    expect(personalOnly(payload(group, [post]))).toBe(false);
    expect(personalOnly(payload(group, [toast]))).toBe(false);
    expect(personalOnly(payload(dm, [toast], { callbackQueryId: 'q1' }))).toBe(false);
  });

  it('sends group members\' acknowledgements beside each other while a post in the group is still being sent, and posts in order', async () => {
    const store = new SqliteStore(':memory:');
    const now = new Date();
    await store.outboxAdd([...outboxRows(group, [post]), ...outboxRows(group, [toast], { callbackQueryId: 'a' }), ...outboxRows(group, [toast], { callbackQueryId: 'b' }), ...outboxRows(group, [{ ...post, text: [{ type: 'paragraph', spans: [{ text: 'Next' }] }] }])], now);
    const sent: string[] = [];
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const channel = {
      send: async () => undefined,
      deliver: async (_a: Address, messages: Outbound[], target?: Record<string, unknown>) => {
        const m = messages[0]!;
        const name = m.kind === 'notice' ? `ack ${String(target?.callbackQueryId)}` : m.kind === 'text' ? m.text[0]!.type === 'paragraph' ? (m.text[0] as { spans: { text: string }[] }).spans[0]!.text : '' : '';
        if (name === 'Reveal') await slow;
        sent.push(name);
      },
    };
    const errors: unknown[] = [];
    const outbox = new OutboxSender({ store, channel: () => channel, onError: (e) => void errors.push(e), now: () => new Date() });
    outbox.kick();
    // Both acknowledgements go while the reveal is held; the next post waits behind the reveal.
    await expect.poll(() => sent.slice().sort()).toEqual(['ack a', 'ack b']);
    release();
    await outbox.idle();
    expect(sent.slice(2)).toEqual(['Reveal', 'Next']);
    expect(errors).toEqual([]);
    await store.close();
  });
});
