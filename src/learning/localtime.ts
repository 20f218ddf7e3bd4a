/**
 * Local-time arithmetic in a learner's IANA time zone (luxon handles daylight-saving changes).
 */
import { DateTime, IANAZone } from 'luxon';

export function isValidTimeZone(tz: string): boolean {
  return IANAZone.isValidZone(tz);
}

/** A zone's canonical IANA name ("africa/nairobi" -> "Africa/Nairobi"); the zone must be valid. */
export function canonicalTimeZone(tz: string): string {
  return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
}

/** "HH:MM" (24-hour) to minutes after midnight, or undefined when malformed. */
export function parseHhmm(s: string): number | undefined {
  const m = /^([01]?\d|2[0-3])[:.h]?([0-5]\d)$/.exec(s.trim());
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

export function formatHhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** The local wall-clock time at `at` in `tz`. */
export function local(at: Date, tz: string): DateTime {
  return DateTime.fromJSDate(at, { zone: tz });
}

/** Minutes after local midnight at `at` in `tz`. */
export function localMinutes(at: Date, tz: string): number {
  const d = local(at, tz);
  return d.hour * 60 + d.minute;
}

/** The local calendar day "YYYY-MM-DD" at `at` in `tz`. */
export function localDay(at: Date, tz: string): string {
  return local(at, tz).toISODate()!;
}

/** The first instant of the next local day in `tz` (correct on days of 23 or 25 hours). */
export function startOfNextLocalDay(at: Date, tz: string): Date {
  return local(at, tz).plus({ days: 1 }).startOf('day').toJSDate();
}

/**
 * The instant of local time `minutes` after midnight on the day of `day` (a local DateTime).
 * A time that does not exist (skipped by a spring-forward change) moves forward to the next valid
 * minute, as luxon does.
 */
export function atLocalTime(day: DateTime, minutes: number): Date {
  return day.startOf('day').set({ hour: Math.floor(minutes / 60), minute: minutes % 60 }).toJSDate();
}

/** Whether local `minutes` fall inside quiet hours [start, end), which may wrap midnight. */
export function inQuietHours(minutes: number, start: number, end: number): boolean {
  if (start === end) return false;
  return start < end ? minutes >= start && minutes < end : minutes >= start || minutes < end;
}

/**
 * The first instant at or after `at` that is outside quiet hours (start, end as "HH:MM") in `tz`.
 */
export function outsideQuietHours(at: Date, tz: string, quietStart: string, quietEnd: string): Date {
  const start = parseHhmm(quietStart) ?? 0;
  const end = parseHhmm(quietEnd) ?? 0;
  const mins = localMinutes(at, tz);
  if (!inQuietHours(mins, start, end)) return at;
  const day = local(at, tz);
  // Quiet hours end today (after midnight) or tomorrow (before midnight).
  const endDay = mins >= end && start > end ? day.plus({ days: 1 }) : day;
  return atLocalTime(endDay, end);
}
