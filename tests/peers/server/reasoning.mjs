// Reasoning strategies end to end, with the official OpenAI client against `rpu serve` on the
// built-in arithmetic model: the "reasoning" request extension, the model-name form
// (NAME+sc4) that unmodified clients can use, streaming, usage, the "calculator" extension, the
// reasoning channel (reasoning_content), and the 400s for bad input.
// Usage: node reasoning.mjs BASE_URL MODEL [judge]
// With "judge" (the server was started with --judge) only the judge verifier's scenario runs.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [baseUrl, model, mode] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'none', maxRetries: 0, timeout: 120_000 });
const question = 'Leo has 45 coins. He loses 18. He finds 26 more. How many coins does Leo have now?';
const messages = [{ role: 'user', content: question }];
const lastNumber = (text) => (text.match(/-?\d+/g) ?? []).at(-1);

// The rpu field explains the answer: votes add up to the samples, the confidence is the
// winner's share, and the content's answer is the winner.
function checkVote(r, samples) {
  const info = r.rpu;
  assert.ok(info, `no rpu field: ${JSON.stringify(r)}`);
  assert.equal(info.samples, samples);
  const counted = Object.values(info.votes).reduce((a, b) => a + b, 0);
  assert.ok(counted <= samples, JSON.stringify(info));
  assert.equal(info.confidence, info.votes[info.answer] / samples, JSON.stringify(info));
  for (const count of Object.values(info.votes)) assert.ok(count <= info.votes[info.answer], 'the winner has most votes');
  assert.equal(lastNumber(r.choices[0].message.content), info.answer);
  assert.equal(r.choices.length, 1);
}

async function expectError(body, param) {
  const response = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  const json = await response.json();
  assert.equal(response.status, 400, JSON.stringify(json));
  assert.equal(json.error.param, param, JSON.stringify(json));
  assert.ok(json.error.message.length > 0);
}

// The judge verifier after the grounded arithmetic rule: only candidates the rule passes are
// shown to the judge; a server without --judge refuses the request with a 400.
const judged = {
  model, messages, max_tokens: 80, seed: 3,
  reasoning: { strategy: 'best_of_n', n: 4, verifier: { type: 'judge', after: { type: 'arithmetic', grounded: true } } },
};
if (mode === 'judge') {
  const j = await client.chat.completions.create(judged);
  assert.equal(j.rpu.verifier, 'judge after arithmetic (grounded)', JSON.stringify(j.rpu));
  assert.equal(j.rpu.samples, 4);
  assert.ok(j.rpu.score >= 0 && j.rpu.score <= 1, JSON.stringify(j.rpu));
  // A candidate the rule fails scores 0 without asking the judge: a chosen one that failed says why.
  if (j.rpu.score === 0) assert.match(j.rpu.reason, /^arithmetic/, JSON.stringify(j.rpu));
  await expectError({ ...judged, reasoning: { ...judged.reasoning, verifier: { type: 'arithmetic', after: { type: 'regex' } } } },
                    'reasoning.verifier');
  console.log('judge scenario passed');
  process.exit(0);
}
await expectError(judged, 'reasoning.verifier');

// Extension form: self-consistency over 6 samples.
const greedy = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 80 });
const sc = await client.chat.completions.create({
  model, messages, max_tokens: 80, seed: 7,
  reasoning: { strategy: 'self_consistency', n: 6, temperature: 0.8 },
});
checkVote(sc, 6);
assert.equal(sc.rpu.strategy, 'self_consistency');
// Usage counts every sampled token: more than one answer's worth.
assert.ok(sc.usage.completion_tokens > greedy.usage.completion_tokens, JSON.stringify(sc.usage));
assert.equal(sc.usage.total_tokens, sc.usage.prompt_tokens + sc.usage.completion_tokens);
// The same seed draws the same samples.
const again = await client.chat.completions.create({
  model, messages, max_tokens: 80, seed: 7,
  reasoning: { strategy: 'self_consistency', n: 6, temperature: 0.8 },
});
assert.deepEqual(again.rpu.votes, sc.rpu.votes);
assert.equal(again.choices[0].message.content, sc.choices[0].message.content);

// Model-name form, as an unmodified client would send it; also streamed.
const named = await client.chat.completions.create({ model: `${model}+sc4`, messages, max_tokens: 80, seed: 3 });
checkVote(named, 4);
const stream = await client.chat.completions.create({
  model: `${model}+sc4`, messages, max_tokens: 80, seed: 3, stream: true, stream_options: { include_usage: true },
});
let streamed = '', streamedInfo = null, usage = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const choice of chunk.choices ?? []) {
    streamed += choice.delta?.content ?? '';
    if (choice.finish_reason) streamedInfo = chunk.rpu;
  }
}
assert.equal(streamed, named.choices[0].message.content);
assert.deepEqual(streamedInfo, named.rpu);
assert.equal(usage.completion_tokens, named.usage.completion_tokens);

// Adaptive: at temperature 0 every sample agrees, so the first round (4) settles it.
const adaptive = await client.chat.completions.create({
  model, messages, max_tokens: 80, reasoning: { strategy: 'adaptive', n: 16, round: 4, temperature: 0 },
});
checkVote(adaptive, 4);
assert.equal(adaptive.rpu.confidence, 1);
assert.equal(adaptive.rpu.max_samples, 16);
assert.equal(adaptive.choices[0].message.content, greedy.choices[0].message.content);

// Best-of-N with the arithmetic verifier (model-name form) and with an external program.
const bon = await client.chat.completions.create({ model: `${model}+bon6`, messages, max_tokens: 80, seed: 11 });
assert.equal(bon.rpu.verifier, 'arithmetic (grounded, complete)');
assert.equal(bon.rpu.samples, 6);
// A passing chain scores the share of the question's numbers it uses ("complete"): above 0.
if (bon.rpu.passed > 0) assert.ok(bon.rpu.score > 0 && bon.rpu.score <= 1, JSON.stringify(bon.rpu));
assert.equal(bon.rpu.select, 'best');
// The verified vote (+bonv) on the same seed draws the same samples; only verified ones vote, so
// when any passes the chosen sample passes (score > 0) and its answer is among the votes.
const bonv = await client.chat.completions.create({ model: `${model}+bonv6`, messages, max_tokens: 80, seed: 11 });
assert.equal(bonv.rpu.select, 'vote');
assert.deepEqual(bonv.rpu.votes, bon.rpu.votes);
assert.equal(bonv.rpu.passed, bon.rpu.passed);
if (bonv.rpu.passed > 0) {
  assert.ok(bonv.rpu.score > 0, JSON.stringify(bonv.rpu));
  assert.ok(bonv.rpu.answer in bonv.rpu.votes, JSON.stringify(bonv.rpu));
}
const right = await client.chat.completions.create({
  model, messages, max_tokens: 80, seed: 5,
  reasoning: { strategy: 'best_of_n', n: 6, temperature: 1.0,
               verifier: { type: 'command', command: ['grep', '-q', 'The answer is 53\\.'], timeout_ms: 5000 } },
});
if (right.rpu.passed > 0) assert.match(right.choices[0].message.content, /The answer is 53\./);
assert.ok(right.rpu.confidence <= right.rpu.passed / 6 + 1e-9);

// Step search (beam over sentences) returns a whole answer with its verifier's confidence.
const step = await client.chat.completions.create({
  model, messages, max_tokens: 80,
  reasoning: { strategy: 'step_search', n: 2, expand: 2, step_delimiter: '. ', verifier: { type: 'arithmetic' } },
});
assert.equal(step.rpu.strategy, 'step_search');
assert.ok(step.rpu.confidence >= 0 && step.rpu.confidence <= 1);
assert.match(step.choices[0].message.content, /\d/);

// Calculator decoding ("calculator": true): after a step's "=" the result is computed. Sampled
// at temperature 1 on three-digit numbers the model writes wrong sums; with the calculator every
// step it writes is right, in the plain answer, streamed, and inside a reasoning strategy.
// A step as the calculator reads one (src/decode/arithmetic.h): "a op b = c" whose left operand is
// not right after another number ("-165 1 310 - 17 = 39" holds no step).
const steps = (text) => [...text.matchAll(/(?<!\d[ \t]*)(?<!\d[.,])(\d+(?:\.\d+)?) ([-+*\/]) (\d+(?:\.\d+)?) = \$?(\d+(?:\.\d+)?)/g)];
const value = (a, op, b) => ({ '+': a + b, '-': a - b, '*': a * b, '/': a / b })[op];
const wrongSteps = (text) => steps(text).filter(([, a, op, b, c]) => Math.abs(value(Number(a), op, Number(b)) - Number(c)) > 1e-6);
const hard = [{ role: 'user', content: 'Mia has 687 stamps. She buys 458 more. Then she gives away 279. How many stamps does Mia have now?' }];
const sampled = { model, messages: hard, max_tokens: 80, temperature: 1.0, n: 8, seed: 21 };
const free = await client.chat.completions.create(sampled);
const freeWrong = free.choices.flatMap((c) => wrongSteps(c.message.content));
assert.ok(freeWrong.length > 0, `without the calculator no step was wrong: ${JSON.stringify(free.choices.map((c) => c.message.content))}`);
const calc = await client.chat.completions.create({ ...sampled, calculator: true });
let calcSteps = 0;
for (const c of calc.choices) {
  calcSteps += steps(c.message.content).length;
  assert.deepEqual(wrongSteps(c.message.content), [], c.message.content);
}
assert.ok(calcSteps >= 8, `too few steps to check: ${calcSteps}`);
const calcStream = await client.chat.completions.create({ ...sampled, n: 1, calculator: true, stream: true });
let calcText = '';
for await (const chunk of calcStream) calcText += chunk.choices?.[0]?.delta?.content ?? '';
assert.ok(steps(calcText).length > 0, calcText);
assert.deepEqual(wrongSteps(calcText), [], calcText);
const calcVote = await client.chat.completions.create({
  model, messages: hard, max_tokens: 80, seed: 4, calculator: true, reasoning: { strategy: 'self_consistency', n: 4, temperature: 1.0 },
});
checkVote(calcVote, 4);
assert.deepEqual(wrongSteps(calcVote.choices[0].message.content), [], calcVote.choices[0].message.content);
await expectError({ model, messages: hard, calculator: 'yes' }, 'calculator');

// The reasoning channel: a "<think>" span before the answer (a grammar makes the model write one,
// with the calculator completing its step) comes back as message.reasoning_content and as
// delta.reasoning_content, apart from the content; "reasoning_format": "none" keeps it in the
// content as written.
// As an agent sends it: a system prompt and an earlier turn.
const thinking = {
  model, max_tokens: 60, temperature: 0, calculator: true,
  messages: [{ role: 'system', content: 'You are a helpful assistant. Show your working.' },
             { role: 'user', content: 'Mia has 12 apples. She buys 7 more. How many apples does she have now?' },
             { role: 'assistant', content: '12 + 7 = 19. The answer is 19.' }, ...messages],
  grammar: 'root ::= "<think>45 - 18 = " [0-9]+ "</think>\\n\\nThe answer is " [0-9]+ "."',
};
const thought = await client.chat.completions.create(thinking);
assert.equal(thought.choices[0].message.reasoning_content, '45 - 18 = 27', JSON.stringify(thought.choices[0]));
assert.match(thought.choices[0].message.content, /^The answer is \d+\.$/);
const spent = thought.usage.completion_tokens_details.reasoning_tokens;
assert.ok(spent > 0 && spent < thought.usage.completion_tokens, JSON.stringify(thought.usage));
const thoughtStream = await client.chat.completions.create({ ...thinking, stream: true });
let streamedReasoning = '', streamedContent = '';
for await (const chunk of thoughtStream) {
  streamedReasoning += chunk.choices?.[0]?.delta?.reasoning_content ?? '';
  streamedContent += chunk.choices?.[0]?.delta?.content ?? '';
}
assert.equal(streamedReasoning, '45 - 18 = 27');
assert.equal(streamedContent, thought.choices[0].message.content);
const raw = await client.chat.completions.create({ ...thinking, reasoning_format: 'none' });
assert.equal(raw.choices[0].message.content, `<think>45 - 18 = 27</think>\n\n${thought.choices[0].message.content}`);
assert.equal(raw.choices[0].message.reasoning_content, undefined);
assert.equal(raw.usage.completion_tokens_details.reasoning_tokens, 0);
await expectError({ ...thinking, reasoning_format: 'hidden' }, 'reasoning_format');

// Bad input: a 400 naming the parameter; the server keeps serving.
await expectError({ model, messages, reasoning: { strategy: 'tree_of_thought' } }, 'reasoning.strategy');
await expectError({ model, messages, reasoning: { n: 1000 } }, 'reasoning.n');
await expectError({ model: `${model}+sc1000`, messages }, 'reasoning.n');
await expectError({ model, messages, reasoning: { strategy: 'best_of_n', verifier: { type: 'command', command: ['/no/such/program'] } } },
                  'reasoning.verifier');
await expectError({ model, messages, max_tokens: 40, reasoning: { extract: { type: 'regex', pattern: 'zzz(\\d+)' } } },
                  'reasoning.extract');
await expectError({ model, messages, n: 2, reasoning: { n: 4 } }, 'n');
await expectError({ model, messages, reasoning: 'sc8' }, 'reasoning');
const after = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 80 });
assert.equal(after.choices[0].message.content, greedy.choices[0].message.content);
console.log('reasoning scenarios passed');
