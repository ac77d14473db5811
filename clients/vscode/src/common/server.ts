/**
 * The language server's lifecycle: launch `python -E -P -m starchat.server` over stdio from a
 * folder of the extension's own (see python.ts for why), restart it
 * when its launch settings change (coalesced: one restart in flight, at most one queued),
 * forward option changes, and restart it after a crash a bounded number of times.
 *
 * Everyone else sees the server through `onDidChangeState` and the `client` property, and
 * registers notification handlers through `onDidCreateClient` (the language client keeps them
 * across its own crash restarts).
 *
 * Every value sent to the server or used to start it is read for the workspace's current trust
 * (settings.ts); granting trust restarts the server with the workspace's values.
 */
import * as fs from 'node:fs';

import * as vscode from 'vscode';
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  type LanguageClientOptions,
  type Middleware,
  type ServerOptions as LaunchOptions,
  type StaticFeature,
} from 'vscode-languageclient/node';
import { LSPErrorCodes, ResponseError, type CancellationToken } from 'vscode-languageserver-protocol';

import { describeError, pipeServerOutput, serverLogLevel, type Logger } from './logger';
import { CLIENT_CAPABILITY } from './protocol';
import { Coalesced, CrashBudget } from './restarts';
import { checkServer, checkTrust, describeProblem, resolveInterpreter, serverCommand } from './python';
import {
  describeOptions,
  readLaunchSettings,
  pulledSetting,
  readServerOptions,
  RESTRICTED_MODE_NOTE,
  SECTION,
} from './settings';

export type ServerEvent =
  | { kind: 'starting'; restricted: boolean }
  | { kind: 'running' }
  | { kind: 'crashed'; attempt: number; maxAttempts: number }
  | { kind: 'stopped'; reason: string };

const PYTHON_SETTING = `${SECTION}.server.python`;

function configuration(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

function serverOptions() {
  return readServerOptions(configuration(), vscode.workspace.isTrusted);
}

/**
 * Tells the server that answers are shown in the chat panel, not as pop-ups. It also turns
 * off the server's own progress bars: the status bar item already shows the model loading
 * (one item, not two), and answers show their progress, with Cancel, in the panel.
 */
const panelCapabilities: StaticFeature = {
  fillClientCapabilities(capabilities) {
    capabilities.experimental = {
      ...(capabilities.experimental as object | undefined),
      [CLIENT_CAPABILITY]: { answerPanel: true },
    };
    capabilities.window = { ...capabilities.window, workDoneProgress: false };
  },
  initialize() {},
  getState: () => ({ kind: 'static' }),
  clear() {},
};

/**
 * Answers the server's `workspace/configuration` pulls of the `starchat` section with the same
 * trust-filtered values as initializationOptions (the client would answer with `get()`).
 */
const pullTrustedSettings: NonNullable<NonNullable<Middleware['workspace']>['configuration']> = async (
  params,
  token,
  next,
) => {
  const answers = await next(params, token);
  if (answers instanceof ResponseError) {
    return answers;
  }
  const trusted = vscode.workspace.isTrusted;
  return params.items.map((item, i) => {
    const ours = pulledSetting(configuration(), item.section, trusted);
    return ours === undefined ? answers[i] : ours;
  });
};

export class ServerManager implements vscode.Disposable {
  private current: LanguageClient | undefined;
  private readonly restarts = new Coalesced(() => this.replaceClient());
  private disposed = false;
  private readonly crashes = new CrashBudget();
  /** What the latest start was given (launchInputs), and whether the next one is asked for. */
  private launchedWith: string | undefined;
  private forced = false;
  private readonly stateEmitter = new vscode.EventEmitter<ServerEvent>();
  /** The latest event: a 'stopped' server is not coming back by itself. */
  private lastEvent: ServerEvent | undefined;
  private readonly clientEmitter = new vscode.EventEmitter<LanguageClient>();

  readonly onDidChangeState = this.stateEmitter.event;
  /** Fires for each new client before it starts: register notification handlers here. */
  readonly onDidCreateClient = this.clientEmitter.event;

  /**
   * @param workDir the server's working directory: the extension's global storage, private to
   * the user and outside every workspace.
   */
  constructor(
    private readonly logger: Logger,
    private readonly middleware: Middleware,
    private readonly workDir: string,
  ) {
    this.stateEmitter.event((event) => (this.lastEvent = event));
  }

  /** The client, when the server is up. */
  get client(): LanguageClient | undefined {
    return this.current?.state === State.Running ? this.current : undefined;
  }

  /**
   * The client once the server runs: now, or after the start or restart in progress. Fails
   * with the reason when the server stopped and is not restarting, or when `token` is cancelled.
   */
  whenRunning(token: CancellationToken): Promise<LanguageClient> {
    const now = this.client;
    if (now) {
      return Promise.resolve(now);
    }
    return new Promise((resolve, reject) => {
      const stopped = (reason: string) => new Error(reason.replace(/^StarChat: /, ''));
      const last = this.lastEvent;
      if (last?.kind === 'stopped' && !this.restarts.busy) {
        reject(stopped(last.reason));
        return;
      }
      const done = () => {
        events.dispose();
        cancelled.dispose();
      };
      const events = this.stateEmitter.event((event) => {
        const running = this.client;
        if (event.kind === 'running' && running) {
          done();
          resolve(running);
        } else if (event.kind === 'stopped') {
          done();
          reject(stopped(event.reason));
        }
      });
      const cancelled = token.onCancellationRequested(() => {
        done();
        reject(new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled while waiting for the server'));
      });
    });
  }

  /** Start or restart the server; calls made while one is in flight share one more restart. */
  restart(): Promise<void> {
    this.forced = true;
    return this.restarts.run();
  }

  /**
   * Restart when the interpreter setting or the workspace's trust changed since the last start.
   * Granting trust fires its own event and, a moment later, a configuration change (the
   * restricted settings' workspace values now count): the server starts once for both, with
   * the values it finds after the old one stopped.
   */
  restartIfLaunchChanged(): Promise<void> {
    return this.restarts.run();
  }

  /** Send the current option values to the running server (it validates and applies them). */
  async sendOptions(): Promise<void> {
    const client = this.client;
    if (!client) {
      return;
    }
    const settings = serverOptions();
    this.logger.info(`Sending options: ${describeOptions(settings)}`);
    await client.sendNotification(DidChangeConfigurationNotification.type, { settings });
  }

  private async replaceClient(): Promise<void> {
    if (!this.forced && this.launchInputs().key === this.launchedWith) {
      return;
    }
    this.forced = false;
    await this.stopClient();
    if (this.disposed) {
      return;
    }
    const { trusted, python, key } = this.launchInputs();
    this.launchedWith = key;
    this.stateEmitter.fire({ kind: 'starting', restricted: !trusted });
    if (!trusted) {
      this.logger.warn(RESTRICTED_MODE_NOTE);
    }
    const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    const interpreter = resolveInterpreter(python, folders, trusted);
    this.logger.info(`Python interpreter (${interpreter.source}): ${interpreter.path}`);
    fs.mkdirSync(this.workDir, { recursive: true });
    const allowed = checkTrust(interpreter, folders, trusted);
    const check = allowed.ok ? await checkServer(interpreter.path, this.workDir) : allowed;
    if (!check.ok) {
      const message = describeProblem(interpreter.path, check);
      this.logger.error(`${message} (${check.detail})`);
      this.stateEmitter.fire({ kind: 'stopped', reason: message });
      void this.offerFix(message, check.problem === 'untrusted-interpreter');
      return;
    }
    this.crashes.reset();
    const client = this.createClient(interpreter.path);
    this.current = client;
    this.clientEmitter.fire(client);
    try {
      // Success fires 'running' through onDidChangeState, as the client's own restarts do.
      await client.start();
    } catch (error) {
      const reason = `StarChat: the language server failed to start: ${describeError(error)}`;
      this.logger.error(reason);
      this.stateEmitter.fire({ kind: 'stopped', reason });
    }
  }

  /** What the process depends on beyond the options it is sent; see restartIfLaunchChanged. */
  private launchInputs(): { trusted: boolean; python: string; key: string } {
    const trusted = vscode.workspace.isTrusted;
    const { python } = readLaunchSettings(configuration(), trusted);
    return { trusted, python, key: JSON.stringify([trusted, python]) };
  }

  private createClient(python: string): LanguageClient {
    // No `transport`: TransportKind.stdio would append a `--stdio` argument the server rejects.
    const launch: LaunchOptions = {
      ...serverCommand(python, serverLogLevel(this.logger.logLevel)),
      options: { cwd: this.workDir },
    };
    const options: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.logger,
      traceOutputChannel: this.logger,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      stdioOptions: {
        stdout: (input) => pipeServerOutput(input, this.logger),
        stderr: (input) => pipeServerOutput(input, this.logger),
      },
      initializationOptions: () => serverOptions(),
      middleware: {
        ...this.middleware,
        workspace: { ...this.middleware.workspace, configuration: pullTrustedSettings },
      },
      errorHandler: {
        error: (_error, _message, count) => ({
          action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
        }),
        closed: () => this.onServerClosed(),
      },
    };
    const client = new LanguageClient('starchat', 'StarChat', launch, options);
    client.registerFeature(panelCapabilities);
    client.onDidChangeState(({ newState }) => {
      if (client === this.current && newState === State.Running) {
        this.stateEmitter.fire({ kind: 'running' });
      }
    });
    return client;
  }

  private onServerClosed(): { action: CloseAction; message: string; handled: boolean } {
    const attempt = this.crashes.record(Date.now());
    const max = this.crashes.maxRestarts;
    if (attempt <= max) {
      const message = `The StarChat server stopped unexpectedly; restarting it (${attempt} of ${max}).`;
      this.logger.warn(message);
      this.stateEmitter.fire({ kind: 'crashed', attempt, maxAttempts: max });
      return { action: CloseAction.Restart, message, handled: true };
    }
    const message =
      `The StarChat server crashed ${attempt} times in a few minutes and was not restarted. ` +
      'See the logs, then run "StarChat: Restart Server".';
    this.logger.error(message);
    this.stateEmitter.fire({ kind: 'stopped', reason: message });
    void vscode.window.showErrorMessage(message, 'Show Logs').then((choice) => {
      if (choice) {
        this.logger.show();
      }
    });
    return { action: CloseAction.DoNotRestart, message, handled: true };
  }

  private async offerFix(message: string, untrusted: boolean): Promise<void> {
    const trust = 'Manage Workspace Trust';
    const choice = await vscode.window.showErrorMessage(
      message,
      ...(untrusted ? [trust] : []),
      'Open Setting',
      'Show Logs',
    );
    if (choice === trust) {
      await vscode.commands.executeCommand('workbench.trust.manage');
    } else if (choice === 'Open Setting') {
      // In a remote window (code-server, SSH) machine-overridable settings live in the remote
      // machine's settings; the User tab would show nothing.
      const query = `@id:${PYTHON_SETTING}`;
      if (vscode.env.remoteName) {
        await vscode.commands.executeCommand('workbench.action.openRemoteSettings', { query });
      } else {
        await vscode.commands.executeCommand('workbench.action.openSettings', query);
      }
    } else if (choice === 'Show Logs') {
      this.logger.show();
    }
  }

  private async stopClient(): Promise<void> {
    const client = this.current;
    this.current = undefined;
    if (!client) {
      return;
    }
    try {
      if (client.needsStop()) {
        await client.stop(5_000);
      }
      await client.dispose();
    } catch (error) {
      this.logger.warn(`Stopping the server: ${describeError(error)}`);
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.stopClient();
    this.stateEmitter.dispose();
    this.clientEmitter.dispose();
  }
}
