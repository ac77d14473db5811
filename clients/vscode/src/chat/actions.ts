/**
 * Code actions, from wherever the user starts them: the lightbulb (the server offers
 * `starchat.<action>` commands), the palette and keybindings (`starchat.run.<action>`, on the
 * selection or the function at the cursor), and slash commands in the panel (session.ts).
 * All of them run in the chat panel's conversation, so the answer streams there, Stop cancels
 * it, and the outcome is told under it: applied, discarded in the preview, or refused by the
 * server's checks with the reason and an "Apply anyway" button.
 *
 * The language client would run the lightbulb's command and drop its result; the middleware
 * routes it to the session instead.
 */
import * as vscode from 'vscode';
import type { LanguageClient, Middleware } from 'vscode-languageclient/node';

import { describeError, type Logger } from '../common/logger';
import { ACTIONS, commandFor, type ActionArgs, type ActionName } from '../common/protocol';
import { ACTION_TITLES } from './commands';
import { editorTarget, type ActionTarget } from './context';
import { describeLocation } from './location';
import type { ChatPanel } from './panel';
import { editorState } from './selection';
import type { ChatSession } from './session';

export function actionFor(command: string): ActionName | undefined {
  return ACTIONS.find((action) => commandFor(action) === command);
}

/** The palette and keybinding command of an action. */
export function paletteCommand(action: ActionName): string {
  return `starchat.run.${action}`;
}

export interface ActionDeps {
  client: () => LanguageClient | undefined;
  session: () => ChatSession;
  panel: () => ChatPanel;
  logger: Logger;
}

export function actionMiddleware(deps: ActionDeps): Middleware {
  return {
    executeCommand: async (command, args, next) => {
      const action = actionFor(command);
      const target = args[0] as ActionArgs | undefined;
      if (!action || !target?.uri || !target.range) {
        return next(command, args);
      }
      deps.logger.debug(`Running ${command} ${JSON.stringify(args)}`);
      const label = describeLocation(target.uri, target.range);
      await run(deps, action, { uri: target.uri, range: target.range, label, diagnostics: target.diagnostics });
      return undefined;
    },
  };
}

/** Register `starchat.run.<action>` for every action. */
export function registerActionCommands(deps: ActionDeps): vscode.Disposable[] {
  return ACTIONS.map((action) =>
    vscode.commands.registerCommand(paletteCommand(action), () => runOnEditor(deps, action)),
  );
}

async function runOnEditor(deps: ActionDeps, action: ActionName): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const verb = ACTION_TITLES[action].toLowerCase();
  if (!editor) {
    void vscode.window.showInformationMessage(`StarChat: open a file and select code to ${verb}.`);
    return;
  }
  const state = editorState(editor);
  const selected = editor.selection.isEmpty
    ? editor.document.lineAt(editor.selection.active.line).text
    : editor.document.getText(editor.selection);
  if (selected.trim() === '') {
    void vscode.window.showInformationMessage(
      `StarChat: there is no code here to ${verb}. Select some code or put the cursor inside a function.`,
    );
    return;
  }
  await run(deps, action, editorTarget(state));
}

async function run(deps: ActionDeps, action: ActionName, target: ActionTarget): Promise<void> {
  await deps.panel().reveal(false);
  await deps.session().runAction(action, target);
}

/** "Apply anyway": apply the edit the server refused, as the user asked. */
export async function applyAnyway(deps: ActionDeps, entryId: string): Promise<void> {
  const session = deps.session();
  const client = deps.client();
  if (!client) {
    void vscode.window.showWarningMessage('StarChat: the server is not running; try again when it is.');
    return;
  }
  const edit = session.takeRejectedEdit(entryId);
  if (!edit) {
    return;
  }
  try {
    const applied = await vscode.workspace.applyEdit(await client.protocol2CodeConverter.asWorkspaceEdit(edit));
    session.appliedAnyway(entryId, applied);
  } catch (error) {
    deps.logger.error(`Apply anyway failed: ${describeError(error)}`);
    session.appliedAnyway(entryId, false);
  }
}
