import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { chatPage, contentSecurityPolicy, newNonce } from '../../src/chat/html';
import { describeLocation } from '../../src/chat/location';

describe('chat page', () => {
  const cspSource = 'https://file+.vscode-resource.vscode-cdn.net';

  test('the CSP allows nothing inline, nothing remote, and only the nonced script', () => {
    const nonce = newNonce();
    const csp = contentSecurityPolicy(cspSource, nonce);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    assert.match(csp, new RegExp(`script-src 'nonce-${nonce.replace(/[+/]/g, '\\$&')}'`));
    assert.doesNotMatch(csp.split(cspSource).join(''), /https?:/);
  });

  test('the page loads one script with the nonce and no inline code', () => {
    const html = chatPage({
      cspSource,
      nonce: 'abc',
      scriptUri: 'https://x/webview.js',
      styleUri: 'https://x/chat.css',
    });
    const scripts = html.match(/<script[^>]*>/g) ?? [];
    assert.deepEqual(scripts, ['<script nonce="abc" src="https://x/webview.js">']);
    assert.doesNotMatch(html, /\son\w+=/, 'no inline event handlers');
    assert.doesNotMatch(html, /style=/, 'no inline styles');
  });

  test('the controls are labelled for screen readers', () => {
    const html = chatPage({ cspSource, nonce: 'n', scriptUri: 's', styleUri: 'c' });
    assert.match(html, /<textarea[^>]*aria-label="Message StarChat/);
    assert.match(html, /role="log"/);
  });
});

describe('locations', () => {
  test('a range names its lines, 1-based, without a trailing empty line', () => {
    const range = { start: { line: 2, character: 0 }, end: { line: 7, character: 0 } };
    assert.equal(describeLocation('file:///w/src/sample.py', range), 'sample.py:3-7');
    assert.equal(
      describeLocation('file:///w/a%20b.py', { start: { line: 0 }, end: { line: 0, character: 9 } }),
      'a b.py:1',
    );
    assert.equal(describeLocation('untitled:Untitled-1'), 'Untitled-1');
  });
});
