/**
 * Code actions: the server offers them in the lightbulb as `starchat.<action>` commands. The
 * language client would run them and drop their result; this middleware instead shows
 * Explain's answer in the chat panel (so the user can ask follow-ups in the same
 * conversation) and wraps the editing actions, whose result arrives as the server's
 * `workspace/applyEdit`, in a cancellable progress notification.
 */
import * as vscode from 'vscode';
import { ExecuteCommandRequest, type LanguageClient, type Middleware } from 'vscode-languageclient/node';
import { LSPErrorCodes, ResponseError, type CancellationToken } from 'vscode-languageserver-protocol';

import { describeError, type Logger } from '../common/logger';
import { ACTIONS, commandFor, type ActionArgs, type ActionName, type ExplainResult } from '../common/protocol';
import { describeLocation } from './location';
import type { ChatPanel } from './panel';
import type { ChatSession } from './session';

const PROGRESS_TITLES: Record<ActionName, string> = {
  explain: 'Explaining',
  fix: 'Fixing',
  writeTests: 'Writing tests',
  addDocstring: 'Adding a docstring',
  improve: 'Improving',
};

export function actionFor(command: string): ActionName | undefined {
  return ACTIONS.find((action) => commandFor(action) === command);
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
      const client = deps.client();
      if (!action || !client) {
        return next(command, args);
      }
      const run = (token: CancellationToken): Promise<unknown> =>
        client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }, token);
      if (action === 'explain') {
        return explain(deps, args[0] as ActionArgs | undefined, run);
      }
      return edit(deps, action, run);
    },
  };
}

async function explain(
  deps: ActionDeps,
  target: ActionArgs | undefined,
  run: (token: CancellationToken) => Promise<unknown>,
): Promise<void> {
  const where = target ? describeLocation(target.uri, target.range) : 'the selection';
  await deps.panel().reveal(false);
  await deps.session().run(`Explain ${where}`, undefined, async (_onChunk, token) => {
    const result = (await run(token)) as ExplainResult | null;
    if (!result) {
      throw new Error('the server returned no explanation');
    }
    return result;
  });
}

async function edit(
  deps: ActionDeps,
  action: ActionName,
  run: (token: CancellationToken) => Promise<unknown>,
): Promise<void> {
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `StarChat: ${PROGRESS_TITLES[action]}…`, cancellable: true },
      (_progress, token) => run(token),
    );
  } catch (error) {
    if (error instanceof ResponseError && error.code === LSPErrorCodes.RequestCancelled) {
      return;
    }
    const message = `StarChat: ${PROGRESS_TITLES[action].toLowerCase()} failed: ${describeError(error)}`;
    deps.logger.error(message);
    void vscode.window.showErrorMessage(message);
  }
}
