/**
 * The language server's lifecycle: launch `python -m starchat.server` over stdio, restart it
 * when its launch settings change (coalesced: one restart in flight, at most one queued),
 * forward option changes, and restart it after a crash a bounded number of times.
 *
 * Everyone else sees the server through `onDidChangeState` and the `client` property, and
 * registers notification handlers through `onDidCreateClient` (the language client keeps them
 * across its own crash restarts).
 */
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

import { describeError, pipeServerOutput, serverLogLevel, type Logger } from './logger';
import { CLIENT_CAPABILITY } from './protocol';
import { Coalesced, CrashBudget } from './restarts';
import { checkServer, describeProblem, resolveInterpreter, SERVER_MODULE } from './python';
import { readLaunchSettings, readServerOptions, SECTION } from './settings';

export type ServerEvent =
  | { kind: 'starting' }
  | { kind: 'running' }
  | { kind: 'crashed'; attempt: number; maxAttempts: number }
  | { kind: 'stopped'; reason: string };

const PYTHON_SETTING = `${SECTION}.server.python`;

function configuration(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

/** Tells the server that Explain's answers are shown in the chat panel, not as pop-ups. */
const answerPanelCapability: StaticFeature = {
  fillClientCapabilities(capabilities) {
    capabilities.experimental = {
      ...(capabilities.experimental as object | undefined),
      [CLIENT_CAPABILITY]: { answerPanel: true },
    };
  },
  initialize() {},
  getState: () => ({ kind: 'static' }),
  clear() {},
};

export class ServerManager implements vscode.Disposable {
  private current: LanguageClient | undefined;
  private readonly restarts = new Coalesced(() => this.replaceClient());
  private disposed = false;
  private readonly crashes = new CrashBudget();
  private readonly stateEmitter = new vscode.EventEmitter<ServerEvent>();
  private readonly clientEmitter = new vscode.EventEmitter<LanguageClient>();

  readonly onDidChangeState = this.stateEmitter.event;
  /** Fires for each new client before it starts: register notification handlers here. */
  readonly onDidCreateClient = this.clientEmitter.event;

  constructor(
    private readonly logger: Logger,
    private readonly middleware: Middleware,
  ) {}

  /** The client, when the server is up. */
  get client(): LanguageClient | undefined {
    return this.current?.state === State.Running ? this.current : undefined;
  }

  /** Start or restart the server; calls made while one is in flight share one more restart. */
  restart(): Promise<void> {
    return this.restarts.run();
  }

  /** Send the current option values to the running server (it validates and applies them). */
  async sendOptions(): Promise<void> {
    const client = this.client;
    if (!client) {
      return;
    }
    const settings = readServerOptions(configuration());
    this.logger.info(`Sending options: ${JSON.stringify(settings)}`);
    await client.sendNotification(DidChangeConfigurationNotification.type, { settings });
  }

  private async replaceClient(): Promise<void> {
    await this.stopClient();
    if (this.disposed) {
      return;
    }
    this.stateEmitter.fire({ kind: 'starting' });
    const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    const interpreter = resolveInterpreter(
      readLaunchSettings(configuration()).python,
      folders,
      vscode.workspace.isTrusted,
    );
    this.logger.info(`Python interpreter (${interpreter.source}): ${interpreter.path}`);
    const check = await checkServer(interpreter.path);
    if (!check.ok) {
      const message = describeProblem(interpreter.path, check);
      this.logger.error(`${message} (${check.detail})`);
      this.stateEmitter.fire({ kind: 'stopped', reason: message });
      void this.offerSetting(message);
      return;
    }
    this.crashes.reset();
    const client = this.createClient(interpreter.path, folders[0]);
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

  private createClient(python: string, cwd: string | undefined): LanguageClient {
    // No `transport`: TransportKind.stdio would append a `--stdio` argument the server rejects.
    const launch: LaunchOptions = {
      command: python,
      args: ['-m', SERVER_MODULE, '--log-level', serverLogLevel(this.logger.logLevel)],
      options: { cwd, env: { ...process.env, PYTHONUNBUFFERED: '1' } },
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
      initializationOptions: () => readServerOptions(configuration()),
      middleware: this.middleware,
      errorHandler: {
        error: (_error, _message, count) => ({
          action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
        }),
        closed: () => this.onServerClosed(),
      },
    };
    const client = new LanguageClient('starchat', 'StarChat', launch, options);
    client.registerFeature(answerPanelCapability);
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

  private async offerSetting(message: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(message, 'Open Setting', 'Show Logs');
    if (choice === 'Open Setting') {
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
