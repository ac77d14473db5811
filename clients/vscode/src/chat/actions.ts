/**
 * Code actions: the server offers them in the lightbulb as `starchat.<action>` commands. The
 * language client would run them and drop their result; this middleware shows Explain's answer
 * in the chat panel instead (the user can ask follow-ups in the same conversation, and Stop
 * cancels it). The editing actions run as they are: the server shows a cancellable progress
 * bar, sends the edit as `workspace/applyEdit`, and says so itself when nothing was applied;
 * only a failure needs reporting here.
 */
import * as vscode from 'vscode';
import { ExecuteCommandRequest, type LanguageClient, type Middleware } from 'vscode-languageclient/node';
import { CancellationToken, LSPErrorCodes, ResponseError } from 'vscode-languageserver-protocol';

import { describeError, type Logger } from '../common/logger';
import { ACTIONS, commandFor, type ActionArgs, type ActionName, type ExplainResult } from '../common/protocol';
import { describeLocation } from './location';
import type { ChatPanel } from './panel';
import type { ChatSession } from './session';

const TITLES: Record<ActionName, string> = {
  explain: 'Explain',
  fix: 'Fix',
  writeTests: 'Write tests',
  addDocstring: 'Add docstring',
  improve: 'Improve',
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

type Run = (token: CancellationToken) => Promise<unknown>;

export function actionMiddleware(deps: ActionDeps): Middleware {
  return {
    executeCommand: async (command, args, next) => {
      const action = actionFor(command);
      const client = deps.client();
      if (!action || !client) {
        return next(command, args);
      }
      deps.logger.debug(`Running ${command} ${JSON.stringify(args)}`);
      const run: Run = (token) => client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }, token);
      if (action === 'explain') {
        return explain(deps, args[0] as ActionArgs | undefined, run);
      }
      return edit(deps, action, run);
    },
  };
}

async function explain(deps: ActionDeps, target: ActionArgs | undefined, run: Run): Promise<void> {
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

async function edit(deps: ActionDeps, action: ActionName, run: Run): Promise<unknown> {
  try {
    return await run(CancellationToken.None);
  } catch (error) {
    if (error instanceof ResponseError && error.code === LSPErrorCodes.RequestCancelled) {
      return undefined;
    }
    const message = `StarChat: ${TITLES[action]} failed: ${describeError(error)}`;
    deps.logger.error(message);
    void vscode.window.showErrorMessage(message);
    return undefined;
  }
}
