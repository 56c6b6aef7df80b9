#!/usr/bin/env node
// The STAND-IN teacher of the conversion loop (issue 13): an OpenAI-compatible HTTP server that
// plays the large model on machines where none can be downloaded. It is not a language model:
// it recognises the workload's recurring call types (tasks.mjs) from the request alone (system
// prompt, last user message, tools) and answers them correctly by program, except for a
// configurable share of plausible wrong answers; everything else (open-ended calls, unknown
// input) gets varied free text. Latency is simulated.
//
//   node bench/convert/teacher.mjs --port P [--host 127.0.0.1] [--error-rate 0.02]
//        [--latency-ms 600] [--jitter-ms 200] [--seed S] [--http-error-rate 0] [--fail-after N]
//        [--verbose]
//
// --port 0 picks a free port. The first line on stdout is "teacher listening on http://HOST:PORT".
// Endpoints: POST /v1/chat/completions (stream or not; tool calls; n; max_tokens /
// max_completion_tokens truncate text answers with finish_reason "length"; a final usage chunk
// when stream_options.include_usage), GET /v1/models, GET /health, GET /stats (counters as JSON).
// Which calls get a wrong answer is a function of (--seed, messages, tools), so a replay is
// reproducible whatever the concurrency. Usage counts are approximate: words * 1.3.
// --http-error-rate R answers that share of chat calls with HTTP 500 or 429 (Retry-After: 1);
// --fail-after N answers every chat call after the first N with 503: a teacher that goes away.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Rng, approxTokens, contentText, hash32, isMain } from './common.mjs';
import { teacherReply } from './tasks.mjs';

const USAGE = `usage: node bench/convert/teacher.mjs --port P [--host 127.0.0.1] [--error-rate 0.02]
       [--latency-ms 600] [--jitter-ms 200] [--seed S] [--http-error-rate 0] [--fail-after N] [--verbose]`;
const MAX_BODY = 16 * 1024 * 1024;

function errorBody(message, type = 'invalid_request_error', param = null, code = null) {
  return { error: { message, type, param, code } };
}

class HttpError extends Error {
  constructor(status, message, type, param) {
    super(message);
    this.status = status;
    this.type = type ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
    this.param = param ?? null;
  }
}

function validate(body) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'The request body must be a JSON object.');
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new HttpError(400, "'messages' must be a non-empty array.", undefined, 'messages');
  }
  body.messages.forEach((m, i) => {
    if (!m || typeof m !== 'object' || typeof m.role !== 'string') {
      throw new HttpError(400, `messages[${i}] must be an object with a string 'role'.`, undefined, `messages[${i}]`);
    }
  });
  if (body.tools !== undefined && body.tools !== null && !Array.isArray(body.tools)) {
    throw new HttpError(400, "'tools' must be an array.", undefined, 'tools');
  }
  const n = body.n ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new HttpError(400, "'n' must be an integer from 1 to 8.", undefined, 'n');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw new HttpError(400, "'stream' must be a boolean.", undefined, 'stream');
  }
  return n;
}

export function createTeacher(options = {}) {
  const opt = {
    errorRate: 0.02, latencyMs: 600, jitterMs: 200, seed: 1, httpErrorRate: 0, failAfter: Infinity, verbose: false,
    ...options,
  };
  const timing = new Rng(hash32(`teacher-timing:${opt.seed}`));
  const stats = { requests: 0, chat: 0, streamed: 0, wrong: 0, http_errors: 0, bad_requests: 0, by_type: {} };
  let served = 0;

  const answer = (body) => teacherReply(body, opt);


  function shape(body, reply, canonicalId) {
    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    let content = reply.content ?? null, finish = 'stop', toolCalls;
    if (reply.tool_calls && body.tool_choice !== 'none') {
      toolCalls = reply.tool_calls.map((c, i) => ({
        id: `call_${hash32(`${canonicalId}:${i}`).toString(36)}${i}`, type: 'function',
        function: { name: c.name, arguments: JSON.stringify(c.arguments) },
      }));
      content = null;
      finish = 'tool_calls';
    } else if (reply.tool_calls) {
      content = `I would call ${reply.tool_calls[0].name} with ${JSON.stringify(reply.tool_calls[0].arguments)}.`;
    }
    if (content !== null && Number.isInteger(maxTokens) && maxTokens > 0 && approxTokens(content) > maxTokens) {
      const words = content.split(/(\s+)/);
      let kept = '', count = 0;
      for (const w of words) {
        if (/\S/.test(w)) {
          if (Math.ceil((count + 1) * 1.3) > maxTokens) break;
          count++;
        }
        kept += w;
      }
      content = kept.trimEnd();
      finish = 'length';
    }
    const promptText = body.messages.map((m) => contentText(m.content)).join(' ')
      + (Array.isArray(body.tools) && body.tools.length ? ` ${JSON.stringify(body.tools)}` : '');
    const completionText = toolCalls ? toolCalls.map((c) => c.function.arguments).join(' ') : content ?? '';
    // A reasoning model's thinking (reasoning_content) comes before the answer and is paid for.
    const reasoning = !toolCalls && typeof reply.reasoning_content === 'string' ? reply.reasoning_content : null;
    const reasoningTokens = reasoning ? approxTokens(reasoning) : 0;
    const usage = { prompt_tokens: approxTokens(promptText), completion_tokens: approxTokens(completionText) + reasoningTokens };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    return { content, reasoning, toolCalls, finish, usage, reasoningTokens };
  }

  const delayMs = () => Math.max(0, opt.latencyMs + (timing.float() * 2 - 1) * opt.jitterMs);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function chat(req, res, body) {
    const n = validate(body);
    stats.chat++;
    if (served >= opt.failAfter) throw new HttpError(503, 'The stand-in teacher is unavailable (--fail-after).', 'server_error');
    if (opt.httpErrorRate > 0 && timing.float() < opt.httpErrorRate) {
      stats.http_errors++;
      if (timing.float() < 0.5) throw new HttpError(500, 'Injected server error (--http-error-rate).', 'server_error');
      const e = new HttpError(429, 'Injected rate limit (--http-error-rate).', 'rate_limit_error');
      e.retryAfter = 1;
      throw e;
    }
    served++;
    const { type, wrong, reply } = answer(body);
    stats.by_type[type] = (stats.by_type[type] ?? 0) + 1;
    if (wrong) stats.wrong++;
    const canonicalId = String(hash32(JSON.stringify(body.messages)));
    const out = shape(body, reply, canonicalId);
    const id = `chatcmpl-${hash32(`${canonicalId}:${served}:${Date.now()}`).toString(16)}${served.toString(16)}`;
    const created = Math.floor(Date.now() / 1000);
    const model = typeof body.model === 'string' && body.model ? body.model : 'teacher';
    const delay = delayMs();
    let closed = false;
    res.on('close', () => { closed = true; });
    if (opt.verbose) process.stderr.write(`${new Date().toISOString()} ${type}${wrong ? ' (wrong)' : ''} ${body.stream ? 'stream ' : ''}${Math.round(delay)} ms\n`);

    if (!body.stream) {
      await sleep(delay);
      if (closed) return;
      const message = { role: 'assistant', content: out.content, refusal: null };
      if (out.reasoning) message.reasoning_content = out.reasoning;
      if (out.toolCalls) message.tool_calls = out.toolCalls;
      const choices = [];
      for (let i = 0; i < n; i++) choices.push({ index: i, message, logprobs: null, finish_reason: out.finish });
      sendJson(res, 200, { id, object: 'chat.completion', created, model, choices, usage: {
        prompt_tokens: out.usage.prompt_tokens, completion_tokens: out.usage.completion_tokens * n,
        total_tokens: out.usage.prompt_tokens + out.usage.completion_tokens * n,
        completion_tokens_details: { reasoning_tokens: out.reasoningTokens * n },
      }, system_fingerprint: 'rpu-stand-in-teacher' });
      return;
    }

    stats.streamed++;
    const includeUsage = !!body.stream_options?.include_usage;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    const send = (obj) => { if (!closed) res.write(`data: ${JSON.stringify(obj)}\n\n`); };
    const chunk = (index, delta, finish = null) => ({ id, object: 'chat.completion.chunk', created, model,
      system_fingerprint: 'rpu-stand-in-teacher', choices: [{ index, delta, logprobs: null, finish_reason: finish }] });
    // Pieces: a few words of text, or slices of the arguments string.
    const pieces = [];
    if (out.toolCalls) {
      const args = out.toolCalls[0].function.arguments;
      const step = Math.max(1, Math.ceil(args.length / 4));
      for (let i = 0; i < args.length; i += step) pieces.push(args.slice(i, i + step));
    } else if (out.content) {
      const parts = out.content.match(/\S+\s*|\s+/g) ?? [];
      for (let i = 0; i < parts.length; i += 3) pieces.push(parts.slice(i, i + 3).join(''));
    }
    await sleep(delay * 0.7);  // time to the first token
    for (let c = 0; c < n && !closed; c++) {
      if (out.toolCalls) {
        send(chunk(c, { role: 'assistant', content: null, tool_calls: out.toolCalls.map((t, i) => ({ index: i, id: t.id, type: 'function',
          function: { name: t.function.name, arguments: '' } })) }));
      } else {
        send(chunk(c, { role: 'assistant', content: '', refusal: null }));
      }
    }
    if (out.reasoning) {
      for (let c = 0; c < n; c++) send(chunk(c, { reasoning_content: out.reasoning }));
    }
    const gap = pieces.length ? (delay * 0.3) / pieces.length : 0;
    for (const piece of pieces) {
      if (closed) return;
      for (let c = 0; c < n; c++) {
        send(chunk(c, out.toolCalls ? { tool_calls: [{ index: 0, function: { arguments: piece } }] } : { content: piece }));
      }
      if (gap >= 1) await sleep(gap);
    }
    if (out.toolCalls && out.toolCalls.length > 1) {
      // Further calls (never produced by the workload) whole, after the first.
      for (let i = 1; i < out.toolCalls.length; i++) {
        for (let c = 0; c < n; c++) send(chunk(c, { tool_calls: [{ index: i, function: { arguments: out.toolCalls[i].function.arguments } }] }));
      }
    }
    for (let c = 0; c < n; c++) send(chunk(c, {}, out.finish));
    if (includeUsage) {
      send({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'rpu-stand-in-teacher', choices: [], usage: {
        prompt_tokens: out.usage.prompt_tokens, completion_tokens: out.usage.completion_tokens * n,
        total_tokens: out.usage.prompt_tokens + out.usage.completion_tokens * n,
        completion_tokens_details: { reasoning_tokens: out.reasoningTokens * n },
      } });
    }
    if (!closed) res.end('data: [DONE]\n\n');
  }

  function sendJson(res, status, obj, headers = {}) {
    if (res.headersSent || res.destroyed) return;
    const text = JSON.stringify(obj);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  function readBody(req) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      req.on('data', (c) => {
        size += c.length;
        if (size > MAX_BODY) {
          reject(new HttpError(413, `The request body is larger than ${MAX_BODY} bytes.`));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  const server = http.createServer(async (req, res) => {
    stats.requests++;
    res.on('error', () => {});
    req.on('error', () => {});
    try {
      const url = new URL(req.url ?? '/', 'http://teacher');
      const route = url.pathname.replace(/\/+$/, '') || '/';
      if (route === '/health') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'Use GET.');
        return sendJson(res, 200, { status: 'ok' });
      }
      if (route === '/stats' && req.method === 'GET') return sendJson(res, 200, stats);
      if (route === '/v1/models' || route === '/models') {
        if (req.method !== 'GET') throw new HttpError(405, 'Use GET.');
        return sendJson(res, 200, { object: 'list', data: [{ id: 'teacher', object: 'model', created: 0, owned_by: 'rpu-stand-in-teacher' }] });
      }
      if (route === '/v1/chat/completions' || route === '/chat/completions') {
        if (req.method !== 'POST') throw new HttpError(405, 'Use POST.');
        const text = await readBody(req);
        let body;
        try {
          body = JSON.parse(text);
        } catch (e) {
          throw new HttpError(400, `We could not parse the JSON body of your request: ${e.message}`);
        }
        return await chat(req, res, body);
      }
      throw new HttpError(404, `Unknown path: ${req.method} ${url.pathname}`);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 400 || status === 413) stats.bad_requests++;
      const message = e instanceof HttpError ? e.message : `Internal error in the stand-in teacher: ${e?.message ?? e}`;
      if (!(e instanceof HttpError)) process.stderr.write(`teacher: ${e?.stack ?? e}\n`);
      if (res.headersSent) {
        if (!res.writableEnded) res.end();
        return;
      }
      sendJson(res, status, errorBody(message, e.type ?? 'server_error', e.param ?? null),
        e.retryAfter ? { 'Retry-After': String(e.retryAfter) } : {});
    }
  });
  server.keepAliveTimeout = 30_000;
  return { server, stats };
}

function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        'error-rate': { type: 'string', default: '0.02' },
        'latency-ms': { type: 'string', default: '600' },
        'jitter-ms': { type: 'string', default: '200' },
        seed: { type: 'string', default: '1' },
        'http-error-rate': { type: 'string', default: '0' },
        'fail-after': { type: 'string' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    console.error(`${e.message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help || values.port === undefined) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const num = (name, lo, hi) => {
    const v = Number(values[name]);
    if (!Number.isFinite(v) || v < lo || v > hi) {
      console.error(`--${name} must be a number from ${lo} to ${hi}`);
      process.exit(2);
    }
    return v;
  };
  const port = num('port', 0, 65535);
  const { server } = createTeacher({
    errorRate: num('error-rate', 0, 1), latencyMs: num('latency-ms', 0, 600000), jitterMs: num('jitter-ms', 0, 600000),
    seed: num('seed', -2147483648, 4294967295), httpErrorRate: num('http-error-rate', 0, 1),
    failAfter: values['fail-after'] === undefined ? Infinity : num('fail-after', 0, Number.MAX_SAFE_INTEGER),
    verbose: values.verbose,
  });
  server.on('error', (e) => {
    console.error(`teacher: ${e.message}`);
    process.exit(1);
  });
  server.listen(port, values.host, () => {
    const { address, port: bound } = server.address();
    const host = address.includes(':') ? `[${address}]` : address;
    process.stdout.write(`teacher listening on http://${host}:${bound}\n`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (isMain(import.meta.url)) main();
