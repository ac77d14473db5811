/** "Open Earlier Chat…": the stored conversations in a quick pick, newest first. */
import * as vscode from 'vscode';

import type { ConversationStore } from './history';
import type { ChatPanel } from './panel';
import type { ChatSession } from './session';

export async function showHistory(store: ConversationStore, session: ChatSession, panel: ChatPanel): Promise<void> {
  const items = store.list().map((c) => ({
    label: c.title || '(untitled)',
    description: c.id === session.localId ? 'shown now' : new Date(c.updated).toLocaleString(),
    detail: `${c.entries.filter((e) => e.role === 'user').length} question(s)`,
    id: c.id,
  }));
  if (items.length === 0) {
    void vscode.window.showInformationMessage('StarChat: no earlier conversations yet.');
    return;
  }
  const picked = await vscode.window.showQuickPick(items, { placeHolder: 'Open an earlier StarChat conversation' });
  const conversation = picked && store.get(picked.id);
  if (conversation) {
    session.open(conversation);
    await panel.reveal(true);
  }
}
