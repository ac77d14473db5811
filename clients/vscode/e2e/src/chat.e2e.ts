/**
 * The extension in real VS Code (code-server 4.100.3 = VS Code 1.100.3), as a user drives it:
 * install the .vsix, open a Python file, wait for the model, ask in the chat panel and watch
 * the answer arrive in several steps, stop an answer, run Explain from the lightbulb and read
 * the answer in the panel, then kill the language server mid-answer and see the answer marked
 * interrupted and the server come back. The server runs on a tiny random model, whose
 * gibberish streams slowly enough to watch.
 *
 * Screenshots go to artifacts/vscode/; timings to artifacts/vscode/timings.json.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import type { FrameLocator, Locator } from 'playwright-core';

import { CodeServer, EXTENSION_ROOT, REPO, waitFor } from './harness';

const PYTHON = process.env['STARCHAT_PYTHON'] ?? path.join(REPO, '.venv', 'bin', 'python');
const VSIX = process.env['STARCHAT_VSIX'] ?? path.join(EXTENSION_ROOT, 'dist', 'starchat-vscode.vsix');
const ARTIFACTS = path.join(REPO, 'artifacts', 'vscode');

const SAMPLE = `def mean(values):
    total = 0
    for v in values:
        total += v
    return total / len(values)


print(mean([1, 2, 3]))
`;

const started = Date.now();
const timings: Record<string, number> = {};
function mark(name: string): void {
  timings[name] = Math.round((Date.now() - started) / 100) / 10;
}

function buildTinyModel(dir: string): void {
  execFileSync(
    PYTHON,
    ['-c', 'import sys, pathlib; from tests.tiny_model import build_tiny_starchat; build_tiny_starchat(pathlib.Path(sys.argv[1]))', dir],
    { cwd: REPO, env: { ...process.env, HF_HUB_OFFLINE: '1', PYTHONPATH: REPO }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
}

describe('StarChat in code-server', { timeout: 240_000 }, () => {
  const vs = new CodeServer();
  let chat: FrameLocator;

  const shot = async (name: string) => {
    await vs.page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
  };
  const answers = (): Locator => chat.locator('.entry-assistant');
  const lastAnswer = (): Locator => answers().last();
  const stateOf = async (entry: Locator) => entry.getAttribute('data-state');

  /** Type a message, press Enter, and return the answer's entry (the last one). */
  const ask = async (question: string): Promise<Locator> => {
    const before = await answers().count();
    const input = chat.locator('#input');
    await input.click();
    await input.fill(question);
    await input.press('Enter');
    await waitFor(async () => (await answers().count()) > before, 10_000, () => 'no answer entry appeared');
    return lastAnswer();
  };

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    assert.ok(fs.existsSync(VSIX), `build the extension first: ${VSIX} is missing`);
    const model = path.join(vs.root, 'tiny-starchat');
    buildTinyModel(model);
    mark('tinyModelBuilt');
    await vs.prepare({
      vsix: VSIX,
      workspaceFiles: { 'sample.py': SAMPLE },
      settings: {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
        'chat.disableAIFeatures': true,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'editor.lightbulb.enabled': 'on',
        'starchat.server.python': PYTHON,
        'starchat.model': model,
        'starchat.device': 'cpu',
        // Greedy decoding on a random model never picks the end token: answers run to
        // maxNewTokens (≈1 ms a token here), long enough to see streaming and to stop.
        'starchat.temperature': 0,
        'starchat.maxNewTokens': 1500,
      },
    });
    mark('extensionInstalled');
    await vs.open();
    mark('workbenchLoaded');
  });

  after(async () => {
    fs.writeFileSync(path.join(ARTIFACTS, 'timings.json'), JSON.stringify({ ...timings, total: (Date.now() - started) / 1000 }, null, 2));
    vs.saveLogs(ARTIFACTS);
    await vs.close();
  });

  test('the model comes up and the status bar says so', async () => {
    await vs.openFile('sample.py');
    const status = vs.page.locator('.statusbar-item', { hasText: 'StarChat:' });
    await waitFor(async () => /·\s*cpu/.test((await status.first().innerText()) ?? ''), 90_000, () => `model not ready:\n${vs.serverLog}`);
    assert.match(await status.first().innerText(), /tiny-starchat · cpu/);
    mark('modelReady');
  });

  test('the chat panel opens from the status bar', async () => {
    await vs.page.locator('.statusbar-item', { hasText: 'StarChat:' }).first().click();
    chat = vs.chatFrame();
    await chat.locator('#input').waitFor({ timeout: 30_000 });
    await shot('1-panel-open');
    mark('panelOpen');
  });

  test('an answer arrives in more than one step', async () => {
    const answer = await ask('How do I reverse a list in Python?');
    const lengths = new Set<number>();
    await waitFor(
      async () => {
        const text = await answer.locator('.entry-body').innerText();
        if (text !== '' && !text.startsWith('Thinking')) {
          lengths.add(text.length);
        }
        if (lengths.size === 2) {
          await shot('2-streaming');
        }
        return (await stateOf(answer)) !== 'streaming';
      },
      60_000,
      () => 'the answer did not finish',
    );
    assert.equal(await stateOf(answer), 'done');
    assert.ok(lengths.size >= 2, `saw the answer in ${lengths.size} step(s)`);
    timings['streamSteps'] = lengths.size;
    await shot('3-answer-done');
    mark('answered');
  });

  test('Stop ends an answer in progress and keeps its text', async () => {
    await chat.locator('#new-chat').click();
    await waitFor(async () => (await answers().count()) === 0, 10_000, () => 'New chat kept the transcript');
    const answer = await ask('Write a long essay about sorting algorithms.');
    await waitFor(async () => (await answer.locator('.entry-body').innerText()).length > 20, 30_000, () => 'no text streamed');
    await chat.locator('#stop').click();
    await waitFor(async () => (await stateOf(answer)) === 'stopped', 10_000, () => 'the answer was not marked stopped');
    const kept = await answer.locator('.entry-body').innerText();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(await answer.locator('.entry-body').innerText(), kept, 'text kept arriving after Stop');
    assert.ok(kept.length > 0);
    assert.equal(await answer.locator('.entry-note').innerText(), 'Stopped.');
    assert.ok(await chat.locator('#stop').isHidden());
    await shot('4-stopped');
    mark('stopped');
  });

  test('Explain from the lightbulb answers in the panel', async () => {
    const editor = vs.page.locator('.monaco-editor .view-lines').first();
    await editor.click();
    // One selection step: the lightbulb's actions are computed for the selection it saw last.
    await vs.page.keyboard.press('Control+A');
    await vs.page.locator('.statusbar-item', { hasText: 'selected' }).waitFor();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const bulb = vs.page.locator('.lightBulbWidget');
    await bulb.waitFor({ state: 'visible', timeout: 30_000 });
    await shot('5-lightbulb');
    await bulb.click();
    await vs.page.locator('.action-widget .monaco-list-row', { hasText: 'StarChat: Explain' }).waitFor({ timeout: 10_000 });
    await shot('6-code-actions');
    // The menu is keyboard-driven (a pointer shield covers it for the first moments).
    const focused = vs.page.locator('.action-widget .monaco-list-row.focused');
    for (let i = 0; i < 10 && !(await focused.innerText()).includes('StarChat: Explain'); i++) {
      await vs.page.keyboard.press('ArrowDown');
    }
    await vs.page.keyboard.press('Enter');
    const user = chat.locator('.entry-user').last();
    let seen = '';
    await waitFor(
      async () => (seen = await user.innerText()).includes('Explain sample.py:1-8'),
      15_000,
      () => `Explain did not reach the panel (last message: ${JSON.stringify(seen)})`,
    );
    const answer = lastAnswer();
    await waitFor(async () => (await stateOf(answer)) !== 'streaming', 60_000, () => 'Explain did not finish');
    assert.equal(await stateOf(answer), 'done');
    assert.ok((await answer.locator('.entry-body').innerText()).length > 0);
    await shot('7-explain-answer');
    mark('explained');
  });

  test('a server crash mid-answer is reported and the server comes back', async () => {
    const answer = await ask('One more question, please.');
    await waitFor(async () => (await answer.locator('.entry-body').innerText()).length > 20, 30_000, () => 'no text streamed');
    const server = (await vs.processes()).find((p) => p.args.includes('-m starchat.server'));
    assert.ok(server, 'language server process not found');
    process.kill(server.pid, 'SIGKILL');
    await waitFor(async () => (await stateOf(answer)) === 'interrupted', 15_000, () => 'the answer was not marked interrupted');
    assert.match(await answer.locator('.entry-note').innerText(), /stopped before this answer was complete/);
    const notice = chat.locator('.entry-notice').last();
    assert.match(await notice.innerText(), /restarted \(1 of 3\)/);
    const status = vs.page.locator('.statusbar-item', { hasText: 'StarChat:' }).first();
    await waitFor(async () => /·\s*cpu/.test(await status.innerText()), 90_000, () => 'the server did not come back');
    await shot('8-crash-recovered');
    const again = await ask('Are you back?');
    await waitFor(async () => (await stateOf(again)) !== 'streaming', 60_000, () => 'no answer after the restart');
    assert.equal(await stateOf(again), 'done');
    mark('recovered');
  });
});
