import { createdStatusBarItems } from '../vscode-stub';

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { describeCompletion, shortModelName, StatusIndicator, statusView } from '../../src/common/status';

describe('status bar', () => {
  test('loading shows the progress message', () => {
    const view = statusView({
      state: 'loading',
      model: 'HuggingFaceH4/starchat-alpha',
      device: 'cuda:0',
      message: '40%',
    });
    assert.match(view.text, /loading 40%/);
    assert.equal(view.error, false);
  });

  test('ready names the model and the device', () => {
    const view = statusView({ state: 'ready', model: '/models/tiny-starchat', device: 'cpu' });
    assert.match(view.text, /tiny-starchat · cpu/);
    assert.equal(view.command, 'starchat.chat.focus');
  });

  test('error offers the logs', () => {
    const view = statusView({ state: 'error', model: 'm', device: 'cpu', message: 'CUDA out of memory' });
    assert.equal(view.command, 'starchat.showLogs');
    assert.match(view.tooltip, /CUDA out of memory/);
    assert.equal(view.error, true);
    const sentence = statusView({ state: 'error', model: 'm', device: 'cpu', message: 'Cannot reach it.' });
    assert.equal(sentence.tooltip, 'm: Cannot reach it. Click to show the logs.');
  });

  test('a server that gave up is an error too', () => {
    const view = statusView({ kind: 'stopped', reason: 'python not found' });
    assert.equal(view.error, true);
    assert.equal(view.tooltip, 'python not found');
  });

  test('the item follows updates', () => {
    const indicator = new StatusIndicator();
    const item = createdStatusBarItems.at(-1)!;
    assert.equal(item.visible, true);
    indicator.update({ state: 'ready', model: 'bigcode/starcoder', device: 'cuda' });
    assert.match(item.text, /starcoder · cuda/);
    assert.equal(indicator.model?.state, 'ready');
    indicator.update({ kind: 'crashed', attempt: 1, maxAttempts: 3 });
    assert.match(item.text, /restarting/);
    assert.equal(indicator.model, undefined);
  });

  test('in an untrusted workspace the tooltip says whose settings are used, until trust is granted', () => {
    const indicator = new StatusIndicator();
    const item = createdStatusBarItems.at(-1)!;
    indicator.update({ kind: 'starting', restricted: true });
    indicator.update({ state: 'ready', model: 'm', device: 'cpu' });
    assert.match(String(item.tooltip), /m is ready on cpu[\s\S]*Restricted Mode: .*user settings only/);
    indicator.update({ kind: 'starting', restricted: false });
    indicator.update({ state: 'ready', model: 'm', device: 'cpu' });
    assert.doesNotMatch(String(item.tooltip), /Restricted Mode/);
  });

  test('long model names are shortened to their last part', () => {
    assert.equal(shortModelName('HuggingFaceH4/starchat-alpha'), 'starchat-alpha');
    assert.equal(shortModelName('/a/b/c/'), 'c');
  });

  test('a status reply overtaken by a notification is ignored', async () => {
    const indicator = new StatusIndicator();
    const item = createdStatusBarItems.at(-1)!;
    let reply: (s: { state: 'loading'; model: string; device: string }) => void = () => undefined;
    const refreshed = indicator.refresh(() => new Promise((resolve) => (reply = resolve)));
    indicator.update({ state: 'ready', model: 'm', device: 'cuda' });
    reply({ state: 'loading', model: 'm', device: 'cuda' });
    await refreshed;
    assert.match(item.text, /m · cuda/);
  });
});

describe('inline completion in the tooltip', () => {
  const ready = { state: 'ready', model: 'bigcode/starcoderbase-1b', device: 'cuda' } as const;

  test('the completion model and its fill-in-the-middle format', () => {
    const view = statusView({
      ...ready,
      completion: { state: 'ready', model: 'bigcode/starcoderbase-1b', infilling: true, format: 'starcoder' },
    });
    assert.match(view.tooltip, /Inline completion: bigcode\/starcoderbase-1b, fill-in-the-middle \(starcoder\)\./);
  });

  test('a model without FIM tokens: the server says what it does instead', () => {
    const message =
      'HuggingFaceTB/SmolLM2-135M-Instruct has no fill-in-the-middle tokens: completing from the code before the cursor only';
    const line = describeCompletion(
      { state: 'ready', model: 'HuggingFaceTB/SmolLM2-135M-Instruct', infilling: false, format: null, message },
      true,
    );
    assert.equal(line, `Inline completion: ${message}.`);
    assert.match(
      describeCompletion({ state: 'ready', model: 'm', infilling: false, format: null }, true)!,
      /m, from the code before the cursor only/,
    );
  });

  test('loading, failed, and an older server that does not say', () => {
    assert.equal(
      describeCompletion({ state: 'loading', model: 'c', infilling: false, format: null }, true),
      'Inline completion: loading c…',
    );
    assert.equal(
      describeCompletion({ state: 'error', model: 'c', infilling: false, format: null, message: 'Not found.' }, true),
      'Inline completion: c failed: Not found.',
    );
    assert.equal(describeCompletion(undefined, true), undefined);
    assert.doesNotMatch(statusView(ready).tooltip, /Inline completion/);
  });

  test('the setting turned off wins, and the item is redrawn when it changes', () => {
    let enabled = true;
    const indicator = new StatusIndicator(() => enabled);
    const item = createdStatusBarItems.at(-1)!;
    indicator.update({ ...ready, completion: { state: 'ready', model: '', infilling: true, format: 'starcoder' } });
    assert.match(String(item.tooltip), /Inline completion: the chat model, fill-in-the-middle/);
    enabled = false;
    indicator.redraw();
    assert.match(String(item.tooltip), /Inline completion: off \(starchat\.inlineCompletion\.enable\)/);
    assert.match(item.text, /starcoderbase-1b · cuda/);
  });

  test('the completion line comes before the workspace index', () => {
    const view = statusView({
      ...ready,
      completion: { state: 'ready', model: 'c', infilling: true, format: 'starcoder' },
      index: { state: 'ready', files: 3, chunks: 9 },
    });
    assert.match(view.tooltip, /Inline completion: c[^\n]*\n\nWorkspace index: 3 files\./);
  });
});
