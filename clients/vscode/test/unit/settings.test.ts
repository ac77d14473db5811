import { packageJson, setUserSettings, setWorkspaceSettings } from '../vscode-stub';

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import * as vscode from 'vscode';

import {
  affectsLaunch,
  affectsServerOptions,
  describeOptions,
  pulledSetting,
  readLaunchSettings,
  readServerOptions,
  SECTION,
  SERVER_OPTION_KEYS,
  TRUST_REQUIRED,
} from '../../src/common/settings';

const properties = packageJson.contributes.configuration.properties;
const config = () => vscode.workspace.getConfiguration(SECTION);

function changeEvent(...changed: string[]): vscode.ConfigurationChangeEvent {
  return {
    affectsConfiguration: (section: string) => changed.some((key) => key === section || key.startsWith(`${section}.`)),
  };
}

describe('settings declared in package.json', () => {
  test('every server option is a starchat.* setting', () => {
    for (const key of SERVER_OPTION_KEYS) {
      assert.ok(properties[`starchat.${key}`], `package.json lacks starchat.${key}`);
    }
  });

  test('every setting has a type, scope, description and default', () => {
    for (const [name, schema] of Object.entries(properties)) {
      assert.ok(name.startsWith('starchat.'), name);
      assert.ok(schema['type'], `${name}: type`);
      assert.ok(schema['scope'], `${name}: scope`);
      assert.ok(schema['description'] ?? schema['markdownDescription'], `${name}: description`);
      assert.ok('default' in schema, `${name}: default`);
    }
  });

  test('enums describe each value', () => {
    for (const [name, schema] of Object.entries(properties)) {
      const values = schema['enum'] as unknown[] | undefined;
      if (values) {
        assert.equal((schema['enumDescriptions'] as unknown[]).length, values.length, name);
        assert.ok(values.includes(schema.default), `${name}: default is one of the enum values`);
      }
    }
  });
});

describe('readServerOptions', () => {
  beforeEach(() => {
    setUserSettings({});
    setWorkspaceSettings({});
  });

  test('with no user settings, every option is sent with its package.json default', () => {
    const options = readServerOptions(config(), true) as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(options).sort(), [...SERVER_OPTION_KEYS].sort());
    for (const key of SERVER_OPTION_KEYS) {
      assert.equal(options[key], properties[`starchat.${key}`]!.default, key);
    }
  });

  test('a cleared setting is sent as empty, so the server drops its old value', () => {
    setUserSettings({ 'starchat.model': '' });
    assert.equal(readServerOptions(config(), true).model, '');
  });

  test('user values are passed under the setting name without the prefix', () => {
    setUserSettings({
      'starchat.model': '  /models/starchat-alpha ',
      'starchat.backend': 'openai',
      'starchat.backendUrl': 'http://gpu-box:8000/v1',
      'starchat.maxNewTokens': 512,
      'starchat.contextTokens': 4096,
      'starchat.systemPrompt': 'Be brief.\n',
    });
    const options = readServerOptions(config(), true);
    assert.equal(options.model, '/models/starchat-alpha');
    assert.equal(options.backend, 'openai');
    assert.equal(options.backendUrl, 'http://gpu-box:8000/v1');
    assert.equal(options.maxNewTokens, 512);
    assert.equal(options.contextTokens, 4096);
    assert.equal(options.systemPrompt, 'Be brief.\n', 'the system prompt is kept verbatim');
  });

  test('zero temperature is a value, not "unset"', () => {
    setUserSettings({ 'starchat.temperature': 0 });
    assert.equal(readServerOptions(config(), true).temperature, 0);
  });
});

describe('which changes need what', () => {
  test('the interpreter needs a restart, the options only a notification', () => {
    assert.ok(affectsLaunch(changeEvent('starchat.server.python')));
    assert.ok(!affectsServerOptions(changeEvent('starchat.server.python')));
    assert.ok(affectsServerOptions(changeEvent('starchat.temperature')));
    assert.ok(!affectsLaunch(changeEvent('starchat.temperature')));
    assert.ok(!affectsServerOptions(changeEvent('editor.fontSize')));
  });

  test("when to ask for ghost text is the client's business; which model writes it, the server's", () => {
    assert.ok(!affectsServerOptions(changeEvent('starchat.inlineCompletion.enable')));
    assert.ok(!affectsServerOptions(changeEvent('starchat.inlineCompletion.debounceMs')));
    assert.ok(affectsServerOptions(changeEvent('starchat.completionModel')));
    assert.ok(affectsServerOptions(changeEvent('starchat.fimFormat')));
    assert.ok(!Object.keys(readServerOptions(config(), true)).some((key) => key.startsWith('inlineCompletion')));
  });

  test('launch settings default to detection', () => {
    setUserSettings({});
    assert.equal(readLaunchSettings(config(), true).python, '');
    setUserSettings({ 'starchat.server.python': ' /opt/py/bin/python ' });
    assert.equal(readLaunchSettings(config(), true).python, '/opt/py/bin/python');
  });
});

describe("a repository's settings in an untrusted workspace", () => {
  /** What a hostile `.vscode/settings.json` tries: its own interpreter and someone else's server. */
  const hostile = {
    'starchat.server.python': '${workspaceFolder}/tools/python',
    'starchat.model': 'attacker/model',
    'starchat.completionModel': '/tmp/attacker-weights',
    'starchat.fimFormat': 'codellama',
    'starchat.backend': 'openai',
    'starchat.backendUrl': 'http://attacker.example:8000/v1',
    'starchat.device': 'cuda:7',
    'starchat.maxNewTokens': 64,
  };
  beforeEach(() => {
    setUserSettings({ 'starchat.server.python': '/opt/py/bin/python', 'starchat.device': 'cpu' });
    setWorkspaceSettings(hostile);
  });

  test('the interpreter, models, backend, URL and device come from the user or the defaults', () => {
    const options = readServerOptions(config(), false);
    assert.equal(options.model, '');
    assert.equal(options.completionModel, '');
    assert.equal(options.backend, 'transformers');
    assert.equal(options.backendUrl, '');
    assert.equal(options.device, 'cpu', "the user's value");
    assert.equal(readLaunchSettings(config(), false).python, '/opt/py/bin/python');
  });

  test('settings that choose nothing to run still follow the workspace', () => {
    assert.equal(readServerOptions(config(), false).maxNewTokens, 64);
    assert.equal(readServerOptions(config(), false).fimFormat, 'codellama');
  });

  test('once the workspace is trusted, its values apply', () => {
    const options = readServerOptions(config(), true);
    assert.equal(options.backendUrl, 'http://attacker.example:8000/v1');
    assert.equal(options.device, 'cuda:7');
    assert.equal(options.completionModel, '/tmp/attacker-weights');
    assert.equal(readLaunchSettings(config(), true).python, '${workspaceFolder}/tools/python');
  });

  test('a configuration pull from the server gets the same filtered values', () => {
    const whole = pulledSetting(config(), 'starchat', false) as Record<string, unknown>;
    assert.deepEqual(whole, readServerOptions(config(), false));
    assert.equal(pulledSetting(config(), 'starchat.backendUrl', false), '');
    assert.equal(pulledSetting(config(), 'starchat.server.python', false), '/opt/py/bin/python');
    assert.equal(pulledSetting(config(), 'starchat.maxNewTokens', false), 64);
    assert.equal(pulledSetting(config(), 'starchat.backendUrl', true), 'http://attacker.example:8000/v1');
    assert.equal(pulledSetting(config(), 'editor', false), undefined, 'not ours: the client answers');
  });

  test("package.json's restrictedConfigurations are exactly these settings", () => {
    const declared = packageJson.capabilities.untrustedWorkspaces;
    assert.equal(declared.supported, 'limited');
    assert.deepEqual(
      [...(declared.restrictedConfigurations ?? [])].sort(),
      TRUST_REQUIRED.map((k) => `starchat.${k}`).sort(),
    );
    for (const key of declared.restrictedConfigurations ?? []) {
      assert.ok(properties[key], `${key} is a declared setting`);
    }
  });
});

describe('the options in the log', () => {
  test('a password in the backend URL is not logged', () => {
    setWorkspaceSettings({});
    setUserSettings({ 'starchat.backendUrl': 'https://alice:s3cret@gpu-box:8000/v1' });
    const line = describeOptions(readServerOptions(config(), true));
    assert.ok(!line.includes('s3cret') && !line.includes('alice'), line);
    assert.match(line, /gpu-box:8000\/v1/);
  });
});
