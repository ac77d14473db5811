import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

// First: it stands in for the `vscode` module the code below imports.
import { packageJson } from '../vscode-stub';

import { paletteCommand } from '../../src/chat/actions';
import { parseSlash, SLASH_COMMANDS } from '../../src/chat/commands';
import { ContextTracker } from '../../src/chat/context';
import { ConversationStore, historyOf, MAX_CONVERSATIONS, type Storage } from '../../src/chat/history';
import type { Entry } from '../../src/chat/messages';
import { ACTIONS } from '../../src/common/protocol';

const contributes = packageJson.contributes as unknown as {
  commands: { command: string; title: string }[];
  keybindings: { command: string; key: string; when: string }[];
  chatParticipants: { commands: { name: string }[] }[];
};

describe('actions in the palette, keybindings and slash commands', () => {
  test('every action has a palette command and a default keybinding', () => {
    for (const action of ACTIONS) {
      const command = paletteCommand(action);
      assert.ok(
        contributes.commands.some((c) => c.command === command),
        `${command} is not contributed`,
      );
      const binding = contributes.keybindings.find((k) => k.command === command);
      assert.ok(binding, `${command} has no keybinding`);
      assert.equal(binding.when, 'editorTextFocus');
    }
    const keys = contributes.keybindings.map((k) => k.key);
    assert.equal(new Set(keys).size, keys.length, 'keybindings are distinct');
  });

  test('slash commands cover every action, in the panel and in the Chat view', () => {
    assert.deepEqual(new Set(Object.values(SLASH_COMMANDS)), new Set(ACTIONS));
    assert.deepEqual(
      contributes.chatParticipants[0]!.commands.map((c) => c.name).sort(),
      Object.keys(SLASH_COMMANDS).sort(),
    );
    assert.deepEqual(parseSlash('/fix'), { action: 'fix', name: 'fix' });
    assert.deepEqual(parseSlash('  /tests please'), { action: 'writeTests', name: 'tests' });
    assert.deepEqual(parseSlash('/nope'), { unknown: 'nope' });
    assert.equal(parseSlash('what does /fix do?'), undefined);
    assert.deepEqual(parseSlash('/fixit'), { unknown: 'fixit' });
  });
});

describe('context', () => {
  const at = (line: number, character = 0) => ({ line, character });

  test('a pinned selection wins for one message, then the active file is back', () => {
    const tracker = new ContextTracker(() => undefined);
    tracker.editorChanged({ uri: 'file:///w/a.py', selection: { start: at(2), end: at(2) }, cursor: at(2) });
    tracker.pin({ uri: 'file:///w/b.py', range: { start: at(0), end: at(3) } }, 'b.py:1-3');
    assert.deepEqual(tracker.chip, { label: 'b.py:1-3', pinned: true });
    assert.equal(tracker.target()?.uri, 'file:///w/b.py');
    assert.equal(tracker.take()?.label, 'b.py:1-3');
    assert.deepEqual(tracker.take()?.value, { uri: 'file:///w/a.py', cursor: at(2) });
  });

  test('a closed document is no longer offered', () => {
    const tracker = new ContextTracker(() => undefined);
    tracker.editorChanged({ uri: 'file:///w/a.py', selection: { start: at(2), end: at(2) }, cursor: at(2) });
    tracker.documentClosed('file:///w/a.py');
    assert.equal(tracker.chip, undefined);
    assert.equal(tracker.target(), undefined);
  });
});

describe('history', () => {
  const entry = (id: string, role: Entry['role'], text: string): Entry => ({ id, role, text, state: 'done' });

  test('turns alternate: notices and unanswered questions are left out', () => {
    const entries = [
      entry('m1', 'user', 'q1'),
      entry('m2', 'assistant', ''),
      entry('m3', 'notice', 'server restarted'),
      entry('m4', 'user', 'q2'),
      entry('m5', 'assistant', 'a2'),
    ];
    assert.deepEqual(historyOf(entries), [
      { role: 'user', content: 'q2' },
      { role: 'assistant', content: 'a2' },
    ]);
  });

  test('the store keeps the latest conversations, most recent first, and drops empty ones', async () => {
    const values = new Map<string, unknown>();
    const storage: Storage = {
      get: <T>(key: string) => values.get(key) as T | undefined,
      update: async (key, value) => void values.set(key, value),
    };
    const store = new ConversationStore(storage);
    for (let i = 0; i < MAX_CONVERSATIONS + 3; i++) {
      await store.save(`c${i}`, [entry('m1', 'user', `question ${i}`)], i);
    }
    const list = store.list();
    assert.equal(list.length, MAX_CONVERSATIONS);
    assert.equal(list[0]!.title, `question ${MAX_CONVERSATIONS + 2}`);
    await store.save('c22', [entry('m1', 'notice', 'only a note')]);
    assert.equal(store.get('c22'), undefined);
  });
});
