/**
 * The extension in real VS Code (code-server 4.100.3 = VS Code 1.100.3), as a user drives it:
 * install the .vsix, open a Python file, wait for the model, ask in the chat panel and watch
 * the answer arrive in several steps, run Explain from the lightbulb and read the answer in
 * the panel, raise the answer length in the Settings editor and stop an answer, kill the
 * language server mid-answer and see the answer marked interrupted and the server come back,
 * and finally point the extension at a Python without the package and get told what to
 * install. The server runs on a tiny random model: greedy decoding never picks its end token,
 * so answers run to maxNewTokens at about a millisecond a token, long enough to watch.
 *
 * Screenshots go to artifacts/vscode/, with timings.json and the logs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import type { FrameLocator, Locator } from 'playwright-core';

import { CodeServer, EXTENSION_ROOT, REPO, waitFor } from './harness';

const PYTHON = process.env['STARCHAT_PYTHON'] ?? path.join(REPO, '.venv', 'bin', 'python');
const VSIX = process.env['STARCHAT_VSIX'] ?? path.join(EXTENSION_ROOT, 'dist', 'starchat-vscode.vsix');
const ARTIFACTS = path.join(REPO, 'artifacts', 'vscode');
/** Positions of the tiny model: room for the long answers the Stop and crash steps need. */
const CONTEXT = 8192;

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

async function buildTinyModel(dir: string): Promise<void> {
  const script = [
    'import sys, pathlib',
    'from tests.tiny_model import build_tiny_starchat',
    `build_tiny_starchat(pathlib.Path(sys.argv[1]), n_positions=${CONTEXT})`,
  ].join('\n');
  await promisify(execFile)(PYTHON, ['-c', script, dir], {
    cwd: REPO,
    env: { ...process.env, HF_HUB_OFFLINE: '1', PYTHONPATH: REPO },
  });
}

describe('StarChat in code-server', { timeout: 240_000 }, () => {
  const vs = new CodeServer();
  let chat: FrameLocator;

  const shot = async (name: string) => {
    await vs.page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
  };
  const modelReady = async () => /tiny-starchat · cpu/.test(await vs.status().innerText());
  const answers = (): Locator => chat.locator('.entry-assistant');
  const stateOf = async (entry: Locator) => entry.getAttribute('data-state');
  const textOf = async (entry: Locator) => entry.locator('.entry-body').innerText();

  /** Type a message, press Enter, and return the answer's entry. */
  const ask = async (question: string): Promise<Locator> => {
    const count = await answers().count();
    const input = chat.locator('#input');
    await input.click();
    await input.fill(question);
    await input.press('Enter');
    await waitFor(
      async () => (await answers().count()) > count,
      10_000,
      () => 'no answer entry appeared',
    );
    return answers().nth(count);
  };
  const waitForText = (entry: Locator) =>
    waitFor(
      async () => (await textOf(entry)).length > 20,
      30_000,
      () => 'no text streamed',
    );
  /** Wait for an answer to end in `state`; on failure, say how it did end. */
  const waitForState = async (entry: Locator, state: string, timeoutMs: number) => {
    let seen = '';
    await waitFor(
      async () =>
        (seen = `${await stateOf(entry)}: ${await entry.locator('.entry-note').innerText()}`).startsWith(`${state}:`),
      timeoutMs,
      () => `the answer did not end ${state} (${seen})`,
    );
  };

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    assert.ok(fs.existsSync(VSIX), `build the extension first: ${VSIX} is missing`);
    const model = path.join(vs.root, 'tiny-starchat');
    const built = buildTinyModel(model);
    await vs.prepare({
      vsix: VSIX,
      workspaceFiles: { 'sample.py': SAMPLE },
      settings: {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'chat.disableAIFeatures': true,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'starchat.temperature': 0,
        'starchat.maxNewTokens': 1500,
      },
      machineSettings: {
        'starchat.server.python': PYTHON,
        'starchat.model': model,
        'starchat.device': 'cpu',
      },
    });
    mark('extensionInstalled');
    await Promise.all([built, vs.start()]);
    mark('tinyModelBuiltAndCodeServerUp');
    await vs.open();
    mark('workbenchLoaded');
  });

  after(async () => {
    const total = Math.round((Date.now() - started) / 100) / 10;
    fs.writeFileSync(path.join(ARTIFACTS, 'timings.json'), JSON.stringify({ ...timings, total }, null, 2));
    vs.saveLogs(ARTIFACTS);
    await vs.close();
  });

  test('the model comes up and the status bar says so', async () => {
    await vs.openFile('sample.py');
    await waitFor(modelReady, 90_000, () => `model not ready:\n${vs.extensionLog()}`);
    mark('modelReady');
  });

  test('the chat panel opens from the status bar', async () => {
    await vs.status().click();
    chat = vs.chatFrame();
    await chat.locator('#input').waitFor({ timeout: 30_000 });
    await shot('1-panel-open');
    mark('panelOpen');
  });

  test('an answer arrives in more than one step', async () => {
    const answer = await ask('How do I reverse a list in Python?');
    // Recorded inside the webview: the answer's text length after each change, until it ends.
    const steps = answer.evaluate(
      (entry) =>
        new Promise<number[]>((resolve) => {
          const body = entry.querySelector('.entry-body')!;
          const lengths: number[] = [];
          const record = () => {
            const length = body.querySelector('.thinking') ? 0 : (body.textContent ?? '').length;
            if (length > 0 && lengths.at(-1) !== length) {
              lengths.push(length);
            }
            if (entry.getAttribute('data-state') !== 'streaming') {
              observer.disconnect();
              resolve(lengths);
            }
          };
          const observer = new MutationObserver(record);
          observer.observe(entry, { subtree: true, childList: true, characterData: true, attributes: true });
          record();
        }),
    );
    await waitForText(answer).then(
      () => shot('2-streaming'),
      () => undefined,
    );
    const lengths = await steps;
    assert.equal(await stateOf(answer), 'done');
    assert.ok(lengths.length >= 2, `saw the answer in ${lengths.length} step(s): ${lengths.join(', ')}`);
    timings['streamSteps'] = lengths.length;
    await shot('3-answer-done');
    mark('answered');
  });

  test('Explain from the lightbulb answers in the panel', async () => {
    await vs.page.locator('.monaco-editor .view-lines').first().click();
    // One selection step: the lightbulb's actions are computed for the selection it saw last.
    await vs.page.keyboard.press('Control+A');
    await vs.page.locator('.statusbar-item', { hasText: 'selected' }).waitFor();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const bulb = vs.page.locator('.lightBulbWidget');
    await bulb.waitFor({ state: 'visible', timeout: 30_000 });
    await bulb.click();
    await vs.page
      .locator('.action-widget .monaco-list-row', { hasText: 'StarChat: Explain' })
      .waitFor({ timeout: 10_000 });
    await shot('4-code-actions');
    // The menu is keyboard-driven (a pointer shield covers it for its first moments).
    const focused = vs.page.locator('.action-widget .monaco-list-row.focused');
    for (let i = 0; i < 10 && !(await focused.innerText()).includes('StarChat: Explain'); i++) {
      await vs.page.keyboard.press('ArrowDown');
    }
    await vs.page.keyboard.press('Enter');
    const user = chat.locator('.entry-user').last();
    let seen = '';
    await waitFor(
      async () => (seen = await user.innerText()).includes('about sample.py:1-8') && seen.includes('Explain'),
      15_000,
      () => `Explain did not reach the panel (last message: ${JSON.stringify(seen)})`,
    );
    const answer = answers().last();
    await waitFor(
      async () => (await stateOf(answer)) !== 'streaming',
      60_000,
      () => 'Explain did not finish',
    );
    assert.equal(await stateOf(answer), 'done');
    assert.ok((await textOf(answer)).length > 0);
    await shot('5-explain-answer');
    mark('explained');
  });

  test('a longer maxNewTokens from the Settings editor reaches the server', async () => {
    await vs.setSetting('starchat.maxNewTokens', '8000', 'User');
    await waitFor(
      () => vs.extensionLog().includes('"maxNewTokens":8000'),
      15_000,
      () => 'the new option was not sent',
    );
    mark('optionsChanged');
  });

  /** A new conversation, asked the question the tiny model is known to answer with text. */
  const askAfresh = async (): Promise<Locator> => {
    await chat.locator('#new-chat').click();
    await waitFor(
      async () => (await answers().count()) === 0,
      10_000,
      () => 'New chat kept the transcript',
    );
    return ask('Write a long essay about sorting algorithms.');
  };

  test('Stop ends an answer in progress and keeps its text', async () => {
    const answer = await askAfresh();
    await waitForText(answer);
    await chat.locator('#stop').click();
    await waitForState(answer, 'stopped', 10_000);
    const kept = await textOf(answer);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(await textOf(answer), kept, 'text kept arriving after Stop');
    assert.ok(kept.length > 0);
    assert.equal(await answer.locator('.entry-note').innerText(), 'Stopped.');
    assert.ok(await chat.locator('#stop').isHidden());
    await shot('6-stopped');
    mark('stopped');
  });

  test('a server crash mid-answer is reported and the server comes back', async () => {
    const answer = await ask('One more question, please.');
    await waitForText(answer);
    const server = (await vs.processes()).find((p) => p.args.includes('-m starchat.server'));
    assert.ok(server, 'language server process not found');
    process.kill(server.pid, 'SIGKILL');
    await waitForState(answer, 'interrupted', 15_000);
    assert.match(await answer.locator('.entry-note').innerText(), /stopped before this answer was complete/);
    assert.match(await chat.locator('.entry-notice').last().innerText(), /restarted \(1 of 3\)/);
    await shot('7-interrupted');
    await waitFor(modelReady, 90_000, () => 'the server did not come back');
    // A new conversation: the interrupted one's prompt holds as much of the answer as the
    // crash let through, and the random tiny model may answer some such prompts with
    // tokens that show no text.
    const again = await askAfresh();
    await waitForText(again);
    await chat.locator('#stop').click();
    await waitForState(again, 'stopped', 10_000);
    await shot('8-recovered');
    mark('recovered');
  });

  test('a Python without the package: the notification says what to install', async () => {
    // The project's Python with site-packages switched off lacks the starchat package.
    const python = path.join(vs.root, 'python-without-packages');
    fs.writeFileSync(python, `#!/bin/sh\nexec "${PYTHON}" -S "$@"\n`, { mode: 0o755 });
    await vs.setSetting('starchat.server.python', python, 'Remote');
    const toast = vs.page.locator('.notification-toast', { hasText: 'does not have the StarChat language server' });
    await toast.waitFor({ timeout: 30_000 });
    assert.ok((await toast.innerText()).includes(`Install it with: ${python} -m pip install starchat-lsp`));
    await waitFor(
      async () => (await vs.status().innerText()).includes('stopped'),
      10_000,
      () => 'status not stopped',
    );
    await shot('9-missing-package');
    await toast.locator('.monaco-button', { hasText: 'Open Setting' }).click();
    const setting = vs.page.locator('.settings-editor .setting-item-contents', { hasText: 'Python' });
    await setting.first().waitFor({ timeout: 15_000 });
    await shot('10-open-setting');
    mark('missingPackageReported');
  });
});
