/**
 * The extension's log: one LogOutputChannel ("StarChat") shared by the extension, the language
 * client and the server's stderr. A LogOutputChannel filters by the level chosen in VS Code
 * ("Developer: Set Log Level…"); the server is started at the matching level and its stderr
 * lines are filed under the level Python logged them at, so "info" from the server is not
 * shown as an error.
 */
import * as readline from 'node:readline';
import type { Readable } from 'node:stream';

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

/** The server's `--log-level` for VS Code's current level (the server has no trace level). */
export function serverLogLevel(level: vscode.LogLevel): 'debug' | 'info' | 'warning' | 'error' {
  switch (level) {
    case vscode.LogLevel.Trace:
    case vscode.LogLevel.Debug:
      return 'debug';
    case vscode.LogLevel.Info:
      return 'info';
    case vscode.LogLevel.Warning:
      return 'warning';
    default:
      return 'error';
  }
}

export type LineLevel = 'debug' | 'info' | 'warn' | 'error';

const PYTHON_RECORD = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$/;
const LEVELS: Record<string, LineLevel> = {
  DEBUG: 'debug',
  INFO: 'info',
  WARNING: 'warn',
  ERROR: 'error',
  CRITICAL: 'error',
};

/**
 * Files the server's stderr lines: a Python logging record by its level (its timestamp
 * dropped: the channel adds one), a traceback as an error, and any other line (the rest of a
 * multi-line record, a progress bar) under the level of the record before it.
 */
export class StderrClassifier {
  private current: LineLevel = 'warn';

  classify(line: string): [LineLevel, string] {
    const record = PYTHON_RECORD.exec(line);
    if (record) {
      this.current = LEVELS[record[1]!]!;
      return [this.current, record[2]!];
    }
    if (line.startsWith('Traceback (most recent call last)')) {
      this.current = 'error';
    }
    return [this.current, line];
  }
}

/** File each line the server prints (stderr; stdout carries the protocol) in the log. */
export function pipeServerOutput(input: Readable, logger: Logger): void {
  const classifier = new StderrClassifier();
  readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (line) => {
    if (line.trim() === '') {
      return;
    }
    const [level, text] = classifier.classify(line);
    logger[level](text);
  });
}
