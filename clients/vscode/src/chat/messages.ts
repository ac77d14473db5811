/**
 * The messages between the chat webview and the extension, shared by both sides.
 *
 * The extension owns the transcript; the webview only renders it. A webview that is
 * (re)created asks for the whole transcript with `ready` and gets a `reset`.
 */

export type Role = 'user' | 'assistant' | 'notice';

/** `streaming` until the answer ends: `done`, `stopped` (by the user), `interrupted` (the
 * server went away mid-answer) or `error`. */
export type EntryState = 'streaming' | 'done' | 'stopped' | 'interrupted' | 'error';

export interface Entry {
  id: string;
  role: Role;
  text: string;
  state: EntryState;
  /** For user messages: what the message was about, e.g. "sample.py:3-7". */
  context?: string;
  /** A sentence shown under the entry, e.g. why an answer ended early. */
  note?: string;
}

export interface ContextChip {
  label: string;
}

export type ToWebview =
  | { type: 'reset'; entries: Entry[]; busy: boolean; context: ContextChip | undefined }
  | { type: 'append'; entry: Entry }
  | { type: 'chunk'; id: string; text: string }
  | { type: 'finish'; id: string; state: EntryState; text: string; note?: string }
  | { type: 'busy'; busy: boolean }
  | { type: 'context'; context: ContextChip | undefined }
  | { type: 'focusInput' };

export type FromWebview =
  | { type: 'ready' }
  | { type: 'send'; text: string }
  | { type: 'stop' }
  | { type: 'newChat' }
  | { type: 'clearContext' }
  | { type: 'copy'; code: string }
  | { type: 'insert'; code: string };
