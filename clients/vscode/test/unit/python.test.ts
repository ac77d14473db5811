import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';

import {
  checkServer,
  checkTrust,
  describeProblem,
  resolveInterpreter,
  serverCommand,
  SERVER_MODULE,
} from '../../src/common/python';

const REPO = path.resolve(__dirname, '..', '..', '..', '..', '..');
/** The interpreter the project's own tests use (scripts/test.sh sets it). */
const PROJECT_PYTHON = process.env['STARCHAT_PYTHON'] ?? path.join(REPO, '.venv', 'bin', 'python');

/** The project's interpreter with site-packages switched off (-S): a Python without the package. */
function pythonWithoutPackages(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'starchat-py-'));
  const wrapper = path.join(dir, 'python');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec "${PROJECT_PYTHON}" -S "$@"\n`, { mode: 0o755 });
  return wrapper;
}

describe('choosing the interpreter', () => {
  const exists = (file: string) => file === '/w/.venv/bin/python';

  test('the setting wins, with ~ and ${workspaceFolder} expanded', () => {
    assert.deepEqual(resolveInterpreter('${workspaceFolder}/env/bin/python', ['/w'], true, exists), {
      path: '/w/env/bin/python',
      source: 'setting',
    });
    assert.ok(!resolveInterpreter('~/py/bin/python', [], true, exists).path.startsWith('~'));
  });

  test("the project's virtual environment, in a trusted workspace only", () => {
    assert.deepEqual(resolveInterpreter('', ['/w'], true, exists), { path: '/w/.venv/bin/python', source: 'project' });
    assert.equal(resolveInterpreter('', ['/w'], false, exists).source, 'default');
  });

  test('a relative path is relative to the first workspace folder', () => {
    assert.equal(resolveInterpreter('env/bin/python', ['/w'], true, exists).path, '/w/env/bin/python');
    assert.equal(resolveInterpreter('python3.12', ['/w'], true, exists).path, 'python3.12', 'bare names use PATH');
  });

  test('else python3', () => {
    assert.deepEqual(resolveInterpreter('', ['/elsewhere'], true, exists), { path: 'python3', source: 'default' });
  });
});

describe('an interpreter inside an untrusted workspace', () => {
  const folders = ['/w'];
  const fromSetting = (setting: string) => resolveInterpreter(setting, folders, false, () => false);

  test('is refused, naming the folder and what to do', () => {
    for (const setting of ['${workspaceFolder}/.venv/bin/python', 'tools/python', '/w/bin/python']) {
      const check = checkTrust(fromSetting(setting), folders, false);
      assert.equal(check.ok, false, setting);
      if (!check.ok) {
        assert.equal(check.problem, 'untrusted-interpreter');
        assert.match(
          describeProblem(fromSetting(setting).path, check),
          /inside the workspace folder \/w.*Trust the workspace/,
        );
      }
    }
  });

  test('runs once the workspace is trusted; one outside it runs either way', () => {
    assert.deepEqual(checkTrust(fromSetting('${workspaceFolder}/.venv/bin/python'), folders, true), { ok: true });
    assert.deepEqual(checkTrust(fromSetting('/opt/py/bin/python'), folders, false), { ok: true });
    assert.deepEqual(
      checkTrust(fromSetting('/work/bin/python'), folders, false),
      { ok: true },
      '/work is not inside /w',
    );
  });
});

/**
 * A repository that plants packages Python would import before the real ones; each writes a
 * marker file when imported.
 */
function hostileWorkspace(): { folder: string; markers: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'starchat-hostile-'));
  const folder = path.join(root, 'workspace');
  const markers = path.join(root, 'markers');
  fs.mkdirSync(markers);
  const plant = (file: string) => {
    const name = path.join(folder, file);
    fs.mkdirSync(path.dirname(name), { recursive: true });
    const marker = path.join(markers, file.replace(/[\\/]/g, '_'));
    fs.writeFileSync(name, `open(${JSON.stringify(marker)}, "w").write("ran")\n`);
  };
  for (const file of ['starchat/__init__.py', 'pygls/__init__.py', 'sitecustomize.py', 'usercustomize.py']) {
    plant(file);
  }
  return { folder, markers };
}

describe("the workspace's code never runs", () => {
  test('the probe, run from inside a hostile folder, imports nothing from it', async () => {
    const { folder, markers } = hostileWorkspace();
    assert.deepEqual(await checkServer(PROJECT_PYTHON, folder), { ok: true });
    assert.deepEqual(fs.readdirSync(markers), []);
  });

  test('the server command ignores the working directory and PYTHONPATH', async () => {
    const { folder, markers } = hostileWorkspace();
    const { command, args } = serverCommand(PROJECT_PYTHON, 'info');
    const env = { ...process.env, PYTHONPATH: folder };
    await promisify(execFile)(command, [...args, '--help'], { cwd: folder, env });
    assert.deepEqual(fs.readdirSync(markers), []);
  });

  test('without those flags the same folder would have run its code (what this guards against)', async () => {
    const { folder, markers } = hostileWorkspace();
    await promisify(execFile)(PROJECT_PYTHON, ['-m', SERVER_MODULE, '--help'], { cwd: folder }).catch(() => undefined);
    assert.ok(fs.readdirSync(markers).includes('starchat___init__.py'));
  });
});

describe('checking the interpreter', () => {
  test('a missing interpreter is reported as such, naming the setting', async () => {
    const check = await checkServer('/nonexistent/bin/python', os.tmpdir());
    assert.equal(check.ok, false);
    if (!check.ok) {
      assert.equal(check.problem, 'interpreter-missing');
      assert.match(describeProblem('/nonexistent/bin/python', check), /starchat\.server\.python/);
    }
  });

  test('an interpreter without the package gets the exact install command', async () => {
    const python = pythonWithoutPackages();
    const check = await checkServer(python, os.tmpdir());
    assert.equal(check.ok, false);
    if (!check.ok) {
      assert.equal(check.problem, 'package-missing');
      assert.equal(
        describeProblem(python, check),
        `StarChat: "${python}" does not have the StarChat language server. Install it with: ${python} -m pip install starchat-lsp`,
      );
    }
  });

  test("the project's environment has the server", async () => {
    assert.deepEqual(await checkServer(PROJECT_PYTHON, os.tmpdir()), { ok: true });
  });
});
