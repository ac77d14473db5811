/**
 * The messages between the chat webview and the extension, shared by both sides.
 *
 * The extension owns the transcript; the webview only renders it. A webview that is
 * (re)created asks for the whole transcript with `ready` and gets a `reset`.
 */

import type { Range } from 'vscode-languageserver-protocol';

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
  /** The answer stopped at maxNewTokens; the last such answer offers Continue. */
  cut?: boolean;
  /** An edit the server's checks refused and the user may still apply ("Apply anyway"). */
  canApplyAnyway?: boolean;
  /** A file the answer wrote (Write tests), offered as a link. */
  file?: { uri: string; label: string };
  /** Workspace code the server put in the prompt, best first, each a link to its lines. */
  references?: EntryReference[];
}

/** A reference under an answer: `label` is "pkg/billing.py:1-3" (workspace-relative). */
export interface EntryReference {
  uri: string;
  range: Range;
  label: string;
}

/** A workspace file the user named with `#`: its code goes with the next message. */
export interface FileChip {
  uri: string;
  label: string;
}

export interface ContextChip {
  label: string;
  /** A selection attached with "Ask StarChat about Selection" (for the next message only). */
  pinned?: boolean;
}

export type ToWebview =
  | { type: 'reset'; entries: Entry[]; busy: boolean; context: ContextChip | undefined; files?: FileChip[] }
  /** The files named with `#` for the next message. */
  | { type: 'files'; files: FileChip[] }
  | { type: 'append'; entry: Entry }
  | { type: 'update'; entry: Entry }
  | { type: 'chunk'; id: string; text: string }
  | { type: 'busy'; busy: boolean }
  | { type: 'context'; context: ContextChip | undefined }
  /** What the answer in progress is waiting for; the page counts the tokens itself. */
  | { type: 'progress'; text: string }
  /** Whether the editor code would be inserted into has a selection (Replace selection). */
  | { type: 'selection'; present: boolean }
  | { type: 'focusInput' };

export type FromWebview =
  | { type: 'ready' }
  | { type: 'send'; text: string }
  | { type: 'stop' }
  | { type: 'newChat' }
  | { type: 'clearContext' }
  | { type: 'copy'; code: string }
  | { type: 'insert'; code: string }
  | { type: 'replace'; code: string }
  | { type: 'continue'; id: string }
  | { type: 'applyAnyway'; id: string }
  /** Open a file; with `range`, select those lines (a reference). */
  | { type: 'open'; uri: string; range?: Range }
  /** The user typed `#` or pressed the # button: pick a workspace file to add. */
  | { type: 'pickFile' }
  | { type: 'removeFile'; uri: string };
