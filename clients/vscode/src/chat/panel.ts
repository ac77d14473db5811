/**
 * The chat panel: a webview view in the StarChat sidebar. It renders the session's transcript
 * and turns the webview's requests (send, stop, continue, new chat, copy, insert or replace
 * with a code block, apply a refused edit anyway, open a file) into session calls and editor
 * edits.
 */
import * as vscode from 'vscode';
import type { Range } from 'vscode-languageserver-protocol';

import type { Logger } from '../common/logger';
import type { ContextTracker } from './context';
import { chatPage, newNonce } from './html';
import type { FromWebview, ToWebview } from './messages';
import type { ChatSession } from './session';

export interface PanelDeps {
  session: () => ChatSession;
  context: () => ContextTracker;
  applyAnyway: (entryId: string) => Promise<void>;
}

export const CHAT_VIEW_ID = 'starchat.chat';

export class ChatPanel implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private ready = false;
  private lastEditor: vscode.TextEditor | undefined = vscode.window.activeTextEditor;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly logger: Logger,
    private readonly deps: PanelDeps,
  ) {
    // Focusing the panel leaves no active editor in some layouts; "insert" needs the last one.
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor) {
          this.lastEditor = editor;
          this.postSelection();
        }
      }),
      vscode.window.onDidChangeTextEditorSelection((event) => {
        if (event.textEditor === this.lastEditor) {
          this.postSelection();
        }
      }),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist');
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [dist, media] };
    view.webview.html = chatPage({
      cspSource: view.webview.cspSource,
      nonce: newNonce(),
      scriptUri: view.webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js')).toString(),
      styleUri: view.webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.css')).toString(),
    });
    view.webview.onDidReceiveMessage((message: FromWebview) => this.receive(message));
    view.onDidDispose(() => {
      if (this.view === view) {
        this.view = undefined;
        this.ready = false;
      }
    });
  }

  /** Forward a session update; a webview that is not there yet gets everything on `ready`. */
  post(message: ToWebview): void {
    if (this.view && this.ready) {
      void this.view.webview.postMessage(message);
    }
  }

  /** Show the panel (creating it if needed); `focusInput` puts the cursor in the message box. */
  async reveal(focusInput: boolean): Promise<void> {
    if (this.view) {
      this.view.show(!focusInput);
    } else {
      await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
    }
    if (focusInput) {
      this.post({ type: 'focusInput' });
    }
  }

  private receive(message: FromWebview): void {
    const session = this.deps.session();
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.post(session.snapshot());
        this.postSelection();
        break;
      case 'send':
        void session.send(message.text);
        break;
      case 'stop':
        session.stop();
        break;
      case 'newChat':
        session.newChat();
        break;
      case 'clearContext':
        this.deps.context().dismiss();
        break;
      case 'continue':
        void session.continueAnswer(message.id);
        break;
      case 'applyAnyway':
        void this.deps.applyAnyway(message.id);
        break;
      case 'open':
        void this.open(message.uri, message.range);
        break;
      case 'pickFile':
        void this.pickFile();
        break;
      case 'removeFile':
        this.deps.context().removeFile(message.uri);
        break;
      case 'copy':
        void vscode.env.clipboard
          .writeText(message.code)
          .then(() => vscode.window.setStatusBarMessage('$(check) Code copied', 2000));
        break;
      case 'insert':
      case 'replace':
        void this.insert(message.code, message.type);
        break;
    }
  }

  private editor(): vscode.TextEditor | undefined {
    const editor = vscode.window.activeTextEditor ?? this.lastEditor;
    return editor && !editor.document.isClosed ? editor : undefined;
  }

  private postSelection(): void {
    const editor = this.editor();
    this.post({ type: 'selection', present: editor !== undefined && !editor.selection.isEmpty });
  }

  private async open(uri: string, range?: Range): Promise<void> {
    try {
      const options: vscode.TextDocumentShowOptions = { preview: true };
      if (range) {
        options.selection = new vscode.Range(
          range.start.line,
          range.start.character,
          range.end.line,
          range.end.character,
        );
      }
      await vscode.window.showTextDocument(vscode.Uri.parse(uri, true), options);
    } catch (error) {
      this.logger.warn(`Opening ${uri} failed: ${String(error)}`);
    }
  }

  /** `#`: pick a workspace file whose code goes with the next message. */
  private async pickFile(): Promise<void> {
    const picked = await pickWorkspaceFile();
    if (picked) {
      this.deps.context().addFile(picked);
    }
    this.post({ type: 'focusInput' });
  }

  /** Insert at each cursor (leaving selected text alone), or replace each selection. */
  private async insert(code: string, how: 'insert' | 'replace'): Promise<void> {
    const editor = this.editor();
    if (!editor) {
      void vscode.window.showWarningMessage('StarChat: open an editor to insert the code into.');
      return;
    }
    const applied = await editor.edit((edit) => {
      for (const selection of editor.selections) {
        if (how === 'replace') {
          edit.replace(selection, code);
        } else {
          edit.insert(selection.active, code);
        }
      }
    });
    if (!applied) {
      this.logger.warn(`Inserting code into ${editor.document.uri.toString()} failed.`);
    }
    await vscode.window.showTextDocument(editor.document, editor.viewColumn);
  }

  dispose(): void {
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

/** Files the `#` picker offers at most (the first found; the QuickPick filters them). */
export const PICKER_FILE_LIMIT = 5000;
const PICKER_EXCLUDE = '{**/node_modules/**,**/.git/**,**/.venv/**,**/venv/**,**/__pycache__/**,**/dist/**,**/out/**}';

/** A QuickPick of the workspace's files, by relative path; undefined when dismissed. */
export async function pickWorkspaceFile(): Promise<{ uri: string; label: string } | undefined> {
  const uris = await vscode.workspace.findFiles('**/*', PICKER_EXCLUDE, PICKER_FILE_LIMIT);
  if (uris.length === 0) {
    void vscode.window.showInformationMessage('StarChat: there are no workspace files to add.');
    return undefined;
  }
  const items = uris
    .map((uri) => ({ label: vscode.workspace.asRelativePath(uri, false), uri }))
    .sort((a, b) => a.label.localeCompare(b.label));
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Add a workspace file to the next message',
    placeHolder: 'File name',
    matchOnDescription: true,
  });
  return picked ? { uri: picked.uri.toString(), label: picked.label } : undefined;
}
