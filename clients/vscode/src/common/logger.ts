/**
 * The extension's log: one LogOutputChannel ("StarChat") shared by the extension and the
 * language client. A LogOutputChannel filters by the level chosen in VS Code
 * ("Developer: Set Log Level…"), so no log-level setting of our own is needed.
 */
import * as vscode from 'vscode';

export type Logger = vscode.LogOutputChannel;

export const LOG_CHANNEL_NAME = 'StarChat';

export function createLogger(): Logger {
  return vscode.window.createOutputChannel(LOG_CHANNEL_NAME, { log: true });
}

/** A one-line description of any thrown value, for log lines and user messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
