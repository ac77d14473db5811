/**
 * An `@starchat` participant for VS Code's built-in Chat view, where that API exists (it needs
 * a chat UI, which plain VS Code builds without a chat extension may not show). The webview
 * panel stays the main surface; this is the same server behind another door: plain questions
 * stream through `starchat/chat` with the active editor's selection as context, and /explain,
 * /fix, /tests and /doc run the code actions on it.
 */
import * as vscode from 'vscode';
import { ExecuteCommandRequest, type LanguageClient } from 'vscode-languageclient/node';

import { describeError } from '../common/logger';
import { commandFor, type ActionArgs, type ActionName, type ExplainResult } from '../common/protocol';
import type { ChatBackend } from './session';
import { selectionContext, selectionRange } from './selection';

export const PARTICIPANT_ID = 'starchat.assistant';

/** The slash commands (declared in package.json) and the code action each runs. */
export const SLASH_COMMANDS: Record<string, ActionName> = {
  explain: 'explain',
  fix: 'fix',
  tests: 'writeTests',
  doc: 'addDocstring',
};

export function registerParticipant(
  extensionUri: vscode.Uri,
  client: () => LanguageClient | undefined,
  backend: ChatBackend,
): vscode.Disposable | undefined {
  if (typeof vscode.chat?.createChatParticipant !== 'function') {
    return undefined;
  }
  const handler: vscode.ChatRequestHandler = async (request, _context, response, token) => {
    const running = client();
    if (!running) {
      response.markdown('The StarChat server is not running. Run **StarChat: Show Logs** to see why.');
      return;
    }
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
        const args: ActionArgs = { uri: editor.document.uri.toString(), range: selectionRange(editor) };
        response.progress('StarChat is working…');
        const result = await running.sendRequest(
          ExecuteCommandRequest.type,
          { command: commandFor(action), arguments: [args] },
          token,
        );
        response.markdown(
          action === 'explain' ? (result as ExplainResult).text : 'Done: the edit was applied to the file.',
        );
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
