/**
 * "Ask StarChat about Selection": attach the editor's selection (or, with nothing selected,
 * the whole file) to the next chat message and put the cursor in the panel's message box.
 */
import * as vscode from 'vscode';

import type { ChatContext } from '../common/protocol';
import { describeLocation } from './location';
import type { ChatPanel } from './panel';
import type { ChatSession } from './session';

export function selectionContext(editor: vscode.TextEditor): { context: ChatContext; label: string } {
  const uri = editor.document.uri.toString();
  const selection = editor.selection;
  if (selection.isEmpty) {
    return { context: { uri }, label: describeLocation(uri) };
  }
  const range = {
    start: { line: selection.start.line, character: selection.start.character },
    end: { line: selection.end.line, character: selection.end.character },
  };
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
