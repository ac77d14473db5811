/**
 * Model status in the status bar: loading (with the server's progress message), ready (model
 * and device), error (click: show logs). It follows both the server process (starting,
 * crashed, stopped) and the model state the server reports with `starchat/status`. The tooltip
 * also says which model writes the ghost text, whether it fills in between the code before and
 * after the cursor, and the workspace index's state.
 */
import * as vscode from 'vscode';

import type { CompletionStatus, IndexStatus, Status } from './protocol';
import type { ServerEvent } from './server';
import { RESTRICTED_MODE_NOTE } from './settings';

export const SHOW_LOGS_COMMAND = 'starchat.showLogs';
export const FOCUS_CHAT_COMMAND = 'starchat.chat.focus';

export interface StatusView {
  text: string;
  tooltip: string;
  command: string;
  error: boolean;
}

/**
 * What the status bar shows for a server event or a model status; pure, for tests.
 * `inlineEnabled`: the `starchat.inlineCompletion.enable` setting.
 */
export function statusView(source: ServerEvent | Status, inlineEnabled = true): StatusView {
  if ('kind' in source) {
    switch (source.kind) {
      case 'starting':
        return view('$(loading~spin) StarChat: starting', 'Starting the StarChat language server…');
      case 'running':
        return view('$(loading~spin) StarChat: starting', 'Waiting for the model status…');
      case 'crashed':
        return view(
          '$(loading~spin) StarChat: restarting',
          `The server stopped unexpectedly; restart ${source.attempt} of ${source.maxAttempts}.`,
        );
      case 'stopped':
        return { ...view('$(error) StarChat: stopped', source.reason), command: SHOW_LOGS_COMMAND, error: true };
    }
  }
  const detail = source.message ? ` — ${source.message}` : '';
  const lines = moreLines(source, inlineEnabled);
  switch (source.state) {
    case 'loading':
      return view(
        `$(loading~spin) StarChat: loading${source.message ? ` ${source.message}` : '…'}`,
        `Loading ${source.model} on ${source.device}${detail}${lines}`,
      );
    case 'ready':
      return {
        text: `$(comment-discussion) StarChat: ${shortModelName(source.model)} · ${source.device}`,
        tooltip: `${source.model} is ready on ${source.device}${detail}. Click to open the chat.${lines}`,
        command: FOCUS_CHAT_COMMAND,
        error: false,
      };
    case 'error':
      return {
        text: '$(error) StarChat: error',
        // The server's message is a sentence of its own, often with its full stop.
        tooltip: `${source.model}: ${(source.message ?? 'the model failed').replace(/\.$/, '')}. Click to show the logs.`,
        command: SHOW_LOGS_COMMAND,
        error: true,
      };
  }
}

/** The workspace index in a sentence, for the tooltip: "Workspace index: 2,912 files." */
export function describeIndex(index: IndexStatus | undefined): string | undefined {
  if (!index) {
    return undefined;
  }
  switch (index.state) {
    case 'off':
      return 'Workspace index: off (starchat.workspaceContextTokens is 0).';
    case 'indexing':
      return 'Workspace index: indexing…';
    case 'ready': {
      const files = `${index.files.toLocaleString('en-US')} ${index.files === 1 ? 'file' : 'files'}`;
      return `Workspace index: ${files}${index.capped ? ' (the file limit was reached)' : ''}.`;
    }
  }
}

/**
 * Ghost text in a sentence, for the tooltip: "Inline completion: bigcode/starcoderbase-1b,
 * fill-in-the-middle (starcoder)." `enabled`: the client-side setting, which wins.
 */
export function describeCompletion(completion: CompletionStatus | undefined, enabled: boolean): string | undefined {
  if (!enabled) {
    return 'Inline completion: off (starchat.inlineCompletion.enable).';
  }
  if (!completion) {
    return undefined;
  }
  const model = completion.model || 'the chat model';
  // The server's message is a sentence of its own, often with its full stop.
  const message = completion.message?.replace(/\.$/, '');
  switch (completion.state) {
    case 'loading':
      return `Inline completion: loading ${model}…`;
    case 'error':
      return `Inline completion: ${model} failed${message ? `: ${message}` : ''}.`;
    case 'ready':
      if (completion.infilling) {
        return `Inline completion: ${model}, fill-in-the-middle${completion.format ? ` (${completion.format})` : ''}.`;
      }
      return `Inline completion: ${message ?? `${model}, from the code before the cursor only (no infilling)`}.`;
  }
}

function moreLines(status: Status, inlineEnabled: boolean): string {
  return [describeCompletion(status.completion, inlineEnabled), describeIndex(status.index)]
    .filter((line) => line !== undefined)
    .map((line) => `\n\n${line}`)
    .join('');
}

function view(text: string, tooltip: string): StatusView {
  return { text, tooltip, command: SHOW_LOGS_COMMAND, error: false };
}

/** A Hub id or a path is long; the status bar shows its last part. */
export function shortModelName(model: string): string {
  const parts = model.split(/[\\/]/).filter((p) => p !== '');
  return parts.at(-1) ?? model;
}

export class StatusIndicator implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('starchat.status', vscode.StatusBarAlignment.Right, 100);
  private last: Status | undefined;
  /** What the item shows now, to draw again when a setting it mentions changes. */
  private shown: ServerEvent | Status = { kind: 'starting', restricted: false };
  private updates = 0;
  /** Set while the workspace is untrusted: the tooltip then says which settings were held back. */
  private restrictedNote = '';

  /** @param inlineEnabled reads the `starchat.inlineCompletion.enable` setting. */
  constructor(private readonly inlineEnabled: () => boolean = () => true) {
    this.item.name = 'StarChat model status';
    this.redraw();
    this.item.show();
  }

  /** The latest model status the server reported, if any. */
  get model(): Status | undefined {
    return this.last;
  }

  update(source: ServerEvent | Status): void {
    this.updates++;
    if ('kind' in source && source.kind === 'starting') {
      this.restrictedNote = source.restricted ? `\n\n${RESTRICTED_MODE_NOTE}` : '';
    }
    if (!('kind' in source)) {
      this.last = source;
    } else if (source.kind !== 'running') {
      this.last = undefined;
    }
    this.shown = source;
    this.redraw();
  }

  /** Show the current state again (after `starchat.inlineCompletion.enable` changed). */
  redraw(): void {
    this.show(statusView(this.shown, this.inlineEnabled()));
  }

  /**
   * Ask the server for its status (after a start). A notification can overtake the reply on
   * the way in; the reply is then stale and ignored.
   */
  async refresh(request: () => Promise<Status>): Promise<void> {
    const before = this.updates;
    const status = await request();
    if (this.updates === before) {
      this.update(status);
    }
  }

  private show(v: StatusView): void {
    this.item.text = v.text;
    this.item.tooltip = v.tooltip + this.restrictedNote;
    this.item.command = v.command;
    this.item.accessibilityInformation = { label: v.text.replace(/\$\([^)]*\)\s*/g, ''), role: 'button' };
    this.item.backgroundColor = v.error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
