/**
 * "Ask StarChat about Selection": attach the editor's selection to the next chat message and
 * put the cursor in the panel's message box. With nothing selected the cursor goes as an empty
 * range, which the server widens to the function or class around it.
 */
import * as vscode from 'vscode';
import type { Range } from 'vscode-languageserver-protocol';

import type { ChatContext } from '../common/protocol';
import { describeLocation } from './location';
import type { ChatPanel } from './panel';
import type { ChatSession } from './session';

/** The selection as an LSP range (plain JSON: what the server receives). */
export function selectionRange(editor: vscode.TextEditor): Range {
  const { start, end } = editor.selection;
  return {
    start: { line: start.line, character: start.character },
    end: { line: end.line, character: end.character },
  };
}

export function selectionContext(editor: vscode.TextEditor): { context: ChatContext; label: string } {
  const uri = editor.document.uri.toString();
  const range = selectionRange(editor);
  return { context: { uri, range }, label: describeLocation(uri, range) };
}

export async function askAboutSelection(session: ChatSession, panel: ChatPanel): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('StarChat: open a file and select code to ask about.');
    return;
  }
  const { context, label } = selectionContext(editor);
  session.setContext(context, label);
  await panel.reveal(true);
}
