import { setUserSettings } from '../vscode-stub';

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import type * as vscode from 'vscode';
import { CancellationTokenSource } from 'vscode-languageserver-protocol';

import { inlineCompletionMiddleware, readInlineSettings, type InlineSettings } from '../../src/completion/inline';

const AUTOMATIC = { triggerKind: 1, selectedCompletionInfo: undefined } as vscode.InlineCompletionContext;
const INVOKED = { triggerKind: 0, selectedCompletionInfo: undefined } as vscode.InlineCompletionContext;
const document = { uri: 'file:///a.py', languageId: 'python' } as unknown as vscode.TextDocument;
const position = { line: 0, character: 4 } as vscode.Position;
const ITEMS = [{ insertText: 'return 1' }] as vscode.InlineCompletionItem[];

/** The language client's side: records each request that would reach the server, with its token. */
function fakeServer(answer: (token: vscode.CancellationToken) => Promise<unknown> = async () => ITEMS) {
  const tokens: vscode.CancellationToken[] = [];
  const next = ((_d: unknown, _p: unknown, _c: unknown, token: vscode.CancellationToken) => {
    tokens.push(token);
    return answer(token);
  }) as Parameters<NonNullable<ReturnType<typeof inlineCompletionMiddleware>['provideInlineCompletionItems']>>[4];
  return { next, tokens };
}

function middleware(settings: InlineSettings) {
  const provide = inlineCompletionMiddleware(() => settings).provideInlineCompletionItems!;
  return (
    next: ReturnType<typeof fakeServer>['next'],
    context = AUTOMATIC,
    token = new CancellationTokenSource().token,
  ) => Promise.resolve(provide(document, position, context, token as vscode.CancellationToken, next));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('inline completion settings', () => {
  beforeEach(() => setUserSettings({}));

  test('on by default, with a 150 ms pause (package.json)', () => {
    assert.deepEqual(readInlineSettings(document), { enable: true, debounceMs: 150 });
  });

  test("the user's values", () => {
    setUserSettings({ 'starchat.inlineCompletion.enable': false, 'starchat.inlineCompletion.debounceMs': 0 });
    assert.deepEqual(readInlineSettings(document), { enable: false, debounceMs: 0 });
  });
});

describe('inline completion middleware', () => {
  test('disabled: no items, and the server is not asked', async () => {
    const server = fakeServer();
    const provide = middleware({ enable: false, debounceMs: 0 });
    assert.deepEqual(await provide(server.next), []);
    assert.deepEqual(await provide(server.next, INVOKED), []);
    assert.equal(server.tokens.length, 0);
  });

  test("enabled: the server's items, after the pause", async () => {
    const server = fakeServer();
    const provide = middleware({ enable: true, debounceMs: 40 });
    const started = Date.now();
    assert.deepEqual(await provide(server.next), ITEMS);
    assert.ok(Date.now() - started >= 35, 'answered before the pause ended');
    assert.equal(server.tokens.length, 1);
  });

  test('typing on: only the request the user paused on reaches the server', async () => {
    const server = fakeServer();
    const provide = middleware({ enable: true, debounceMs: 40 });
    const first = provide(server.next);
    await sleep(5);
    const second = provide(server.next);
    await sleep(5);
    const third = provide(server.next);
    assert.deepEqual(await first, []);
    assert.deepEqual(await second, []);
    assert.deepEqual(await third, ITEMS);
    assert.equal(server.tokens.length, 1);
  });

  test('a newer request cancels the one already at the server', async () => {
    const release: (() => void)[] = [];
    const server = fakeServer(
      (token) =>
        new Promise((resolve) => {
          release.push(() => resolve(token.isCancellationRequested ? null : ITEMS));
        }),
    );
    const provide = middleware({ enable: true, debounceMs: 0 });
    const first = provide(server.next);
    await sleep(1);
    assert.equal(server.tokens.length, 1);
    const second = provide(server.next);
    await sleep(1);
    assert.equal(server.tokens[0]!.isCancellationRequested, true, 'the older request was not cancelled');
    assert.equal(server.tokens[1]!.isCancellationRequested, false);
    release.forEach((r) => r());
    assert.equal(await first, null);
    assert.deepEqual(await second, ITEMS);
  });

  test("VS Code's cancellation reaches a waiting request, and the server", async () => {
    const server = fakeServer();
    const provide = middleware({ enable: true, debounceMs: 10_000 });
    const vscodeToken = new CancellationTokenSource();
    const started = Date.now();
    const waiting = provide(server.next, AUTOMATIC, vscodeToken.token);
    await sleep(5);
    vscodeToken.cancel();
    assert.deepEqual(await waiting, []);
    assert.ok(Date.now() - started < 1000, 'the pause did not end on cancellation');
    assert.equal(server.tokens.length, 0);

    const slow = fakeServer((token) => new Promise((resolve) => token.onCancellationRequested(() => resolve(null))));
    const immediate = middleware({ enable: true, debounceMs: 0 });
    const atServer = new CancellationTokenSource();
    const pending = immediate(slow.next, AUTOMATIC, atServer.token);
    await sleep(1);
    atServer.cancel();
    assert.equal(await pending, null);
    assert.equal(slow.tokens[0]!.isCancellationRequested, true);
  });

  test('asked for explicitly (Alt+\\): no pause', async () => {
    const server = fakeServer();
    const provide = middleware({ enable: true, debounceMs: 10_000 });
    const started = Date.now();
    assert.deepEqual(await provide(server.next, INVOKED), ITEMS);
    assert.ok(Date.now() - started < 1000);
  });
});
