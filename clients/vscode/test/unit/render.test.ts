import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import createDOMPurify from 'dompurify';
import { JSDOM } from 'jsdom';

import { createRenderer } from '../../src/webview/render';

const { window } = new JSDOM('');
const render = createRenderer(createDOMPurify(window as unknown as Parameters<typeof createDOMPurify>[0]));

function dom(html: string): DocumentFragment {
  return JSDOM.fragment(html);
}

describe('rendering model output', () => {
  test('HTML and scripts in an answer are shown as text, never as elements', () => {
    const answer = 'Try <script>alert(1)</script> or <img src=x onerror="alert(2)"> <b>bold</b>';
    const html = render(answer);
    const fragment = dom(html);
    assert.equal(fragment.querySelector('script, img, b'), null);
    assert.ok(fragment.textContent?.includes('<script>alert(1)</script>'), html);
    assert.ok(fragment.textContent?.includes('<img src=x onerror="alert(2)">'), html);
    assert.equal(fragment.querySelector('[onerror]'), null);
  });

  test('javascript: links do not become links', () => {
    const fragment = dom(render('[click](javascript:alert(1)) and [docs](https://example.com/)'));
    const hrefs = Array.from(fragment.querySelectorAll('a')).map((a) => a.getAttribute('href'));
    assert.deepEqual(hrefs, ['https://example.com/']);
  });

  test('markdown images are not loaded', () => {
    assert.equal(dom(render('![tracker](https://example.com/p.png)')).querySelector('img'), null);
  });

  test('a code block without a language is escaped plain text', () => {
    const fragment = dom(render('```\nif a < b and c > d:\n    print("<div>")\n```'));
    const code = fragment.querySelector('pre code');
    assert.ok(code);
    assert.equal(code.textContent, 'if a < b and c > d:\n    print("<div>")\n');
    assert.equal(code.querySelector('*'), null, 'no markup inside an untagged block');
  });

  test('a code block with a known language is highlighted and keeps its text', () => {
    const source = 'def add(a, b):\n    return a + b\n';
    const fragment = dom(render('```python\n' + source + '```'));
    const code = fragment.querySelector('pre code');
    assert.ok(code?.classList.contains('language-python'));
    assert.ok(code?.querySelector('.hljs-keyword'), 'keywords are marked');
    assert.equal(code?.textContent, source);
  });

  test('an unknown language tag renders as plain code', () => {
    const fragment = dom(render('```notalanguage\nx <- 1\n```'));
    assert.equal(fragment.querySelector('pre code')?.textContent, 'x <- 1\n');
  });

  test('an unterminated fence (an answer still streaming) renders as code', () => {
    const fragment = dom(render('Here:\n```python\ndef f():\n    return 1'));
    assert.equal(fragment.querySelector('pre code')?.textContent, 'def f():\n    return 1');
  });

  test('single newlines in prose are kept as line breaks', () => {
    const fragment = dom(render('first line\nsecond line'));
    assert.equal(fragment.querySelectorAll('br').length, 1);
  });

  test('a very long answer renders completely and quickly', () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `Line ${i} with *emphasis* and \`code\`.`);
    const block = Array.from({ length: 2000 }, (_, i) => `x_${i} = ${i}`).join('\n');
    const answer = `${lines.join('\n\n')}\n\n\`\`\`python\n${block}\n\`\`\`\n\nThe end.`;
    const started = performance.now();
    const html = render(answer);
    const elapsed = performance.now() - started;
    const fragment = dom(html);
    assert.equal(fragment.querySelectorAll('p').length, 2001);
    assert.ok(fragment.querySelector('pre code')?.textContent?.includes('x_1999 = 1999'));
    assert.equal(fragment.querySelector('p:last-of-type')?.textContent, 'The end.');
    // Generous: jsdom is far slower than the webview; this catches quadratic blow-ups only.
    assert.ok(elapsed < 10_000, `rendering took ${elapsed.toFixed(0)} ms`);
  });
});
