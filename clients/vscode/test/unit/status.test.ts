import { createdStatusBarItems } from '../vscode-stub';

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { shortModelName, StatusIndicator, statusView } from '../../src/common/status';

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
