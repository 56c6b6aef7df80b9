// End-to-end scenarios against a running `rpu serve`, driven by the official OpenAI client
// (and plain fetch where the client hides the wire: errors, auth, SSE framing).
// Usage: node scenarios.mjs SCENARIO BASE_URL API_KEY MODEL
// Exits non-zero with a message on the first failed check.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Ajv from 'ajv';

const [scenario, baseUrl, apiKey, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey, maxRetries: 0, timeout: 120_000 });
const ajv = new Ajv({ strict: false });

const greedy = { temperature: 0 };
const chatMessages = (text) => [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: text },
];

async function raw(path, { method = 'POST', body, headers = {}, key = apiKey } = {}) {
  const h = { 'Content-Type': 'application/json', ...headers };
  if (key) h.Authorization = `Bearer ${key}`;
  const response = await fetch(`${baseUrl}${path}`, {
    method, headers: h, body: typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, text, json, headers: response.headers };
}

function assertErrorBody(r, status, param) {
  assert.equal(r.status, status, `expected HTTP ${status}, got ${r.status}: ${r.text}`);
  assert.ok(r.json && r.json.error, `error body missing: ${r.text}`);
  const e = r.json.error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.equal(typeof e.type, 'string');
  if (param !== undefined) assert.equal(e.param, param, `param: ${JSON.stringify(e)}`);
}

async function metrics() {
  const r = await raw('/metrics', { method: 'GET' });
  assert.equal(r.status, 200);
  const value = (name) => {
    const m = r.text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm'));
    return m ? Number(m[1]) : NaN;
  };
  return { text: r.text, value };
}

async function untilIdle(ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await metrics();
    if (m.value('rpu_active_sequences') === 0 && m.value('rpu_queue_depth') === 0) return m;
    if (Date.now() > deadline) throw new Error(`server not idle:\n${m.text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function collectChatStream(params) {
  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  const texts = {}; const finish = {}; let usage = null; let id = null; let sawRole = {};
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (id === null) id = chunk.id; else assert.equal(chunk.id, id);
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.role) { assert.equal(c.delta.role, 'assistant'); sawRole[c.index] = true; }
      if (c.delta.content) texts[c.index] = (texts[c.index] ?? '') + c.delta.content;
      if (c.finish_reason) finish[c.index] = c.finish_reason;
    }
  }
  return { texts, finish, usage, sawRole };
}

const scenarios = {
  // A server started without --strict-model answers the names agent frameworks default to with
  // its one model (as llama-server does), and says which model answered.
  async anyModelName() {
    const asked = { messages: chatMessages('hi'), max_tokens: 4, ...greedy };
    const own = await client.chat.completions.create({ ...asked, model });
    const other = await client.chat.completions.create({ ...asked, model: 'gpt-4o-mini' });
    assert.equal(other.model, model);
    assert.equal(other.choices[0].message.content, own.choices[0].message.content);
    const completion = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'hi', max_tokens: 2 });
    assert.equal(completion.model, model);
    const embedding = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
    assert.ok(embedding.data[0].embedding.length > 0);
    // A reasoning suffix on another name still selects the strategy (the random-weight model's
    // samples hold no answer to vote on, which the strategy reports as a 400 naming itself).
    const voted = await raw('/v1/chat/completions', { body: { ...asked, model: 'gpt-4o-mini+sc2', temperature: 0.7 } });
    if (voted.status === 200) assert.equal(voted.json.model, `${model}+sc2`);
    else assert.match(voted.json.error.message, /^reasoning/, voted.text);
    const ids = [];
    for await (const m of await client.models.list()) ids.push(m.id);
    assert.deepEqual(ids, [model]);
  },

  async models() {
    const list = await client.models.list();
    const ids = [];
    for await (const m of list) ids.push(m.id);
    assert.deepEqual(ids, [model]);
  },

  async chat() {
    const params = { model, messages: chatMessages('Name three colours.'), max_tokens: 24, ...greedy };
    const r = await client.chat.completions.create(params);
    assert.ok(r.id.startsWith('chatcmpl-'));
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, model);
    assert.equal(r.choices.length, 1);
    const c = r.choices[0];
    assert.equal(c.index, 0);
    assert.equal(c.message.role, 'assistant');
    assert.equal(typeof c.message.content, 'string');
    assert.ok(['stop', 'length'].includes(c.finish_reason));
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    assert.ok(r.usage.prompt_tokens > 5);
    if (c.finish_reason === 'length') assert.equal(r.usage.completion_tokens, 24);
    // The stream of the same greedy request carries the same text, then usage, then [DONE].
    const s = await collectChatStream(params);
    assert.equal(s.texts[0] ?? '', c.message.content);
    assert.equal(s.finish[0], c.finish_reason);
    assert.ok(s.sawRole[0]);
    assert.deepEqual(s.usage.completion_tokens, r.usage.completion_tokens);
    const rawStream = await raw('/v1/chat/completions', { body: { ...params, stream: true } });
    assert.equal(rawStream.status, 200);
    assert.match(rawStream.headers.get('content-type'), /^text\/event-stream/);
    const events = rawStream.text.split('\n\n').filter((e) => e.length > 0);
    assert.equal(events.at(-1), 'data: [DONE]');
    for (const e of events) assert.ok(e.startsWith('data: ') || e.startsWith(':'), `bad SSE event ${e}`);
  },

  async completions() {
    const params = { model, prompt: 'Once upon a time', max_tokens: 20, ...greedy };
    const r = await client.completions.create(params);
    assert.ok(r.id.startsWith('cmpl-'));
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices.length, 1);
    assert.equal(typeof r.choices[0].text, 'string');
    let text = ''; let finish = null;
    for await (const chunk of await client.completions.create({ ...params, stream: true })) {
      assert.equal(chunk.object, 'text_completion');
      text += chunk.choices[0]?.text ?? '';
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    }
    assert.equal(text, r.choices[0].text);
    assert.equal(finish, r.choices[0].finish_reason);
    const echoed = await client.completions.create({ ...params, echo: true });
    assert.equal(echoed.choices[0].text, 'Once upon a time' + r.choices[0].text);
    // Several prompts: one choice each, in order.
    const two = await client.completions.create({ ...params, prompt: ['Once upon a time', 'The dog'] });
    assert.deepEqual(two.choices.map((c) => c.index), [0, 1]);
    assert.equal(two.choices[0].text, r.choices[0].text);
    // Legacy logprobs.
    const lp = await client.completions.create({ ...params, logprobs: 3 });
    const l = lp.choices[0].logprobs;
    assert.equal(l.tokens.length, lp.usage.completion_tokens);
    assert.equal(l.token_logprobs.length, l.tokens.length);
    assert.equal(l.top_logprobs.length, l.tokens.length);
    for (const t of l.top_logprobs) assert.equal(Object.keys(t).length <= 3, true);
    // The prompt scored too, as lm-eval-harness asks (echo, logprobs, max_tokens 0 or 1): one
    // entry per prompt token, the first null (nothing precedes it), then the generated ones.
    const scoring = { model, prompt: 'Once upon a time', echo: true, logprobs: 2, ...greedy };
    const none = await client.completions.create({ ...scoring, max_tokens: 0 });
    const n0 = none.choices[0];
    assert.equal(n0.text, 'Once upon a time');
    assert.equal(n0.finish_reason, 'length');
    assert.equal(none.usage.completion_tokens, 0);
    assert.equal(n0.logprobs.tokens.length, none.usage.prompt_tokens);
    assert.equal(n0.logprobs.token_logprobs[0], null);
    assert.equal(n0.logprobs.top_logprobs[0], null);
    for (const v of n0.logprobs.token_logprobs.slice(1)) assert.ok(Number.isFinite(v) && v <= 0, `${v}`);
    assert.equal(n0.logprobs.tokens.join(''), n0.text);
    const one = await client.completions.create({ ...scoring, max_tokens: 1 });
    const o = one.choices[0].logprobs;
    assert.equal(o.tokens.length, one.usage.prompt_tokens + 1);
    assert.deepEqual(o.token_logprobs.slice(0, -1), n0.logprobs.token_logprobs);
    // The generated token's entry is the one a plain request gets at the same position.
    const plain = await client.completions.create({ ...scoring, echo: false, max_tokens: 1 });
    assert.equal(o.tokens.at(-1), plain.choices[0].logprobs.tokens[0]);
    assert.ok(Math.abs(o.token_logprobs.at(-1) - plain.choices[0].logprobs.token_logprobs[0]) < 1e-3);
    let streamed = [];
    for await (const chunk of await client.completions.create({ ...scoring, max_tokens: 1, stream: true })) {
      streamed = streamed.concat(chunk.choices[0]?.logprobs?.token_logprobs ?? []);
    }
    assert.deepEqual(streamed, o.token_logprobs);
    assertErrorBody(await raw('/v1/completions', { body: { ...scoring, echo: false, max_tokens: 0 } }), 400, 'max_tokens');
    // lm-eval-harness's gguf model: context + continuation, logprobs 10, max_tokens 1, echo; it
    // finds the continuation's tokens by text_offset.
    const context = 'Once upon', continuation = ' a time';
    const lm = (await client.completions.create({ model, prompt: context + continuation, echo: true, logprobs: 10,
                                                  max_tokens: 1, ...greedy })).choices[0].logprobs;
    let at = 0;
    while (lm.text_offset[at] < context.length) at += 1;
    assert.equal(lm.tokens.slice(at, -1).join(''), continuation);
    for (const top of lm.top_logprobs.slice(1)) assert.ok(Object.keys(top).length >= 1 && Object.keys(top).length <= 10);
  },

  // llama-server's /tokenize, /detokenize and /apply-template, checked against the server's own
  // generation: the ids are those a completion counts, and a rendered conversation continued
  // through /v1/completions answers as the chat endpoint does.
  async tokenize() {
    const text = 'Once upon a time, héllo <|im_start|> 42';
    const t = await raw('/tokenize', { body: { content: text } });
    assert.equal(t.status, 200, t.text);
    assert.ok(t.json.tokens.length > 0 && t.json.tokens.every(Number.isInteger));
    const counted = await client.completions.create({ model, prompt: text, max_tokens: 1, ...greedy });
    const withBos = (await raw('/tokenize', { body: { content: text, add_special: true } })).json.tokens;
    assert.equal(withBos.length, counted.usage.prompt_tokens);
    const pieces = (await raw('/tokenize', { body: { content: text, with_pieces: true } })).json.tokens;
    assert.deepEqual(pieces.map((p) => p.id), t.json.tokens);
    // A piece is a string, or the bytes of a token that holds part of a character.
    const spelled = Buffer.concat(pieces.map((p) => (typeof p.piece === 'string' ? Buffer.from(p.piece) : Buffer.from(p.piece))));
    assert.equal(spelled.toString(), text);
    assert.ok(pieces.some((p) => Array.isArray(p.piece)), 'é is byte tokens in this vocabulary');
    const plain = (await raw('/tokenize', { body: { content: text, parse_special: false } })).json.tokens;
    assert.ok(plain.length > t.json.tokens.length, 'a special token written as text splits into pieces');
    const back = await raw('/detokenize', { body: { tokens: t.json.tokens } });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.content, text);
    // The token ids as a completion prompt: the same tokens, counted the same.
    const byIds = await client.completions.create({ model, prompt: withBos, max_tokens: 1, ...greedy });
    assert.equal(byIds.usage.prompt_tokens, withBos.length);
    assert.equal(byIds.choices[0].text, counted.choices[0].text);

    const messages = chatMessages('Tell me a story.');
    const rendered = await raw('/apply-template', { body: { messages } });
    assert.equal(rendered.status, 200, rendered.text);
    assert.equal(typeof rendered.json.prompt, 'string');
    assert.ok(rendered.json.prompt.includes('Tell me a story.'));
    const chat = await client.chat.completions.create({ model, messages, max_tokens: 12, ...greedy });
    const continued = await client.completions.create({ model, prompt: rendered.json.prompt, max_tokens: 12, ...greedy });
    assert.equal(continued.usage.prompt_tokens, chat.usage.prompt_tokens);
    assert.equal(continued.choices[0].text, chat.choices[0].message.content);

    assertErrorBody(await raw('/tokenize', { body: {} }), 400, 'content');
    assertErrorBody(await raw('/tokenize', { body: { content: 5 } }), 400, 'content');
    assertErrorBody(await raw('/detokenize', { body: { tokens: [1, 99999999] } }), 400, 'tokens');
    assertErrorBody(await raw('/detokenize', { body: { tokens: 'abc' } }), 400, 'tokens');
    assertErrorBody(await raw('/apply-template', { body: { messages: [] } }), 400, 'messages');
    assertErrorBody(await raw('/tokenize', { body: { content: 'x', model: 'gpt-4o' } }), 404, 'model');
  },

  async samples() {
    const params = { model, messages: chatMessages('Tell me a story.'), max_tokens: 16, n: 3, temperature: 1.0, seed: 7 };
    const r = await client.chat.completions.create(params);
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
    const texts = r.choices.map((c) => c.message.content);
    assert.ok(new Set(texts).size > 1, 'n samples should differ at temperature 1');
    // The same seed reproduces the set; a stream delivers the same samples.
    const again = await client.chat.completions.create(params);
    assert.deepEqual(again.choices.map((c) => c.message.content), texts);
    const s = await collectChatStream(params);
    assert.deepEqual([0, 1, 2].map((i) => s.texts[i] ?? ''), texts);
  },

  async logprobs() {
    const r = await client.chat.completions.create({
      model, messages: chatMessages('Hi'), max_tokens: 8, ...greedy, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0].logprobs.content;
    assert.equal(content.length, r.usage.completion_tokens);
    for (const t of content) {
      assert.equal(t.top_logprobs.length, 3);
      assert.equal(t.token, t.top_logprobs[0].token);  // greedy picks the most likely token
      assert.ok(t.logprob <= 0);
      assert.ok(Array.isArray(t.bytes));
    }
    assert.equal(content.map((t) => t.token).join(''), r.choices[0].message.content);
  },

  async jsonSchema() {
    const schema = {
      type: 'object',
      properties: {
        city: { type: 'string', maxLength: 12 },
        unit: { enum: ['celsius', 'fahrenheit'] },
        ok: { type: 'boolean' },
        days: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 99 }, minItems: 1, maxItems: 3 },
      },
      required: ['city', 'unit', 'ok', 'days'],
      additionalProperties: false,
    };
    const validate = ajv.compile(schema);
    for (const seed of [1, 2, 3, 4]) {
      const r = await client.chat.completions.create({
        model, messages: chatMessages('Weather as JSON please.'), max_tokens: 200, temperature: 1.0, seed,
        response_format: { type: 'json_schema', json_schema: { name: 'weather', schema, strict: true } },
      });
      const text = r.choices[0].message.content;
      assert.equal(r.choices[0].finish_reason, 'stop', `did not finish: ${text}`);
      const value = JSON.parse(text);
      assert.ok(validate(value), `${text}: ${JSON.stringify(validate.errors)}`);
    }
    const obj = await client.chat.completions.create({
      model, messages: chatMessages('JSON please.'), max_tokens: 200, ...greedy, response_format: { type: 'json_object' } });
    if (obj.choices[0].finish_reason === 'stop') {
      const v = JSON.parse(obj.choices[0].message.content);
      assert.equal(typeof v, 'object');
      assert.ok(v !== null && !Array.isArray(v));
    } else {
      // A random model may ramble inside a string until max_tokens; the prefix must still be JSON-like.
      assert.ok(obj.choices[0].message.content.trimStart().startsWith('{'));
    }
  },

  async tools() {
    const tools = [{
      type: 'function',
      function: {
        name: 'get_weather', description: 'Current weather in a city',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string', maxLength: 10 }, unit: { enum: ['c', 'f'] } },
          required: ['city', 'unit'], additionalProperties: false,
        },
      },
    }, {
      type: 'function',
      function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { enum: ['utc', 'local'] } }, required: ['zone'] } },
    }];
    const validate = ajv.compile(tools[0].function.parameters);
    const messages = chatMessages('What is the weather in Paris?');
    const r = await client.chat.completions.create({
      model, messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 400, temperature: 0.8, seed: 3 });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c));
    assert.equal(c.message.tool_calls.length, 1);
    const call = c.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.ok(call.id.length > 0);
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments);
    assert.ok(validate(args), `${call.function.arguments}: ${JSON.stringify(validate.errors)}`);
    // "required" lets the model pick either tool.
    const any = await client.chat.completions.create({ model, messages, tools, tool_choice: 'required', max_tokens: 400, temperature: 0.8, seed: 5 });
    assert.equal(any.choices[0].finish_reason, 'tool_calls');
    assert.ok(['get_weather', 'get_time'].includes(any.choices[0].message.tool_calls[0].function.name));
    // Streamed: the call arrives as a tool_calls delta.
    const stream = await client.chat.completions.create({
      model, messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 400, temperature: 0.8, seed: 3, stream: true });
    let streamedCall = null; let finish = null;
    for await (const chunk of stream) {
      for (const ch of chunk.choices) {
        if (ch.delta.tool_calls) streamedCall = ch.delta.tool_calls[0];
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(streamedCall.function.name, 'get_weather');
    assert.equal(streamedCall.function.arguments, call.function.arguments);
    // Round trip: the call and its result go back into the conversation and the model answers.
    const followUp = await client.chat.completions.create({
      model, tools, max_tokens: 16, ...greedy,
      messages: [...messages, c.message, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' }],
    });
    assert.equal(followUp.choices[0].message.role, 'assistant');
    assert.ok(['stop', 'length', 'tool_calls'].includes(followUp.choices[0].finish_reason));
  },

  async embeddings() {
    const r = await client.embeddings.create({ model, input: ['The cat sat.', 'A dog ran.', 'The cat sat.'], encoding_format: 'float' });
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, 3);
    const [a, b, c] = r.data.map((d) => d.embedding);
    const norm = Math.sqrt(a.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-4, `norm ${norm}`);
    assert.deepEqual(a, c);
    assert.notDeepEqual(a, b);
    assert.ok(r.usage.prompt_tokens > 0);
    // base64 carries the same floats (the client decodes it).
    const b64 = await client.embeddings.create({ model, input: 'The cat sat.', encoding_format: 'base64' });
    const decoded = b64.data[0].embedding;
    if (typeof decoded === 'string') {
      const buf = Buffer.from(decoded, 'base64');
      const floats = Array.from(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4));
      assert.deepEqual(floats, a.map((x) => Math.fround(x)));
    } else {
      assert.deepEqual(Array.from(decoded), a.map((x) => Math.fround(x)));
    }
  },

  // 32 concurrent clients x 3 requests; greedy outputs must equal the same requests served alone.
  async concurrency() {
    const request = (i, j) => (i % 2 === 0
      ? { kind: 'chat', params: { model, messages: chatMessages(`Request ${i}-${j}: count to ${i + j}.`), max_tokens: 12 + (i % 5), ...greedy } }
      : { kind: 'completion', params: { model, prompt: `Story ${i}, part ${j}:`, max_tokens: 10 + (j % 4), ...greedy } });
    const run = async ({ kind, params }) => (kind === 'chat'
      ? (await client.chat.completions.create(params)).choices[0].message.content
      : (await client.completions.create(params)).choices[0].text);
    const clients = 32; const perClient = 3;
    const alone = {};
    for (let i = 0; i < clients; ++i) for (let j = 0; j < perClient; ++j) alone[`${i}-${j}`] = await run(request(i, j));
    await untilIdle();
    const together = {};
    await Promise.all(Array.from({ length: clients }, async (_, i) => {
      for (let j = 0; j < perClient; ++j) together[`${i}-${j}`] = await run(request(i, j));
    }));
    assert.equal(Object.keys(together).length, clients * perClient);
    for (const key of Object.keys(alone)) assert.equal(together[key], alone[key], `request ${key} differs when batched`);
    const m = await untilIdle();
    assert.ok(m.value('rpu_generated_tokens_total') > 0);
    assert.match(m.text, /rpu_requests_total\{endpoint="chat",status="200"\} \d+/);
    assert.match(m.text, /rpu_request_latency_seconds_bucket\{endpoint="chat",le="\+Inf"\} \d+/);
  },

  // A client that disconnects mid-stream frees its sequence.
  async disconnect() {
    await untilIdle();
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model, messages: chatMessages('Talk forever.'), max_tokens: 100000, ignore_eos: true, stream: true, ...greedy },
      { signal: controller.signal });
    let chunks = 0;
    try {
      for await (const _ of stream) { if (++chunks === 5) controller.abort(); }
    } catch (e) { /* aborted */ }
    assert.ok(chunks >= 5);
    const busy = await metrics();
    await untilIdle(5000);
    // A non-streamed request abandoned by its client is cancelled too (within the 1 s probe).
    const c2 = new AbortController();
    const pending = client.chat.completions.create(
      { model, messages: chatMessages('Talk forever.'), max_tokens: 100000, ignore_eos: true, ...greedy }, { signal: c2.signal }).catch(() => null);
    // Abort once the server is decoding it: a fixed wait raced the tiny model, which fills the
    // 1024-token context in about 300 ms, and an abort landing while the client read the finished
    // body left its promise unsettled (node exit 13).
    for (let i = 0; i < 400 && (await metrics()).value('rpu_active_sequences') === 0; ++i) {
      await new Promise((r) => setTimeout(r, 5));
    }
    c2.abort();
    await pending;
    await untilIdle(8000);
    void busy;
  },

  async errors() {
    const chat = { model, messages: chatMessages('hi'), max_tokens: 4 };
    assertErrorBody(await raw('/v1/chat/completions', { body: '{"model": ' }), 400);
    assertErrorBody(await raw('/v1/chat/completions', { body: '[1,2]' }), 400);
    // A body nested 100k levels deep is refused, not a stack overflow.
    assertErrorBody(await raw('/v1/chat/completions', { body: `{"model": "${model}", "messages": ${'['.repeat(100000)}${']'.repeat(100000)}}` }), 400);
    assertErrorBody(await raw('/v1/chat/completions', { body: { ...chat, temperature: 'hot' } }), 400, 'temperature');
    assertErrorBody(await raw('/v1/chat/completions', { body: { ...chat, max_tokens: 0 } }), 400, 'max_tokens');
    assertErrorBody(await raw('/v1/chat/completions', { body: { ...chat, messages: [] } }), 400, 'messages');
    assertErrorBody(await raw('/v1/chat/completions', { body: { ...chat, n: 1000 } }), 400, 'n');
    assertErrorBody(await raw('/v1/chat/completions', { body: { ...chat, model: 'gpt-4o' } }), 404, 'model');
    assertErrorBody(await raw('/v1/chat/completions', {
      body: { ...chat, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', not: {} } } } },
    }), 400);
    assertErrorBody(await raw('/v1/chat/completions', {
      body: { ...chat, tool_choice: { type: 'function', function: { name: 'nope' } }, tools: [{ type: 'function', function: { name: 'yes' } }] },
    }), 400);
    // Longer than a sequence's context (the test server runs with --ctx 1024).
    assertErrorBody(await raw('/v1/completions', { body: { model, prompt: 'word '.repeat(2000), max_tokens: 4 } }), 400, 'prompt');
    assertErrorBody(await raw('/v1/completions', { body: { model, prompt: [[1, 2, 99999999]], max_tokens: 4 } }), 400);
    assertErrorBody(await raw('/v1/embeddings', { body: { model, input: [] } }), 400, 'input');
    // Oversized body (limit 1 MiB in the test server).
    assertErrorBody(await raw('/v1/chat/completions', { body: { ...chat, pad: 'x'.repeat(2 << 20) } }), 413);
    assertErrorBody(await raw('/v1/nothing', { body: {} }), 404);
    // Auth: missing or wrong key.
    assertErrorBody(await raw('/v1/chat/completions', { body: chat, key: null }), 401);
    assertErrorBody(await raw('/v1/models', { method: 'GET', key: 'wrong' }), 401);
    // The official client surfaces the error body.
    await assert.rejects(client.chat.completions.create({ ...chat, model: 'gpt-4o' }), (e) => e.status === 404 && e.error?.code === 'model_not_found');
    // Still serving.
    const health = await raw('/health', { method: 'GET', key: null });
    assert.equal(health.status, 200);
    const ok = await client.chat.completions.create(chat);
    assert.equal(ok.choices.length, 1);
  },

  // OpenAI-compatibility answers an adversarial probe found wrong (issue 11, findings 10-11).
  async compat() {
    const chat = { model, messages: chatMessages('hi'), max_tokens: 4, ...greedy };
    const post = (body) => raw('/v1/chat/completions', { body });
    // A number JSON cannot hold is a 400 naming the field, with no library text in it.
    const huge = await post(JSON.stringify(chat).replace('"max_tokens":4', '"max_tokens":1e999'));
    assertErrorBody(huge, 400, 'max_tokens');
    assert.doesNotMatch(huge.json.error.message, /json\.exception|nlohmann/);
    // Each mistake gets its own code and field.
    const oov = await raw('/v1/completions', { body: { model, prompt: [[1, 2, 99999999]], max_tokens: 4 } });
    assertErrorBody(oov, 400, 'prompt');
    assert.notEqual(oov.json.error.code, 'context_length_exceeded');
    assertErrorBody(await post({ ...chat, messages: [{ role: 'wizard', content: 'hi' }] }), 400, 'messages[0].role');
    assertErrorBody(await post({ ...chat, messages: [{ role: 'user', content: 42 }] }), 400, 'messages[0].content');
    const image = await post({ ...chat, messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }] });
    assertErrorBody(image, 400, 'messages[0].content[1]');
    assert.match(image.json.error.message, /not supported by this model/);
    const audio = await post({ ...chat, messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] });
    assertErrorBody(audio, 400, 'messages[0].content[0]');
    for (const name of ['messages', 'bos_token', 'tools']) {
      assertErrorBody(await post({ ...chat, chat_template_kwargs: { [name]: [] } }), 400, 'chat_template_kwargs');
    }
    // Text parts are read as text.
    const parts = await client.chat.completions.create({ ...chat, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] });
    assert.equal(parts.choices.length, 1);
    // top_p 0 is greedy; an empty stop string, alone or in a list, is no stop at all.
    const base = await client.chat.completions.create({ ...chat, max_tokens: 12 });
    const nucleus0 = await client.chat.completions.create({ ...chat, max_tokens: 12, temperature: 1, top_p: 0 });
    assert.equal(nucleus0.choices[0].message.content, base.choices[0].message.content);
    for (const stop of ['', ['']]) {
      const r = await client.chat.completions.create({ ...chat, max_tokens: 12, stop });
      assert.equal(r.choices[0].message.content, base.choices[0].message.content, JSON.stringify(stop));
    }
    // logit_bias: ids are checked against the vocabulary; +100 on one token makes it the only
    // one chosen, -100 bans it.
    assertErrorBody(await post({ ...chat, logit_bias: { 99999999: 5 } }), 400, 'logit_bias');
    assertErrorBody(await post({ ...chat, logit_bias: { abc: 5 } }), 400, 'logit_bias');
    assertErrorBody(await post({ ...chat, logit_bias: { 5: 101 } }), 400, 'logit_bias');
    const plain = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 6, logprobs: 0, ...greedy });
    const forced = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 6, logprobs: 0,
      logit_bias: { 300: 100, 301: 99 }, ...greedy });
    const tokens = forced.choices[0].logprobs.tokens;
    assert.equal(tokens.length, 6);
    assert.ok(tokens.every((t) => t === tokens[0]), JSON.stringify(tokens));
    assert.notDeepEqual(tokens, plain.choices[0].logprobs.tokens);
    // With 301 lifted just below, banning 300 hands every step to 301.
    const banned = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 6, logprobs: 0,
      logit_bias: { 300: -100, 301: 99 }, ...greedy });
    const others = banned.choices[0].logprobs.tokens;
    assert.ok(others.every((t) => t === others[0] && t !== tokens[0]), JSON.stringify(others));
    // More samples than --parallel slots (8 here) are queued, not refused.
    const many = await client.chat.completions.create({ ...chat, n: 12, temperature: 1, seed: 5, max_tokens: 6 });
    assert.deepEqual(many.choices.map((c) => c.index), [...Array(12).keys()]);
    for (const c of many.choices) assert.ok(['stop', 'length'].includes(c.finish_reason));
    await untilIdle();
  },

  // With --parallel 1 --queue 1, a third concurrent request is refused with 429.
  async queueFull() {
    const long = { model, prompt: 'Go', max_tokens: 400, ignore_eos: true, ...greedy };
    const results = await Promise.all([0, 1, 2, 3].map(() => raw('/v1/completions', { body: long })));
    const statuses = results.map((r) => r.status).sort();
    assert.ok(statuses.includes(200), statuses.join());
    const refused = results.find((r) => r.status === 429);
    assert.ok(refused, `no 429 among ${statuses.join()}`);
    assertErrorBody(refused, 429);
    await untilIdle();
    // One request with more samples than slots runs them in turn, whatever the queue's size.
    const three = await client.completions.create({ model, prompt: 'Go', max_tokens: 4, n: 3, temperature: 1, seed: 1 });
    assert.deepEqual(three.choices.map((c) => c.index), [0, 1, 2]);
    await untilIdle();
  },
};

const run = scenarios[scenario];
if (!run) { console.error(`unknown scenario ${scenario}`); process.exit(2); }
try {
  await run();
  console.log(`${scenario}: ok`);
} catch (e) {
  console.error(`${scenario}: FAILED\n${e.stack ?? e}`);
  process.exit(1);
}
