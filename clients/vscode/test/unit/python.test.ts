import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import { checkServer, describeProblem, resolveInterpreter } from '../../src/common/python';

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

  test('else python3', () => {
    assert.deepEqual(resolveInterpreter('', ['/elsewhere'], true, exists), { path: 'python3', source: 'default' });
  });
});

describe('checking the interpreter', () => {
  test('a missing interpreter is reported as such, naming the setting', async () => {
    const check = await checkServer('/nonexistent/bin/python');
    assert.equal(check.ok, false);
    if (!check.ok) {
      assert.equal(check.problem, 'interpreter-missing');
      assert.match(describeProblem('/nonexistent/bin/python', check), /starchat\.server\.python/);
    }
  });

  test('an interpreter without the package gets the exact install command', async () => {
    const python = pythonWithoutPackages();
    const check = await checkServer(python);
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
    assert.deepEqual(await checkServer(PROJECT_PYTHON), { ok: true });
  });
});
