/**
 * Settings: read the `starchat.*` configuration (declared once, in package.json) and map it
 * to what the server and the launcher need.
 *
 * The server's options are the settings of the same name minus the `starchat.` prefix, sent
 * whole every time: the server applies each key it receives on top of its current values, so
 * leaving a cleared setting out would keep its old value there. Empty values ("" or 0 where
 * package.json says so) mean "the built-in default" on both sides.
 *
 * Workspace trust: a repository's `.vscode/settings.json` must not choose what runs (the
 * interpreter, the chat and completion models, which weights load where) or where the user's
 * code is sent (the backend and its URL). In an untrusted workspace those settings are read from the user's
 * (and remote machine's) settings and the defaults only. VS Code drops restricted workspace
 * values by itself when package.json lists them; reading through `inspect()` here keeps that
 * true for hosts that don't, and for a list that drifts (a unit test compares the two).
 */
import type * as vscode from 'vscode';

export const SECTION = 'starchat';

/** The settings that become server options (initializationOptions / didChangeConfiguration). */
export const SERVER_OPTION_KEYS = [
  'model',
  'backend',
  'backendUrl',
  'device',
  'dtype',
  'maxNewTokens',
  'temperature',
  'topP',
  'topK',
  'systemPrompt',
  'contextTokens',
  'edits.preview',
  'workspaceContextTokens',
  'exclude',
  'completionModel',
  'fimFormat',
  'maxCompletionTokens',
  'completionPrefixTokens',
  'completionSuffixTokens',
  'promptLookup',
  'kvCacheMB',
  'compile',
] as const;

export type ServerOptionKey = (typeof SERVER_OPTION_KEYS)[number];

export interface ServerOptions {
  model: string;
  backend: 'transformers' | 'openai';
  backendUrl: string;
  device: string;
  dtype: 'auto' | 'bfloat16' | 'float16' | 'float32';
  maxNewTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  systemPrompt: string;
  contextTokens: number;
  /** A dotted setting is one flat key (`edits.preview`); the server reads it so. */
  'edits.preview': boolean;
  workspaceContextTokens: number;
  exclude: string[];
  /** The model behind ghost text; "" = the chat model. */
  completionModel: string;
  fimFormat: FimFormat;
  maxCompletionTokens: number;
  completionPrefixTokens: number;
  completionSuffixTokens: number;
  /** Prompt-lookup decoding for rewrites and questions about code (local models). */
  promptLookup: boolean;
  /** Megabytes of key/value caches kept between a conversation's turns; 0 = off. */
  kvCacheMB: number;
  /** CUDA: decode with a static cache compiled by torch.compile (reloads the model). */
  compile: boolean;
}

/** How a completion prompt marks the code before and after the cursor; `auto`: the model's own
 * tokens, `none`: no infilling (the code before the cursor only). */
export type FimFormat = 'auto' | 'starcoder' | 'codellama' | 'deepseek-coder' | 'qwen2.5-coder' | 'codegemma' | 'none';

/**
 * Settings (without the `starchat.` prefix) whose workspace values need a trusted workspace;
 * package.json's `capabilities.untrustedWorkspaces.restrictedConfigurations` lists the same.
 */
export const TRUST_REQUIRED = ['server.python', 'model', 'completionModel', 'backend', 'backendUrl', 'device'] as const;

/** What the log and the status bar say about those settings in an untrusted workspace. */
export const RESTRICTED_MODE_NOTE =
  'Restricted Mode: starchat.server.python, model, completionModel, backend, backendUrl and device come from user ' +
  'settings only; workspace values apply once the workspace is trusted.';

/** A setting's value, with workspace and folder values left out when they need trust. */
export function readSetting<T>(config: vscode.WorkspaceConfiguration, key: string, trusted: boolean): T | undefined {
  if (trusted || !(TRUST_REQUIRED as readonly string[]).includes(key)) {
    return config.get<T>(key);
  }
  const scopes = config.inspect<T>(key);
  return scopes?.globalValue ?? scopes?.defaultValue;
}

/**
 * The answer to the server's `workspace/configuration` pull of `section`, with the same trust
 * filter as the options it is sent: the whole `starchat` section, or one `starchat.*` setting
 * (null when it has no value). undefined: not a StarChat section.
 */
export function pulledSetting(
  config: vscode.WorkspaceConfiguration,
  section: string | undefined,
  trusted: boolean,
): unknown {
  if (section === SECTION) {
    return readServerOptions(config, trusted);
  }
  if (section?.startsWith(`${SECTION}.`)) {
    return readSetting(config, section.slice(SECTION.length + 1), trusted) ?? null;
  }
  return undefined;
}

/** Settings that only change how the server process is started: a change needs a restart. */
export const LAUNCH_SECTION = `${SECTION}.server`;

export interface LaunchSettings {
  /** The configured interpreter; "" asks for detection. */
  python: string;
}

export function readServerOptions(config: vscode.WorkspaceConfiguration, trusted: boolean): ServerOptions {
  const options: Record<string, unknown> = {};
  for (const key of SERVER_OPTION_KEYS) {
    const value = readSetting<unknown>(config, key, trusted);
    // The system prompt is text the user wrote; other strings are names, paths and URLs.
    options[key] = typeof value === 'string' && key !== 'systemPrompt' ? value.trim() : value;
  }
  return options as unknown as ServerOptions;
}

/** The options as JSON for the log, without credentials embedded in the backend URL. */
export function describeOptions(options: ServerOptions): string {
  return JSON.stringify({ ...options, backendUrl: withoutCredentials(options.backendUrl) });
}

function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') {
      return url;
    }
    parsed.username = '***';
    parsed.password = '';
    return parsed.toString();
  } catch {
    // Not a URL (the server says so); it can still hold a `user:secret@` part.
    return url.replace(/\/\/[^/@]*@/, '//***@');
  }
}

export function readLaunchSettings(config: vscode.WorkspaceConfiguration, trusted: boolean): LaunchSettings {
  return { python: (readSetting<string>(config, 'server.python', trusted) ?? '').trim() };
}

export function affectsServerOptions(event: vscode.ConfigurationChangeEvent): boolean {
  return SERVER_OPTION_KEYS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`));
}

export function affectsLaunch(event: vscode.ConfigurationChangeEvent): boolean {
  return event.affectsConfiguration(LAUNCH_SECTION);
}
