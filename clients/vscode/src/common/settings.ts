/**
 * Settings: read the `starchat.*` configuration (declared once, in package.json) and map it
 * to what the server and the launcher need.
 *
 * The server's options are the settings of the same name minus the `starchat.` prefix, sent
 * whole every time: the server applies each key it receives on top of its current values, so
 * leaving a cleared setting out would keep its old value there. Empty values ("" or 0 where
 * package.json says so) mean "the built-in default" on both sides.
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
}

/** Settings that only change how the server process is started: a change needs a restart. */
export const LAUNCH_SECTION = `${SECTION}.server`;

export interface LaunchSettings {
  /** The configured interpreter; "" asks for detection. */
  python: string;
}

export function readServerOptions(config: vscode.WorkspaceConfiguration): ServerOptions {
  const options: Record<string, unknown> = {};
  for (const key of SERVER_OPTION_KEYS) {
    const value = config.get<unknown>(key);
    // The system prompt is text the user wrote; other strings are names, paths and URLs.
    options[key] = typeof value === 'string' && key !== 'systemPrompt' ? value.trim() : value;
  }
  return options as unknown as ServerOptions;
}

export function readLaunchSettings(config: vscode.WorkspaceConfiguration): LaunchSettings {
  return { python: (config.get<string>('server.python') ?? '').trim() };
}

export function affectsServerOptions(event: vscode.ConfigurationChangeEvent): boolean {
  return SERVER_OPTION_KEYS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`));
}

export function affectsLaunch(event: vscode.ConfigurationChangeEvent): boolean {
  return event.affectsConfiguration(LAUNCH_SECTION);
}
