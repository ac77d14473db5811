/**
 * One chat conversation as the user sees it: the transcript, the server-side conversation id,
 * the answer in progress and how it ended.
 *
 * Every answer (a typed question or a code action such as Explain) goes through `run`, which
 * streams chunks into the transcript, lets the user stop it, and always ends it with a state
 * the panel can show: done, stopped, interrupted (the server went away: the text so far is
 * kept and marked) or error. This module knows nothing about VS Code or webviews; it talks to
 * the server through {@link ChatBackend} and to the view through `post`.
 */
import {
  CancellationTokenSource,
  ErrorCodes,
  LSPErrorCodes,
  ResponseError,
  type CancellationToken,
} from 'vscode-languageserver-protocol';

import type { ChatContext, ChatParams, ChatResult } from '../common/protocol';
import type { ServerEvent } from '../common/server';
import type { ContextChip, Entry, EntryState, ToWebview } from './messages';

export interface ChatBackend {
  chat(params: ChatParams, onChunk: (text: string) => void, token: CancellationToken): Promise<ChatResult>;
  deleteConversation(conversationId: string): Promise<void>;
}

/** What any answering request resolves to. */
export interface Answer {
  conversationId: string;
  text: string;
}

export type Ask = (onChunk: (text: string) => void, token: CancellationToken) => Promise<Answer>;

export const INTERRUPTED_NOTE = 'The StarChat server stopped before this answer was complete.';
export const STOPPED_NOTE = 'Stopped.';

interface Active {
  entry: Entry;
  cts: CancellationTokenSource;
}

export class ChatSession {
  private entries: Entry[] = [];
  private conversationId: string | undefined;
  private active: Active | undefined;
  private context: { value: ChatContext; chip: ContextChip } | undefined;
  private counter = 0;

  constructor(
    private readonly backend: ChatBackend,
    private readonly post: (message: ToWebview) => void,
  ) {}

  get busy(): boolean {
    return this.active !== undefined;
  }

  get transcript(): readonly Entry[] {
    return this.entries;
  }

  /** The whole state, for a webview that was just (re)created. */
  snapshot(): ToWebview {
    return {
      type: 'reset',
      entries: this.entries.map((e) => ({ ...e })),
      busy: this.busy,
      context: this.context?.chip,
    };
  }

  /** Attach editor context (e.g. the selection) to the next message. */
  setContext(value: ChatContext, label: string): void {
    this.context = { value, chip: { label } };
    this.post({ type: 'context', context: this.context.chip });
  }

  clearContext(): void {
    this.context = undefined;
    this.post({ type: 'context', context: undefined });
  }

  /** Send a message typed in the panel, with the attached context if any. */
  send(text: string): Promise<void> {
    const message = text.trim();
    if (message === '' || this.busy) {
      return Promise.resolve();
    }
    const attached = this.context;
    if (attached) {
      this.clearContext();
    }
    return this.run(message, attached?.chip.label, (onChunk, token) => {
      const params: ChatParams = { message };
      if (this.conversationId !== undefined) {
        params.conversationId = this.conversationId;
      }
      if (attached) {
        params.context = attached.value;
      }
      return this.backend.chat(params, onChunk, token);
    });
  }

  /** Show `userText` as the user's turn and stream the answer `ask` produces. */
  async run(userText: string, contextLabel: string | undefined, ask: Ask): Promise<void> {
    if (this.busy) {
      this.stop();
    }
    this.append({ role: 'user', text: userText, state: 'done', context: contextLabel });
    const entry = this.append({ role: 'assistant', text: '', state: 'streaming' });
    const active: Active = { entry, cts: new CancellationTokenSource() };
    this.active = active;
    this.post({ type: 'busy', busy: true });
    try {
      const answer = await ask((chunk) => {
        if (this.active === active && chunk !== '') {
          entry.text += chunk;
          this.post({ type: 'chunk', id: entry.id, text: chunk });
        }
      }, active.cts.token);
      this.conversationId = answer.conversationId;
      if (this.active === active) {
        // The final text is authoritative: it is the whole answer even if chunks were missed.
        this.finish(active, active.cts.token.isCancellationRequested ? 'stopped' : 'done', answer.text || entry.text);
      }
    } catch (error) {
      if (this.active === active) {
        const [state, note] = classify(error, active.cts.token.isCancellationRequested);
        this.finish(active, state, entry.text, note);
      }
    }
  }

  /** Stop the answer in progress; its text so far stays in the transcript. */
  stop(): void {
    const active = this.active;
    if (!active) {
      return;
    }
    active.cts.cancel();
    this.finish(active, 'stopped', active.entry.text, STOPPED_NOTE);
  }

  /** Forget the conversation here and on the server. */
  newChat(): void {
    this.stop();
    const id = this.conversationId;
    this.conversationId = undefined;
    this.entries = [];
    this.context = undefined;
    if (id !== undefined) {
      this.backend.deleteConversation(id).catch(() => undefined);
    }
    this.post(this.snapshot());
  }

  /** The server lost or restarted: an answer in progress is interrupted, not silently lost. */
  serverChanged(event: ServerEvent): void {
    if (event.kind !== 'crashed' && event.kind !== 'stopped') {
      return;
    }
    const active = this.active;
    if (active) {
      active.cts.cancel();
      this.finish(active, 'interrupted', active.entry.text, INTERRUPTED_NOTE);
    }
    const hadConversation = this.conversationId !== undefined;
    this.conversationId = undefined;
    if (event.kind === 'crashed') {
      const afresh = hadConversation ? ' The next message starts a new conversation.' : '';
      this.notice(
        `The StarChat server stopped unexpectedly and is being restarted (${event.attempt} of ${event.maxAttempts}).${afresh}`,
      );
    } else {
      this.notice(event.reason);
    }
  }

  /** The server dropped old turns of this conversation to fit the model's context window. */
  contextTrimmed(conversationId: string, droppedMessages: number): void {
    if (conversationId === this.conversationId && droppedMessages > 0) {
      const plural = droppedMessages === 1 ? 'message was' : 'messages were';
      this.notice(`${droppedMessages} earlier ${plural} left out to fit the model's context window.`);
    }
  }

  notice(text: string): void {
    this.append({ role: 'notice', text, state: 'done' });
  }

  private append(fields: Omit<Entry, 'id'>): Entry {
    const entry: Entry = { id: `m${++this.counter}`, ...fields };
    if (entry.context === undefined) {
      delete entry.context;
    }
    this.entries.push(entry);
    this.post({ type: 'append', entry: { ...entry } });
    return entry;
  }

  private finish(active: Active, state: EntryState, text: string, note?: string): void {
    const { entry } = active;
    entry.state = state;
    entry.text = text;
    if (note !== undefined) {
      entry.note = note;
    }
    this.active = undefined;
    this.post({ type: 'finish', id: entry.id, state, text, ...(note !== undefined ? { note } : {}) });
    this.post({ type: 'busy', busy: false });
    active.cts.dispose();
  }
}

/** How a failed request ends its answer, and the sentence that says why. */
export function classify(error: unknown, cancelled: boolean): [EntryState, string] {
  if (cancelled || (error instanceof ResponseError && error.code === LSPErrorCodes.RequestCancelled)) {
    return ['stopped', STOPPED_NOTE];
  }
  if (
    error instanceof ResponseError &&
    (error.code === ErrorCodes.PendingResponseRejected || error.code === ErrorCodes.ConnectionInactive)
  ) {
    return ['interrupted', INTERRUPTED_NOTE];
  }
  const message = error instanceof Error ? error.message : String(error);
  return ['error', `StarChat could not answer: ${message}`];
}
