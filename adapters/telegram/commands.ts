/**
 * The command menus Telegram shows next to the text field (`setMyCommands`), one per interface
 * language, built from the same interface texts as /help so that they never disagree with it.
 */
import { t } from '../../src/engine/i18n.js';
import { LANGS, type Lang } from '../../src/engine/state.js';

export interface BotCommand {
  command: string;
  description: string;
}

const NAME = /^[a-z0-9_]{1,32}$/;

function clip(s: string): string {
  const trimmed = s.trim().replace(/\s+/g, ' ');
  const clean = trimmed.charAt(0).toLocaleUpperCase() + trimmed.slice(1);
  const chars = [...clean];
  return chars.length <= 256 ? clean : `${chars.slice(0, 255).join('')}…`;
}

function add(out: BotCommand[], command: string, description: string): void {
  const name = command.toLowerCase();
  if (!NAME.test(name) || !description.trim() || out.some((c) => c.command === name)) return;
  out.push({ command: name, description: clip(description) });
}

/**
 * Commands for private chats in `lang`: /start, /help, then each line of the /help text
 * ("/remind 08:30: a daily reminder" gives remind; "/snooze, /pause, /resume: ..." gives three).
 */
export function privateCommands(lang: Lang): BotCommand[] {
  const out: BotCommand[] = [];
  add(out, 'start', t(lang, 'welcome.title'));
  add(out, 'help', t(lang, 'help.title'));
  for (const line of t(lang, 'help.commands').split('\n')) {
    // The first ": " (or " : " in French) ends the command part; "08:30" has no space after its colon.
    const m = /^(.*?)\s?:\s(.+)$/.exec(line.trim());
    if (!m) continue;
    for (const c of m[1]!.matchAll(/(?:^|[\s,])\/(\w+)/g)) add(out, c[1]!, m[2]!);
  }
  return out;
}

/** Commands for groups in `lang`, from the group line of /help ("/quiz starts a team quiz, /leaderboard ..."). */
export function groupCommands(lang: Lang): BotCommand[] {
  const out: BotCommand[] = [];
  const text = t(lang, 'help.group');
  const found = [...text.matchAll(/\/(\w+)/g)];
  found.forEach((m, i) => {
    const end = found[i + 1]?.index ?? text.length;
    const description = text
      .slice(m.index! + m[0].length, end)
      .replace(/[\s,.;:]*(?:\b(?:and|et|y|e)\s*)?$/i, '')
      .trim();
    add(out, m[1]!, description);
  });
  if (!out.some((c) => c.command === 'quiz')) add(out, 'quiz', t(lang, 'help.group'));
  if (!out.some((c) => c.command === 'leaderboard')) add(out, 'leaderboard', t(lang, 'group.leaderboard'));
  return out;
}

/** Every menu to register: the default (English) and one per other language, for both scopes. */
export function commandMenus(): { languageCode?: Lang; scope: 'all_private_chats' | 'all_group_chats'; commands: BotCommand[] }[] {
  return LANGS.flatMap((lang) => {
    const code = lang === 'en' ? {} : { languageCode: lang };
    return [
      { ...code, scope: 'all_private_chats' as const, commands: privateCommands(lang) },
      { ...code, scope: 'all_group_chats' as const, commands: groupCommands(lang) },
    ];
  });
}
