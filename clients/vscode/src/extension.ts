/**
 * Entry point: wires the modules together and nothing else. The server lifecycle lives in
 * common/server, settings in common/settings, the status bar in common/status, the chat in
 * chat/, ghost text in completion/.
 */
import * as vscode from 'vscode';

import { actionMiddleware, applyAnyway, registerActionCommands, type ActionDeps } from './chat/actions';
import { lspChatBackend } from './chat/backend';
import { ContextTracker } from './chat/context';
import { ConversationStore } from './chat/history';
import { showHistory } from './chat/historyPicker';
import { CHAT_VIEW_ID, ChatPanel } from './chat/panel';
import { registerParticipant } from './chat/participant';
import { askAboutSelection, followEditors } from './chat/selection';
import { ChatSession } from './chat/session';
import { createLogger } from './common/logger';
import { ContextTrimmedNotification, StatusNotification, StatusRequest } from './common/protocol';
import { ServerManager } from './common/server';
import { affectsLaunch, affectsServerOptions } from './common/settings';
import { SHOW_LOGS_COMMAND, StatusIndicator } from './common/status';
import { INLINE_SECTION, inlineCompletionMiddleware, readInlineSettings } from './completion/inline';

let server: ServerManager | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const logger = createLogger();
  const status = new StatusIndicator(() => readInlineSettings().enable);
  const client = () => server?.client;
  const deps: ActionDeps = { client, session: () => session, panel: () => panel, logger };
  const panel = new ChatPanel(context.extensionUri, logger, {
    session: () => session,
    context: () => tracker,
    applyAnyway: (id) => applyAnyway(deps, id),
  });
  const tracker = new ContextTracker(
    (chip) => panel.post({ type: 'context', context: chip }),
    (files) => panel.post({ type: 'files', files }),
  );
  const middleware = { ...actionMiddleware(deps), ...inlineCompletionMiddleware() };
  server = new ServerManager(logger, middleware, context.globalStorageUri.fsPath);
  const manager = server;
  const backend = lspChatBackend(manager);
  // Conversations stay on this machine, per workspace.
  const store = new ConversationStore(context.workspaceState);
  const roots = () => (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.toString());
  const session = new ChatSession(backend, (message) => panel.post(message), tracker, store, roots);
  const latest = store.list()[0];
  if (latest) {
    session.open(latest);
  }

  context.subscriptions.push(
    logger,
    status,
    panel,
    { dispose: () => void manager.dispose() },
    vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, panel, {
      webviewOptions: { retainContextWhenHidden: true },
    }),
    vscode.commands.registerCommand('starchat.askAboutSelection', () => askAboutSelection(tracker, panel)),
    vscode.commands.registerCommand('starchat.newChat', () => session.newChat()),
    vscode.commands.registerCommand('starchat.showHistory', () => showHistory(store, session, panel)),
    ...registerActionCommands(deps),
    ...followEditors(tracker),
    vscode.commands.registerCommand(SHOW_LOGS_COMMAND, () => logger.show()),
    vscode.commands.registerCommand('starchat.restartServer', () => manager.restart()),
    manager.onDidCreateClient((created) => {
      created.onNotification(StatusNotification, (s) => status.update(s));
      created.onNotification(ContextTrimmedNotification, (t) =>
        session.contextTrimmed(t.conversationId, t.droppedMessages),
      );
    }),
    manager.onDidChangeState((event) => {
      status.update(event);
      session.serverChanged(event);
      const running = manager.client;
      if (event.kind === 'running' && running) {
        status
          .refresh(() => running.sendRequest(StatusRequest))
          .catch((error: unknown) => logger.warn(`starchat/status request failed: ${String(error)}`));
      }
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (affectsLaunch(event)) {
        void manager.restartIfLaunchChanged();
      }
      if (affectsServerOptions(event)) {
        void manager.sendOptions();
      }
      if (event.affectsConfiguration(INLINE_SECTION)) {
        status.redraw();
      }
    }),
    // The restricted settings' workspace values now count: start again with them.
    vscode.workspace.onDidGrantWorkspaceTrust(() => void manager.restartIfLaunchChanged()),
  );
  const participant = registerParticipant(context.extensionUri, backend);
  if (participant) {
    context.subscriptions.push(participant);
  }
  void manager.restart();
}

export async function deactivate(): Promise<void> {
  await server?.dispose();
  server = undefined;
}
