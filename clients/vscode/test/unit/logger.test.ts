import '../vscode-stub';

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as vscode from 'vscode';

import { serverLogLevel, StderrClassifier } from '../../src/common/logger';

describe("the server's log lines", () => {
  test('a Python record is filed under its level, without its timestamp', () => {
    const c = new StderrClassifier();
    assert.deepEqual(c.classify('2026-11-25 03:57:58,677 INFO starchat.server.model_host: model m: loading'), [
      'info',
      'starchat.server.model_host: model m: loading',
    ]);
    assert.deepEqual(c.classify('2026-11-25 03:57:58,677 WARNING x: slow'), ['warn', 'x: slow']);
    assert.deepEqual(c.classify('2026-11-25 03:57:58,677 CRITICAL x: dead'), ['error', 'x: dead']);
  });

  test('other lines follow the record before them; tracebacks are errors', () => {
    const c = new StderrClassifier();
    c.classify('2026-11-25 03:57:58,677 INFO x: loading');
    assert.deepEqual(c.classify('Loading weights: 100%|██████████| 28/28'), [
      'info',
      'Loading weights: 100%|██████████| 28/28',
    ]);
    assert.equal(c.classify('Traceback (most recent call last):')[0], 'error');
    assert.equal(c.classify('  File "x.py", line 1, in <module>')[0], 'error');
  });

  test('stray output before any record is a warning', () => {
    assert.equal(new StderrClassifier().classify('usage: python -m starchat.server')[0], 'warn');
  });

  test("the server's level follows VS Code's", () => {
    assert.equal(serverLogLevel(vscode.LogLevel.Trace), 'debug');
    assert.equal(serverLogLevel(vscode.LogLevel.Info), 'info');
    assert.equal(serverLogLevel(vscode.LogLevel.Warning), 'warning');
    assert.equal(serverLogLevel(vscode.LogLevel.Off), 'error');
  });
});
