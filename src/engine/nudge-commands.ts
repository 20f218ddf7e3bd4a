/**
 * The learner's commands for reminders and nudges: /remind, /timezone, /snooze, /pause, /resume,
 * and the buttons on a nudge. Pure state changes on the learner's nudge settings.
 */
import type { Action } from './actions.js';
import { describeDays, t } from './i18n.js';
import type { LearnerState } from './state.js';
import { atLocalTime, formatHhmm, isValidTimeZone, local, parseHhmm } from '../learning/localtime.js';
import { nextReminderAt } from '../learning/nudges.js';

/** "Next reminder: today at 14:05", in the learner's language and local time. */
export function describeNextReminder(s: LearnerState, now: Date): string {
  const at = nextReminderAt(s, now);
  if (!at) return t(s.lang, 'remind.next_none');
  const when = local(at, s.nudges.timezone).setLocale(s.lang);
  const today = local(now, s.nudges.timezone).startOf('day');
  const days = Math.round(when.startOf('day').diff(today, 'days').days);
  const time = when.toFormat('HH:mm');
  if (days === 0) return t(s.lang, 'remind.next_today', { time });
  if (days === 1) return t(s.lang, 'remind.next_tomorrow', { time });
  return t(s.lang, 'remind.next_on', { day: when.toFormat('cccc d LLLL'), time });
}

const COMMANDS = ['remind', 'timezone', 'snooze', 'pause', 'resume'] as const;

/** Day names a learner may type (English, French, Spanish), as days of the week (0 = Sunday). */
const DAY_NAMES: Record<string, number> = {
  sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6,
  dim: 0, lun: 1, mar: 2, mer: 3, jeu: 4, ven: 5, sam: 6,
  dom: 0, mie: 3, jue: 4, vie: 5, sab: 6,
};

/**
 * Parses the days of a reminder: "daily", "weekdays", or a list such as "mon,wed,fri" (full names
 * too, in English, French or Spanish). Undefined when a word is not a day.
 */
export function parseDays(text: string): number[] | undefined {
  const t = text.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').trim();
  if (['daily', 'everyday', 'every day', 'all', 'tous', 'todos'].includes(t)) return [0, 1, 2, 3, 4, 5, 6];
  if (['weekdays', 'workdays', 'semaine', 'laborables'].includes(t)) return [1, 2, 3, 4, 5];
  const days = new Set<number>();
  for (const word of t.split(/[\s,;]+/).filter(Boolean)) {
    const day = DAY_NAMES[word.slice(0, 3)];
    if (day === undefined) return undefined;
    days.add(day);
  }
  return days.size ? [...days].sort() : undefined;
}

export function isNudgeCommand(command: string): boolean {
  return (COMMANDS as readonly string[]).includes(command);
}

export interface NudgeReply {
  text: string;
  choices?: { labelKey: string; action: Action }[];
}

/** Applies one of the nudge commands to `s` (mutated: the engine passes its own copy). */
export function applyNudgeCommand(s: LearnerState, command: string, args: string, now: Date): NudgeReply {
  const n = s.nudges;
  const tr = (key: string, vars?: Record<string, string | number>) => t(s.lang, key, vars);
  switch (command) {
    case 'remind': {
      const arg = args.toLowerCase();
      if (arg === 'off' || arg === 'stop') {
        n.remindAt = null;
        return { text: `${tr('remind.off')}\n${describeNextReminder(s, now)}` };
      }
      const [time = '', ...dayWords] = arg.split(/\s+/);
      const minutes = parseHhmm(time);
      const days = dayWords.length ? parseDays(dayWords.join(' ')) : n.remindDays;
      if (minutes === undefined || !days) return { text: `${tr('remind.usage')}\n${describeNextReminder(s, now)}` };
      n.remindAt = formatHhmm(minutes);
      n.remindDays = days;
      n.remindSetAt = now.toISOString();
      n.paused = false;
      s.stopped = false;
      const text = `${tr('remind.set', { time: n.remindAt, tz: n.timezone, days: describeDays(s.lang, n.remindDays) })}\n${describeNextReminder(s, now)}`;
      return { text: n.timezone === 'UTC' ? `${text}\n${tr('remind.ask_tz', { tz: n.timezone })}` : text };
    }
    case 'timezone': {
      const tz = args.trim();
      if (!tz) return { text: tr('tz.usage', { tz: n.timezone }) };
      if (!isValidTimeZone(tz)) return { text: tr('tz.bad', { tz }) };
      n.timezone = local(now, tz).zoneName ?? tz;
      return { text: tr('tz.set', { tz: n.timezone, time: local(now, n.timezone).toFormat('HH:mm') }) };
    }
    case 'snooze': {
      const arg = args.toLowerCase();
      const choice = arg.startsWith('1') || arg.startsWith('hour') ? 'snooze_1h' : arg.startsWith('even') ? 'snooze_evening' : arg.startsWith('tom') ? 'snooze_tomorrow' : undefined;
      if (choice) return { text: nudgeChoice(s, choice, now) };
      return {
        text: tr('snooze.pick'),
        choices: [
          { labelKey: 'btn.snooze_1h', action: { type: 'nudge', choice: 'snooze_1h' } },
          { labelKey: 'btn.snooze_evening', action: { type: 'nudge', choice: 'snooze_evening' } },
          { labelKey: 'btn.snooze_tomorrow', action: { type: 'nudge', choice: 'snooze_tomorrow' } },
        ],
      };
    }
    case 'pause':
      n.paused = true;
      return { text: tr('pause.done') };
    case 'resume':
    default:
      n.paused = false;
      n.unanswered = 0;
      s.stopped = false;
      delete n.snoozedUntil;
      // Review nudges come back either way; a reminder only if one is set.
      if (!n.remindAt) return { text: tr('resume.no_reminder') };
      return { text: tr('resume.done', { time: n.remindAt, tz: n.timezone, days: describeDays(s.lang, n.remindDays) }) };
  }
}

/** A tap on a nudge's snooze or stop button. Returns the reply text. */
export function nudgeChoice(s: LearnerState, choice: 'snooze_1h' | 'snooze_evening' | 'snooze_tomorrow' | 'stop', now: Date): string {
  const n = s.nudges;
  if (choice === 'stop') {
    n.remindAt = null;
    n.paused = true;
    return t(s.lang, 'pause.done');
  }
  const today = local(now, n.timezone);
  let until: Date;
  if (choice === 'snooze_1h') until = new Date(now.getTime() + 3_600_000);
  else if (choice === 'snooze_evening') {
    // 18:00 today, or an hour from now if it is already evening.
    const evening = atLocalTime(today, 18 * 60);
    until = evening > now ? evening : new Date(now.getTime() + 3_600_000);
  } else until = atLocalTime(today.plus({ days: 1 }), parseHhmm(n.quietEnd) ?? 8 * 60);
  n.snoozedUntil = until.toISOString();
  // Snoozing a nudge that just came asks for it again later: it is owed once more.
  const recent = (iso?: string) => !!iso && now.getTime() - new Date(iso).getTime() < 12 * 3_600_000;
  if (recent(n.lastReminderAt)) delete n.lastReminderAt;
  if (recent(n.lastReviewNudgeAt)) delete n.lastReviewNudgeAt;
  return t(s.lang, 'snooze.done', { time: local(until, n.timezone).setLocale(s.lang).toFormat('ccc HH:mm') });
}
