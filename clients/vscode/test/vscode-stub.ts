/**
 * A small stand-in for the `vscode` module so unit tests run under plain Node. Configuration
 * reads the defaults declared in package.json (overridable per test with `setUserSettings` and
 * `setWorkspaceSettings`, the repository's `.vscode/settings.json`), so tests see exactly what
 * a user with no settings sees.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Module from 'node:module';

interface PropertySchema {
  default?: unknown;
}

export const packageJson = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  capabilities: { untrustedWorkspaces: { supported: string | boolean; restrictedConfigurations?: string[] } };
  contributes: {
    configuration: { properties: Record<string, PropertySchema & Record<string, unknown>> };
    commands: { command: string }[];
  };
};

let userSettings: Record<string, unknown> = {};
let workspaceSettings: Record<string, unknown> = {};

/** Settings as a user would write them in settings.json (full keys, e.g. "starchat.model"). */
export function setUserSettings(settings: Record<string, unknown>): void {
  userSettings = { ...settings };
}

/** Settings as a repository's `.vscode/settings.json` would hold them; they win over the user's. */
export function setWorkspaceSettings(settings: Record<string, unknown>): void {
  workspaceSettings = { ...settings };
}

function getConfiguration(section?: string) {
  const prefix = section ? `${section}.` : '';
  const declaredDefault = (full: string): unknown => {
    const declared = packageJson.contributes.configuration.properties[full];
    return declared && 'default' in declared ? declared.default : undefined;
  };
  return {
    get<T>(key: string, fallback?: T): T | undefined {
      const full = prefix + key;
      for (const scope of [workspaceSettings, userSettings]) {
        if (full in scope) {
          return scope[full] as T;
        }
      }
      return (declaredDefault(full) as T | undefined) ?? fallback;
    },
    inspect<T>(key: string) {
      const full = prefix + key;
      return {
        key: full,
        defaultValue: declaredDefault(full) as T | undefined,
        globalValue: userSettings[full] as T | undefined,
        workspaceValue: workspaceSettings[full] as T | undefined,
      };
    },
    has(key: string): boolean {
      return prefix + key in packageJson.contributes.configuration.properties;
    },
  };
}

class EventEmitter<T> {
  private listeners: ((value: T) => void)[] = [];
  readonly event = (listener: (value: T) => void) => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(value: T): void {
    for (const l of this.listeners) {
      l(value);
    }
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class StatusBarItem {
  text = '';
  tooltip: unknown;
  command: unknown;
  name: string | undefined;
  backgroundColor: unknown;
  accessibilityInformation: unknown;
  visible = false;
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {}
}

export const createdStatusBarItems: StatusBarItem[] = [];

export const vscodeStub = {
  workspace: { getConfiguration, workspaceFolders: undefined, isTrusted: true },
  window: {
    createStatusBarItem: () => {
      const item = new StatusBarItem();
      createdStatusBarItems.push(item);
      return item;
    },
    createOutputChannel: () => ({
      trace() {},
      debug() {},
      info() {},
      warn() {},
      error() {},
      show() {},
      dispose() {},
    }),
  },
  StatusBarAlignment: { Left: 1, Right: 2 },
  LogLevel: { Off: 0, Trace: 1, Debug: 2, Info: 3, Warning: 4, Error: 5 },
  ThemeColor: class {
    constructor(readonly id: string) {}
  },
  EventEmitter,
  InlineCompletionTriggerKind: { Invoke: 0, Automatic: 1 },
};

type Loader = (request: string, parent: unknown, isMain: boolean) => unknown;
const moduleWithLoad = Module as unknown as { _load: Loader };
const originalLoad = moduleWithLoad._load;
moduleWithLoad._load = function load(request, parent, isMain) {
  if (request === 'vscode') {
    return vscodeStub;
  }
  return originalLoad.call(this, request, parent, isMain);
};
