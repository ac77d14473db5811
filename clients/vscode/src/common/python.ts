/**
 * Which Python runs the language server, and whether it can.
 *
 * The interpreter comes from `starchat.server.python`, else the project's own virtual
 * environment (`.venv` or `venv` in a workspace folder, only in a trusted workspace: running
 * it executes the project's code), else `python3`. Before launching, a quick probe tells a
 * missing interpreter, a too-old Python and a missing package apart, so the user is told
 * exactly what to fix instead of seeing a stack trace from a dead server.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const SERVER_MODULE = 'starchat.server';
export const SERVER_PACKAGE = 'starchat-lsp';
export const MIN_PYTHON = [3, 11] as const;

export interface Interpreter {
  path: string;
  source: 'setting' | 'project' | 'default';
}

const VENV_NAMES = ['.venv', 'venv'];

function venvPython(venv: string): string {
  return process.platform === 'win32' ? path.join(venv, 'Scripts', 'python.exe') : path.join(venv, 'bin', 'python');
}

/** Expand `~` and `${workspaceFolder}` the way users write paths in settings. */
function expand(setting: string, folders: readonly string[]): string {
  let value = setting;
  if (value === '~' || value.startsWith('~/')) {
    value = path.join(os.homedir(), value.slice(1));
  }
  if (folders.length > 0) {
    value = value.replace(/\$\{workspaceFolder\}/g, folders[0]!);
  }
  return value;
}

export function resolveInterpreter(
  setting: string,
  folders: readonly string[],
  trusted: boolean,
  exists: (file: string) => boolean = fs.existsSync,
): Interpreter {
  if (setting !== '') {
    return { path: expand(setting, folders), source: 'setting' };
  }
  if (trusted) {
    for (const folder of folders) {
      for (const name of VENV_NAMES) {
        const candidate = venvPython(path.join(folder, name));
        if (exists(candidate)) {
          return { path: candidate, source: 'project' };
        }
      }
    }
  }
  return { path: process.platform === 'win32' ? 'python' : 'python3', source: 'default' };
}

export type ServerCheck =
  | { ok: true }
  | { ok: false; problem: 'interpreter-missing' | 'python-too-old' | 'package-missing'; detail: string };

/** Exit codes of the probe below. */
const TOO_OLD = 4;
const NO_PACKAGE = 3;

const PROBE = [
  'import importlib.util, sys',
  `if sys.version_info < (${MIN_PYTHON.join(', ')}):`,
  `    print("%d.%d" % sys.version_info[:2]); sys.exit(${TOO_OLD})`,
  'try:',
  `    found = importlib.util.find_spec(${JSON.stringify(SERVER_MODULE)}) is not None`,
  'except ImportError:',
  '    found = False',
  `sys.exit(0 if found else ${NO_PACKAGE})`,
].join('\n');

export function checkServer(python: string, timeoutMs = 30_000): Promise<ServerCheck> {
  return new Promise((resolve) => {
    execFile(python, ['-c', PROBE], { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (!error) {
        resolve({ ok: true });
        return;
      }
      const code: unknown = (error as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'EACCES') {
        resolve({ ok: false, problem: 'interpreter-missing', detail: error.message });
      } else if (code === TOO_OLD) {
        resolve({ ok: false, problem: 'python-too-old', detail: stdout.trim() });
      } else if (code === NO_PACKAGE) {
        resolve({ ok: false, problem: 'package-missing', detail: stderr.trim() });
      } else {
        resolve({ ok: false, problem: 'interpreter-missing', detail: `${error.message} ${stderr}`.trim() });
      }
    });
  });
}

/** The sentence shown to the user for a failed check: what is wrong and what to run. */
export function describeProblem(python: string, check: Exclude<ServerCheck, { ok: true }>): string {
  const minimum = MIN_PYTHON.join('.');
  switch (check.problem) {
    case 'interpreter-missing':
      return (
        `StarChat: cannot run the Python interpreter "${python}". Set "starchat.server.python" ` +
        `to a Python ${minimum}+ interpreter that has the ${SERVER_PACKAGE} package ` +
        `(pip install ${SERVER_PACKAGE}).`
      );
    case 'python-too-old':
      return (
        `StarChat: "${python}" is Python ${check.detail}; the StarChat server needs Python ` +
        `${minimum} or newer. Set "starchat.server.python" to a newer interpreter.`
      );
    case 'package-missing':
      return (
        `StarChat: "${python}" does not have the StarChat language server. Install it with: ` +
        `${python} -m pip install ${SERVER_PACKAGE}`
      );
  }
}
