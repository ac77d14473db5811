/**
 * The chat backend over LSP: `starchat/chat` and the `starchat.<action>` commands with a
 * partial-result token, whose `$/progress` notifications carry the answer as it is generated;
 * cancelling the token sends `$/cancelRequest`, which stops generation on the server at the
 * next token. A request made while the server (re)starts waits for it.
 */
import { randomUUID } from 'node:crypto';

import { ExecuteCommandRequest, type LanguageClient } from 'vscode-languageclient/node';
import type { CancellationToken } from 'vscode-languageserver-protocol';

import {
  ChatRequest,
  chatProgress,
  commandFor,
  ConversationDeleteRequest,
  type EditResult,
  type ExplainResult,
} from '../common/protocol';
import type { ChatBackend } from './session';

/** The server as the backend sees it (ServerManager). */
export interface Server {
  readonly client: LanguageClient | undefined;
  whenRunning(token: CancellationToken): Promise<LanguageClient>;
}

export function lspChatBackend(server: Server): ChatBackend {
  /** Send `request` with a fresh partial-result token, passing each streamed piece on. */
  const streamed = async <R>(
    onChunk: (text: string) => void,
    token: CancellationToken,
    request: (connection: LanguageClient, partialResultToken: string) => Promise<R>,
  ): Promise<R> => {
    const connection = await server.whenRunning(token);
    const partialResultToken = randomUUID();
    const progress = connection.onProgress(chatProgress, partialResultToken, (chunk) => onChunk(chunk.text));
    try {
      return await request(connection, partialResultToken);
    } finally {
      progress.dispose();
    }
  };
  return {
    get running() {
      return server.client !== undefined;
    },
    async ready(token) {
      await server.whenRunning(token);
    },
    chat(params, onChunk, token) {
      return streamed(onChunk, token, (connection, partialResultToken) =>
        connection.sendRequest(ChatRequest, { ...params, partialResultToken }, token),
      );
    },
    action(action, args, onChunk, token) {
      return streamed(onChunk, token, async (connection, partialResultToken) => {
        const result: unknown = await connection.sendRequest(
          ExecuteCommandRequest.type,
          { command: commandFor(action), arguments: [{ ...args, partialResultToken }] },
          token,
        );
        if (!result) {
          throw new Error(`the server returned nothing for ${commandFor(action)}`);
        }
        return result as ExplainResult | EditResult;
      });
    },
    async deleteConversation(conversationId) {
      await server.client?.sendRequest(ConversationDeleteRequest, { conversationId });
    },
  };
}
