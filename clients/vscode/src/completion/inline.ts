/**
 * Inline completion (ghost text): the language client turns the server's
 * `textDocument/inlineCompletion` answers into VS Code's inline suggestions by itself; this
 * middleware decides when a request goes out at all.
 *
 * - `starchat.inlineCompletion.enable` off (for the document's language: the setting is
 *   language-overridable): no items, and the server is not asked.
 * - Typing: VS Code asks on every keystroke. Each automatic request waits
 *   `starchat.inlineCompletion.debounceMs` first, and a newer request cancels the one before it
 *   (still waiting, or already at the server, which then stops generating), so the model only
 *   runs for the text the user paused on.
 * - An explicit request (Alt+\ / "Trigger Inline Suggestion") goes out at once.
 */
import * as vscode from 'vscode';
import type { Middleware } from 'vscode-languageclient/node';
import { CancellationTokenSource } from 'vscode-languageserver-protocol';

import { SECTION } from '../common/settings';

/** The client-only settings under `starchat.inlineCompletion.*`; the server never sees them. */
export const INLINE_SECTION = `${SECTION}.inlineCompletion`;

export interface InlineSettings {
  enable: boolean;
  debounceMs: number;
}

/** The settings that apply to `document` (its language's overrides included). */
export function readInlineSettings(document?: vscode.TextDocument): InlineSettings {
  const config = vscode.workspace.getConfiguration(INLINE_SECTION, document);
  return {
    enable: config.get<boolean>('enable', true),
    debounceMs: Math.max(0, config.get<number>('debounceMs', 150)),
  };
}

/** Resolves after `ms`, or as soon as `token` is cancelled. */
function pause(ms: number, token: vscode.CancellationToken): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      listener.dispose();
      resolve();
    };
    const timer = setTimeout(done, ms);
    const listener = token.onCancellationRequested(done);
  });
}

export function inlineCompletionMiddleware(
  settings: (document: vscode.TextDocument) => InlineSettings = readInlineSettings,
): Pick<Middleware, 'provideInlineCompletionItems'> {
  /** Cancels the latest request: the next one replaces it. */
  let previous: CancellationTokenSource | undefined;
  return {
    provideInlineCompletionItems: async (document, position, context, token, next) => {
      const { enable, debounceMs } = settings(document);
      previous?.cancel();
      previous = undefined;
      if (!enable) {
        return [];
      }
      const source = new CancellationTokenSource();
      previous = source;
      const cancelled = token.onCancellationRequested(() => source.cancel());
      try {
        if (context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic && debounceMs > 0) {
          await pause(debounceMs, source.token);
        }
        if (source.token.isCancellationRequested) {
          return [];
        }
        return await next(document, position, context, source.token);
      } finally {
        cancelled.dispose();
        if (previous === source) {
          previous = undefined;
        }
        source.dispose();
      }
    },
  };
}
