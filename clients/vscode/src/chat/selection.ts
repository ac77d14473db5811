/**
 * The editor as the chat sees it, and "Ask StarChat about Selection": attach the editor's
 * selection to the next chat message and put the cursor in the panel's message box. With
 * nothing selected the cursor goes as an empty range, which the server widens to the function
 * or class around it.
 */
import * as vscode from 'vscode';
import type { Range } from 'vscode-languageserver-protocol';

import type { ChatContext } from '../common/protocol';
import type { ContextTracker, EditorState } from './context';
import { describeLocation } from './location';
import type { ChatPanel } from './panel';

/** The selection as an LSP range (plain JSON: what the server receives). */
export function selectionRange(editor: vscode.TextEditor): Range {
  const { start, end } = editor.selection;
  return {
    start: { line: start.line, character: start.character },
    end: { line: end.line, character: end.character },
  };
}

export function editorState(editor: vscode.TextEditor): EditorState {
  const { line, character } = editor.selection.active;
  return { uri: editor.document.uri.toString(), selection: selectionRange(editor), cursor: { line, character } };
}

export function selectionContext(editor: vscode.TextEditor): { context: ChatContext; label: string } {
  const uri = editor.document.uri.toString();
  const range = selectionRange(editor);
  return { context: { uri, range }, label: describeLocation(uri, range) };
}

export async function askAboutSelection(context: ContextTracker, panel: ChatPanel): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('StarChat: open a file and select code to ask about.');
    return;
  }
  const { context: value, label } = selectionContext(editor);
  context.pin(value, label);
  await panel.reveal(true);
}

/** Keep the tracker on the active editor and its selection. Focusing the chat panel leaves no
 * active editor in some layouts: the last one stays the context until its document closes. */
export function followEditors(context: ContextTracker): vscode.Disposable[] {
  const update = (editor: vscode.TextEditor | undefined) => {
    if (editor && (editor.document.uri.scheme === 'file' || editor.document.uri.scheme === 'untitled')) {
      context.editorChanged(editorState(editor));
    }
  };
  update(vscode.window.activeTextEditor);
  return [
    vscode.window.onDidChangeActiveTextEditor(update),
    vscode.window.onDidChangeTextEditorSelection((event) => {
      if (event.textEditor === vscode.window.activeTextEditor) {
        update(event.textEditor);
      }
    }),
    vscode.workspace.onDidCloseTextDocument((document) => context.documentClosed(document.uri.toString())),
  ];
}
