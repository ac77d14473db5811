/**
 * What a chat message is about. By default the active editor's file goes with every message
 * (its selection when there is one, else the whole file fitted around the cursor), shown as a
 * chip above the message box; the user can remove the chip, which holds until another file
 * becomes active. "Ask StarChat about Selection" pins a selection for the next message only.
 *
 * Pure: the extension feeds it editor snapshots ({@link EditorState}); it knows nothing of
 * VS Code, so its rules are unit-tested.
 */
import type { Diagnostic, Position, Range } from 'vscode-languageserver-protocol';

import type { ChatContext } from '../common/protocol';
import { describeLocation } from './location';
import type { ContextChip, FileChip } from './messages';

/** The active editor, as plain LSP JSON. */
export interface EditorState {
  uri: string;
  selection: Range;
  cursor: Position;
}

/** Code an action runs on: the selection, or an empty range the server widens to the
 * function or class around it. */
export interface ActionTarget {
  uri: string;
  range: Range;
  label: string;
  /** The lightbulb's diagnostics for the range, when it has any. */
  diagnostics?: Diagnostic[];
}

interface Pinned {
  value: ChatContext;
  label: string;
}

function isEmpty(range: Range): boolean {
  return range.start.line === range.end.line && range.start.character === range.end.character;
}

export class ContextTracker {
  private editor: EditorState | undefined;
  private pinned: Pinned | undefined;
  private dismissedUri: string | undefined;
  private shown: string | undefined;
  private named: FileChip[] = [];

  constructor(
    private readonly onChange: (chip: ContextChip | undefined) => void,
    private readonly onFiles: (files: FileChip[]) => void = () => undefined,
  ) {}

  /** The workspace files named with `#` for the next message. */
  get files(): FileChip[] {
    return this.named.map((f) => ({ ...f }));
  }

  /** Name a workspace file for the next message (once). */
  addFile(file: FileChip): void {
    if (!this.named.some((f) => f.uri === file.uri)) {
      this.named.push({ ...file });
      this.onFiles(this.files);
    }
  }

  removeFile(uri: string): void {
    const before = this.named.length;
    this.named = this.named.filter((f) => f.uri !== uri);
    if (this.named.length !== before) {
      this.onFiles(this.files);
    }
  }

  /** The chip the panel shows: what the next message will carry. */
  get chip(): ContextChip | undefined {
    const next = this.next();
    return next ? { label: next.label, pinned: this.pinned !== undefined } : undefined;
  }

  /** The active editor changed, or its selection did; undefined: no editor is left open. */
  editorChanged(state: EditorState | undefined): void {
    if (state?.uri !== this.editor?.uri) {
      this.dismissedUri = undefined;
    }
    this.editor = state;
    this.changed();
  }

  /** A document was closed: stop offering it. */
  documentClosed(uri: string): void {
    if (this.editor?.uri === uri) {
      this.editor = undefined;
    }
    if (this.pinned?.value.uri === uri) {
      this.pinned = undefined;
    }
    this.changed();
  }

  /** Attach this selection to the next message. */
  pin(value: ChatContext, label: string): void {
    this.pinned = { value, label };
    this.changed();
  }

  /** The user removed the chip: a pinned selection goes, and the file stays out until
   * another one becomes active. */
  dismiss(): void {
    this.pinned = undefined;
    this.dismissedUri = this.editor?.uri;
    this.changed();
  }

  /** The context for the message being sent, with the files named with `#` as `files`
   * (a pinned selection and the named files are used up by it). Named files without an
   * editor: the first of them is the context's document. */
  take(): { value: ChatContext; label: string } | undefined {
    const next = this.next();
    const named = this.named;
    if (this.pinned) {
      this.pinned = undefined;
      this.changed();
    }
    if (named.length > 0) {
      this.named = [];
      this.onFiles([]);
    }
    if (named.length === 0) {
      return next;
    }
    const files = named.map((f) => f.uri);
    const labels = named.map((f) => `#${f.label}`).join(' ');
    if (!next) {
      return { value: { uri: files[0]!, files }, label: labels };
    }
    return { value: { ...next.value, files }, label: `${next.label} ${labels}` };
  }

  /** What an action (/fix, palette commands) runs on: the pinned selection, else the active
   * editor's selection or the function at its cursor, even when the chip was removed. */
  target(): ActionTarget | undefined {
    if (this.pinned?.value.range) {
      const { uri, range } = this.pinned.value;
      return { uri, range, label: this.pinned.label };
    }
    return this.editor ? editorTarget(this.editor) : undefined;
  }

  private next(): { value: ChatContext; label: string } | undefined {
    if (this.pinned) {
      return this.pinned;
    }
    const editor = this.editor;
    if (!editor || editor.uri === this.dismissedUri) {
      return undefined;
    }
    const value: ChatContext = { uri: editor.uri, cursor: editor.cursor };
    if (!isEmpty(editor.selection)) {
      value.range = editor.selection;
    }
    return { value, label: describeLocation(editor.uri, value.range) };
  }

  private changed(): void {
    const chip = this.chip;
    const key = chip ? `${chip.label}|${chip.pinned}` : undefined;
    if (key !== this.shown) {
      this.shown = key;
      this.onChange(chip);
    }
  }
}

/** The selection, or the cursor (the server widens an empty range to the enclosing code). */
export function editorTarget(editor: EditorState): ActionTarget {
  const range = isEmpty(editor.selection) ? { start: editor.cursor, end: editor.cursor } : editor.selection;
  const label = isEmpty(editor.selection)
    ? `${describeLocation(editor.uri)} at line ${editor.cursor.line + 1}`
    : describeLocation(editor.uri, range);
  return { uri: editor.uri, range, label };
}
