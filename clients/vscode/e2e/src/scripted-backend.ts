/**
 * An OpenAI-compatible endpoint (the `openai` backend's API: `GET /models`, streaming
 * `POST /chat/completions`, and `POST /completions` for inline completion, streamed or not)
 * that answers from a script, for tests that need answers a user could act on: a docstring the
 * server can put in place, an answer cut by the length limit, a completion to accept with Tab.
 * It records every request, so a test can check which earlier turns the model was given and
 * what a completion prompt held.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Message {
  role: string;
  content: string;
}

export interface Reply {
  text: string;
  /** `length`: cut by the token limit (the client then offers Continue). */
  finish: 'stop' | 'length';
}

export type Script = (messages: Message[]) => Reply;

/** What a completion request sent: the prompt as the model sees it (FIM tokens included). */
export interface CompletionRequest {
  model: string;
  prompt: string;
  max_tokens?: number;
  stop?: string[];
  stream?: boolean;
}

/** The text that follows a completion prompt. */
export type CompletionScript = (prompt: string) => string;

export class ScriptedBackend {
  readonly requests: Message[][] = [];
  readonly completions: CompletionRequest[] = [];
  private readonly server: http.Server;

  constructor(
    private readonly script: Script,
    private readonly complete: CompletionScript = () => '',
  ) {
    this.server = http.createServer((request, response) => void this.handle(request, response));
  }

  /** Start listening; the base URL to give `starchat.backendUrl`. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }

  /** The text of every message of the latest request. */
  lastPrompt(): string {
    return (this.requests.at(-1) ?? []).map((m) => `${m.role}: ${m.content}`).join('\n');
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    if (request.method === 'GET' && request.url?.endsWith('/models')) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ object: 'list', data: [{ id: 'scripted', object: 'model' }] }));
      return;
    }
    const chat = request.url?.endsWith('/chat/completions');
    if (request.method !== 'POST' || !(chat || request.url?.endsWith('/completions'))) {
      response.writeHead(404).end();
      return;
    }
    let body = '';
    for await (const chunk of request) {
      body += String(chunk);
    }
    if (!chat) {
      await this.completion(JSON.parse(body) as CompletionRequest, response);
      return;
    }
    const messages = (JSON.parse(body) as { messages: Message[] }).messages;
    this.requests.push(messages);
    const reply = this.script(messages);
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    // A few pieces, like a real stream.
    const pieces = reply.text.match(/[\s\S]{1,12}/g) ?? [];
    for (const piece of pieces) {
      response.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: piece } }] })}\n\n`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const done = { choices: [{ index: 0, delta: {}, finish_reason: reply.finish }] };
    response.write(`data: ${JSON.stringify(done)}\n\n`);
    response.end('data: [DONE]\n\n');
  }

  /** `/completions`: vLLM's and TGI's shape, `choices[0].text`, as SSE when asked to stream. */
  private async completion(body: CompletionRequest, response: http.ServerResponse): Promise<void> {
    this.completions.push(body);
    const text = this.complete(body.prompt);
    const choice = (piece: string, finish: string | null) => ({
      id: 'cmpl-scripted',
      object: 'text_completion',
      model: body.model,
      choices: [{ index: 0, text: piece, finish_reason: finish }],
    });
    if (!body.stream) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(choice(text, 'stop')));
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const piece of text.match(/[\s\S]{1,6}/g) ?? []) {
      response.write(`data: ${JSON.stringify(choice(piece, null))}\n\n`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    response.write(`data: ${JSON.stringify(choice('', 'stop'))}\n\n`);
    response.end('data: [DONE]\n\n');
  }
}
