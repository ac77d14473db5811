import { packageJson } from '../vscode-stub';

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  ChatRequest,
  COMMANDS,
  ContextTrimmedNotification,
  ConversationDeleteRequest,
  NOTIFICATIONS,
  REQUESTS,
  StatusNotification,
  StatusRequest,
} from '../../src/common/protocol';

describe('protocol declaration', () => {
  test('every typed request and notification is in the declared lists', () => {
    for (const request of [ChatRequest, ConversationDeleteRequest, StatusRequest]) {
      assert.ok((REQUESTS as readonly string[]).includes(request.method), request.method);
    }
    for (const notification of [StatusNotification, ContextTrimmedNotification]) {
      assert.ok((NOTIFICATIONS as readonly string[]).includes(notification.method), notification.method);
    }
  });

  test('custom methods live under starchat/, commands under starchat.', () => {
    for (const method of [...REQUESTS, ...NOTIFICATIONS]) {
      assert.match(method, /^starchat\/[a-zA-Z/]+$/);
    }
    for (const command of COMMANDS) {
      assert.match(command, /^starchat\.[a-zA-Z]+$/);
    }
  });

  test("the extension's own commands do not collide with the server's", () => {
    // The language client registers the server's commands; a duplicate would fail activation.
    const own = packageJson.contributes.commands.map((c) => c.command);
    for (const command of COMMANDS) {
      assert.ok(!own.includes(command), command);
    }
  });
});
