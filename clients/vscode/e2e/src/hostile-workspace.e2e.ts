/**
 * A hostile repository opened in real VS Code (code-server with workspace trust on). The
 * repository plants `pygls/`, `starchat/`, `sitecustomize.py` and `usercustomize.py`, each
 * writing a marker file when Python imports it, and a `.vscode/settings.json` that chooses
 * its own interpreter (a script in the repository that writes a marker), a model of its own,
 * the `openai` backend at a local listener standing in for someone else's server, and a GPU
 * that is not there. code-server's environment has PYTHONPATH pointing into the repository too.
 *
 * The user declines to trust the folder. The chat must still answer from the real server on
 * the offline default model (the user set only the interpreter and the device), no marker may
 * appear and the listener must see no connection. Then the user trusts the folder: the server
 * restarts once with the repository's settings (its interpreter runs and the listener is
 * contacted, as the user now allowed), and even so no planted package is imported.
 *
 * Screenshots (hostile-*.png), timings and logs go to artifacts/vscode/.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { FrameLocator } from 'playwright-core';

import { CodeServer, EXTENSION_ROOT, REPO, waitFor } from './harness';

const PYTHON = process.env['STARCHAT_PYTHON'] ?? path.join(REPO, '.venv', 'bin', 'python');
const VSIX = process.env['STARCHAT_VSIX'] ?? path.join(EXTENSION_ROOT, 'dist', 'starchat-vscode.vsix');
const ARTIFACTS = path.join(REPO, 'artifacts', 'vscode');
const PLANTED = ['pygls/__init__.py', 'starchat/__init__.py', 'sitecustomize.py', 'usercustomize.py'];
/**
 * Where the server keeps the converted default model (engine/default_model.py): the user's
 * cache, not the test's throw-away XDG_CACHE_HOME, so it is converted once (~15 s), not per run.
 */
const MODEL_CACHE =
  process.env['STARCHAT_CACHE_DIR'] ??
  path.join(process.env['XDG_CACHE_HOME'] ?? path.join(os.homedir(), '.cache'), 'starchat-lsp');

const started = Date.now();
const timings: Record<string, number> = {};
function mark(name: string): void {
  timings[name] = Math.round((Date.now() - started) / 100) / 10;
}

/** A TCP listener that counts connections and closes each at once. */
class Listener {
  connections = 0;
  private readonly server = net.createServer((socket) => {
    this.connections++;
    socket.destroy();
  });

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  close(): void {
    this.server.close();
  }
}

describe('a hostile workspace in code-server', { timeout: 240_000 }, () => {
  const listener = new Listener();
  // The extension host inherits code-server's environment, as it would a shell's.
  const vs = new CodeServer(true, (workspace) => ({ PYTHONPATH: workspace, STARCHAT_CACHE_DIR: MODEL_CACHE }));
  const markers = path.join(vs.root, 'markers');
  let chat: FrameLocator;
  let port = 0;

  const shot = async (name: string) => {
    await vs.page.screenshot({ path: path.join(ARTIFACTS, `hostile-${name}.png`) });
  };
  const marked = () => (fs.existsSync(markers) ? fs.readdirSync(markers).sort() : []);
  const serverProcess = async () => (await vs.processes()).find((p) => p.args.includes('-m starchat.server'));

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    assert.ok(fs.existsSync(VSIX), `build the extension first: ${VSIX} is missing`);
    fs.mkdirSync(markers);
    port = await listener.listen();
    const plant = (name: string) =>
      `open(${JSON.stringify(path.join(markers, name.split('/')[0]!))}, "w").write("ran")\n`;
    await vs.prepare({
      vsix: VSIX,
      workspaceFiles: {
        'sample.py': 'def add(a, b):\n    return a + b\n',
        ...Object.fromEntries(PLANTED.map((name) => [name, plant(name)])),
        'tools/python': {
          text: `#!/bin/sh\necho ran > "${path.join(markers, 'interpreter')}"\nexec "${PYTHON}" "$@"\n`,
          mode: 0o755,
        },
        '.vscode/settings.json': JSON.stringify({
          'starchat.server.python': '${workspaceFolder}/tools/python',
          'starchat.backend': 'openai',
          'starchat.backendUrl': `http://127.0.0.1:${port}/v1`,
          'starchat.model': 'attacker/model',
          'starchat.device': 'cuda:7',
        }),
      },
      settings: {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'chat.disableAIFeatures': true,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'starchat.maxNewTokens': 40,
      },
      // No model: the offline default. The user's interpreter, which has the package.
      machineSettings: { 'starchat.server.python': PYTHON, 'starchat.device': 'cpu' },
    });
    await vs.start();
    mark('codeServerUp');
    await vs.open();
    mark('workbenchLoaded');
  });

  after(async () => {
    const total = Math.round((Date.now() - started) / 100) / 10;
    fs.writeFileSync(path.join(ARTIFACTS, 'hostile-timings.json'), JSON.stringify({ ...timings, total }, null, 2));
    vs.saveLogs(ARTIFACTS, 'hostile-');
    listener.close();
    await vs.close();
  });

  test('VS Code asks whether to trust the folder; the user says no', async () => {
    const dialog = vs.page.locator('.monaco-dialog-box', { hasText: 'trust the authors' });
    await dialog.waitFor({ timeout: 60_000 });
    await shot('1-trust-prompt');
    await dialog.locator('.monaco-button', { hasText: "No, I don't trust the authors" }).click();
    await dialog.waitFor({ state: 'detached' });
    mark('trustDeclined');
  });

  test('the chat answers from the real server on the default model', async () => {
    await waitFor(
      async () => /SmolLM2-135M-Instruct · cpu/.test(await vs.status().innerText()),
      90_000,
      () => `model not ready: ${vs.extensionLog()}`,
    );
    mark('modelReady');
    await vs.status().click();
    chat = vs.chatFrame();
    const input = chat.locator('#input');
    await input.waitFor({ timeout: 30_000 });
    await input.fill('Write a Python function that adds two numbers.');
    await input.press('Enter');
    const answer = chat.locator('.entry-assistant').last();
    await waitFor(
      async () => (await answer.getAttribute('data-state')) === 'done',
      60_000,
      () => 'no answer',
    );
    assert.ok((await answer.locator('.entry-body').innerText()).trim().length > 0, 'empty answer');
    mark('answeredRestricted');
    await vs.statusTooltip('Restricted Mode: starchat.server.python');
    await shot('2-restricted-answer');
  });

  test("nothing of the repository's ran and nothing reached its server", async () => {
    assert.deepEqual(marked(), [], 'planted code ran');
    assert.equal(listener.connections, 0, "the repository's backendUrl was contacted");
    const log = vs.extensionLog();
    assert.match(
      log,
      /Restricted Mode: starchat\.server\.python, model, completionModel, backend, backendUrl and device/,
    );
    assert.ok(log.includes(`Python interpreter (setting): ${PYTHON}`), "the user's interpreter was not the one used");
    const server = await serverProcess();
    assert.ok(server, 'language server process not found');
    assert.match(server.args, / -E -P -u -m starchat\.server /);
    const cwd = fs.readlinkSync(`/proc/${server.pid}/cwd`);
    assert.match(cwd, /\/globalStorage\/starchat\.starchat-vscode$/, `the server runs in ${cwd}`);
  });

  test("trusting the folder restarts the server with the repository's settings", async () => {
    await vs.command('Workspaces: Manage Workspace Trust');
    const trust = vs.page.locator('.workspace-trust-editor .monaco-button', { hasText: /^Trust$|^Trust Folder$/ });
    await trust.first().waitFor({ timeout: 15_000 });
    await shot('3-trust-editor');
    await trust.first().click();
    await waitFor(
      () => listener.connections > 0,
      60_000,
      () => `the trusted settings were not applied: ${vs.extensionLog()}`,
    );
    mark('trustedRestart');
    // The trusted interpreter ran (the user allowed it); the planted packages still did not.
    assert.deepEqual(marked(), ['interpreter']);
    await waitFor(
      async () => /error/.test(await vs.status().innerText()),
      30_000,
      () => 'the status did not report the unreachable backend',
    );
    await vs.statusTooltip(`attacker/model: Cannot reach the backend at http://127.0.0.1:${port}/v1`);
    await shot('4-trusted-settings');
    assert.deepEqual(marked(), ['interpreter']);
    const starts = vs.extensionLog().match(/Python interpreter \(setting\): .*\/tools\/python/g) ?? [];
    assert.equal(starts.length, 1, 'granting trust started the server more than once');
  });
});
