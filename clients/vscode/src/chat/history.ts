/**
 * Conversations kept across reloads: the last few transcripts, in the extension's workspace
 * storage (on this machine only, never sent anywhere but to the user's own server). The
 * server forgets conversations when it restarts; the next message then carries the earlier
 * turns as `history` and the server starts over from them.
 */
import type { HistoryMessage } from '../common/protocol';
import type { Entry } from './messages';

/** The part of VS Code's Memento the store needs. */
export interface Storage {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

export interface StoredConversation {
  id: string;
  title: string;
  /** Milliseconds since the epoch of the last change. */
  updated: number;
  entries: Entry[];
}

export const STORAGE_KEY = 'starchat.conversations';
export const MAX_CONVERSATIONS = 20;
/** Entries kept per conversation: a long chat keeps its latest turns. */
export const MAX_ENTRIES = 200;
const TITLE_LENGTH = 60;

export class ConversationStore {
  constructor(private readonly storage: Storage) {}

  /** Most recent first. */
  list(): StoredConversation[] {
    const stored = this.storage.get<StoredConversation[]>(STORAGE_KEY);
    return Array.isArray(stored) ? stored : [];
  }

  get(id: string): StoredConversation | undefined {
    return this.list().find((c) => c.id === id);
  }

  /** Save (or replace) a conversation as the most recent one; an empty one is dropped. */
  save(id: string, entries: readonly Entry[], now = Date.now()): Thenable<void> {
    const others = this.list().filter((c) => c.id !== id);
    if (!entries.some((e) => e.role === 'user')) {
      return this.storage.update(STORAGE_KEY, others);
    }
    const kept = entries.slice(-MAX_ENTRIES).map((e) => ({ ...e }));
    const conversation: StoredConversation = { id, title: titleOf(entries), updated: now, entries: kept };
    return this.storage.update(STORAGE_KEY, [conversation, ...others].slice(0, MAX_CONVERSATIONS));
  }
}

export function titleOf(entries: readonly Entry[]): string {
  const first =
    entries
      .find((e) => e.role === 'user')
      ?.text.replace(/\s+/g, ' ')
      .trim() ?? '';
  return first.length > TITLE_LENGTH ? `${first.slice(0, TITLE_LENGTH - 1)}…` : first;
}

/**
 * The transcript as `history` for the server: each question with its answer, oldest first,
 * alternating; notices, and questions without an answer, left out.
 */
export function historyOf(entries: readonly Entry[]): HistoryMessage[] {
  const history: HistoryMessage[] = [];
  let question: Entry | undefined;
  for (const entry of entries) {
    if (entry.role === 'user') {
      question = entry;
    } else if (entry.role === 'assistant' && question && entry.text.trim() !== '') {
      history.push({ role: 'user', content: question.text }, { role: 'assistant', content: entry.text });
      question = undefined;
    }
  }
  return history;
}
