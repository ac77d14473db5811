import { packageJson, setUserSettings } from '../vscode-stub';

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import * as vscode from 'vscode';

import {
  affectsLaunch,
  affectsServerOptions,
  readLaunchSettings,
  readServerOptions,
  SECTION,
  SERVER_OPTION_KEYS,
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
  beforeEach(() => setUserSettings({}));

  test('with no user settings, every option is sent with its package.json default', () => {
    const options = readServerOptions(config()) as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(options).sort(), [...SERVER_OPTION_KEYS].sort());
    for (const key of SERVER_OPTION_KEYS) {
      assert.equal(options[key], properties[`starchat.${key}`]!.default, key);
    }
  });

  test('a cleared setting is sent as empty, so the server drops its old value', () => {
    setUserSettings({ 'starchat.model': '' });
    assert.equal(readServerOptions(config()).model, '');
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
    const options = readServerOptions(config());
    assert.equal(options.model, '/models/starchat-alpha');
    assert.equal(options.backend, 'openai');
    assert.equal(options.backendUrl, 'http://gpu-box:8000/v1');
    assert.equal(options.maxNewTokens, 512);
    assert.equal(options.contextTokens, 4096);
    assert.equal(options.systemPrompt, 'Be brief.\n', 'the system prompt is kept verbatim');
  });

  test('zero temperature is a value, not "unset"', () => {
    setUserSettings({ 'starchat.temperature': 0 });
    assert.equal(readServerOptions(config()).temperature, 0);
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

  test('launch settings default to detection', () => {
    setUserSettings({});
    assert.equal(readLaunchSettings(config()).python, '');
    setUserSettings({ 'starchat.server.python': ' /opt/py/bin/python ' });
    assert.equal(readLaunchSettings(config()).python, '/opt/py/bin/python');
  });
});
