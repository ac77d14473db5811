/**
 * The chat backend over LSP: `starchat/chat` with a partial-result token, whose `$/progress`
 * notifications carry the answer as it is generated; cancelling the token sends
 * `$/cancelRequest`, which stops generation on the server at the next token.
 */
import { randomUUID } from 'node:crypto';

import type { LanguageClient } from 'vscode-languageclient/node';

import { ChatRequest, chatProgress, ConversationDeleteRequest } from '../common/protocol';
import type { ChatBackend } from './session';

export function lspChatBackend(client: () => LanguageClient | undefined): ChatBackend {
  const running = (): LanguageClient => {
    const current = client();
    if (!current) {
      throw new Error('the StarChat server is not running (see the status bar and "StarChat: Show Logs").');
    }
    return current;
  };
  return {
    async chat(params, onChunk, token) {
      const connection = running();
      const partialResultToken = randomUUID();
      const progress = connection.onProgress(chatProgress, partialResultToken, (chunk) => onChunk(chunk.text));
      try {
        return await connection.sendRequest(ChatRequest, { ...params, partialResultToken }, token);
      } finally {
        progress.dispose();
      }
    },
    async deleteConversation(conversationId) {
      await running().sendRequest(ConversationDeleteRequest, { conversationId });
    },
  };
}
