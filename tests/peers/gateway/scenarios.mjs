// End-to-end scenarios against a running `rpu gateway`, driven by the official OpenAI client
// (tests/e2e/test_gateway_api.cpp and test_gateway_auth.cpp start the processes).
// Usage: node scenarios.mjs SCENARIO BASE_URL API_KEY [EXTRA...]
// The gateway under test routes "arith" / "gpt-4o-mini" (route "arithmetic") to the built-in
// arithmetic model and "gpt-4o" (route "general", also the default) to an upstream whose
// answers are children's-story text (stories260K). Exits non-zero on the first failed check.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [scenario, baseUrl, apiKey, ...extra] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });

const greedy = { temperature: 0 };
const question = 'Mia has 12 apples. She buys 7 more. How many apples does Mia have now?';
const arithmetic = /The answer is -?\d+\.\s*$/;

async function streamChat(params) {
  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = ''; let finish = null; let rpu = null; let usage = null; let role = false;
  const toolCalls = [];
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, params.model);
    if (chunk.usage) usage = chunk.usage;
    if (chunk.rpu) rpu = chunk.rpu;
    for (const c of chunk.choices) {
      if (c.delta.role) role = true;
      if (c.delta.content) text += c.delta.content;
      for (const t of c.delta.tool_calls ?? []) {
        toolCalls[t.index] ??= { id: '', name: '', arguments: '' };
        if (t.id) toolCalls[t.index].id = t.id;
        if (t.function?.name) toolCalls[t.index].name += t.function.name;
        if (t.function?.arguments) toolCalls[t.index].arguments += t.function.arguments;
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(role, 'the first chunk carries the assistant role');
  return { text, finish, rpu, usage, toolCalls };
}

function assertGateway(rpu, route, answeredBy) {
  assert.ok(rpu && rpu.gateway, `no rpu.gateway in ${JSON.stringify(rpu)}`);
  assert.equal(rpu.gateway.route, route, JSON.stringify(rpu));
  assert.equal(rpu.gateway.answered_by, answeredBy, JSON.stringify(rpu));
  assert.equal(rpu.gateway.escalated, false, JSON.stringify(rpu));
}

const scenarios = {
  // What an agent framework sends: a system prompt and the conversation so far. The model name
  // is none of the gateway's, so the arithmetic route's system-prompt rule picks the route.
  async agent() {
    const messages = [
      { role: 'system', content: 'You are a careful assistant that solves arithmetic word problems.' },
      { role: 'user', content: 'Leo has 45 coins. He loses 18. How many coins does Leo have now?' },
      { role: 'assistant', content: '45 - 18 = 27. The answer is 27.' },
      { role: 'user', content: question },
    ];
    const params = { model: 'gpt-4.1', messages, max_tokens: 48, ...greedy };
    const r = await client.chat.completions.create(params);
    assert.equal(r.model, 'gpt-4.1');
    assert.match(r.choices[0].message.content, arithmetic);
    assertGateway(r.rpu, 'arithmetic', 'arith');
    const s = await streamChat(params);
    assert.equal(s.text, r.choices[0].message.content, 'the stream carries the same text');
    assertGateway(s.rpu, 'arithmetic', 'arith');
    // Without the system prompt no rule matches: the default route's upstream answers.
    const plain = await client.chat.completions.create({ ...params, messages: messages.slice(1) });
    assertGateway(plain.rpu, 'general', 'big');
  },

  async models() {
    const ids = [];
    for await (const m of await client.models.list()) {
      assert.equal(m.object, 'model');
      ids.push(m.id);
    }
    assert.deepEqual(ids, ['arithmetic', 'gpt-4o-mini', 'arith', 'general', 'gpt-4o']);
  },

  async chat() {
    // The small model by alias, the upstream by alias, and the default route for a name no route claims.
    for (const [model, route, answeredBy] of [['gpt-4o-mini', 'arithmetic', 'arith'], ['gpt-4o', 'general', 'big'],
      ['some-other-model', 'general', 'big']]) {
      const params = { model, messages: [{ role: 'user', content: question }], max_tokens: 48, ...greedy };
      const r = await client.chat.completions.create(params);
      assert.ok(r.id.startsWith('chatcmpl-'));
      assert.equal(r.object, 'chat.completion');
      assert.equal(r.model, model, 'the client gets the model name it asked for');
      const c = r.choices[0];
      assert.equal(c.message.role, 'assistant');
      assert.ok(['stop', 'length'].includes(c.finish_reason), c.finish_reason);
      assert.equal(arithmetic.test(c.message.content), answeredBy === 'arith', `${model}: ${c.message.content}`);
      assert.ok(r.usage.prompt_tokens > 5);
      assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
      assertGateway(r.rpu, route, answeredBy);
      const s = await streamChat(params);
      assert.equal(s.text, c.message.content, `${model}: the stream carries the same text`);
      assert.equal(s.finish, c.finish_reason);
      assert.equal(s.usage.completion_tokens, r.usage.completion_tokens);
      assertGateway(s.rpu, route, answeredBy);
    }
  },

  async tools() {
    const tools = [{
      type: 'function',
      function: {
        name: 'get_weather', description: 'Current weather in a city',
        parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] },
      },
    }];
    const params = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Find the weather in Paris.' }], tools,
      tool_choice: 'required', max_tokens: 300, ...greedy };
    const r = await client.chat.completions.create(params);
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c));
    assert.equal(c.message.content, null);
    assert.equal(c.message.tool_calls.length, 1);
    const call = c.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.ok(call.id.length > 0);
    assert.equal(call.function.name, 'get_weather');
    assert.equal(typeof JSON.parse(call.function.arguments).city, 'string', call.function.arguments);
    assertGateway(r.rpu, 'general', 'big');
    const s = await streamChat(params);
    assert.equal(s.finish, 'tool_calls');
    assert.equal(s.toolCalls.length, 1);
    assert.equal(s.toolCalls[0].name, 'get_weather');
    assert.equal(s.toolCalls[0].arguments, call.function.arguments);
  },

  async completions() {
    for (const [model, prompt, isArithmetic] of [
      ['arith', `Question: ${question}\nAnswer:`, true], ['gpt-4o', 'Once upon a time', false]]) {
      const params = { model, prompt, max_tokens: 32, ...greedy };
      const r = await client.completions.create(params);
      assert.ok(r.id.startsWith('cmpl-'));
      assert.equal(r.object, 'text_completion');
      assert.equal(r.model, model);
      const text = r.choices[0].text;
      assert.equal(arithmetic.test(text), isArithmetic, `${model}: ${text}`);
      assert.ok(r.usage.completion_tokens > 0);
      let streamed = '';
      for await (const chunk of await client.completions.create({ ...params, stream: true })) {
        for (const c of chunk.choices) streamed += c.text ?? '';
      }
      assert.equal(streamed, text, `${model}: the stream carries the same text`);
    }
  },

  async embeddings() {
    // Each route's target embeds: the built-in model (width 256) and the upstream (stories260K, width 64).
    const dims = {};
    for (const model of ['arith', 'gpt-4o']) {
      const r = await client.embeddings.create({ model, input: ['The cat sat.', 'A dog ran.', 'The cat sat.'], encoding_format: 'float' });
      assert.equal(r.object, 'list');
      assert.equal(r.data.length, 3);
      const [a, b, c] = r.data.map((d) => d.embedding);
      assert.deepEqual(a, c);
      assert.notDeepEqual(a, b);
      assert.ok(r.usage.prompt_tokens > 0);
      dims[model] = a.length;
    }
    assert.deepEqual(dims, { arith: 256, 'gpt-4o': 64 });
  },

  async errors() {
    const chat = { model: 'arith', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 };
    await assert.rejects(client.chat.completions.create({ ...chat, temperature: 'hot' }),
      (e) => e.status === 400 && e.error?.param === 'temperature');
    await assert.rejects(client.chat.completions.create({ ...chat, messages: [] }), (e) => e.status === 400);
    await assert.rejects(client.embeddings.create({ model: 'arith', input: [] }), (e) => e.status === 400);
    const r = await client.chat.completions.create({ ...chat, max_tokens: 8 });
    assert.equal(r.choices.length, 1, 'still serving');
  },

  // Keys (test_gateway_auth.cpp): EXTRA = LIMITED_KEY (burst 1, one request a minute).
  async auth() {
    const [limitedKey] = extra;
    const chat = { model: 'arith', messages: [{ role: 'user', content: question }], max_tokens: 48, ...greedy };
    const r = await client.chat.completions.create(chat);
    assert.ok(arithmetic.test(r.choices[0].message.content), r.choices[0].message.content);
    const wrong = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'not-a-key', maxRetries: 0 });
    await assert.rejects(wrong.chat.completions.create(chat),
      (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.error?.code === 'invalid_api_key');
    await assert.rejects(wrong.models.list(), (e) => e.status === 401);
    const limited = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: limitedKey, maxRetries: 0 });
    await limited.chat.completions.create(chat);
    await assert.rejects(limited.chat.completions.create(chat), (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, String(e));
      assert.equal(e.status, 429);
      assert.equal(e.error?.type, 'rate_limit_error');
      const after = Number(e.headers?.get?.('retry-after') ?? e.headers?.['retry-after']);
      assert.ok(after >= 1 && after <= 60, `Retry-After ${after}`);
      return true;
    });
  },
};

const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}; known: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
try {
  await run();
  console.log(`${scenario}: ok`);
} catch (e) {
  console.error(`${scenario}: FAILED`);
  console.error(e);
  process.exit(1);
}
