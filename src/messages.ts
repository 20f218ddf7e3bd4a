/**
 * Neutral, typed messages: what comes in from a channel and what goes out to it.
 *
 * The engine speaks only these types. Each adapter turns a platform request into an
 * {@link Inbound} and renders every {@link Outbound} natively (Telegram inline keyboards,
 * Slack Block Kit, Teams Adaptive Cards, numbered choices in the console).
 */

/** Channels the bot speaks on. */
export type Channel = 'console' | 'telegram' | 'slack' | 'teams';

/** Every channel, for code that goes through them all (the outbox's lanes). */
export const CHANNELS: readonly Channel[] = ['console', 'telegram', 'slack', 'teams'];

/**
 * Who a learner is, on one channel. A learner on Telegram and the same person on Slack are two
 * learners: platforms share no identity.
 */
export interface LearnerKey {
  channel: Channel;
  userId: string;
}

/**
 * Where to reply, so that the bot can later write first (reminders). `conversationId` is the chat,
 * DM or channel; `ref` holds whatever else the platform needs to send proactively (Teams keeps a
 * conversation reference there, Slack a team id), as plain JSON.
 */
export interface Address {
  channel: Channel;
  conversationId: string;
  /** A private chat with one learner, or a group conversation (group chat, channel). */
  kind: 'direct' | 'group';
  ref?: Record<string, string | number | boolean | null>;
}

/** Inline formatting of one run of text. */
export interface Span {
  text: string;
  bold?: boolean;
  italic?: boolean;
  /** An https link that this run of text points to. */
  href?: string;
}

/** A paragraph or a list item: a sequence of spans. */
export interface Block {
  type: 'paragraph' | 'bullet';
  spans: Span[];
}

/** Formatted text in a form every renderer can escape correctly. */
export type RichText = Block[];

/** One button. `data` is an encoded {@link import('./engine/actions.js').Action}. */
export interface Choice {
  label: string;
  data: string;
}

/** A quiz option as shown to the learner (A, B, C...). */
export interface QuizOption {
  key: string;
  text: string;
  /** Set on multiple-answer items: whether the learner has ticked it. */
  ticked?: boolean;
}

/** Progress of one module, for progress views. */
export interface ModuleProgress {
  moduleId: string;
  title: string;
  lessonsDone: number;
  lessonsTotal: number;
  status: 'done' | 'in_progress' | 'not_started';
}

/** Why a {@link Outbound} notice was sent (see its `reason`). */
export type NoticeReason = 'recorded' | 'already_answered' | 'closed' | 'refused' | 'info';

/**
 * One team-quiz question as it was posted: channels remember which platform message shows it, so
 * that a later `close` step can take its buttons off (and Teams can keep one tally per question).
 */
export interface QuestionRef {
  quizId: string;
  /** 0-based position of the question in its quiz. */
  index: number;
  itemId: string;
}

/** Platform ids of team-quiz messages a channel posted: questions by `${quizId}:${index}`, tallies by `${quizId}:${index}:tally`. */
export type PostedRefs = Record<string, string>;

/** The key of a team-quiz question in {@link PostedRefs}. */
export const questionKey = (q: Pick<QuestionRef, 'quizId' | 'index'>): string => `${q.quizId}:${q.index}`;

/** The key of a team-quiz question's running tally in {@link PostedRefs}. */
export const tallyKey = (q: Pick<QuestionRef, 'quizId' | 'index'>): string => `${questionKey(q)}:tally`;

/** A quiz message (see {@link Outbound}). */
export type QuizMessage = Extract<Outbound, { kind: 'quiz' }>;

/** What the bot says. Every variant may carry choices (buttons). */
export type Outbound =
  | { kind: 'text'; text: RichText; choices?: Choice[] }
  | {
      kind: 'card';
      lessonTitle: string;
      /** 1-based position of this card in the lesson, and the number of cards. */
      index: number;
      total: number;
      body: RichText;
      choices: Choice[];
    }
  | {
      kind: 'quiz';
      itemId: string;
      /** Shown above the question, e.g. "Question 2 of 5" or "Review". */
      heading: string;
      question: string;
      options: QuizOption[];
      multiple: boolean;
      choices: Choice[];
      /** 'source': redraw the message whose button was tapped (a ticked option), instead of posting anew. */
      edit?: 'source';
      /** Set on a team-quiz question, so that the channel remembers which message shows it. */
      teamQuestion?: QuestionRef;
    }
  | {
      kind: 'feedback';
      correct: boolean;
      heading: string;
      /** The right options, as "B. text". */
      answer: string[];
      /** "Answer" or "Answers", in the learner's language. */
      answerLabel: string;
      explanation: string;
      /** The right options and the learner's, as 0-based option indices (renderers never parse `answer`). */
      right: number[];
      picked: number[];
      /**
       * 'source' when this answers a button on the quiz message, so that a channel that can edit
       * messages shows the result in place of the question; absent: post it as a new message.
       */
      edit?: 'source';
      /** The quiz item as it was asked, for channels that edit the question in place. */
      question: string;
      options: QuizOption[];
      choices: Choice[];
    }
  | { kind: 'progress'; heading: string; modules: ModuleProgress[]; summary: RichText; choices?: Choice[] }
  /**
   * A short note for the sender only (a group-quiz answer confirmation): Telegram shows it as the
   * button's toast, Slack as an ephemeral message, the console as a plain line. `reason` says what
   * it is about, so that a channel can treat notices differently without comparing their text:
   * 'recorded' (an answer was accepted), 'already_answered', 'closed' (a tap on a closed question),
   * 'refused' (an answer that is not one of the options), 'info' (anything else).
   */
  | {
      kind: 'notice';
      text: string;
      reason: NoticeReason;
      /** On a team-quiz answer: the question it was about. */
      teamQuestion?: QuestionRef;
    }
  /**
   * Who has answered the open team-quiz question so far, in a channel that has no private notices
   * (Teams): one message per question, posted once and then edited in place (`messageRef`, kept in
   * the group's state, so that whichever process sends the next update edits the same message).
   * Names only, never options.
   */
  | {
      kind: 'tally';
      teamQuestion: QuestionRef;
      text: string;
      /** How many members have answered. */
      count: number;
      /** The platform's id of the tally message already posted for this question, if any. */
      messageRef?: string;
    }
  /**
   * A step, not a message: the team-quiz question `teamQuestion` has closed, so its buttons go. Planned
   * by the engine just before the reveal; `shown` is the question as it was asked, for channels that
   * redraw it without buttons. A channel that cannot edit, or does not know the question's message
   * (another process posted it), skips it: a late tap is refused by the engine anyway.
   */
  | {
      kind: 'close';
      teamQuestion: QuestionRef;
      shown: QuizMessage;
      /** The platform's id of the message that shows the question, when the channel reported it (any process can close it). */
      messageRef?: string;
    }
  /** A document for the learner (their data, for /mydata). */
  | { kind: 'data'; filename: string; json: string }
  /**
   * A file for the learner (a certificate's PDF), base64-encoded so that the message stays plain
   * JSON. Sent as a document where the channel can attach one, with the caption beside it; where it
   * cannot (Teams), the caption and the link go as text.
   */
  | { kind: 'file'; filename: string; mediaType: string; base64: string; caption: string; link?: string }
  /**
   * A step, not a message: everything stored about the learner has just been erased (/forget). A
   * channel that keeps its own copy of their data (the console's /mydata file, named `filename`)
   * deletes it; the others skip it.
   */
  | { kind: 'erased'; filename: string };

/** What happened on the channel. */
export type InboundEvent =
  | { type: 'text'; text: string }
  | { type: 'command'; command: string; args: string }
  | { type: 'choice'; data: string };

/** An inbound event with its identity, sender and time. */
export interface Inbound {
  /** Unique per channel; a platform's retry of the same event carries the same id. */
  id: string;
  learner: LearnerKey;
  address: Address;
  /** The sender's display name, when the platform gives one (group quizzes show it). */
  displayName?: string;
  /** The sender's language code from the platform, used as the first guess of the interface language. */
  languageHint?: string;
  event: InboundEvent;
  /** When the platform says the event happened. */
  at: Date;
}

/** Turns plain text into {@link RichText} with one paragraph per line. */
export function plain(text: string): RichText {
  return text.split('\n').map((line) => ({ type: 'paragraph' as const, spans: [{ text: line }] }));
}

/** The text of rich text with formatting dropped, paragraphs on their own lines. */
export function toPlainText(rich: RichText): string {
  return rich.map((b) => (b.type === 'bullet' ? '• ' : '') + b.spans.map((s) => s.text).join('')).join('\n');
}
