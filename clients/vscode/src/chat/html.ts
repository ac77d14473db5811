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
    <p id="empty" class="empty">Ask about your code. Select code and run <em>Ask StarChat about Selection</em> to include it.</p>
  </div>
  <form id="composer" class="composer" aria-label="Message StarChat">
    <div id="context" class="context" hidden>
      <span class="context-label">About <span id="context-label"></span></span>
      <button type="button" id="context-clear" class="icon-button" aria-label="Remove the attached selection" title="Remove">×</button>
    </div>
    <textarea id="input" rows="3" aria-label="Message StarChat (Enter sends, Shift+Enter adds a line)" placeholder="Ask StarChat… (Enter sends, Shift+Enter adds a line)"></textarea>
    <div class="composer-actions">
      <button type="button" id="new-chat" class="secondary" title="Start a new conversation">New chat</button>
      <span class="spacer"></span>
      <button type="button" id="stop" class="secondary" hidden title="Stop the answer (Escape)">Stop</button>
      <button type="submit" id="send" title="Send (Enter)">Send</button>
    </div>
  </form>
</main>
<script nonce="${attr(r.nonce)}" src="${attr(r.scriptUri)}"></script>
</body>
</html>`;
}
