// A stand-in model server on 127.0.0.1 for the real agent CLIs: it records every request and answers
// the Anthropic Messages API (claude, opencode), the OpenAI Responses API (codex) and the Gemini API
// (gemini) — first with one call of the agent's shell tool running `command` (codex: its code-mode
// `exec` tool), then, once the tool's result is in the conversation, with a final text. Side requests
// (routing, titles, token counts) get a plain answer. Usage figures are fixed (USAGE).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Api = 'anthropic' | 'openai' | 'gemini' | 'other';
export type ModelRequest = { api: Api; method: string; path: string; headers: http.IncomingHttpHeaders; raw: string; body: any };
export type ModelServer = { url: string; port: number; requests: ModelRequest[]; close(): Promise<void> };
export type ModelServerOptions = {
  /** Shell command the agent is asked to run through its own tool (none: answer with text at once). */
  command?: string;
  /** Instead of the shell tool: call this tool of the agent's (if it offers it) with this input. */
  tool?: { name: string; input: Record<string, unknown> };
  /** The final answer. */
  answer?: string;
  /**
   * Answer every model request with a usage-limit error saying `message`: by default HTTP 429 not to
   * be retried (`x-should-retry: false`), in the API's own error shape; with `kind`, the provider's
   * real answer — OpenAI's `insufficient_quota` (quota gone) or `rate_limit_exceeded` (with
   * `retry-after` / `x-ratelimit-reset-*` headers of `resetSeconds`), Gemini's RESOURCE_EXHAUSTED
   * with a QuotaFailure and a RetryInfo `retryDelay` of `resetSeconds`.
   */
  limit?: { message: string; kind?: 'insufficient_quota' | 'rate_limit_exceeded' | 'resource_exhausted'; resetSeconds?: number; daily?: boolean };
  /** Listen on this host (default 127.0.0.1) and port (default: any free one). */
  host?: string;
  port?: number;
};

export const USAGE = { input: 1234, output: 56 };
const SHELL_TOOLS = ['Bash', 'bash', 'run_shell_command', 'shell', 'exec_command'];

export async function startModelServer(options: ModelServerOptions = {}): Promise<ModelServer> {
  const requests: ModelRequest[] = [];
  const answer = options.answer ?? 'All done.';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: any = null;
      try { body = raw ? JSON.parse(raw) : null; } catch { body = null; }
      const path = req.url ?? '/';
      const api: Api = /\/messages/.test(path) ? 'anthropic' : /\/responses/.test(path) ? 'openai' : /\/models\/[^/]+:/.test(path) ? 'gemini' : 'other';
      requests.push({ api, method: req.method ?? 'GET', path, headers: req.headers, raw, body });
      try {
        if (req.method !== 'POST') return json(res, api === 'openai' ? 404 : 200, {});
        if (options.limit && api !== 'other' && !path.includes('count_tokens')) return options.limit.kind ? providerLimit(res, options.limit) : limited(res, api, options.limit.message);
        if (api === 'anthropic') return anthropic(res, path, body, options, answer);
        if (api === 'openai') return openai(res, body, options.command, answer);
        if (api === 'gemini') return gemini(res, path, body, options.command, answer);
        return json(res, 200, {});
      } catch (err) {
        return json(res, 500, { error: { type: 'api_error', message: String(err) } });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** The API's own shape of a rate-limit error; `x-should-retry: false` keeps the CLI from retrying it. */
function limited(res: http.ServerResponse, api: Api, message: string): void {
  res.writeHead(429, { 'content-type': 'application/json', 'x-should-retry': 'false' });
  const body = api === 'gemini'
    ? { error: { code: 429, status: 'RESOURCE_EXHAUSTED', message } }
    : api === 'openai'
      ? { error: { type: 'usage_limit_reached', code: 'rate_limit_exceeded', message } }
      : { type: 'error', error: { type: 'rate_limit_error', message } };
  res.end(JSON.stringify(body));
}

/** The providers' real usage-limit answers (their documented error bodies and headers). */
function providerLimit(res: http.ServerResponse, limit: NonNullable<ModelServerOptions['limit']>): void {
  const reset = limit.resetSeconds ?? 20;
  if (limit.kind === 'resource_exhausted') {
    res.writeHead(429, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify({
      error: {
        code: 429,
        message: limit.message,
        status: 'RESOURCE_EXHAUSTED',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests', quotaId: limit.daily ? 'GenerateRequestsPerDayPerProjectPerModel-FreeTier' : 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier', quotaDimensions: { location: 'global', model: 'gemini-2.5-pro' }, quotaValue: '5' }] },
          { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }] },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${reset}s` },
        ],
      },
    }));
    return;
  }
  const headers = {
    'content-type': 'application/json',
    'retry-after': String(reset),
    'x-ratelimit-limit-requests': '500',
    'x-ratelimit-remaining-requests': '0',
    'x-ratelimit-reset-requests': `${reset}s`,
    'x-ratelimit-limit-tokens': '30000',
    'x-ratelimit-remaining-tokens': '0',
    'x-ratelimit-reset-tokens': `${reset}s`,
  };
  res.writeHead(429, headers);
  const error = limit.kind === 'insufficient_quota'
    ? { message: limit.message, type: 'insufficient_quota', param: null, code: 'insufficient_quota' }
    : { message: limit.message, type: 'tokens', param: null, code: 'rate_limit_exceeded' };
  res.end(JSON.stringify({ error }));
}

function json(res: http.ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function sse(res: http.ServerResponse, events: Array<{ event?: string; data: unknown }>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const e of events) res.write(`${e.event ? `event: ${e.event}\n` : ''}data: ${JSON.stringify(e.data)}\n\n`);
  res.end();
}

function toolNames(tools: any[] | undefined): string[] {
  return (tools ?? []).flatMap((t) => [t?.name, ...(t?.functionDeclarations ?? []).map((f: any) => f?.name)]).filter(Boolean);
}

// --- Anthropic Messages ---------------------------------------------------------------------------

function anthropic(res: http.ServerResponse, path: string, body: any, options: ModelServerOptions, answer: string): void {
  if (path.includes('count_tokens')) return json(res, 200, { input_tokens: 10 });
  const messages: any[] = body?.messages ?? [];
  const answered = messages.some((m) => Array.isArray(m.content) && m.content.some((c: any) => c?.type === 'tool_result'));
  const offered = toolNames(body?.tools);
  const shell = offered.find((n) => SHELL_TOOLS.includes(n));
  const call = options.tool && offered.includes(options.tool.name)
    ? options.tool
    : options.command && shell ? { name: shell, input: { command: options.command, description: 'Run the command' } } : null;
  const content: any[] = call && !answered
    ? [{ type: 'tool_use', id: `toolu_${Date.now()}`, name: call.name, input: call.input }]
    : [{ type: 'text', text: answer }];
  const stop = content[0].type === 'tool_use' ? 'tool_use' : 'end_turn';
  const usage = { input_tokens: USAGE.input, output_tokens: USAGE.output };
  const message = { id: `msg_${Date.now()}`, type: 'message', role: 'assistant', model: body?.model ?? 'stand-in', content, stop_reason: stop, stop_sequence: null, usage };
  if (!body?.stream) return json(res, 200, message);
  const events: Array<{ event: string; data: unknown }> = [
    { event: 'message_start', data: { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { input_tokens: USAGE.input, output_tokens: 1 } } } },
  ];
  content.forEach((block, index) => {
    if (block.type === 'text') {
      events.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { type: 'text', text: '' } } });
      events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'text_delta', text: block.text } } });
    } else {
      events.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { ...block, input: {} } } });
      events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } } });
    }
    events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  });
  events.push({ event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: USAGE.output } } });
  events.push({ event: 'message_stop', data: { type: 'message_stop' } });
  sse(res, events);
}

// --- OpenAI Responses (codex) ---------------------------------------------------------------------

// codex offers its tools in "code mode": one `exec` tool taking JavaScript that calls the others
// (`tools.exec_command({cmd})` runs a shell command).
function codexExec(body: any): boolean {
  const nested = (body?.input ?? []).flatMap((i: any) => (i?.type === 'additional_tools' ? i.tools ?? [] : []));
  return [...nested, ...(body?.tools ?? [])].some((t: any) => t?.name === 'exec' || (t?.tools ?? []).some((u: any) => u?.name === 'exec'));
}

function openai(res: http.ServerResponse, body: any, command: string | undefined, answer: string): void {
  const id = `resp_${Date.now()}`;
  const answered = (body?.input ?? []).some((i: any) => /_call_output$/.test(i?.type ?? ''));
  const item = command && !answered && codexExec(body)
    ? { type: 'custom_tool_call', id: `ctc_${Date.now()}`, call_id: `call_${Date.now()}`, name: 'exec', status: 'completed', input: `await tools.exec_command({ cmd: ${JSON.stringify(command)} });` }
    : { type: 'message', id: `msg_${Date.now()}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: answer, annotations: [] }] };
  const usage = { input_tokens: USAGE.input, input_tokens_details: { cached_tokens: 0 }, output_tokens: USAGE.output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: USAGE.input + USAGE.output };
  const response = { id, object: 'response', status: 'completed', model: body?.model ?? 'stand-in', output: [item], usage };
  if (!body?.stream) return json(res, 200, response);
  sse(res, [
    { event: 'response.created', data: { type: 'response.created', response: { ...response, status: 'in_progress', output: [] } } },
    ...(item.type === 'message'
      ? [
        { event: 'response.output_item.added', data: { type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', content: [] } } },
        { event: 'response.output_text.delta', data: { type: 'response.output_text.delta', item_id: item.id, output_index: 0, content_index: 0, delta: answer } },
      ]
      : []),
    { event: 'response.output_item.done', data: { type: 'response.output_item.done', output_index: 0, item } },
    { event: 'response.completed', data: { type: 'response.completed', response } },
  ]);
}

// --- Gemini ---------------------------------------------------------------------------------------

function gemini(res: http.ServerResponse, path: string, body: any, command: string | undefined, answer: string): void {
  if (path.includes(':countTokens')) return json(res, 200, { totalTokens: 10 });
  const usageMetadata = { promptTokenCount: USAGE.input, candidatesTokenCount: USAGE.output, totalTokenCount: USAGE.input + USAGE.output };
  // Side requests that want JSON (routing, next-speaker checks) get the smallest value of their schema.
  const wantsJson = body?.generationConfig?.responseMimeType === 'application/json' || body?.config?.responseMimeType === 'application/json';
  const contents: any[] = body?.contents ?? [];
  const answered = contents.some((c) => (c.parts ?? []).some((p: any) => p?.functionResponse));
  const tool = toolNames(body?.tools).find((n) => SHELL_TOOLS.includes(n));
  const schema = body?.generationConfig?.responseJsonSchema ?? body?.generationConfig?.responseSchema;
  const parts = wantsJson
    ? [{ text: JSON.stringify(sample(schema)) }]
    : command && tool && !answered
      ? [{ functionCall: { name: tool, args: { command, description: 'Run the command' } } }]
      : [{ text: answer }];
  const reply = { candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }], usageMetadata, modelVersion: 'stand-in' };
  if (path.includes(':streamGenerateContent')) return sse(res, [{ data: reply }]);
  return json(res, 200, reply);
}

function sample(schema: any): unknown {
  switch (String(schema?.type ?? 'object').toLowerCase()) {
    case 'string': return schema.enum?.[0] ?? 'stand-in';
    case 'integer': case 'number': return 1;
    case 'boolean': return false;
    case 'array': return [];
    default: return Object.fromEntries(Object.entries(schema?.properties ?? {}).map(([k, v]) => [k, sample(v)]));
  }
}

/** How often `needle` occurs in `haystack`. */
export function occurrences(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}
