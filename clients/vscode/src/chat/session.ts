/**
 * One chat conversation as the user sees it: the transcript, the server-side conversation id,
 * the answer in progress and how it ended.
 *
 * Every answer — a typed question, a slash command, a code action from the lightbulb or the
 * palette, a Continue — goes through `answer`, which waits for the server if it is
 * (re)starting, streams chunks into the transcript, lets the user stop it, and always ends it
 * with a state the panel can show: done, stopped, interrupted (the server went away: the text
 * so far is kept and marked) or error. Actions run in the panel's conversation, so they see
 * the earlier turns and later questions see them.
 *
 * The transcript is saved after each change ({@link ConversationStore}); a server that does
 * not know the conversation (after a restart or a reload) gets the earlier turns as `history`.
 *
 * This module knows nothing about VS Code or webviews; it talks to the server through
 * {@link ChatBackend} and to the view through `post`.
 */
import { randomUUID } from 'node:crypto';

import {
  CancellationTokenSource,
  ErrorCodes,
  LSPErrorCodes,
  ResponseError,
  type CancellationToken,
  type WorkspaceEdit,
} from 'vscode-languageserver-protocol';

import {
  FINISH_LENGTH,
  type ActionArgs,
  type ActionName,
  type ChatParams,
  type ChatResult,
  type EditResult,
  type ExplainResult,
  type Reference,
  type Usage,
} from '../common/protocol';
import type { ServerEvent } from '../common/server';
import { ACTION_TITLES, parseSlash, slashList } from './commands';
import type { ActionTarget, ContextTracker } from './context';
import { historyOf, type ConversationStore, type StoredConversation } from './history';
import { describeLocation, describeReference } from './location';
import type { Entry, EntryState, ToWebview } from './messages';

export interface ChatBackend {
  /** Whether the server is up now. */
  readonly running: boolean;
  /** Resolves when the server runs; rejects when it will not (it stopped for good). */
  ready(token: CancellationToken): Promise<void>;
  chat(params: ChatParams, onChunk: (text: string) => void, token: CancellationToken): Promise<ChatResult>;
  /** Run `starchat.<action>`, streaming its answer. */
  action(
    action: ActionName,
    args: ActionArgs,
    onChunk: (text: string) => void,
    token: CancellationToken,
  ): Promise<ExplainResult | EditResult>;
  deleteConversation(conversationId: string): Promise<void>;
}

/** What any answering request resolves to, and what the transcript says about it. */
export interface Answer {
  conversationId: string;
  text: string;
  usage?: Usage;
  note?: string;
  /** A refused edit the user may apply anyway. */
  rejectedEdit?: WorkspaceEdit;
  file?: { uri: string; label: string };
  /** The workspace code that went with the prompt. */
  references?: Reference[];
}

export type Ask = (onChunk: (text: string) => void, token: CancellationToken) => Promise<Answer>;

export const INTERRUPTED_NOTE = 'The StarChat server stopped before this answer was complete.';
export const STOPPED_NOTE = 'Stopped.';
export const CUT_NOTE = 'The answer reached the length limit (starchat.maxNewTokens).';
export const WAITING_FOR_SERVER = 'Waiting for the StarChat server to start…';
export const WAITING_FOR_MODEL = 'Waiting for the model…';

interface Active {
  entry: Entry;
  cts: CancellationTokenSource;
}

export class ChatSession {
  private entries: Entry[] = [];
  private id: string = randomUUID();
  private conversationId: string | undefined;
  private active: Active | undefined;
  private counter = 0;
  private readonly rejectedEdits = new Map<string, WorkspaceEdit>();

  constructor(
    private readonly backend: ChatBackend,
    private readonly post: (message: ToWebview) => void,
    private readonly context: ContextTracker,
    private readonly store?: ConversationStore,
    /** The workspace folders' URIs, for the references' relative paths. */
    private readonly roots: () => readonly string[] = () => [],
  ) {}

  get busy(): boolean {
    return this.active !== undefined;
  }

  get transcript(): readonly Entry[] {
    return this.entries;
  }

  /** The local id of the conversation shown (its key in the store). */
  get localId(): string {
    return this.id;
  }

  /** The whole state, for a webview that was just (re)created. */
  snapshot(): ToWebview {
    return {
      type: 'reset',
      entries: this.entries.map((e) => ({ ...e })),
      busy: this.busy,
      context: this.context.chip,
      files: this.context.files,
    };
  }

  /** Send a message typed in the panel: a slash command, or a question with the context. */
  send(text: string): Promise<void> {
    const message = text.trim();
    if (message === '' || this.busy) {
      return Promise.resolve();
    }
    const slash = parseSlash(message);
    if (slash && 'unknown' in slash) {
      this.notice(`There is no /${slash.unknown} command; try ${slashList()}.`);
      return Promise.resolve();
    }
    if (slash) {
      const target = this.context.target();
      if (!target) {
        this.notice(`Open a file and select code (or put the cursor in a function), then run /${slash.name}.`);
        return Promise.resolve();
      }
      this.context.take();
      return this.runAction(slash.action, target, `/${slash.name}`);
    }
    const attached = this.context.take();
    return this.run(message, attached?.label, (onChunk, token) => {
      const params: ChatParams = { message, ...this.conversation() };
      if (attached) {
        params.context = attached.value;
      }
      return this.backend.chat(params, onChunk, token);
    });
  }

  /**
   * Run a code action on `target` in this conversation, its answer streaming into the panel.
   * `shown` is the user's turn ("/fix"); by default the action's title.
   */
  runAction(action: ActionName, target: ActionTarget, shown?: string): Promise<void> {
    const userText = shown ?? ACTION_TITLES[action];
    return this.run(userText, target.label, async (onChunk, token) => {
      const args: ActionArgs = { uri: target.uri, range: target.range, ...this.conversation() };
      if (target.diagnostics) {
        args.diagnostics = target.diagnostics;
      }
      return outcomeOf(await this.backend.action(action, args, onChunk, token), target);
    });
  }

  /** Continue the last answer, which the length limit cut: it grows in place. */
  continueAnswer(id: string): Promise<void> {
    const entry = this.entries.filter((e) => e.role === 'assistant').at(-1);
    if (this.busy || !entry || entry.id !== id || !entry.cut) {
      return Promise.resolve();
    }
    const before = entry.text;
    entry.cut = false;
    entry.state = 'streaming';
    delete entry.note;
    this.post({ type: 'update', entry: { ...entry } });
    const params = (): ChatParams => ({ message: '', continue: true, ...this.conversation() });
    return this.answer(entry, (onChunk, token) => this.backend.chat(params(), onChunk, token), before);
  }

  /** The edit a refused answer carried, once: the caller applies it. */
  takeRejectedEdit(id: string): WorkspaceEdit | undefined {
    const edit = this.rejectedEdits.get(id);
    const entry = this.entries.find((e) => e.id === id);
    this.rejectedEdits.delete(id);
    if (entry?.canApplyAnyway) {
      entry.canApplyAnyway = false;
      this.post({ type: 'update', entry: { ...entry } });
    }
    return edit;
  }

  /** Record how "Apply anyway" went, under the answer. */
  appliedAnyway(id: string, applied: boolean): void {
    const entry = this.entries.find((e) => e.id === id);
    if (entry) {
      entry.note = applied ? `${entry.note ?? ''} Applied anyway.`.trim() : `${entry.note ?? ''} Not applied.`.trim();
      this.post({ type: 'update', entry: { ...entry } });
      this.persist();
    }
  }

  /** Show `userText` as the user's turn and stream the answer `ask` produces. */
  async run(userText: string, contextLabel: string | undefined, ask: Ask): Promise<void> {
    if (this.busy) {
      this.stop();
    }
    for (const earlier of this.entries.filter((e) => e.cut)) {
      earlier.cut = false;
      this.post({ type: 'update', entry: { ...earlier } });
    }
    this.append({ role: 'user', text: userText, state: 'done', context: contextLabel });
    const entry = this.append({ role: 'assistant', text: '', state: 'streaming' });
    await this.answer(entry, ask, '');
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

  /** Start a new conversation; the current one stays in the history list. */
  newChat(): void {
    this.stop();
    const id = this.conversationId;
    if (id !== undefined) {
      this.backend.deleteConversation(id).catch(() => undefined);
    }
    this.show(randomUUID(), []);
  }

  /** Show a stored conversation; the server gets its turns with the next message. */
  open(conversation: StoredConversation): void {
    this.stop();
    const entries = conversation.entries.map((e): Entry => {
      const copy = { ...e };
      if (copy.state === 'streaming') {
        copy.state = 'interrupted';
        copy.note = INTERRUPTED_NOTE;
      }
      delete copy.canApplyAnyway;
      return copy;
    });
    this.show(conversation.id, entries);
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
    // The new server process knows no conversations; the next message brings the history.
    this.conversationId = undefined;
    if (event.kind === 'crashed') {
      this.notice(
        `The StarChat server stopped unexpectedly and is being restarted (${event.attempt} of ${event.maxAttempts}).`,
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

  /** The server's conversation, or, when it knows none, the earlier turns to start from. */
  private conversation(): { conversationId?: string; history?: ChatParams['history'] } {
    if (this.conversationId !== undefined) {
      return { conversationId: this.conversationId };
    }
    const history = historyOf(this.entries);
    return history.length > 0 ? { history } : {};
  }

  private show(id: string, entries: Entry[]): void {
    this.id = id;
    this.conversationId = undefined;
    this.entries = entries;
    this.rejectedEdits.clear();
    this.counter = Math.max(0, ...entries.map((e) => Number(/^m(\d+)$/.exec(e.id)?.[1] ?? 0)));
    this.post(this.snapshot());
  }

  private async answer(entry: Entry, ask: Ask, before: string): Promise<void> {
    const active: Active = { entry, cts: new CancellationTokenSource() };
    this.active = active;
    this.post({ type: 'busy', busy: true });
    try {
      if (!this.backend.running) {
        this.post({ type: 'progress', text: WAITING_FOR_SERVER });
        await this.backend.ready(active.cts.token);
      }
      this.post({ type: 'progress', text: WAITING_FOR_MODEL });
      const onChunk = (chunk: string) => {
        if (this.active === active && chunk !== '') {
          entry.text += chunk;
          this.post({ type: 'chunk', id: entry.id, text: chunk });
        }
      };
      const answer = await ask(onChunk, active.cts.token).catch((error: unknown) => {
        if (!isUnknownConversation(error) || this.conversationId === undefined) {
          throw error;
        }
        // The server forgot the conversation (restarted, or dropped it): start again from
        // the transcript.
        this.conversationId = undefined;
        return ask(onChunk, active.cts.token);
      });
      this.conversationId = answer.conversationId;
      if (this.active !== active) {
        return;
      }
      // The final text is authoritative: it is the whole answer even if chunks were missed.
      const text = answer.text ? before + answer.text : entry.text;
      if (active.cts.token.isCancellationRequested) {
        this.finish(active, 'stopped', text, STOPPED_NOTE);
        return;
      }
      entry.cut = answer.usage?.finishReason === FINISH_LENGTH;
      if (answer.rejectedEdit) {
        this.rejectedEdits.set(entry.id, answer.rejectedEdit);
        entry.canApplyAnyway = true;
      }
      if (answer.file) {
        entry.file = answer.file;
      }
      if (answer.references && answer.references.length > 0) {
        const roots = this.roots();
        entry.references = answer.references.map((r) => ({
          uri: r.uri,
          range: r.range,
          label: describeReference(r.uri, r.range, roots),
        }));
      }
      this.finish(active, 'done', text, answer.note ?? (entry.cut ? CUT_NOTE : undefined));
    } catch (error) {
      if (this.active === active) {
        const [state, note] = classify(error, active.cts.token.isCancellationRequested);
        this.finish(active, state, entry.text, note);
      }
    }
  }

  private append(fields: Omit<Entry, 'id'>): Entry {
    const entry: Entry = { id: `m${++this.counter}`, ...fields };
    if (entry.context === undefined) {
      delete entry.context;
    }
    this.entries.push(entry);
    this.post({ type: 'append', entry: { ...entry } });
    this.persist();
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
    this.post({ type: 'update', entry: { ...entry } });
    this.post({ type: 'busy', busy: false });
    active.cts.dispose();
    this.persist();
  }

  private persist(): void {
    void this.store?.save(this.id, this.entries);
  }
}

/** An action's result as the transcript tells it. */
export function outcomeOf(result: ExplainResult | EditResult, target: ActionTarget): Answer {
  const answer: Answer = { conversationId: result.conversationId, text: result.text, usage: result.usage };
  if (result.references) {
    answer.references = result.references;
  }
  if (!('applied' in result)) {
    return answer;
  }
  if (result.rejected) {
    return { ...answer, note: `Not applied: ${result.rejected.reason}`, rejectedEdit: result.rejected.edit };
  }
  if (result.testUri) {
    answer.file = { uri: result.testUri, label: describeLocation(result.testUri) };
  }
  const fallback = result.applied
    ? `Applied to ${describeLocation(target.uri)}.`
    : 'Discarded: the file was not changed.';
  return { ...answer, note: result.message ?? fallback };
}

function isUnknownConversation(error: unknown): boolean {
  const data: unknown = error instanceof ResponseError ? error.data : undefined;
  return typeof data === 'object' && data !== null && (data as { code?: unknown }).code === 'unknown_conversation';
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
