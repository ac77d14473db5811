import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ErrorCodes, LSPErrorCodes, ResponseError, type CancellationToken } from 'vscode-languageserver-protocol';

import type { Entry, ToWebview } from '../../src/chat/messages';
import { ChatSession, INTERRUPTED_NOTE, type ChatBackend } from '../../src/chat/session';
import type { ChatParams, ChatResult } from '../../src/common/protocol';

/** A backend whose answers the test drives chunk by chunk. */
class ScriptedBackend implements ChatBackend {
  readonly requests: ChatParams[] = [];
  readonly deleted: string[] = [];
  onChunk: (text: string) => void = () => undefined;
  token: CancellationToken | undefined;
  private settle: { resolve: (r: ChatResult) => void; reject: (e: unknown) => void } | undefined;

  chat(params: ChatParams, onChunk: (text: string) => void, token: CancellationToken): Promise<ChatResult> {
    this.requests.push(params);
    this.onChunk = onChunk;
    this.token = token;
    return new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }

  async deleteConversation(conversationId: string): Promise<void> {
    this.deleted.push(conversationId);
  }

  answer(text: string, conversationId = 'c1'): void {
    const usage = {
      promptTokens: 1,
      generatedTokens: 1,
      timeToFirstToken: 0.01,
      tokensPerSecond: 100,
      finishReason: 'stop',
    };
    this.settle?.resolve({ conversationId, text, usage, droppedMessages: 0 });
  }

  fail(error: unknown): void {
    this.settle?.reject(error);
  }
}

function setup() {
  const backend = new ScriptedBackend();
  const posted: ToWebview[] = [];
  const session = new ChatSession(backend, (m) => posted.push(m));
  const last = (): Entry => session.transcript.at(-1)!;
  return { backend, posted, session, last };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('chat session', () => {
  test('an answer streams chunk by chunk and ends done', async () => {
    const { backend, posted, session, last } = setup();
    const sent = session.send('How do I sort a list?');
    assert.equal(session.busy, true);
    backend.onChunk('Use ');
    backend.onChunk('sorted()');
    assert.deepEqual(
      posted.filter((m) => m.type === 'chunk').map((m) => (m as { text: string }).text),
      ['Use ', 'sorted()'],
    );
    assert.equal(last().text, 'Use sorted()');
    backend.answer('Use sorted().');
    await sent;
    assert.equal(session.busy, false);
    assert.equal(last().state, 'done');
    assert.equal(last().text, 'Use sorted().', 'the final result is authoritative');
  });

  test('follow-ups continue the conversation the server named', async () => {
    const { backend, session } = setup();
    const first = session.send('hi');
    backend.answer('hello', 'conv-7');
    await first;
    const second = session.send('and then?');
    assert.equal(backend.requests[1]!.conversationId, 'conv-7');
    backend.answer('…', 'conv-7');
    await second;
  });

  test('Stop cancels the request, keeps the text and ignores late chunks', async () => {
    const { backend, session, last } = setup();
    const sent = session.send('write a long story');
    backend.onChunk('Once upon');
    session.stop();
    assert.equal(backend.token?.isCancellationRequested, true);
    assert.equal(session.busy, false);
    backend.onChunk(' a time');
    backend.fail(new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled'));
    await sent;
    assert.equal(last().state, 'stopped');
    assert.equal(last().text, 'Once upon');
  });

  test('a server crash mid-answer marks it interrupted, text kept', async () => {
    const { backend, session, last } = setup();
    const sent = session.send('explain');
    backend.onChunk('This function');
    session.serverChanged({ kind: 'crashed', attempt: 1, maxAttempts: 3 });
    backend.fail(new ResponseError(ErrorCodes.PendingResponseRejected, 'connection disposed'));
    await sent;
    const answer = session.transcript.find((e) => e.role === 'assistant')!;
    assert.equal(answer.state, 'interrupted');
    assert.equal(answer.text, 'This function');
    assert.equal(answer.note, INTERRUPTED_NOTE);
    assert.equal(last().role, 'notice');
    assert.match(last().text, /restarted \(1 of 3\)/);
  });

  test('a lost connection alone also reads as interrupted', async () => {
    const { backend, session, last } = setup();
    const sent = session.send('q');
    backend.fail(new ResponseError(ErrorCodes.PendingResponseRejected, 'connection disposed'));
    await sent;
    assert.equal(last().state, 'interrupted');
  });

  test('other failures are shown as errors with the reason', async () => {
    const { backend, session, last } = setup();
    const sent = session.send('q');
    backend.fail(new ResponseError(-32603, 'model not loaded: out of memory'));
    await sent;
    assert.equal(last().state, 'error');
    assert.match(last().note!, /out of memory/);
  });

  test('attached context goes with the next message only', async () => {
    const { backend, session, last } = setup();
    session.setContext(
      { uri: 'file:///w/a.py', range: { start: { line: 0, character: 0 }, end: { line: 2, character: 0 } } },
      'a.py:1-2',
    );
    const first = session.send('what is this?');
    assert.equal(backend.requests[0]!.context?.uri, 'file:///w/a.py');
    assert.equal(session.transcript[0]!.context, 'a.py:1-2');
    backend.answer('a function');
    await first;
    const second = session.send('and?');
    assert.equal(backend.requests[1]!.context, undefined);
    backend.answer('that is all');
    await second;
    assert.equal(last().state, 'done');
  });

  test('New chat forgets the conversation here and on the server', async () => {
    const { backend, posted, session } = setup();
    const sent = session.send('hi');
    backend.answer('hello', 'conv-9');
    await sent;
    session.newChat();
    await tick();
    assert.deepEqual(backend.deleted, ['conv-9']);
    assert.deepEqual(session.transcript, []);
    assert.deepEqual(posted.at(-1), { type: 'reset', entries: [], busy: false, context: undefined });
  });

  test('trimmed history is reported for the current conversation', async () => {
    const { backend, session, last } = setup();
    const sent = session.send('hi');
    backend.answer('hello', 'conv-1');
    await sent;
    session.contextTrimmed('other', 3);
    assert.equal(last().role, 'assistant');
    session.contextTrimmed('conv-1', 2);
    assert.match(last().text, /2 earlier messages were left out/);
  });

  test('empty messages are not sent', async () => {
    const { backend, session } = setup();
    await session.send('   \n');
    assert.equal(backend.requests.length, 0);
  });
});
