/**
 * Turns the engine's learning records into outbox rows for the learner's commit: one xAPI statement
 * each, with the learner's hashed actor. The runtime calls it between the engine and the commit.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Course } from '../content/course.js';
import type { LearningRecord } from '../engine/records.js';
import type { LearnerState } from '../engine/state.js';
import type { LearnerKey } from '../messages.js';
import type { XapiRow } from '../store/store.js';
import { statementId, toStatement, xapiActor, type XapiSettings } from './statements.js';

/** The file under DATA_DIR that keeps a generated actor key. */
export const XAPI_ACTOR_KEY_FILE = 'xapi-actor.key';

/**
 * The key of the actors' hashes: `configured` (XAPI_ACTOR_KEY) when given, else the one kept in
 * `dataDir`, generated on first use (created exclusively, so two processes starting together agree).
 * Deployments on several machines must set XAPI_ACTOR_KEY, or each machine would hash differently.
 */
export function loadActorKey(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  const path = join(dataDir, XAPI_ACTOR_KEY_FILE);
  try {
    writeFileSync(path, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = readFileSync(path, 'utf8').trim();
  if (key.length < 16) throw new Error(`${path} holds no usable key: delete it (a new one is generated) or set XAPI_ACTOR_KEY`);
  return key;
}

export class XapiRecorder {
  constructor(
    private readonly course: Course,
    readonly settings: XapiSettings,
    private readonly actorKey: string,
  ) {}

  /** The rows for one turn's records; `nonce` is the turn's random id (the statements' ids derive from it). */
  rows(learner: LearnerKey, state: LearnerState, records: LearningRecord[], nonce: string, now: Date): XapiRow[] {
    const actor = xapiActor(this.settings, this.actorKey, `${learner.channel}:${learner.userId}`, state.createdAt);
    return records.map((record, i) => {
      const id = statementId(nonce, i);
      const statement = toStatement(this.course, this.settings, { actor, id, timestamp: now.toISOString(), lang: state.lang }, record);
      return { id, learner, statement: JSON.stringify(statement), createdAt: now };
    });
  }
}
