/**
 * Edits a user can trust, and a chat panel that keeps its conversation (issue 12), in real
 * VS Code (code-server) against the real language server. The model is a scripted
 * OpenAI-compatible endpoint (scripted-backend.ts), so its answers are ones a user could act
 * on and the test can read what the model was given:
 *
 * - the active file goes with a question by default (the chip says so);
 * - Explain, from its keybinding, continues the panel's conversation and streams there;
 * - Add docstring opens VS Code's Refactor Preview: Discard leaves the file as it was, Apply
 *   changes it;
 * - /fix typed in the panel: an answer that does not parse is refused with the reason, and
 *   Apply anyway applies it;
 * - an answer cut by the length limit is marked and Continue finishes it in place;
 * - after Reload Window the conversation is back, and the model is given its earlier turns.
 *
 * Screenshots go to artifacts/vscode/edits-*.png, with edits-timings.json and the logs.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { FrameLocator, Locator } from 'playwright-core';

import { CodeServer, EXTENSION_ROOT, REPO, waitFor } from './harness';
import { ScriptedBackend, type Message, type Reply } from './scripted-backend';

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
const HELPERS = `def weighted_mean(values, weights):
    return sum(v * w for v, w in zip(values, weights)) / sum(weights)
`;
const DOCSTRING = 'Return the arithmetic mean of values.';
const CUT_QUESTION = 'Tell me a long story.';

/** What the scripted model answers, from the last user message. */
function script(messages: Message[]): Reply {
  const last = messages.at(-1)!;
  const question = messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
  if (last.role === 'assistant' || /cut off by the length limit/.test(last.content)) {
    return { text: ' and they lived happily ever after.', finish: 'stop' };
  }
  if (/docstring/.test(question)) {
    return { text: `\`\`\`python\n"""${DOCSTRING}"""\n\`\`\``, finish: 'stop' };
  }
  if (/^Fix this/.test(question)) {
    // Does not parse: the server refuses it.
    return { text: '```python\ndef mean(values:\n    return sum(values) / len(values)\n```', finish: 'stop' };
  }
  if (/Explain|explain/.test(question)) {
    return { text: '`mean` adds the values up and divides by how many there are.', finish: 'stop' };
  }
  if (question.includes(CUT_QUESTION)) {
    return { text: 'Once upon a time there was a list of numbers', finish: 'length' };
  }
  return { text: 'Noted. How can I help with `sample.py`?', finish: 'stop' };
}

const started = Date.now();
const timings: Record<string, number> = {};
function mark(name: string): void {
  timings[name] = Math.round((Date.now() - started) / 100) / 10;
}

describe('trusted edits and a lasting conversation', { timeout: 180_000 }, () => {
  const vs = new CodeServer();
  const model = new ScriptedBackend(script);
  let chat: FrameLocator;

  const shot = async (name: string) => {
    await vs.page.screenshot({ path: path.join(ARTIFACTS, `edits-${name}.png`) });
  };
  const answers = (): Locator => chat.locator('.entry-assistant');
  // Monaco renders spaces as no-break spaces.
  const editorText = async () =>
    (await vs.page.locator('.monaco-editor .view-lines').first().innerText()).replace(/\u00a0/g, ' ').trim();
  const waitDone = async (entry: Locator) => {
    let seen = '';
    await waitFor(
      async () => (seen = (await entry.getAttribute('data-state')) ?? '') === 'done',
      20_000,
      () => `the answer did not finish (state ${seen}: ${vs.extensionLog().slice(-2000)})`,
    );
  };
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
    const answer = answers().nth(count);
    await waitDone(answer);
    return answer;
  };
  const preview = (): Locator => vs.page.locator('.bulk-edit-panel[data-state="data"]');
  /** The Refactor Preview's own buttons, below its list. */
  const previewButton = (label: string): Locator =>
    vs.page.locator('.monaco-button', { hasText: new RegExp(`^${label}$`) }).first();
  const openPanel = async () => {
    await vs.status().click();
    chat = vs.chatFrame();
    await chat.locator('#input').waitFor({ timeout: 30_000 });
  };

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    assert.ok(fs.existsSync(VSIX), `build the extension first: ${VSIX} is missing`);
    const url = await model.listen();
    await vs.prepare({
      vsix: VSIX,
      workspaceFiles: { 'sample.py': SAMPLE, 'helpers.py': HELPERS },
      settings: {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'chat.disableAIFeatures': true,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
      },
      machineSettings: {
        'starchat.server.python': PYTHON,
        'starchat.backend': 'openai',
        'starchat.backendUrl': url,
        'starchat.model': 'scripted',
        'starchat.contextTokens': 8192,
      },
    });
    await vs.start();
    await vs.open();
    mark('workbenchLoaded');
  });

  after(async () => {
    const total = Math.round((Date.now() - started) / 100) / 10;
    fs.writeFileSync(path.join(ARTIFACTS, 'edits-timings.json'), JSON.stringify({ ...timings, total }, null, 2));
    vs.saveLogs(ARTIFACTS, 'edits-');
    await vs.close();
    model.close();
  });

  test('the active file goes with a question, as the chip says', async () => {
    await vs.openFile('sample.py');
    await waitFor(
      async () => /StarChat: scripted/.test(await vs.status().innerText()),
      60_000,
      () => `model not ready:\n${vs.extensionLog()}`,
    );
    await openPanel();
    await waitFor(
      async () => (await chat.locator('#context').innerText()).includes('Context: sample.py'),
      10_000,
      () => 'the chip does not show the active file',
    );
    await ask('My name is Zorblax.');
    assert.match(model.lastPrompt(), /def mean\(values\)/, 'the active file was not sent');
    mark('askedWithFile');
  });

  test('Explain from its keybinding keeps the earlier turns and answers in the panel', async () => {
    await vs.cursorOnLine(2);
    const count = await answers().count();
    await vs.page.keyboard.press('Control+;');
    await vs.page.keyboard.press('e');
    await waitFor(
      async () => (await answers().count()) > count,
      10_000,
      () => 'Explain did not reach the panel',
    );
    const answer = answers().nth(count);
    await waitDone(answer);
    assert.match(await answer.innerText(), /divides by how many/);
    assert.match(await chat.locator('.entry-user').last().innerText(), /about sample\.py at line 2\s+Explain/);
    assert.match(model.lastPrompt(), /My name is Zorblax/, 'Explain started a new conversation');
    assert.equal(await chat.locator('.entry-user').count(), 2, 'the earlier turn is still shown');
    await shot('1-explain-keeps-turns');
    mark('explained');
  });

  test('Add docstring shows a preview; Discard leaves the file unchanged', async () => {
    const original = await editorText();
    await vs.cursorOnLine(3);
    await vs.command('StarChat: Add Docstring');
    await preview().waitFor({ timeout: 20_000 });
    await shot('2-preview');
    await previewButton('Discard').click();
    const answer = answers().last();
    await waitFor(
      async () => /discarded/i.test(await answer.locator('.entry-note').innerText()),
      10_000,
      () => 'the panel does not say the edit was discarded',
    );
    assert.equal(await editorText(), original);
    await shot('3-discarded');
    mark('discarded');
  });

  test('Add docstring, applied from the preview, changes the file', async () => {
    await vs.cursorOnLine(3);
    await vs.command('StarChat: Add Docstring');
    await preview().waitFor({ timeout: 20_000 });
    // VS Code lists changes that need confirmation unticked: the user ticks the file, then applies.
    await preview().locator('input.edit-checkbox').first().check();
    await previewButton('Apply').click();
    await waitFor(
      async () => (await editorText()).includes(DOCSTRING),
      10_000,
      () => 'the docstring did not land',
    );
    const answer = answers().last();
    await waitFor(
      async () => /applied/i.test(await answer.locator('.entry-note').innerText()),
      10_000,
      () => 'the panel does not say the edit was applied',
    );
    await shot('4-applied');
    mark('applied');
  });

  test('/fix: a refused answer shows the reason, and Apply anyway applies it', async () => {
    await vs.cursorOnLine(3);
    const answer = await ask('/fix');
    assert.match(await chat.locator('.entry-user').last().innerText(), /about sample\.py at line 3\s+\/fix/);
    assert.match(await answer.locator('.entry-note').innerText(), /^Not applied: /);
    const anyway = answer.locator('button[data-action="applyAnyway"]');
    await shot('5-refused');
    await anyway.click();
    await waitFor(
      async () => (await editorText()).includes('def mean(values:'),
      10_000,
      () => 'Apply anyway did not change the file',
    );
    await waitFor(
      async () => (await anyway.count()) === 0 && /Applied anyway/.test(await answer.innerText()),
      5_000,
      () => 'the panel does not say it was applied',
    );
    mark('appliedAnyway');
  });

  test('an answer cut by the length limit is marked, and Continue finishes it', async () => {
    const answer = await ask(CUT_QUESTION);
    const more = answer.locator('button[data-action="continue"]');
    await more.waitFor({ timeout: 5_000 });
    assert.match(await answer.locator('.entry-note').innerText(), /length limit/);
    await shot('6-cut-answer');
    await more.click();
    await waitFor(
      async () => (await answer.innerText()).includes('happily ever after'),
      20_000,
      () => 'Continue did not finish the answer',
    );
    await waitDone(answer);
    assert.match(await answer.innerText(), /list of numbers and they lived/);
    assert.equal(await answer.locator('button[data-action="continue"]').count(), 0);
    await shot('7-continued');
    mark('continued');
  });

  test('after Reload Window the conversation is back and the model gets its earlier turns', async () => {
    const before = await chat.locator('.entry').count();
    await vs.command('Developer: Reload Window');
    await vs.page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    chat = vs.chatFrame();
    await waitFor(
      async () => (await chat.locator('.entry').count()) === before,
      60_000,
      () => 'the transcript did not come back',
    );
    assert.match(await chat.locator('.entry-user').first().innerText(), /My name is Zorblax/);
    await shot('8-reloaded');
    await ask('What is my name?');
    assert.match(model.lastPrompt(), /My name is Zorblax/, 'the earlier turns were not sent');
    await shot('9-after-reload');
    mark('reloaded');
  });

  test('code from another file goes with a question, listed under the answer as a link', async () => {
    const answer = await ask('How is the weighted mean computed?');
    assert.match(model.lastPrompt(), /`helpers\.py`, lines 1–2:\n```python\ndef weighted_mean/);
    const link = answer.locator('.reference', { hasText: 'helpers.py:1-2' });
    await waitFor(
      async () => (await link.count()) === 1,
      5_000,
      () => 'no reference link under the answer',
    );
    assert.match(await answer.innerText(), /Used \d+ references?:/);
    await link.click();
    await vs.page.locator('.tab.active', { hasText: 'helpers.py' }).waitFor({ timeout: 10_000 });
    await shot('10-references');
    mark('references');
  });
});
