/**
 * An `@starchat` participant for VS Code's built-in Chat view, where that API exists (it needs
 * a chat UI, which plain VS Code builds without a chat extension may not show). The webview
 * panel stays the main surface; this is the same server behind another door: plain questions
 * stream through `starchat/chat` with the active editor's selection as context, and /explain,
 * /fix, /tests, /doc and /improve run the code actions on it.
 */
import * as vscode from 'vscode';

import { describeError } from '../common/logger';
import type { ActionArgs } from '../common/protocol';
import { SLASH_COMMANDS } from './commands';
import { editorTarget } from './context';
import { editorState, selectionContext } from './selection';
import { outcomeOf, type ChatBackend } from './session';

export const PARTICIPANT_ID = 'starchat.assistant';

export function registerParticipant(extensionUri: vscode.Uri, backend: ChatBackend): vscode.Disposable | undefined {
  if (typeof vscode.chat?.createChatParticipant !== 'function') {
    return undefined;
  }
  const handler: vscode.ChatRequestHandler = async (request, _context, response, token) => {
    const editor = vscode.window.activeTextEditor;
    const action = request.command ? SLASH_COMMANDS[request.command] : undefined;
    try {
      if (action) {
        if (!editor) {
          response.markdown(
            `Open a file and select code (or put the cursor in a function), then run /${request.command}.`,
          );
          return;
        }
        const target = editorTarget(editorState(editor));
        const args: ActionArgs = { uri: target.uri, range: target.range };
        response.progress('StarChat is working…');
        const result = await backend.action(action, args, (text) => response.markdown(text), token);
        const { note } = outcomeOf(result, target);
        if (note) {
          response.markdown(`\n\n_${note}_`);
        }
        return;
      }
      const params = editor
        ? { message: request.prompt, context: selectionContext(editor).context }
        : { message: request.prompt };
      await backend.chat(params, (text) => response.markdown(text), token);
    } catch (error) {
      if (!token.isCancellationRequested) {
        response.markdown(`StarChat could not answer: ${describeError(error)}`);
      }
    }
  };
  const participant = vscode.chat.createChatParticipant(PARTICIPANT_ID, handler);
  participant.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'starchat.svg');
  return participant;
}
