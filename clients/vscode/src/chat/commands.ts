/**
 * The code actions as the user names them: titles (transcript, palette) and the slash
 * commands typed in the chat panel or VS Code's Chat view.
 */
import type { ActionName } from '../common/protocol';

export const ACTION_TITLES: Record<ActionName, string> = {
  explain: 'Explain',
  fix: 'Fix',
  writeTests: 'Write tests',
  addDocstring: 'Add docstring',
  improve: 'Improve',
};

/** `/name` → action (package.json's chat participant declares the same names). */
export const SLASH_COMMANDS: Record<string, ActionName> = {
  explain: 'explain',
  fix: 'fix',
  tests: 'writeTests',
  doc: 'addDocstring',
  improve: 'improve',
};

export type Slash = { action: ActionName; name: string } | { unknown: string } | undefined;

/** A message that starts with `/word`: a known command, an unknown one, or undefined for
 * plain text. */
export function parseSlash(message: string): Slash {
  const match = /^\/(\w+)(?:\s|$)/.exec(message.trim());
  if (!match) {
    return undefined;
  }
  const name = match[1]!;
  const action = SLASH_COMMANDS[name];
  return action ? { action, name } : { unknown: name };
}

export function slashList(): string {
  const names = Object.keys(SLASH_COMMANDS).map((n) => `/${n}`);
  return `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}
