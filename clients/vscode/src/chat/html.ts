/**
 * The chat webview's page. Nothing remote and nothing inline may run: the Content Security
 * Policy allows only the extension's own stylesheet and the one script carrying this page's
 * nonce, so even a sanitizer bug could not execute model output.
 */
import { randomBytes } from 'node:crypto';

export interface PageResources {
  /** The webview's `cspSource` (the origin its local resources are served from). */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce: string;
}

export function newNonce(): string {
  return randomBytes(16).toString('base64');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
    `script-src 'nonce-${nonce}'`,
    "connect-src 'none'",
    "frame-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
}

function attr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

export function chatPage(r: PageResources): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(contentSecurityPolicy(r.cspSource, r.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(r.styleUri)}">
<title>StarChat</title>
</head>
<body>
<main class="chat">
  <div id="transcript" class="transcript" role="log" aria-live="polite" aria-label="Conversation" tabindex="0">
    <p id="empty" class="empty">Ask about your code: the active file goes with your message (remove it above the message box). Type # to add a workspace file. Type /explain, /fix, /tests, /doc or /improve to run an action on the selection or the function at the cursor.</p>
  </div>
  <div id="progress" class="progress" role="status" hidden>
    <span id="progress-text" class="progress-text"></span>
    <button type="button" id="stop" class="secondary" title="Cancel the answer (Escape); what was written stays">Cancel</button>
  </div>
  <form id="composer" class="composer" aria-label="Message StarChat">
    <div id="context" class="context" hidden>
      <span class="context-label"><span id="context-kind">Context:</span> <span id="context-label"></span></span>
      <button type="button" id="context-clear" class="icon-button" aria-label="Send without this context" title="Send without this context">×</button>
    </div>
    <ul id="files" class="files" aria-label="Workspace files sent with the next message" hidden></ul>
    <textarea id="input" rows="3" aria-label="Message StarChat (Enter sends, Shift+Enter adds a line)" placeholder="Ask StarChat, or /fix, /explain… (Enter sends, Shift+Enter adds a line)"></textarea>
    <div class="composer-actions">
      <button type="button" id="new-chat" class="secondary" title="Start a new conversation (earlier ones stay in the history)">New chat</button>
      <button type="button" id="add-file" class="secondary" aria-label="Add a workspace file (#)" title="Add a workspace file to the next message (or type #)">#</button>
      <span class="spacer"></span>
      <button type="submit" id="send" title="Send (Enter)">Send</button>
    </div>
  </form>
</main>
<script nonce="${attr(r.nonce)}" src="${attr(r.scriptUri)}"></script>
</body>
</html>`;
}
