/**
 * The chat panel's page script: renders the transcript the extension sends and reports what
 * the user does. Answers are re-rendered as markdown at most once per frame while they stream;
 * code blocks get Copy, Insert and Replace selection buttons, and answers their Continue,
 * Apply anyway or Open buttons, all added after sanitizing (and never from model text), so no
 * model output can create controls of its own. While an answer is written the progress line
 * says what it waits for, or how many tokens have arrived, beside Cancel.
 */
import DOMPurify from 'dompurify';

import type { ContextChip, Entry, FileChip, FromWebview, ToWebview } from '../chat/messages';
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
const contextKind = element<HTMLSpanElement>('context-kind');
const contextLabel = element<HTMLSpanElement>('context-label');
const progress = element<HTMLDivElement>('progress');
const progressText = element<HTMLSpanElement>('progress-text');
const filesList = element<HTMLUListElement>('files');

interface EntryView {
  entry: Entry;
  root: HTMLElement;
  body: HTMLDivElement;
  note: HTMLParagraphElement;
  references: HTMLParagraphElement;
  actions: HTMLDivElement;
  scheduled: boolean;
}

const views = new Map<string, EntryView>();
let busy = false;
/** Pieces of the answer in progress so far (the server streams one per generated token). */
let tokens = 0;

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

function button(label: string, action: string, ariaLabel: string, className = ''): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.dataset['action'] = action;
  b.setAttribute('aria-label', ariaLabel);
  b.title = ariaLabel;
  if (className !== '') {
    b.className = className;
  }
  return b;
}

/** Continue, Apply anyway, Open: the answer's own buttons, from the entry's fields only. */
function renderActions(view: EntryView): void {
  const { entry, actions } = view;
  actions.replaceChildren();
  if (entry.cut && entry.state === 'done') {
    actions.append(button('Continue', 'continue', 'Continue this answer from where it was cut'));
  }
  if (entry.canApplyAnyway) {
    actions.append(button('Apply anyway', 'applyAnyway', 'Apply the refused edit anyway', 'secondary'));
  }
  if (entry.file) {
    const open = button(`Open ${entry.file.label}`, 'open', `Open ${entry.file.label}`, 'secondary');
    open.dataset['uri'] = entry.file.uri;
    actions.append(open);
  }
  actions.hidden = actions.childElementCount === 0;
}

/** "Used N references:" and a link to each one's lines; text only, from the entry's fields. */
function renderReferences(view: EntryView): void {
  const { entry, references } = view;
  references.replaceChildren();
  const list = entry.references ?? [];
  references.hidden = list.length === 0;
  if (list.length === 0) {
    return;
  }
  const intro = document.createElement('span');
  intro.textContent = `Used ${list.length} ${list.length === 1 ? 'reference' : 'references'}:`;
  references.append(intro);
  list.forEach((reference, index) => {
    const link = document.createElement('a');
    link.href = '#';
    link.className = 'reference';
    link.textContent = reference.label;
    link.title = `Open ${reference.label}`;
    link.dataset['index'] = String(index);
    references.append(link);
  });
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
    toolbar.append(
      label,
      button('Copy', 'copy', 'Copy code'),
      button('Insert', 'insert', 'Insert the code at the cursor'),
      button('Replace selection', 'replace', 'Replace the selected text with the code'),
    );
    pre.replaceWith(wrapper);
    wrapper.append(toolbar, pre);
  }
}

function renderEntry(view: EntryView): void {
  const { entry, root, body, note } = view;
  root.dataset['state'] = entry.state;
  root.classList.toggle('entry-cut', entry.cut === true);
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
  renderReferences(view);
  renderActions(view);
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
  root.dataset['id'] = entry.id;
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
  const references = document.createElement('p');
  references.className = 'entry-references';
  const actions = document.createElement('div');
  actions.className = 'entry-actions';
  actions.dataset['id'] = entry.id;
  root.append(header, body, note, references, actions);
  const view: EntryView = { entry, root, body, note, references, actions, scheduled: false };
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
  progress.hidden = !value;
  sendButton.disabled = value;
  if (value) {
    tokens = 0;
  } else if (document.activeElement === stopButton) {
    input.focus();
  }
}

function setProgress(text: string): void {
  progressText.textContent = text;
}

function countToken(): void {
  tokens++;
  setProgress(`Writing the answer… ${tokens} ${tokens === 1 ? 'token' : 'tokens'}`);
}

function setContext(chip: ContextChip | undefined): void {
  contextBox.hidden = chip === undefined;
  contextBox.classList.toggle('pinned', chip?.pinned === true);
  contextKind.textContent = chip?.pinned ? 'Selection:' : 'Context:';
  contextLabel.textContent = chip?.label ?? '';
}

/** The files named with `#`, each a chip with ×. */
function setFiles(files: FileChip[]): void {
  filesList.replaceChildren();
  for (const file of files) {
    const chip = document.createElement('li');
    chip.className = 'file-chip';
    const label = document.createElement('span');
    label.textContent = `#${file.label}`;
    const remove = button('×', 'removeFile', `Send without ${file.label}`, 'icon-button');
    remove.dataset['uri'] = file.uri;
    chip.append(label, remove);
    filesList.append(chip);
  }
  filesList.hidden = files.length === 0;
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
      setFiles(message.files ?? []);
      break;
    case 'files':
      setFiles(message.files);
      break;
    case 'append':
      addEntry(message.entry);
      break;
    case 'chunk': {
      const view = views.get(message.id);
      if (view) {
        view.entry.text += message.text;
        countToken();
        scheduleRender(view);
      }
      break;
    }
    case 'update': {
      const view = views.get(message.entry.id);
      if (view) {
        view.entry = message.entry;
        const pinned = pinnedToBottom();
        renderEntry(view);
        if (pinned) {
          scrollToBottom();
        }
      }
      break;
    }
    case 'progress':
      setProgress(message.text);
      break;
    case 'selection':
      document.body.classList.toggle('has-selection', message.present);
      break;
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

// `#` typed at the start or after a space opens the file picker; the `#` itself is left out.
input.addEventListener('input', (event) => {
  const typed = event as InputEvent;
  const end = input.selectionStart;
  if (typed.data !== '#' || end === null || end !== input.selectionEnd || input.value[end - 1] !== '#') {
    return;
  }
  if (end > 1 && !/\s/.test(input.value[end - 2] ?? '')) {
    return;
  }
  input.value = input.value.slice(0, end - 1) + input.value.slice(end);
  input.setSelectionRange(end - 1, end - 1);
  post({ type: 'pickFile' });
});

element<HTMLButtonElement>('add-file').addEventListener('click', () => post({ type: 'pickFile' }));

filesList.addEventListener('click', (event) => {
  const target = event.target instanceof Element ? event.target.closest('button[data-action="removeFile"]') : null;
  if (target instanceof HTMLButtonElement && target.dataset['uri']) {
    post({ type: 'removeFile', uri: target.dataset['uri'] });
    input.focus();
  }
});

stopButton.addEventListener('click', () => post({ type: 'stop' }));
element<HTMLButtonElement>('new-chat').addEventListener('click', () => post({ type: 'newChat' }));
element<HTMLButtonElement>('context-clear').addEventListener('click', () => {
  post({ type: 'clearContext' });
  input.focus();
});

transcript.addEventListener('click', (event) => {
  const link = event.target instanceof Element ? event.target.closest('.entry-references a.reference') : null;
  if (link instanceof HTMLAnchorElement) {
    event.preventDefault();
    const id = link.closest<HTMLElement>('.entry')?.dataset['id'];
    const reference = id === undefined ? undefined : views.get(id)?.entry.references?.[Number(link.dataset['index'])];
    if (reference) {
      post({ type: 'open', uri: reference.uri, range: reference.range });
    }
    return;
  }
  const target = event.target instanceof Element ? event.target.closest('button[data-action]') : null;
  if (!(target instanceof HTMLButtonElement)) {
    return;
  }
  const action = target.dataset['action'];
  const id = target.closest<HTMLElement>('.entry-actions')?.dataset['id'];
  if (id !== undefined) {
    if (action === 'continue' || action === 'applyAnyway') {
      post({ type: action, id });
    } else if (action === 'open' && target.dataset['uri']) {
      post({ type: 'open', uri: target.dataset['uri'] });
    }
    return;
  }
  const code = target.closest('.code-block')?.querySelector('pre code, pre');
  if (code && (action === 'copy' || action === 'insert' || action === 'replace')) {
    post({ type: action, code: code.textContent ?? '' });
  }
});

post({ type: 'ready' });
