/**
 * Workspace references (issue 15): the links under an answer, the files named with `#` for the
 * next message, and the index in the status bar's tooltip.
 */
import '../vscode-stub';

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { CancellationToken } from 'vscode-languageserver-protocol';

import { ContextTracker } from '../../src/chat/context';
import { describeReference } from '../../src/chat/location';
import type { FileChip, ToWebview } from '../../src/chat/messages';
import { ChatSession, outcomeOf, type ChatBackend } from '../../src/chat/session';
import type { ChatParams, ChatResult, EditResult, ExplainResult, Reference } from '../../src/common/protocol';
import { describeIndex, statusView } from '../../src/common/status';

const range = (start: number, end: number, endCharacter = 5) => ({
  start: { line: start, character: 0 },
  end: { line: end, character: endCharacter },
});
const usage = {
  promptTokens: 1,
  generatedTokens: 1,
  timeToFirstToken: null,
  tokensPerSecond: null,
  finishReason: 'stop',
};

describe('reference labels', () => {
  test('a reference is its workspace-relative path and lines', () => {
    const roots = ['file:///w/proj'];
    assert.equal(describeReference('file:///w/proj/pkg/billing.py', range(0, 2), roots), 'pkg/billing.py:1-3');
    assert.equal(describeReference('file:///w/proj/a.py', range(4, 4), roots), 'a.py:5');
    // A range ending at column 0 does not include that line.
    assert.equal(describeReference('file:///w/proj/a.py', range(0, 3, 0), roots), 'a.py:1-3');
  });

  test('the innermost folder wins; outside every folder, the file name', () => {
    const roots = ['file:///w', 'file:///w/proj/'];
    assert.equal(describeReference('file:///w/proj/src/x.py', range(9, 11), roots), 'src/x.py:10-12');
    assert.equal(describeReference('file:///elsewhere/lib/y.py', range(0, 0), roots), 'y.py:1');
    assert.equal(describeReference('file:///w/proj/my%20file.py', range(0, 1), roots), 'my file.py:1-2');
    assert.equal(describeReference('file:///w/projx/z.py', range(0, 0), ['file:///w/proj']), 'z.py:1');
  });
});

class InstantBackend implements ChatBackend {
  readonly requests: ChatParams[] = [];
  running = true;
  constructor(private readonly references: Reference[] | undefined) {}
  async ready(): Promise<void> {}
  async chat(params: ChatParams, _onChunk: (t: string) => void, _token: CancellationToken): Promise<ChatResult> {
    this.requests.push(params);
    const result: ChatResult = { conversationId: 'c1', text: 'answer', usage, droppedMessages: 0 };
    if (this.references) {
      result.references = this.references;
    }
    return result;
  }
  action(): Promise<ExplainResult | EditResult> {
    throw new Error('not used');
  }
  async deleteConversation(): Promise<void> {}
}

function setup(references?: Reference[]) {
  const backend = new InstantBackend(references);
  const posted: ToWebview[] = [];
  const fileUpdates: FileChip[][] = [];
  const tracker = new ContextTracker(
    () => undefined,
    (files) => fileUpdates.push(files),
  );
  const session = new ChatSession(
    backend,
    (m) => posted.push(m),
    tracker,
    undefined,
    () => ['file:///w'],
  );
  return { backend, posted, tracker, session, fileUpdates };
}

describe('references under an answer', () => {
  test('the answer lists the references the server used, labelled, in its order', async () => {
    const refs: Reference[] = [
      { uri: 'file:///w/pkg/billing.py', range: range(0, 2) },
      { uri: 'file:///w/util.py', range: range(9, 19) },
    ];
    const { session, posted } = setup(refs);
    await session.send('how is tax computed?');
    const answer = session.transcript.at(-1)!;
    assert.deepEqual(answer.references, [
      { uri: 'file:///w/pkg/billing.py', range: range(0, 2), label: 'pkg/billing.py:1-3' },
      { uri: 'file:///w/util.py', range: range(9, 19), label: 'util.py:10-20' },
    ]);
    const update = posted.filter((m) => m.type === 'update').at(-1);
    assert.equal(update?.type === 'update' && update.entry.references?.length, 2);
  });

  test('no references, no list', async () => {
    for (const refs of [undefined, []]) {
      const { session } = setup(refs);
      await session.send('hi');
      assert.equal(session.transcript.at(-1)!.references, undefined);
    }
  });

  test('command results carry their references too', () => {
    const refs = [{ uri: 'file:///w/a.py', range: range(0, 1) }];
    const target = { uri: 'file:///w/b.py', range: range(0, 0), label: 'b.py' };
    assert.deepEqual(outcomeOf({ conversationId: 'c', text: 't', usage, references: refs }, target).references, refs);
    const edit: EditResult = { applied: true, text: 't', conversationId: 'c', usage, references: refs };
    assert.deepEqual(outcomeOf(edit, target).references, refs);
  });
});

describe('files named with #', () => {
  const billing = { uri: 'file:///w/pkg/billing.py', label: 'pkg/billing.py' };
  const util = { uri: 'file:///w/util.py', label: 'util.py' };

  test('go with the next message as context.files, then are cleared', async () => {
    const { session, backend, tracker, fileUpdates } = setup();
    tracker.editorChanged({ uri: 'file:///w/main.py', selection: range(0, 0, 0), cursor: { line: 3, character: 0 } });
    tracker.addFile(billing);
    tracker.addFile(util);
    tracker.addFile(billing);
    assert.deepEqual(tracker.files, [billing, util], 'each file once');
    await session.send('compare them');
    assert.deepEqual(backend.requests[0]!.context, {
      uri: 'file:///w/main.py',
      cursor: { line: 3, character: 0 },
      files: [billing.uri, util.uri],
    });
    assert.equal(backend.requests[0]!.message, 'compare them');
    assert.equal(session.transcript.at(-2)!.context, 'main.py #pkg/billing.py #util.py');
    assert.deepEqual(tracker.files, []);
    assert.deepEqual(fileUpdates.at(-1), []);
    await session.send('again');
    assert.equal(backend.requests[1]!.context?.files, undefined, 'used once');
  });

  test('a removed file stays out; without an editor the first file is the document', async () => {
    const { session, backend, tracker } = setup();
    tracker.addFile(billing);
    tracker.addFile(util);
    tracker.removeFile(billing.uri);
    await session.send('what does it do?');
    assert.deepEqual(backend.requests[0]!.context, { uri: util.uri, files: [util.uri] });
  });

  test('the panel gets the chips in a reset', () => {
    const { session, tracker } = setup();
    tracker.addFile(util);
    const snapshot = session.snapshot();
    assert.deepEqual(snapshot.type === 'reset' && snapshot.files, [util]);
  });
});

describe('the workspace index in the status bar', () => {
  test('ready, indexing, off', () => {
    assert.equal(describeIndex({ state: 'ready', files: 2912, chunks: 20000 }), 'Workspace index: 2,912 files.');
    assert.equal(describeIndex({ state: 'ready', files: 1, chunks: 2 }), 'Workspace index: 1 file.');
    assert.match(describeIndex({ state: 'ready', files: 5000, chunks: 1, capped: true })!, /file limit/);
    assert.equal(describeIndex({ state: 'indexing', files: 0, chunks: 0 }), 'Workspace index: indexing…');
    assert.match(describeIndex({ state: 'off', files: 0, chunks: 0 })!, /^Workspace index: off/);
    assert.equal(describeIndex(undefined), undefined);
  });

  test('the tooltip says it', () => {
    const ready = statusView({
      state: 'ready',
      model: 'm',
      device: 'cpu',
      index: { state: 'ready', files: 2912, chunks: 9 },
    });
    assert.equal(ready.tooltip, 'm is ready on cpu. Click to open the chat.\n\nWorkspace index: 2,912 files.');
    const loading = statusView({
      state: 'loading',
      model: 'm',
      device: 'cpu',
      index: { state: 'indexing', files: 0, chunks: 0 },
    });
    assert.match(loading.tooltip, /Workspace index: indexing…$/);
    assert.doesNotMatch(statusView({ state: 'ready', model: 'm', device: 'cpu' }).tooltip, /index/);
  });
});
