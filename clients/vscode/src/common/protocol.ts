/**
 * The custom protocol, declared once on the client side (mirrors server/methods.py).
 *
 * Everything beyond standard LSP lives under the `starchat/` namespace; code-action commands
 * are `starchat.<action>` and run through `workspace/executeCommand`. A Python test
 * (tests/clients/test_vscode_contract.py) reads the string constants below and compares them
 * with the server's declaration, so keep each name a plain string literal.
 */
import {
  NotificationType,
  ProgressType,
  RequestType,
  RequestType0,
  type Diagnostic,
  type Position,
  type Range,
  type WorkspaceEdit,
} from 'vscode-languageserver-protocol';

export const CHAT = 'starchat/chat';
export const CONVERSATION_DELETE = 'starchat/conversation/delete';
export const STATUS = 'starchat/status';
export const CONTEXT_TRIMMED = 'starchat/contextTrimmed';

/** Key under the client's `capabilities.experimental`; `{answerPanel: true}` tells the server
 * this client shows Explain's answer itself (no `window/showMessage` copy). */
export const CLIENT_CAPABILITY = 'starchat';

export const REQUESTS = [CHAT, CONVERSATION_DELETE, STATUS] as const;
export const NOTIFICATIONS = [STATUS, CONTEXT_TRIMMED] as const;

/** Code actions the server offers; each runs as the command `starchat.<action>`. */
export const ACTIONS = ['explain', 'fix', 'writeTests', 'addDocstring', 'improve'] as const;
export type ActionName = (typeof ACTIONS)[number];
export const COMMANDS: readonly string[] = ACTIONS.map((action) => commandFor(action));

export function commandFor(action: ActionName): string {
  return `starchat.${action}`;
}

/** The editor context a chat message is about. Without `range`: the whole document, fitted
 * into the budget around `cursor`; with an empty range: the function or class around it.
 * Without `diagnostics`: those the client last sent with a code-action request. */
export interface ChatContext {
  uri: string;
  range?: Range;
  diagnostics?: Diagnostic[];
  cursor?: Position;
  /** Workspace files the user named: their code goes with the message first. */
  files?: string[];
}

/** One earlier turn, for a server that does not know the conversation (after a restart). */
export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface ChatParams {
  message: string;
  conversationId?: string;
  context?: ChatContext;
  /** Set to receive the answer as `$/progress` notifications carrying {@link ChatChunk}. */
  partialResultToken?: string;
  /** Alternating, oldest first; used only when `conversationId` is absent or unknown. */
  history?: HistoryMessage[];
  /** Resume the last answer, cut by maxNewTokens; the result's text is only the new part. */
  continue?: boolean;
}

/** `length`: the answer was cut by maxNewTokens (it can be continued). */
export const FINISH_LENGTH = 'length';

export interface Usage {
  promptTokens: number;
  generatedTokens: number;
  timeToFirstToken: number | null;
  tokensPerSecond: number | null;
  finishReason: string;
  /** Prompt tokens reused from the conversation's previous turn (the server's KV cache). */
  cachedTokens?: number;
}

export interface ChatResult {
  conversationId: string;
  text: string;
  usage: Usage;
  droppedMessages: number;
  /** The workspace code that went with the message, best first. */
  references?: Reference[];
}

/** Code from the workspace index that a prompt included. */
export interface Reference {
  uri: string;
  range: Range;
}

/** One streamed piece of an answer: new text, in order. */
export interface ChatChunk {
  text: string;
}

export interface ConversationDeleteParams {
  conversationId: string;
}

export interface ConversationDeleteResult {
  deleted: boolean;
}

export type ModelState = 'loading' | 'ready' | 'error';

export interface Status {
  state: ModelState;
  model: string;
  device: string;
  message?: string;
  /** The workspace index (absent from an older server). */
  index?: IndexStatus;
  /** Inline completion's model (absent from an older server). */
  completion?: CompletionStatus;
}

/**
 * The model behind ghost text. `infilling`: the prompt has the code after the cursor too
 * (fill-in-the-middle, in `format`); false: the model has no FIM tokens, and `message` says
 * it completes from the code before the cursor only.
 */
export interface CompletionStatus {
  state: ModelState;
  model: string;
  infilling: boolean;
  format: string | null;
  message?: string;
}

/** `off`: workspaceContextTokens is 0. `capped`: the index stopped at its file limit. */
export interface IndexStatus {
  state: 'off' | 'indexing' | 'ready';
  files: number;
  chunks: number;
  capped?: boolean;
}

export interface ContextTrimmed {
  conversationId: string;
  droppedMessages: number;
}

/** The single argument of every `starchat.<action>` command. An empty range: the function or
 * class around it. `conversationId`: continue that conversation (the panel's); with
 * `partialResultToken` the answer streams as chat's does. `history`: as chat's, for a
 * conversation the server does not know. */
export interface ActionArgs {
  uri: string;
  range: Range;
  diagnostics?: Diagnostic[];
  conversationId?: string;
  partialResultToken?: string;
  history?: HistoryMessage[];
}

/** What `starchat.explain` returns. */
export interface ExplainResult {
  conversationId: string;
  text: string;
  usage: Usage;
  /** Where the workspace defines names the code uses (sent with Explain, Fix, Write tests). */
  references?: Reference[];
}

/** An answer that failed the server's checks: nothing was applied. */
export interface Rejected {
  /** One sentence for the user. */
  reason: string;
  /** The edit the user may still apply ("Apply anyway"). */
  edit: WorkspaceEdit;
}

/** What the other commands return; their edit itself arrives as `workspace/applyEdit` (a
 * preview where the client supports it: `applied: false` then means discarded). */
export interface EditResult {
  applied: boolean;
  text: string;
  message?: string;
  conversationId: string;
  usage: Usage;
  references?: Reference[];
  rejected?: Rejected;
  /** Write tests: the test file written (the server also asks the editor to open it). */
  testUri?: string;
}

export const ChatRequest = new RequestType<ChatParams, ChatResult, void>(CHAT);
export const chatProgress = new ProgressType<ChatChunk>();
export const ConversationDeleteRequest = new RequestType<ConversationDeleteParams, ConversationDeleteResult, void>(
  CONVERSATION_DELETE,
);
export const StatusRequest = new RequestType0<Status, void>(STATUS);
export const StatusNotification = new NotificationType<Status>(STATUS);
export const ContextTrimmedNotification = new NotificationType<ContextTrimmed>(CONTEXT_TRIMMED);
