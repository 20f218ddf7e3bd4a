/**
 * What a button does. Buttons carry an encoded action in their callback data; encoding is
 * versioned ("1|...") and compact, because Telegram allows only 64 bytes of callback data.
 * A button from an older message decodes fine but may no longer fit where the learner is:
 * the engine checks and answers gracefully.
 */

export type Action =
  | { type: 'start_module'; moduleId: string }
  | { type: 'menu' }
  | { type: 'module'; moduleId: string }
  | { type: 'lesson'; lessonId: string }
  /** Next card of a lesson; carries the card it was shown on, to detect stale taps. */
  | { type: 'next_card'; lessonId: string; card: number }
  | { type: 'answer'; itemId: string; option: number }
  | { type: 'submit'; itemId: string }
  /** Continue after the feedback of `itemId`. */
  | { type: 'continue'; itemId: string }
  | { type: 'resume' }
  | { type: 'practice' }
  | { type: 'review' }
  | { type: 'progress' }
  /** The full list of takeaways of finished lessons, a page at a time. */
  | { type: 'learned'; page: number }
  | { type: 'help' }
  | { type: 'settings' }
  | { type: 'lang'; lang: string }
  | { type: 'forget'; confirm: boolean }
  | { type: 'group_answer'; quizId: string; question: number; option: number }
  | { type: 'group_join'; quizId: string }
  | { type: 'nudge'; choice: 'snooze_1h' | 'snooze_evening' | 'snooze_tomorrow' | 'stop' }
  /** Asks for the certificate of an achievement (`course` or `module:<id>`). */
  | { type: 'certificate'; achievement: string }
  /** Issues the certificate with the name the learner typed, or asks for the name again. */
  | { type: 'certificate_name'; ok: boolean }
  /** With linked accounts: send reminders to the conversation this button is in. */
  | { type: 'reminders_here' }
  /** The optional country and organisation questions: answer one, or skip them. */
  | { type: 'profile'; field: 'country' | 'org' | 'skip' };

const VERSION = '1';

/** Encodes an action as callback data (at most 64 bytes for any course id of 40 characters). */
export function encodeAction(a: Action): string {
  const parts: (string | number)[] = (() => {
    switch (a.type) {
      case 'start_module':
        return ['sm', a.moduleId];
      case 'menu':
        return ['m'];
      case 'module':
        return ['mod', a.moduleId];
      case 'lesson':
        return ['l', a.lessonId];
      case 'next_card':
        return ['n', a.lessonId, a.card];
      case 'answer':
        return ['a', a.itemId, a.option];
      case 'submit':
        return ['s', a.itemId];
      case 'continue':
        return ['c', a.itemId];
      case 'resume':
        return ['r'];
      case 'practice':
        return ['q'];
      case 'review':
        return ['rv'];
      case 'progress':
        return ['p'];
      case 'learned':
        return ['lr', a.page];
      case 'help':
        return ['h'];
      case 'settings':
        return ['st'];
      case 'lang':
        return ['lg', a.lang];
      case 'forget':
        return ['f', a.confirm ? 1 : 0];
      case 'group_answer':
        return ['g', a.quizId, a.question, a.option];
      case 'group_join':
        return ['gj', a.quizId];
      case 'nudge':
        return ['nd', a.choice];
      case 'certificate':
        return ['ct', a.achievement];
      case 'certificate_name':
        return ['cn', a.ok ? 1 : 0];
      case 'reminders_here':
        return ['rh'];
      case 'profile':
        return ['pf', a.field];
    }
  })();
  return [VERSION, ...parts].join('|');
}

const int = (s: string | undefined): number | undefined => (s !== undefined && /^\d{1,4}$/.test(s) ? Number(s) : undefined);

/** Decodes callback data; returns undefined for anything malformed or from an unknown version. */
export function decodeAction(data: string): Action | undefined {
  if (typeof data !== 'string' || data.length > 200) return undefined;
  const [version, tag, a, b, c] = data.split('|');
  if (version !== VERSION) return undefined;
  switch (tag) {
    case 'sm':
      return a ? { type: 'start_module', moduleId: a } : undefined;
    case 'm':
      return { type: 'menu' };
    case 'mod':
      return a ? { type: 'module', moduleId: a } : undefined;
    case 'l':
      return a ? { type: 'lesson', lessonId: a } : undefined;
    case 'n':
      return a && int(b) !== undefined ? { type: 'next_card', lessonId: a, card: int(b)! } : undefined;
    case 'a':
      return a && int(b) !== undefined ? { type: 'answer', itemId: a, option: int(b)! } : undefined;
    case 's':
      return a ? { type: 'submit', itemId: a } : undefined;
    case 'c':
      return a ? { type: 'continue', itemId: a } : undefined;
    case 'r':
      return { type: 'resume' };
    case 'q':
      return { type: 'practice' };
    case 'rv':
      return { type: 'review' };
    case 'p':
      return { type: 'progress' };
    case 'lr':
      return int(a) !== undefined ? { type: 'learned', page: int(a)! } : undefined;
    case 'h':
      return { type: 'help' };
    case 'st':
      return { type: 'settings' };
    case 'lg':
      return a ? { type: 'lang', lang: a } : undefined;
    case 'f':
      return a === '1' || a === '0' ? { type: 'forget', confirm: a === '1' } : undefined;
    case 'g':
      return a && int(b) !== undefined && int(c) !== undefined ? { type: 'group_answer', quizId: a, question: int(b)!, option: int(c)! } : undefined;
    case 'gj':
      return a ? { type: 'group_join', quizId: a } : undefined;
    case 'nd':
      return a === 'snooze_1h' || a === 'snooze_evening' || a === 'snooze_tomorrow' || a === 'stop' ? { type: 'nudge', choice: a } : undefined;
    case 'ct':
      return a ? { type: 'certificate', achievement: a } : undefined;
    case 'rh':
      return { type: 'reminders_here' };
    case 'cn':
      return a === '1' || a === '0' ? { type: 'certificate_name', ok: a === '1' } : undefined;
    case 'pf':
      return a === 'country' || a === 'org' || a === 'skip' ? { type: 'profile', field: a } : undefined;
    default:
      return undefined;
  }
}
