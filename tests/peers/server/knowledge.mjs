// Retrieval-augmented answers end to end, with the official OpenAI client against
// `rpu serve --kb docs=FILE`: the "knowledge" request extension, the sources put in context,
// rpu.citations resolving to the right source chunk, streaming, and the 400s for bad input.
// The answer's text is fixed by a JSON schema (a real decoding constraint), so the citations
// in it are known: [1] names the best source, [9] names none (reported as invalid, never cited).
// Usage: node knowledge.mjs BASE_URL MODEL EXPECTED_SOURCE_SUFFIX
import assert from 'node:assert/strict';
import fs from 'node:fs';
import OpenAI from 'openai';

const [baseUrl, model, expectedSource] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'none', maxRetries: 0, timeout: 120_000 });
const answer = 'A kludge is a clumsy but working solution [1]. See also [9].';
const request = {
  model,
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'What is a kludge?' },
  ],
  temperature: 0,
  max_tokens: 96,  // the JSON frame around the fixed answer, as the built-in model spaces it (about 70 tokens)
  knowledge: { kb: 'docs', k: 3, mode: 'bm25' },
  response_format: {
    type: 'json_schema',
    json_schema: { name: 'a', schema: { type: 'object', properties: { answer: { const: answer } }, required: ['answer'] } },
  },
};

function checkCitations(info, content) {
  assert.ok(info, 'no rpu field');
  const sources = info.knowledge.sources;
  assert.ok(sources.length >= 1 && sources.length <= 3, JSON.stringify(info));
  assert.ok(sources[0].source.endsWith(expectedSource), `best source ${sources[0].source}`);
  assert.equal(info.knowledge.kb, 'docs');
  assert.equal(info.knowledge.query, 'What is a kludge?');
  assert.ok(content.includes('[1]') && content.includes('[9]'), content);
  assert.equal(info.citations.length, 1, JSON.stringify(info.citations));
  const cited = info.citations[0];
  assert.equal(cited.n, 1);
  assert.deepEqual(cited, sources[0]);
  assert.ok(cited.offsets.byte_end > cited.offsets.byte_begin);
  // The citation resolves to the chunk, not just the file: the base is built with small chunks,
  // so the file holds several, and the cited byte range is the kludge paragraph alone.
  const chunk = fs.readFileSync(cited.source).subarray(cited.offsets.byte_begin, cited.offsets.byte_end).toString();
  assert.match(chunk, /kludge is a clumsy/, `cited bytes: ${chunk}`);
  assert.doesNotMatch(chunk, /glossary|clever/, `cited bytes: ${chunk}`);
  assert.deepEqual(info.invalid_citations, [9]);
}

// Non-streaming.
const r = await client.chat.completions.create(request);
assert.equal(JSON.parse(r.choices[0].message.content).answer, answer);
checkCitations(r.rpu, r.choices[0].message.content);

// Streaming: the finish chunk carries the same extension.
const stream = await client.chat.completions.create({ ...request, stream: true });
let content = '';
let info = null;
for await (const chunk of stream) {
  content += chunk.choices[0]?.delta?.content ?? '';
  if (chunk.rpu) info = chunk.rpu;
}
checkCitations(info, content);

// Without the extension the same server answers as usual, with no rpu field.
const plain = await client.chat.completions.create({ model, messages: request.messages, max_tokens: 8, temperature: 0 });
assert.equal(plain.rpu, undefined);

async function expectError(knowledge, param, fragment) {
  const response = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, messages: request.messages, max_tokens: 8, knowledge }),
  });
  const json = await response.json();
  assert.equal(response.status, 400, JSON.stringify(json));
  assert.equal(json.error.param, param, JSON.stringify(json));
  assert.ok(json.error.message.includes(fragment), json.error.message);
}
await expectError({ kb: 'nope' }, 'knowledge.kb', "no knowledge base named 'nope' (known: docs)");
// A path is a name like any other: the server never opens files a request names.
await expectError({ kb: '/etc/passwd' }, 'knowledge.kb', 'no knowledge base named');
await expectError({ kb: 'docs', k: 0 }, 'knowledge.k', 'between 1 and 50');
await expectError({ kb: 'docs', colour: 'red' }, 'knowledge.colour', 'unknown field');
await expectError({ kb: 'docs', mode: 'psychic' }, 'knowledge.mode', "unknown search mode 'psychic'");
await expectError('docs', 'knowledge', 'must be an object');
await expectError({ kb: 'docs', extractive: 'yes' }, 'knowledge.extractive', 'must be true or false');

// Extractive answers through the client: the request is accepted and answered (the words'
// check is tests/e2e/test_kb.cpp's), and cannot be combined with another output constraint.
const extractive = await client.chat.completions.create({ model, messages: request.messages, max_tokens: 16, temperature: 0,
  knowledge: { kb: 'docs', k: 2, mode: 'bm25', extractive: true } });
assert.ok(extractive.choices[0].message.content.length > 0, JSON.stringify(extractive));
assert.equal(extractive.rpu.knowledge.kb, 'docs');
await assert.rejects(
  client.chat.completions.create({ ...request, knowledge: { kb: 'docs', extractive: true } }),
  (e) => e.status === 400 && e.error?.param === 'knowledge.extractive');
console.log('ok');
