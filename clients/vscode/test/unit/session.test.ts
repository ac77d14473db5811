import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ErrorCodes, LSPErrorCodes, ResponseError, type CancellationToken } from 'vscode-languageserver-protocol';

import { ContextTracker } from '../../src/chat/context';
import { ConversationStore, type Storage } from '../../src/chat/history';
import type { ContextChip, Entry, ToWebview } from '../../src/chat/messages';
import { ChatSession, INTERRUPTED_NOTE, WAITING_FOR_SERVER, type ChatBackend } from '../../src/chat/session';
import type {
  ActionArgs,
  ActionName,
  ChatParams,
  ChatResult,
  EditResult,
  ExplainResult,
  Usage,
} from '../../src/common/protocol';

const usage = (finishReason = 'stop'): Usage => ({
  promptTokens: 1,
  generatedTokens: 1,
  timeToFirstToken: 0.01,
  tokensPerSecond: 100,
  finishReason,
});

/** A backend whose answers the test drives chunk by chunk. */
class ScriptedBackend implements ChatBackend {
  readonly requests: ChatParams[] = [];
  readonly actions: { action: ActionName; args: ActionArgs }[] = [];
  readonly deleted: string[] = [];
  running = true;
  onChunk: (text: string) => void = () => undefined;
  token: CancellationToken | undefined;
  private settle: { resolve: (r: never) => void; reject: (e: unknown) => void } | undefined;
  private started: (() => void) | undefined;

  ready(): Promise<void> {
    return new Promise((resolve) => (this.started = resolve));
  }

  start(): void {
    this.running = true;
    this.started?.();
  }

  chat(params: ChatParams, onChunk: (text: string) => void, token: CancellationToken): Promise<ChatResult> {
    this.requests.push(params);
    return this.pending(onChunk, token);
  }

  action(
    action: ActionName,
    args: ActionArgs,
    onChunk: (text: string) => void,
    token: CancellationToken,
  ): Promise<ExplainResult | EditResult> {
    this.actions.push({ action, args });
    return this.pending(onChunk, token);
  }

  private pending<R>(onChunk: (text: string) => void, token: CancellationToken): Promise<R> {
    this.onChunk = onChunk;
    this.token = token;
    return new Promise((resolve, reject) => (this.settle = { resolve: resolve as (r: never) => void, reject }));
  }

  result(value: ChatResult | ExplainResult | EditResult): void {
    this.settle?.resolve(value as never);
  }

  async deleteConversation(conversationId: string): Promise<void> {
    this.deleted.push(conversationId);
  }

  answer(text: string, conversationId = 'c1', finishReason = 'stop'): void {
    this.result({ conversationId, text, usage: usage(finishReason), droppedMessages: 0 });
  }

  fail(error: unknown): void {
    this.settle?.reject(error);
  }
}

class MemoryStorage implements Storage {
  readonly values = new Map<string, unknown>();
  get<T>(key: string): T | undefined {
    return this.values.get(key) as T | undefined;
  }
  async update(key: string, value: unknown): Promise<void> {
    this.values.set(key, structuredClone(value));
  }
}

const FILE = 'file:///w/sample.py';
const at = (line: number, character = 0) => ({ line, character });

function setup(storage = new MemoryStorage()) {
  const backend = new ScriptedBackend();
  const posted: ToWebview[] = [];
  const chips: (ContextChip | undefined)[] = [];
  const tracker = new ContextTracker((chip) => chips.push(chip));
  const store = new ConversationStore(storage);
  const session = new ChatSession(backend, (m) => posted.push(m), tracker, store);
  const last = (): Entry => session.transcript.at(-1)!;
  return { backend, posted, session, last, tracker, store, storage, chips };
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

  test('a pinned selection goes with the next message only', async () => {
    const { backend, session, last, tracker } = setup();
    tracker.pin(
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
    assert.deepEqual(posted.at(-1), { type: 'reset', entries: [], busy: false, context: undefined, files: [] });
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

  test('the active file goes with every message, around the cursor; removing the chip holds for that file', async () => {
    const { backend, session, tracker, chips } = setup();
    tracker.editorChanged({ uri: FILE, selection: { start: at(3, 2), end: at(3, 2) }, cursor: at(3, 2) });
    assert.deepEqual(chips.at(-1), { label: 'sample.py', pinned: false });
    const first = session.send('what does this file do?');
    assert.deepEqual(backend.requests[0]!.context, { uri: FILE, cursor: at(3, 2) });
    backend.answer('it computes a mean');
    await first;
    tracker.editorChanged({ uri: FILE, selection: { start: at(1), end: at(4) }, cursor: at(4) });
    assert.deepEqual(chips.at(-1), { label: 'sample.py:2-4', pinned: false });
    tracker.dismiss();
    assert.equal(chips.at(-1), undefined);
    tracker.editorChanged({ uri: FILE, selection: { start: at(5), end: at(5) }, cursor: at(5) });
    const second = session.send('and in general?');
    assert.equal(backend.requests[1]!.context, undefined, 'the removed chip stays removed for this file');
    backend.answer('…');
    await second;
    tracker.editorChanged({ uri: 'file:///w/other.py', selection: { start: at(0), end: at(0) }, cursor: at(0) });
    assert.deepEqual(chips.at(-1), { label: 'other.py', pinned: false });
  });

  test('a slash command runs its action on the selection in the panel conversation, streaming', async () => {
    const { backend, session, tracker, last } = setup();
    tracker.editorChanged({ uri: FILE, selection: { start: at(0), end: at(4) }, cursor: at(4) });
    const chat = session.send('My name is Zorblax.');
    backend.answer('Hello Zorblax', 'conv-1');
    await chat;
    const fix = session.send('/explain');
    assert.deepEqual(backend.actions[0], {
      action: 'explain',
      args: { uri: FILE, range: { start: at(0), end: at(4) }, conversationId: 'conv-1' },
    });
    assert.equal(session.transcript.at(-2)!.text, '/explain');
    assert.equal(session.transcript.at(-2)!.context, 'sample.py:1-4');
    backend.onChunk('It adds ');
    assert.equal(last().text, 'It adds ');
    backend.result({ conversationId: 'conv-1', text: 'It adds numbers.', usage: usage() });
    await fix;
    assert.equal(last().state, 'done');
    assert.equal(last().text, 'It adds numbers.');
  });

  test('with no selection an action runs on the function at the cursor', async () => {
    const { backend, session, tracker } = setup();
    tracker.editorChanged({ uri: FILE, selection: { start: at(2, 4), end: at(2, 4) }, cursor: at(2, 4) });
    const run = session.send('/doc');
    assert.equal(backend.actions[0]!.action, 'addDocstring');
    assert.deepEqual(backend.actions[0]!.args.range, { start: at(2, 4), end: at(2, 4) });
    backend.result({ conversationId: 'c', text: '', usage: usage(), applied: true });
    await run;
    assert.equal(session.transcript[0]!.context, 'sample.py at line 3');
  });

  test('an unknown slash command or one without an editor is explained, not sent', async () => {
    const { backend, session, last, tracker } = setup();
    await session.send('/frobnicate');
    assert.match(last().text, /no \/frobnicate command; try \/explain, \/fix, \/tests, \/doc or \/improve/);
    tracker.documentClosed(FILE);
    await session.send('/fix');
    assert.match(last().text, /Open a file/);
    assert.equal(backend.actions.length, 0);
  });

  test('a refused edit says why and can be applied anyway, once', async () => {
    const { backend, session, tracker, last } = setup();
    tracker.editorChanged({ uri: FILE, selection: { start: at(0), end: at(4) }, cursor: at(0) });
    const run = session.send('/doc');
    const edit = { changes: { [FILE]: [{ range: { start: at(0), end: at(4) }, newText: 'x' }] } };
    backend.result({
      conversationId: 'c',
      text: 'x',
      usage: usage(),
      applied: false,
      rejected: { reason: 'The answer changed code, not only docstrings.', edit },
    });
    await run;
    assert.equal(last().note, 'Not applied: The answer changed code, not only docstrings.');
    assert.equal(last().canApplyAnyway, true);
    assert.deepEqual(session.takeRejectedEdit(last().id), edit);
    assert.equal(last().canApplyAnyway, false);
    assert.equal(session.takeRejectedEdit(last().id), undefined);
    session.appliedAnyway(last().id, true);
    assert.match(last().note!, /Applied anyway\.$/);
  });

  test('applied, discarded and written tests are told under the answer', async () => {
    const { backend, session, tracker, last } = setup();
    tracker.editorChanged({ uri: FILE, selection: { start: at(0), end: at(4) }, cursor: at(0) });
    const edits: [string, Partial<EditResult>, string][] = [
      ['/fix', { applied: true }, 'Applied to sample.py.'],
      ['/improve', { applied: false }, 'Discarded: the file was not changed.'],
      [
        '/tests',
        {
          applied: true,
          testUri: 'file:///w/test_sample.py',
          message: 'Write tests: the tests are in test_sample.py.',
        },
        'Write tests: the tests are in test_sample.py.',
      ],
    ];
    for (const [command, result, note] of edits) {
      const run = session.send(command);
      backend.result({ conversationId: 'c', text: '', usage: usage(), applied: false, ...result });
      await run;
      assert.equal(last().note, note);
    }
    assert.deepEqual(last().file, { uri: 'file:///w/test_sample.py', label: 'test_sample.py' });
  });

  test('an answer cut by the length limit is marked and Continue grows it in place', async () => {
    const { backend, session, last } = setup();
    const sent = session.send('write a long story');
    backend.answer('Once upon a', 'conv-3', 'length');
    await sent;
    assert.equal(last().cut, true);
    assert.match(last().note!, /length limit/);
    const more = session.continueAnswer(last().id);
    assert.deepEqual(backend.requests[1], { message: '', continue: true, conversationId: 'conv-3' });
    assert.equal(last().cut, false);
    backend.onChunk(' time');
    backend.answer(' time, the end.', 'conv-3');
    await more;
    assert.equal(session.transcript.length, 2, 'no new turn');
    assert.equal(last().text, 'Once upon a time, the end.');
    assert.equal(last().state, 'done');
    assert.equal(last().note, undefined);
  });

  test('a new question takes Continue away from an earlier cut answer', async () => {
    const { backend, session } = setup();
    const first = session.send('long');
    backend.answer('cut', 'c', 'length');
    await first;
    const cut = session.transcript[1]!;
    const second = session.send('next');
    assert.equal(cut.cut, false);
    backend.answer('ok');
    await second;
    await session.continueAnswer(cut.id);
    assert.equal(backend.requests.length, 2, 'no continue for an earlier answer');
  });

  test('the conversation survives a reload: restored, and its turns sent as history', async () => {
    const storage = new MemoryStorage();
    const before = setup(storage);
    const sent = before.session.send('My name is Zorblax.');
    before.backend.answer('Hello Zorblax', 'conv-old');
    await sent;
    before.session.notice('a note');

    const after = setup(storage);
    const stored = after.store.list();
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.title, 'My name is Zorblax.');
    after.session.open(stored[0]!);
    assert.deepEqual(
      after.session.transcript.map((e) => [e.role, e.text]),
      [
        ['user', 'My name is Zorblax.'],
        ['assistant', 'Hello Zorblax'],
        ['notice', 'a note'],
      ],
    );
    const next = after.session.send('What is my name?');
    assert.deepEqual(after.backend.requests[0], {
      message: 'What is my name?',
      history: [
        { role: 'user', content: 'My name is Zorblax.' },
        { role: 'assistant', content: 'Hello Zorblax' },
      ],
    });
    after.backend.answer('Zorblax', 'conv-new');
    await next;
    const third = after.session.send('thanks');
    assert.deepEqual(after.backend.requests[1], { message: 'thanks', conversationId: 'conv-new' });
    after.backend.answer('…', 'conv-new');
    await third;
    assert.equal(after.store.list()[0]!.entries.length, 7);
  });

  test('New chat keeps the old conversation in the history list', async () => {
    const { backend, session, store } = setup();
    const sent = session.send('first chat');
    backend.answer('ok');
    await sent;
    session.newChat();
    const next = session.send('second chat');
    backend.answer('ok');
    await next;
    assert.deepEqual(
      store.list().map((c) => c.title),
      ['second chat', 'first chat'],
    );
  });

  test('a message sent while the server starts waits for it', async () => {
    const { backend, posted, session, last } = setup();
    backend.running = false;
    const sent = session.send('hello?');
    await tick();
    assert.equal(backend.requests.length, 0);
    assert.deepEqual(posted.at(-1), { type: 'progress', text: WAITING_FOR_SERVER });
    backend.start();
    await tick();
    assert.equal(backend.requests.length, 1);
    backend.answer('hi');
    await sent;
    assert.equal(last().state, 'done');
  });

  test('a conversation the server forgot is started again from the transcript', async () => {
    const { backend, session } = setup();
    const first = session.send('My name is Zorblax.');
    backend.answer('Hello', 'conv-gone');
    await first;
    const second = session.send('Who am I?');
    assert.equal(backend.requests[1]!.conversationId, 'conv-gone');
    backend.fail(new ResponseError(-32602, 'unknown conversation', { code: 'unknown_conversation' }));
    await tick();
    assert.deepEqual(backend.requests[2], {
      message: 'Who am I?',
      history: [
        { role: 'user', content: 'My name is Zorblax.' },
        { role: 'assistant', content: 'Hello' },
      ],
    });
    backend.answer('Zorblax', 'conv-new');
    await second;
    assert.equal(session.transcript.at(-1)!.text, 'Zorblax');
  });
});
