/**
 * The chat panel's page script: renders the transcript the extension sends and reports what
 * the user does. Answers are re-rendered as markdown at most once per frame while they stream;
 * code blocks get Copy and Insert buttons, added after sanitizing so no model output can
 * create controls of its own.
 */
import DOMPurify from 'dompurify';

import type { ContextChip, Entry, FromWebview, ToWebview } from '../chat/messages';
import { createRenderer, languageOf } from './render';

interface VsCodeApi {
  postMessage(message: FromWebview): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const render = createRenderer(DOMPurify);

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) {
    throw new Error(`chat page is missing #${id}`);
  }
  return found as T;
}

const transcript = element<HTMLDivElement>('transcript');
const empty = element<HTMLParagraphElement>('empty');
const composer = element<HTMLFormElement>('composer');
const input = element<HTMLTextAreaElement>('input');
const sendButton = element<HTMLButtonElement>('send');
const stopButton = element<HTMLButtonElement>('stop');
const contextBox = element<HTMLDivElement>('context');
const contextLabel = element<HTMLSpanElement>('context-label');

interface EntryView {
  entry: Entry;
  root: HTMLElement;
  body: HTMLDivElement;
  note: HTMLParagraphElement;
  scheduled: boolean;
}

const views = new Map<string, EntryView>();
let busy = false;

const AUTHORS: Record<Entry['role'], string> = { user: 'You', assistant: 'StarChat', notice: 'Note' };

function post(message: FromWebview): void {
  vscode.postMessage(message);
}

/** Keep following the answer only if the user has not scrolled up to read something else. */
function pinnedToBottom(): boolean {
  return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 48;
}

function scrollToBottom(): void {
  transcript.scrollTop = transcript.scrollHeight;
}

function button(label: string, action: string, ariaLabel: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.dataset['action'] = action;
  b.setAttribute('aria-label', ariaLabel);
  b.title = ariaLabel;
  return b;
}

function decorateCodeBlocks(body: HTMLElement): void {
  for (const pre of Array.from(body.querySelectorAll('pre'))) {
    const code = pre.querySelector('code');
    const language = code ? /(?:^|\s)language-(\S+)/.exec(code.className)?.[1] : undefined;
    const wrapper = document.createElement('div');
    wrapper.className = 'code-block';
    const toolbar = document.createElement('div');
    toolbar.className = 'code-toolbar';
    const label = document.createElement('span');
    label.className = 'code-language';
    label.textContent = (language && languageOf(language)) ?? 'text';
    toolbar.append(label, button('Copy', 'copy', 'Copy code'), button('Insert', 'insert', 'Insert code at the cursor'));
    pre.replaceWith(wrapper);
    wrapper.append(toolbar, pre);
  }
}

function renderEntry(view: EntryView): void {
  const { entry, root, body, note } = view;
  root.dataset['state'] = entry.state;
  root.setAttribute('aria-busy', String(entry.state === 'streaming'));
  if (entry.role === 'assistant') {
    if (entry.text === '' && entry.state === 'streaming') {
      body.innerHTML = '';
      const thinking = document.createElement('span');
      thinking.className = 'thinking';
      thinking.textContent = 'Thinking…';
      body.append(thinking);
    } else {
      body.innerHTML = render(entry.text);
      decorateCodeBlocks(body);
    }
  } else {
    body.textContent = entry.text;
  }
  note.hidden = entry.note === undefined;
  note.textContent = entry.note ?? '';
}

function scheduleRender(view: EntryView): void {
  if (view.scheduled) {
    return;
  }
  view.scheduled = true;
  requestAnimationFrame(() => {
    view.scheduled = false;
    const pinned = pinnedToBottom();
    renderEntry(view);
    if (pinned) {
      scrollToBottom();
    }
  });
}

function addEntry(entry: Entry): void {
  const root = document.createElement('article');
  root.className = `entry entry-${entry.role}`;
  const header = document.createElement('header');
  header.className = 'entry-header';
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = AUTHORS[entry.role];
  header.append(author);
  if (entry.context !== undefined) {
    const about = document.createElement('span');
    about.className = 'about';
    about.textContent = `about ${entry.context}`;
    header.append(about);
  }
  const body = document.createElement('div');
  body.className = 'entry-body';
  const note = document.createElement('p');
  note.className = 'entry-note';
  root.append(header, body, note);
  const view: EntryView = { entry, root, body, note, scheduled: false };
  views.set(entry.id, view);
  const pinned = pinnedToBottom();
  renderEntry(view);
  transcript.append(root);
  empty.hidden = true;
  if (pinned || entry.role === 'user') {
    scrollToBottom();
  }
}

function setBusy(value: boolean): void {
  busy = value;
  stopButton.hidden = !value;
  sendButton.disabled = value;
  if (!value && document.activeElement === stopButton) {
    input.focus();
  }
}

function setContext(chip: ContextChip | undefined): void {
  contextBox.hidden = chip === undefined;
  contextLabel.textContent = chip?.label ?? '';
}

function reset(entries: Entry[]): void {
  for (const view of views.values()) {
    view.root.remove();
  }
  views.clear();
  empty.hidden = entries.length > 0;
  for (const entry of entries) {
    addEntry(entry);
  }
}

function submit(): void {
  const text = input.value;
  if (busy || text.trim() === '') {
    return;
  }
  post({ type: 'send', text });
  input.value = '';
}

window.addEventListener('message', (event: MessageEvent<ToWebview>) => {
  const message = event.data;
  switch (message.type) {
    case 'reset':
      reset(message.entries);
      setBusy(message.busy);
      setContext(message.context);
      break;
    case 'append':
      addEntry(message.entry);
      break;
    case 'chunk': {
      const view = views.get(message.id);
      if (view) {
        view.entry.text += message.text;
        scheduleRender(view);
      }
      break;
    }
    case 'finish': {
      const view = views.get(message.id);
      if (view) {
        view.entry.state = message.state;
        view.entry.text = message.text;
        if (message.note !== undefined) {
          view.entry.note = message.note;
        }
        const pinned = pinnedToBottom();
        renderEntry(view);
        if (pinned) {
          scrollToBottom();
        }
      }
      break;
    }
    case 'busy':
      setBusy(message.busy);
      break;
    case 'context':
      setContext(message.context);
      break;
    case 'focusInput':
      input.focus();
      break;
  }
});

composer.addEventListener('submit', (event) => {
  event.preventDefault();
  submit();
});

input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  } else if (event.key === 'Escape' && busy) {
    event.preventDefault();
    post({ type: 'stop' });
  }
});

stopButton.addEventListener('click', () => post({ type: 'stop' }));
element<HTMLButtonElement>('new-chat').addEventListener('click', () => post({ type: 'newChat' }));
element<HTMLButtonElement>('context-clear').addEventListener('click', () => {
  post({ type: 'clearContext' });
  input.focus();
});

transcript.addEventListener('click', (event) => {
  const target = event.target instanceof Element ? event.target.closest('button[data-action]') : null;
  const code = target?.closest('.code-block')?.querySelector('pre code, pre');
  if (!(target instanceof HTMLButtonElement) || !code) {
    return;
  }
  const text = code.textContent ?? '';
  if (target.dataset['action'] === 'copy') {
    post({ type: 'copy', code: text });
  } else if (target.dataset['action'] === 'insert') {
    post({ type: 'insert', code: text });
  }
});

post({ type: 'ready' });
