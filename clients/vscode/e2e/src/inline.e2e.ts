/**
 * Ghost text (issue 13) in real VS Code (code-server) against the real language server, the
 * model a scripted OpenAI-compatible endpoint (scripted-backend.ts) that answers
 * `POST /completions` as vLLM and TGI do:
 *
 * - typing a function header in a Python file shows the model's completion as ghost text;
 * - the model was given a fill-in-the-middle prompt: the code before the cursor, the code
 *   after it, in StarCoder's tokens (`starchat.fimFormat: starcoder`);
 * - Tab accepts it, and the saved file holds it;
 * - the status bar's tooltip names the completion model and says infilling is on;
 * - with `starchat.inlineCompletion.enable` unticked in the Settings editor, the tooltip says
 *   so and typing asks the model nothing.
 *
 * Screenshots go to artifacts/vscode/inline-*.png, with inline-timings.json and the logs.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { CodeServer, EXTENSION_ROOT, REPO, waitFor } from './harness';
import { ScriptedBackend } from './scripted-backend';

const PYTHON = process.env['STARCHAT_PYTHON'] ?? path.join(REPO, '.venv', 'bin', 'python');
const VSIX = process.env['STARCHAT_VSIX'] ?? path.join(EXTENSION_ROOT, 'dist', 'starchat-vscode.vsix');
const ARTIFACTS = path.join(REPO, 'artifacts', 'vscode');

const SAMPLE = `def mean(values):
    return sum(values) / len(values)


print(mean([1, 2, 3]))
`;
const HEADER = 'def is_even(n):';
const BODY = 'return n % 2 == 0';
const BODIES: Record<string, string> = { is_even: BODY, is_odd: 'return n % 2 == 1' };

/** The scripted model writes the body of the function header just before the cursor. */
function complete(prompt: string): string {
  const prefix = prompt.split('<fim_suffix>')[0] ?? '';
  const header = /def (\w+)\(n\):\n\s*$/.exec(prefix);
  return (header && BODIES[header[1]!]) ?? '';
}

const started = Date.now();
const timings: Record<string, number> = {};
function mark(name: string): void {
  timings[name] = Math.round((Date.now() - started) / 100) / 10;
}

describe('ghost text', { timeout: 180_000 }, () => {
  const vs = new CodeServer();
  const model = new ScriptedBackend(() => ({ text: 'Not asked in this test.', finish: 'stop' }), complete);

  const shot = async (name: string) => {
    await vs.page.screenshot({ path: path.join(ARTIFACTS, `inline-${name}.png`) });
  };
  /** The ghost text on screen: its first line is spans inside the cursor's line (one per
   * highlighted token), further lines a view zone of their own. Monaco renders spaces as
   * no-break spaces. */
  const ghostText = async () => {
    const editor = vs.page.locator('.monaco-editor').first();
    const inline = (await editor.locator('.ghost-text-decoration').allInnerTexts()).join('');
    const below = await editor.locator('.ghost-text .view-line').allInnerTexts();
    return [inline, ...below].join('\n').replace(/\u00a0/g, ' ');
  };
  const onDisk = () => fs.readFileSync(path.join(vs.workspace, 'sample.py'), 'utf8');

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    assert.ok(fs.existsSync(VSIX), `build the extension first: ${VSIX} is missing`);
    const url = await model.listen();
    await vs.prepare({
      vsix: VSIX,
      workspaceFiles: { 'sample.py': SAMPLE },
      settings: {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        // Word suggestions would open the suggest widget, which Tab accepts first.
        'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
        'starchat.inlineCompletion.enable': true,
      },
      machineSettings: {
        'starchat.server.python': PYTHON,
        'starchat.backend': 'openai',
        'starchat.backendUrl': url,
        'starchat.model': 'scripted',
        'starchat.contextTokens': 8192,
        // A served model's name need not tell its FIM tokens: say which.
        'starchat.fimFormat': 'starcoder',
      },
    });
    await vs.start();
    await vs.open();
    mark('workbenchLoaded');
  });

  after(async () => {
    const total = Math.round((Date.now() - started) / 100) / 10;
    fs.writeFileSync(path.join(ARTIFACTS, 'inline-timings.json'), JSON.stringify({ ...timings, total }, null, 2));
    vs.saveLogs(ARTIFACTS, 'inline-');
    await vs.close();
    model.close();
  });

  test('typing a function header shows its body as ghost text', async () => {
    await vs.openFile('sample.py');
    await waitFor(
      async () => /StarChat: scripted/.test(await vs.status().innerText()),
      60_000,
      () => `model not ready:\n${vs.extensionLog()}`,
    );
    mark('modelReady');
    await vs.cursorOnLine(4);
    // 80 ms between keystrokes: longer than VS Code's own debounce of inline completion
    // requests (50 ms), so VS Code asks the extension after each keystroke; shorter than the
    // extension's (starchat.inlineCompletion.debounceMs, 150 ms), which alone collapses them.
    await vs.page.keyboard.type(HEADER, { delay: 80 });
    await vs.page.keyboard.press('Enter');
    let seen = '';
    await waitFor(
      async () => (seen = await ghostText()).includes(BODY),
      20_000,
      () =>
        `no ghost text (${JSON.stringify(seen)} on screen, ${model.completions.length} completion requests)\n` +
        `${vs.extensionLog().slice(-3000)}`,
    );
    mark('ghostTextShown');
    await shot('1-ghost-text');
    assert.equal(onDisk(), SAMPLE, 'ghost text is not in the file until accepted');
    // Without the extension's debounce, each of the 16 keystrokes would have asked the model.
    assert.ok(model.completions.length <= 3, `${model.completions.length} requests for one pause in typing`);
  });

  test('the model was given the code before and after the cursor, in StarCoder FIM tokens', () => {
    const request = model.completions.find((c) => complete(c.prompt) === BODY);
    assert.ok(request, `no completion request for the body: ${JSON.stringify(model.completions)}`);
    assert.equal(request.model, 'scripted');
    const fim = /^[\s\S]*<fim_prefix>([\s\S]*)<fim_suffix>([\s\S]*)<fim_middle>$/.exec(request.prompt);
    assert.ok(fim, `not a prefix-suffix-middle prompt: ${JSON.stringify(request.prompt)}`);
    const [, prefix, suffix] = fim;
    assert.match(prefix!, /def mean\(values\):[\s\S]*def is_even\(n\):\n\s*$/);
    assert.match(suffix!, /print\(mean\(\[1, 2, 3\]\)\)/);
    assert.doesNotMatch(suffix!, /is_even/);
  });

  test('Tab accepts it, and the saved file holds it', async () => {
    await vs.page.keyboard.press('Tab');
    let left = '';
    await waitFor(
      async () => (left = (await ghostText()).trim()) === '',
      5_000,
      () => `the ghost text stayed: ${JSON.stringify(left)}`,
    );
    await vs.page.keyboard.press('Control+S');
    await waitFor(
      () => onDisk().includes(`${HEADER}\n    ${BODY}`),
      10_000,
      () => `the file does not hold the completion:\n${onDisk()}`,
    );
    assert.match(onDisk(), /^def mean\(values\):[\s\S]*def is_even\(n\):\n {4}return n % 2 == 0\n[\s\S]*print\(mean/);
    mark('accepted');
    await shot('2-accepted');
  });

  test("the status bar's tooltip names the completion model and says it fills in the middle", async () => {
    const hover = await vs.statusTooltip('Inline completion');
    assert.match(await hover.innerText(), /Inline completion: scripted, fill-in-the-middle \(starcoder\)/);
    await shot('3-status-tooltip');
    await vs.page.mouse.move(700, 400);
  });

  test('turned off, typing asks the model nothing', async () => {
    await vs.setCheckbox('starchat.inlineCompletion.enable', false, 'User');
    // The tooltip follows the setting.
    let tooltip = '';
    await waitFor(
      async () => {
        const hover = await vs.statusTooltip('Inline completion', 1_000);
        tooltip = await hover.innerText();
        return /Inline completion: off/.test(tooltip);
      },
      15_000,
      () => `the status tooltip does not say inline completion is off: ${JSON.stringify(tooltip)}`,
    );
    await vs.page.mouse.move(700, 400);
    const asked = model.completions.length;
    await vs.cursorOnLine(3);
    await vs.page.keyboard.type(HEADER.replace('even', 'odd'));
    await vs.page.keyboard.press('Enter');
    // Several times the debounce: a request would have gone out by now.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal(model.completions.length, asked, 'a completion request reached the model');
    assert.equal((await ghostText()).trim(), '');
    await shot('4-disabled');
    mark('disabledChecked');
  });
});
