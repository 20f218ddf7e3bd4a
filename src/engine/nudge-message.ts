/**
 * What a nudge says: why it came ("4 items are due, about 2 minutes"), and one-tap choices: start
 * now, snooze, stop reminders. When this nudge is the last one before the automatic pause, it says
 * so and how to resume.
 */
import type { Course } from '../content/course.js';
import type { Choice, Outbound, RichText } from '../messages.js';
import type { NudgeKind } from '../learning/nudges.js';
import { encodeAction } from './actions.js';
import { minutesFor } from './engine.js';
import { t } from './i18n.js';
import type { LearnerState } from './state.js';

export function nudgeMessage(course: Course, s: LearnerState, kind: NudgeKind, dueCount: number, lastBeforePause: boolean): Outbound {
  const tr = (key: string, vars?: Record<string, string | number>) => t(s.lang, key, vars);
  const lines: string[] = [];
  if (kind === 'reminder') {
    // The lesson's title and minutes in the learner's language.
    const view = course.in(s.lang);
    const next = view.sequence.find((l) => s.lessons[l.id]?.status === 'in_progress') ?? view.sequence.find((l) => s.lessons[l.id]?.status !== 'done');
    lines.push(next ? tr('nudge.reminder', { title: next.title, minutes: next.minutes }) : tr('nudge.reminder_done'));
  }
  if (dueCount > 0) lines.push(tr('nudge.review', { count: dueCount, minutes: minutesFor(dueCount) }));
  if (lastBeforePause) lines.push(tr('nudge.autopause'));
  const text: RichText = lines.map((line, i) => ({ type: 'paragraph', spans: [{ text: line, ...(i === 0 ? { bold: true } : {}) }] }));
  const start = kind === 'review' || (dueCount > 0 && !s.nudges.remindAt) ? encodeAction({ type: 'review' }) : encodeAction({ type: 'resume' });
  const choices: Choice[] = [
    { label: tr('btn.start_now'), data: start },
    { label: tr('btn.snooze_1h'), data: encodeAction({ type: 'nudge', choice: 'snooze_1h' }) },
    { label: tr('btn.snooze_tomorrow'), data: encodeAction({ type: 'nudge', choice: 'snooze_tomorrow' }) },
    { label: tr('btn.stop_reminders'), data: encodeAction({ type: 'nudge', choice: 'stop' }) },
  ];
  return { kind: 'text', text, choices };
}
