/**
 * Which Python runs the language server, and whether it can.
 *
 * The interpreter comes from `starchat.server.python`, else the project's own virtual
 * environment (`.venv` or `venv` in a workspace folder, only in a trusted workspace: running
 * it executes the project's code), else `python3`. Before launching, a quick probe tells a
 * missing interpreter, a too-old Python and a missing package apart, so the user is told
 * exactly what to fix instead of seeing a stack trace from a dead server.
 *
 * Nothing the opened workspace holds may run unless the workspace is trusted. Python puts the
 * working directory (or the script's folder) first on `sys.path` and reads `PYTHONPATH`, so
 * a `pygls/` or `starchat/` package in a repository would be imported instead of the real one.
 * The probe and the server therefore run in a folder of the extension's own (never the
 * workspace: a workspace folder named like a Hub id would also shadow that model), and the
 * server with `-E -P`: `-P` keeps the working directory off `sys.path`, `-E` ignores every
 * `PYTHON*` variable. That is `-I` without `-s`: `-s` would also hide user site-packages,
 * where `pip install --user starchat-lsp` puts the server for a plain `python3` (a virtual
 * environment has no user site either way).
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

/**
 * Expand `~` and `${workspaceFolder}` the way users write paths in settings; a relative path
 * is relative to the first workspace folder (a bare name such as `python3` is looked up on
 * PATH).
 */
function expand(setting: string, folders: readonly string[]): string {
  let value = setting;
  if (value === '~' || value.startsWith('~/')) {
    value = path.join(os.homedir(), value.slice(1));
  }
  if (folders.length > 0) {
    value = value.replace(/\$\{workspaceFolder\}/g, folders[0]!);
    if (!path.isAbsolute(value) && /[\\/]/.test(value)) {
      value = path.resolve(folders[0]!, value);
    }
  }
  return value;
}

/** The workspace folder that holds `file`, if any. */
export function folderHolding(file: string, folders: readonly string[]): string | undefined {
  return folders.find((folder) => {
    const relative = path.relative(folder, file);
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
  });
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
  | {
      ok: false;
      problem: 'interpreter-missing' | 'python-too-old' | 'package-missing' | 'untrusted-interpreter';
      detail: string;
    };

/**
 * An interpreter inside an untrusted workspace (a user setting such as
 * `${workspaceFolder}/.venv/bin/python`) would run the repository's code: refused until the
 * workspace is trusted.
 */
export function checkTrust(interpreter: Interpreter, folders: readonly string[], trusted: boolean): ServerCheck {
  const folder = trusted ? undefined : folderHolding(interpreter.path, folders);
  return folder === undefined ? { ok: true } : { ok: false, problem: 'untrusted-interpreter', detail: folder };
}

/** Exit codes of the probe below. */
const TOO_OLD = 4;
const NO_PACKAGE = 3;

// `-P` is Python 3.11+ and the probe must tell older ones apart, so it drops the working
// directory from sys.path itself (`sys` is built in: nothing can shadow it).
const PROBE = [
  'import sys',
  'if not getattr(sys.flags, "safe_path", False): del sys.path[0]',
  'import importlib.util',
  `if sys.version_info < (${MIN_PYTHON.join(', ')}):`,
  `    print("%d.%d" % sys.version_info[:2]); sys.exit(${TOO_OLD})`,
  'try:',
  `    found = importlib.util.find_spec(${JSON.stringify(SERVER_MODULE)}) is not None`,
  'except ImportError:',
  '    found = False',
  `sys.exit(0 if found else ${NO_PACKAGE})`,
].join('\n');

/** Python's flags for the probe and the server: see the module comment. */
const ISOLATED = ['-E'];

/**
 * The command that runs the server: `-P` on top of the probe's flags, and `-u` because `-E`
 * also ignores PYTHONUNBUFFERED (log lines should reach the log as they are written).
 */
export function serverCommand(python: string, logLevel: string): { command: string; args: string[] } {
  return { command: python, args: [...ISOLATED, '-P', '-u', '-m', SERVER_MODULE, '--log-level', logLevel] };
}

/** Probe `python` from `cwd` (a folder of the extension's own, not the workspace). */
export function checkServer(python: string, cwd: string, timeoutMs = 30_000): Promise<ServerCheck> {
  return new Promise((resolve) => {
    execFile(python, [...ISOLATED, '-c', PROBE], { cwd, timeout: timeoutMs }, (error, stdout, stderr) => {
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
    case 'untrusted-interpreter':
      return (
        `StarChat: the interpreter "${python}" is inside the workspace folder ${check.detail}, ` +
        "which is not trusted; running it would run the repository's code. Trust the workspace, " +
        'or set "starchat.server.python" to an interpreter outside it.'
      );
  }
}
