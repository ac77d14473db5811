/**
 * The chat page as the user sees it: the built page script (dist/webview.js) running in a DOM
 * (jsdom) on the page the extension serves, fed the messages the extension sends.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, test } from 'node:test';

import { JSDOM } from 'jsdom';

import { chatPage } from '../../src/chat/html';
import type { Entry, FromWebview, ToWebview } from '../../src/chat/messages';

const SCRIPT = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'dist', 'webview.js'), 'utf8');

interface Page {
  window: JSDOM['window'];
  document: Document;
  posted: FromWebview[];
  send(message: ToWebview): Promise<void>;
  $(selector: string): HTMLElement;
}

function openPage(): Page {
  const html = chatPage({ cspSource: 'vscode-resource:', nonce: 'n', scriptUri: '', styleUri: '' });
  const dom = new JSDOM(html.replace(/<script[^>]*><\/script>/, ''), {
    runScripts: 'outside-only',
    pretendToBeVisual: true,
  });
  const posted: FromWebview[] = [];
  Object.assign(dom.window, {
    acquireVsCodeApi: () => ({ postMessage: (m: FromWebview) => posted.push(structuredClone(m)) }),
  });
  dom.window.eval(SCRIPT);
  const frame = () => new Promise((resolve) => dom.window.requestAnimationFrame(() => resolve(undefined)));
  return {
    window: dom.window,
    document: dom.window.document,
    posted,
    async send(message) {
      dom.window.dispatchEvent(new dom.window.MessageEvent('message', { data: message }));
      await frame();
    },
    $(selector) {
      const found = dom.window.document.querySelector<HTMLElement>(selector);
      assert.ok(found, `no ${selector}`);
      return found;
    },
  };
}

const user: Entry = { id: 'm1', role: 'user', text: 'what is <b>this</b>?', state: 'done', context: 'a.py:1-2' };
const answer: Entry = { id: 'm2', role: 'assistant', text: '', state: 'streaming' };

describe('chat page', () => {
  let page: Page;
  beforeEach(async () => {
    page = openPage();
    await page.send({ type: 'reset', entries: [], busy: false, context: undefined });
  });

  test('asks for the transcript when it loads', () => {
    assert.deepEqual(page.posted[0], { type: 'ready' });
  });

  test('an answer grows with each chunk and ends in its final state', async () => {
    await page.send({ type: 'append', entry: user });
    await page.send({ type: 'append', entry: answer });
    await page.send({ type: 'busy', busy: true });
    assert.equal(page.$('.entry-assistant .entry-body').textContent, 'Thinking…');
    await page.send({ type: 'chunk', id: 'm2', text: 'It is ' });
    assert.equal(page.$('.entry-assistant .entry-body').textContent?.trim(), 'It is');
    await page.send({ type: 'chunk', id: 'm2', text: 'a **bold** claim.' });
    assert.equal(page.$('.entry-assistant strong').textContent, 'bold');
    assert.equal(page.$('.entry-assistant').getAttribute('aria-busy'), 'true');
    await page.send({
      type: 'update',
      entry: { ...answer, state: 'interrupted', text: 'It is a **bold** claim.', note: 'cut' },
    });
    assert.equal(page.$('.entry-assistant').dataset['state'], 'interrupted');
    assert.equal(page.$('.entry-assistant .entry-note').textContent, 'cut');
    assert.equal(page.$('.entry-user .about').textContent, 'about a.py:1-2');
    assert.equal(page.$('.entry-user .entry-body').textContent, 'what is <b>this</b>?');
  });

  test('HTML and scripts in an answer are shown, never run', async () => {
    await page.send({ type: 'append', entry: answer });
    const evil =
      '<img src=x onerror="window.hacked=1"><script>window.hacked=2</script><iframe src="https://x"></iframe>';
    await page.send({ type: 'chunk', id: 'm2', text: evil });
    await page.send({ type: 'update', entry: { ...answer, state: 'done', text: evil } });
    const body = page.$('.entry-assistant .entry-body');
    assert.equal(body.querySelector('img, script, iframe'), null);
    assert.ok(body.textContent?.includes('<script>window.hacked=2</script>'));
    assert.equal((page.window as unknown as { hacked?: number }).hacked, undefined);
  });

  test('code blocks get Copy and Insert, which send the code', async () => {
    const text = 'Use:\n```python\nprint("hi")\n```\nand\n```\nplain <text>\n```';
    await page.send({ type: 'append', entry: { ...answer, text, state: 'done' } });
    const blocks = page.document.querySelectorAll('.code-block');
    assert.equal(blocks.length, 2);
    assert.equal(blocks[0]!.querySelector('.code-language')?.textContent, 'python');
    assert.equal(blocks[1]!.querySelector('.code-language')?.textContent, 'text');
    blocks[0]!.querySelector<HTMLButtonElement>('button[data-action="copy"]')!.click();
    blocks[1]!.querySelector<HTMLButtonElement>('button[data-action="insert"]')!.click();
    assert.deepEqual(page.posted.slice(-2), [
      { type: 'copy', code: 'print("hi")\n' },
      { type: 'insert', code: 'plain <text>\n' },
    ]);
  });

  test('Enter sends, Shift+Enter does not; while busy Enter waits and Escape stops', async () => {
    const input = page.$('#input') as HTMLTextAreaElement;
    const key = (init: KeyboardEventInit) =>
      input.dispatchEvent(new page.window.KeyboardEvent('keydown', { ...init, cancelable: true }));
    input.value = 'first line';
    assert.equal(key({ key: 'Enter', shiftKey: true }), true, 'Shift+Enter is left to the textarea');
    assert.equal(key({ key: 'Enter' }), false);
    assert.deepEqual(page.posted.at(-1), { type: 'send', text: 'first line' });
    assert.equal(input.value, '');
    await page.send({ type: 'busy', busy: true });
    assert.equal(page.$('#stop').hidden, false);
    input.value = 'second';
    key({ key: 'Enter' });
    assert.equal(input.value, 'second', 'not sent while an answer is being written');
    key({ key: 'Escape' });
    assert.deepEqual(page.posted.at(-1), { type: 'stop' });
  });

  test('the context chip shows the file or the attached selection, and can be removed', async () => {
    await page.send({ type: 'context', context: { label: 'sample.py' } });
    assert.equal(page.$('#context').hidden, false);
    assert.equal(page.$('#context').textContent?.replace(/\s+/g, ' ').trim(), 'Context: sample.py ×');
    await page.send({ type: 'context', context: { label: 'sample.py:3-7', pinned: true } });
    assert.equal(page.$('#context-kind').textContent, 'Selection:');
    assert.equal(page.$('#context-label').textContent, 'sample.py:3-7');
    page.$('#context-clear').click();
    assert.deepEqual(page.posted.at(-1), { type: 'clearContext' });
    await page.send({ type: 'context', context: undefined });
    assert.equal(page.$('#context').hidden, true);
  });

  test('progress says what the answer waits for, then counts tokens, beside Cancel', async () => {
    await page.send({ type: 'append', entry: answer });
    await page.send({ type: 'busy', busy: true });
    await page.send({ type: 'progress', text: 'Waiting for the StarChat server to start…' });
    assert.equal(page.$('#progress').hidden, false);
    assert.equal(page.$('#progress-text').textContent, 'Waiting for the StarChat server to start…');
    for (const piece of ['a', 'b', 'c']) {
      await page.send({ type: 'chunk', id: 'm2', text: piece });
    }
    assert.equal(page.$('#progress-text').textContent, 'Writing the answer… 3 tokens');
    assert.equal(page.$('#stop').textContent, 'Cancel');
    page.$('#stop').click();
    assert.deepEqual(page.posted.at(-1), { type: 'stop' });
    await page.send({ type: 'busy', busy: false });
    assert.equal(page.$('#progress').hidden, true);
  });

  test('a cut answer offers Continue; a refused edit Apply anyway; written tests Open', async () => {
    await page.send({
      type: 'append',
      entry: { ...answer, state: 'done', text: 'partial', cut: true, note: 'The answer reached the length limit.' },
    });
    const entry = page.$('.entry-assistant');
    assert.ok(entry.classList.contains('entry-cut'));
    page.$('.entry-actions button[data-action="continue"]').click();
    assert.deepEqual(page.posted.at(-1), { type: 'continue', id: 'm2' });
    await page.send({
      type: 'update',
      entry: {
        ...answer,
        state: 'done',
        text: 'x',
        canApplyAnyway: true,
        note: 'Not applied: it does not parse.',
        file: { uri: 'file:///w/test_a.py', label: 'test_a.py' },
      },
    });
    assert.equal(page.document.querySelector('button[data-action="continue"]'), null);
    page.$('button[data-action="applyAnyway"]').click();
    assert.deepEqual(page.posted.at(-1), { type: 'applyAnyway', id: 'm2' });
    const open = page.$('button[data-action="open"]');
    assert.equal(open.textContent, 'Open test_a.py');
    open.click();
    assert.deepEqual(page.posted.at(-1), { type: 'open', uri: 'file:///w/test_a.py' });
  });

  test('Replace selection is offered only while the editor has a selection', async () => {
    await page.send({ type: 'append', entry: { ...answer, text: '```\nx = 1\n```', state: 'done' } });
    const replace = page.$('.code-block button[data-action="replace"]');
    assert.equal(page.document.body.classList.contains('has-selection'), false);
    await page.send({ type: 'selection', present: true });
    assert.equal(page.document.body.classList.contains('has-selection'), true);
    replace.click();
    assert.deepEqual(page.posted.at(-1), { type: 'replace', code: 'x = 1\n' });
  });

  test('model output cannot fake the answer buttons', async () => {
    const fake = '<div class="entry-actions" data-id="m2"><button data-action="applyAnyway">Apply</button></div>';
    await page.send({ type: 'append', entry: { ...answer, text: fake, state: 'done' } });
    assert.equal(page.document.querySelectorAll('button[data-action="applyAnyway"]').length, 0);
  });
  test('references under an answer are links that open their lines', async () => {
    const references = [
      {
        uri: 'file:///w/pkg/billing.py',
        range: { start: { line: 0, character: 0 }, end: { line: 2, character: 9 } },
        label: 'pkg/billing.py:1-3',
      },
      {
        uri: 'file:///w/util.py',
        range: { start: { line: 9, character: 0 }, end: { line: 19, character: 0 } },
        label: 'util.py:10-19',
      },
    ];
    await page.send({ type: 'append', entry: { ...answer, state: 'done', text: 'ok', references } });
    const line = page.$('.entry-assistant .entry-references');
    assert.equal(line.hidden, false);
    assert.equal(line.textContent?.replace(/\s+/g, ' '), 'Used 2 references:pkg/billing.py:1-3util.py:10-19');
    const links = line.querySelectorAll<HTMLAnchorElement>('a.reference');
    assert.deepEqual(
      Array.from(links, (a) => a.textContent),
      ['pkg/billing.py:1-3', 'util.py:10-19'],
    );
    links[1]!.click();
    assert.deepEqual(page.posted.at(-1), { type: 'open', uri: references[1]!.uri, range: references[1]!.range });
    await page.send({ type: 'update', entry: { ...answer, state: 'done', text: 'ok' } });
    assert.equal(page.$('.entry-assistant .entry-references').hidden, true);
  });

  test('reference labels and answer text cannot inject markup or fake reference links', async () => {
    const evil = '<img src=x onerror="window.hacked=1"><a class="reference" data-index="0">x</a>';
    const references = [
      {
        uri: 'file:///w/a.py',
        range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } },
        label: evil,
      },
    ];
    const text = `[click](javascript:window.hacked=3) <p class="entry-references"><a class="reference" href="#" data-index="0">fake</a></p>`;
    await page.send({ type: 'append', entry: { ...answer, state: 'done', text, references } });
    const line = page.$('.entry-references');
    assert.equal(line.querySelector('img'), null);
    assert.equal(line.querySelector('a.reference')!.textContent, evil);
    assert.equal(page.document.querySelectorAll('a.reference').length, 1, 'the answer made no reference link');
    assert.equal(page.document.querySelectorAll('.entry-references').length, 1);
    const before = page.posted.length;
    for (const a of Array.from(page.$('.entry-body').querySelectorAll('a'))) {
      a.click();
    }
    assert.equal(page.posted.length, before, 'links in the answer post nothing');
    assert.equal((page.window as unknown as { hacked?: number }).hacked, undefined);
  });

  test('# opens the file picker and the chosen files show as removable chips', async () => {
    const input = page.$('#input') as HTMLTextAreaElement;
    const type = (value: string) => {
      input.value = value;
      input.setSelectionRange(value.length, value.length);
      input.dispatchEvent(new page.window.InputEvent('input', { data: value.at(-1), inputType: 'insertText' }));
    };
    type('compare #');
    assert.deepEqual(page.posted.at(-1), { type: 'pickFile' });
    assert.equal(input.value, 'compare ', 'the # is left out of the message');
    const count = page.posted.length;
    type('issue#');
    assert.equal(page.posted.length, count, 'a # inside a word is text');
    assert.equal(input.value, 'issue#');
    page.$('#add-file').click();
    assert.deepEqual(page.posted.at(-1), { type: 'pickFile' });
    await page.send({
      type: 'files',
      files: [
        { uri: 'file:///w/pkg/billing.py', label: 'pkg/billing.py' },
        { uri: 'file:///w/<b>x</b>.py', label: '<b>x</b>.py' },
      ],
    });
    assert.equal(page.$('#files').hidden, false);
    const chips = page.document.querySelectorAll('#files .file-chip');
    assert.equal(chips.length, 2);
    assert.equal(chips[1]!.querySelector('span')!.textContent, '#<b>x</b>.py');
    assert.equal(page.$('#files').querySelector('b'), null);
    chips[0]!.querySelector<HTMLButtonElement>('button')!.click();
    assert.deepEqual(page.posted.at(-1), { type: 'removeFile', uri: 'file:///w/pkg/billing.py' });
    await page.send({ type: 'files', files: [] });
    assert.equal(page.$('#files').hidden, true);
  });
});
