/**
 * Real VS Code for the end-to-end test: code-server (VS Code in a browser) with the packaged
 * extension installed into a throw-away profile, and Debian's chromium driven by
 * playwright-core. Everything lives in one temporary folder and the whole code-server process
 * group is killed at the end (the extension host and the language server included).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { chromium, type Browser, type FrameLocator, type Locator, type Page } from 'playwright-core';

const run = promisify(execFile);

export const EXTENSION_ROOT = path.resolve(__dirname, '..', '..');
export const REPO = path.resolve(EXTENSION_ROOT, '..', '..');
export const EXTENSION_ID = 'starchat.starchat-vscode';
const CODE_SERVER = path.join(EXTENSION_ROOT, 'e2e', 'node_modules', '.bin', 'code-server');
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface HarnessOptions {
  vsix: string;
  /** Workspace files by relative name; a `{ text, mode }` entry sets the file mode too. */
  workspaceFiles: Record<string, string | { text: string; mode: number }>;
  /** User settings (the browser side). */
  settings: Record<string, unknown>;
  /** Settings of the machine code-server runs on (the "Remote" tab): where VS Code applies
   * machine-overridable settings such as the interpreter and model paths in a remote window. */
  machineSettings: Record<string, unknown>;
}

export class CodeServer {
  private server: ChildProcess | undefined;
  private browser: Browser | undefined;
  page!: Page;
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'starchat-e2e-'));
  readonly workspace = path.join(this.root, 'workspace');
  private readonly userData = path.join(this.root, 'user-data');
  private readonly extensions = path.join(this.root, 'extensions');
  private readonly env: NodeJS.ProcessEnv;
  private log = '';
  private base = '';

  /**
   * @param workspaceTrust false (the default) starts code-server with
   * --disable-workspace-trust; true lets VS Code ask whether to trust the folder.
   * @param env extra environment of code-server (and so of the extension host), given the
   * workspace folder.
   */
  constructor(
    private readonly workspaceTrust = false,
    env: (workspace: string) => NodeJS.ProcessEnv = () => ({}),
  ) {
    const xdg = path.join(this.root, 'xdg');
    this.env = {
      ...process.env,
      ...env(this.workspace),
      XDG_CONFIG_HOME: path.join(xdg, 'config'),
      XDG_DATA_HOME: path.join(xdg, 'data'),
      XDG_CACHE_HOME: path.join(xdg, 'cache'),
      XDG_STATE_HOME: path.join(xdg, 'state'),
      HF_HUB_OFFLINE: '1',
    };
  }

  /** Write the workspace and user settings, install the extension. */
  async prepare(options: HarnessOptions): Promise<void> {
    for (const [name, content] of Object.entries(options.workspaceFiles)) {
      const file = path.join(this.workspace, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const { text, mode } = typeof content === 'string' ? { text: content, mode: 0o644 } : content;
      fs.writeFileSync(file, text, { mode });
    }
    for (const [scope, settings] of [
      ['User', options.settings],
      ['Machine', options.machineSettings],
    ] as const) {
      fs.mkdirSync(path.join(this.userData, scope), { recursive: true });
      fs.writeFileSync(path.join(this.userData, scope, 'settings.json'), JSON.stringify(settings, null, 2));
    }
    await run(
      CODE_SERVER,
      ['--install-extension', options.vsix, '--extensions-dir', this.extensions, '--user-data-dir', this.userData],
      { env: this.env },
    );
  }

  /** Change a text or number setting in the Settings editor, as a user would. */
  async setSetting(id: string, value: string, tab: 'User' | 'Remote'): Promise<void> {
    const input = await this.findSetting(id, tab, '.setting-item-control input');
    await input.fill(value);
    await input.press('Enter');
    await this.closeSettings();
  }

  /** Tick or untick a checkbox setting in the Settings editor, as a user would. */
  async setCheckbox(id: string, checked: boolean, tab: 'User' | 'Remote'): Promise<void> {
    const box = await this.findSetting(id, tab, '.setting-value-checkbox');
    if ((await box.getAttribute('aria-checked')) !== String(checked)) {
      await box.click();
    }
    await waitFor(
      async () => (await box.getAttribute('aria-checked')) === String(checked),
      5_000,
      () => `${id} did not change`,
    );
    await this.closeSettings();
  }

  /** Open the Settings editor on `tab`, search for the setting, return its `control`. */
  private async findSetting(id: string, tab: 'User' | 'Remote', control: string) {
    await this.command('Preferences: Open User Settings');
    const editor = this.page.locator('.settings-editor');
    await editor.waitFor();
    await editor.locator('.settings-target-container .action-label', { hasText: tab }).first().click();
    await editor.locator('.suggest-input-container').click();
    // The search box has focus and may still hold the previous search.
    await this.page.keyboard.press('Control+A');
    await this.page.keyboard.type(`@id:${id}`);
    const found = editor.locator(`.setting-item-contents ${control}`).first();
    await waitFor(
      async () => (await editor.locator('.setting-item-contents').count()) === 1 && found.isVisible(),
      10_000,
      () => `setting ${id} not found`,
    );
    return found;
  }

  /** Close the Settings editor; a changed value is saved as its control loses focus. */
  private async closeSettings(): Promise<void> {
    await this.page.locator('.tab', { hasText: 'Settings' }).locator('.codicon-close').click();
    await this.page.locator('.settings-editor').waitFor({ state: 'detached' });
  }

  /** Start code-server and chromium (the workbench opens with `open`). */
  async start(): Promise<void> {
    const port = await freePort();
    // detached: its own process group, so one kill reaches the extension host and the server.
    this.server = spawn(
      CODE_SERVER,
      [
        '--auth',
        'none',
        '--bind-addr',
        `127.0.0.1:${port}`,
        '--disable-telemetry',
        ...(this.workspaceTrust ? [] : ['--disable-workspace-trust']),
        '--disable-update-check',
        '--user-data-dir',
        this.userData,
        '--extensions-dir',
        this.extensions,
        // E2E_LOG_LEVEL=trace also records the LSP traffic (with starchat.trace.server).
        '--log',
        process.env['E2E_LOG_LEVEL'] ?? 'info',
      ],
      { env: this.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (chunk: Buffer) => (this.log = (this.log + chunk.toString()).slice(-20_000));
    this.server.stdout?.on('data', keep);
    this.server.stderr?.on('data', keep);
    this.base = `http://127.0.0.1:${port}`;
    const base = this.base;
    await waitFor(
      async () => (await fetch(`${base}/healthz`)).ok,
      60_000,
      () => `code-server did not start:\n${this.log}`,
    );
    this.browser = await chromium.launch({
      executablePath: process.env['CHROMIUM'] ?? '/usr/bin/chromium',
      args: CHROMIUM_FLAGS,
    });
    const context = await this.browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    this.page = await context.newPage();
  }

  /** Open the workspace in VS Code; the extension activates and starts its server. */
  async open(): Promise<void> {
    await this.page.goto(`${this.base}/?folder=${encodeURIComponent(this.workspace)}`);
    await this.page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  }

  /** The chat panel's page: a webview is two iframes deep. */
  chatFrame(): FrameLocator {
    return this.page
      .frameLocator(`iframe.webview.ready[src*="extensionId=${EXTENSION_ID}"]`)
      .frameLocator('iframe#active-frame');
  }

  /** The extension's status bar item ("StarChat: …"). */
  status(): Locator {
    return this.page.locator('.statusbar-item', { hasText: 'StarChat:' }).first();
  }

  /** Hover the status bar item until its tooltip shows `text`; returns the tooltip. */
  async statusTooltip(text: string | RegExp, timeoutMs = 10_000): Promise<Locator> {
    // A hover opens on the pointer's arrival: leave the item first (a click there closes it).
    await this.page.mouse.move(700, 450);
    await this.status().hover();
    const hover = this.page.locator('.workbench-hover, .monaco-hover', { hasText: text }).first();
    await hover.waitFor({ timeout: timeoutMs });
    return hover;
  }

  /** Put the cursor at the start of a line (1-based) of the active editor, with Go to Line:
   * Monaco reorders its line elements after edits, so clicking the nth one is not the nth line. */
  async cursorOnLine(line: number): Promise<void> {
    await this.page.locator('.monaco-editor .view-lines').first().click();
    await this.page.keyboard.press('Control+G');
    await this.page.locator('.quick-input-widget input').waitFor();
    await this.page.keyboard.type(String(line));
    await this.page.keyboard.press('Enter');
    await this.page.locator('.statusbar-item', { hasText: `Ln ${line},` }).waitFor({ timeout: 5_000 });
  }

  /** Run a command by its title through the command palette. */
  async command(title: string): Promise<void> {
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(`>${title}`);
    await this.page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
    await this.page.keyboard.press('Enter');
  }

  /** Open a workspace file through Quick Open and wait for its editor. */
  async openFile(name: string): Promise<void> {
    await this.page.keyboard.press('Control+P');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(name);
    await this.page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor();
    await this.page.keyboard.press('Enter');
    await this.page.locator(`.tab[data-resource-name="${name}"]`).waitFor();
    await this.page.locator('.monaco-editor .view-lines').first().waitFor();
  }

  /** Process ids (and command lines) in code-server's process group. */
  async processes(): Promise<{ pid: number; args: string }[]> {
    const { stdout } = await run('ps', ['-o', 'pid=,args=', '-g', String(this.server?.pid)]);
    return stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const match = /^\s*(\d+)\s+(.*)$/.exec(line)!;
        return { pid: Number(match[1]), args: match[2]! };
      });
  }

  get serverLog(): string {
    return this.log;
  }

  /** What the extension has logged so far (its "StarChat" output channel). */
  extensionLog(): string {
    const logs = path.join(this.userData, 'logs');
    const found = fs.existsSync(logs) ? (fs.readdirSync(logs, { recursive: true }) as string[]) : [];
    return found
      .filter((f) => path.basename(f) === 'StarChat.log')
      .map((f) => fs.readFileSync(path.join(logs, f), 'utf8'))
      .join('');
  }

  /** Copy the extension's log ("StarChat" output channel) and code-server's output to `dir`. */
  saveLogs(dir: string, prefix = ''): void {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${prefix}starchat-extension.log`), this.extensionLog());
    fs.writeFileSync(path.join(dir, `${prefix}code-server.log`), this.log);
  }

  async close(): Promise<void> {
    await this.browser?.close().catch(() => undefined);
    if (this.server?.pid) {
      try {
        process.kill(-this.server.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export async function waitFor(
  condition: () => Promise<boolean> | boolean,
  timeoutMs: number,
  describe: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await condition()) {
        return;
      }
    } catch {
      // Not yet (e.g. connection refused while starting).
    }
    if (Date.now() > deadline) {
      throw new Error(describe());
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
