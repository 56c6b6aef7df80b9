// Accuracy of a model on arithmetic word problems, run through rpu itself: starts
// `rpu serve MODEL --port 0` (or uses --server URL), asks every question through
// /v1/chat/completions at temperature 0, and compares the number after "The answer is" with the
// reference answer. Modes (--modes, comma-separated; default all):
//   plain    the question alone
//   system   after a generic system prompt (--system, default "You are a helpful assistant.")
//   second   as the second turn: another problem of the same set and its correct answer first
//   refusal  off-domain prompts (--offdomain FILE): share answered with exactly the refusal
//            sentence; the in-domain modes report their false refusals alongside
//
//   node specialist/eval.mjs --rpu build/rpu [--model M.gguf] --data test.jsonl[,reworded.jsonl]
//        [--offdomain specialist/offdomain.jsonl] [--modes plain,system,second,refusal]
//        [--limit N] [--parallel 4] [--json FILE] [--dump FILE] [--server URL --name MODEL]
//
// Without --model the server runs rpu's built-in model. Prints one JSON line on stdout (also
// written to --json FILE), a summary per set and mode on stderr; --dump writes every wrong
// answer (JSONL).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const REFUSAL = 'I can only help with arithmetic word problems.';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => {
  if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
  return pairs;
}, []));
if ((!args.data && !args.offdomain) || (!args.rpu && !args.server)) {
  console.error('usage: node specialist/eval.mjs --rpu build/rpu [--model M.gguf] --data test.jsonl[,more.jsonl] ' +
    '[--offdomain offdomain.jsonl] [--modes plain,system,second,refusal] [--system TEXT] [--limit N] [--parallel P] ' +
    '[--json FILE] [--dump FILE] [--server URL --name MODEL]');
  process.exit(2);
}
const parallel = Number(args.parallel ?? 4);
const modes = (args.modes ?? 'plain,system,second,refusal').split(',').map((m) => m.trim()).filter(Boolean);
for (const m of modes) {
  if (!['plain', 'system', 'second', 'refusal'].includes(m)) {
    console.error(`unknown mode '${m}' (plain, system, second, refusal)`);
    process.exit(2);
  }
}
const systemPrompt = args.system ?? 'You are a helpful assistant.';
const limit = args.limit ? Number(args.limit) : undefined;
const readJsonl = (file) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l))
  .slice(0, limit);
const dataSets = (args.data ?? '').split(',').filter(Boolean).map((file) => ({ name: path.basename(file, '.jsonl'), file, items: readJsonl(file) }));
const offdomain = args.offdomain && modes.includes('refusal') ? readJsonl(args.offdomain) : [];

const answerOf = (text) => {
  const m = /The answer is (-?\d+)/.exec(text ?? '');
  return m ? Number(m[1]) : null;
};
const isRefusal = (text) => (text ?? '').trim() === REFUSAL;

let server = null;
let url = args.server;
if (!url) {
  const serveArgs = ['serve', ...(args.model ? [args.model] : []), '--port', '0', '--parallel', String(parallel), '--alias', 'model'];
  if (args.threads) serveArgs.push('--threads', String(args.threads));
  server = spawn(args.rpu, serveArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  url = await new Promise((resolve, reject) => {
    let log = '';
    server.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /on (http:\/\/[0-9.]+:\d+)/.exec(log);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`rpu serve exited (${code}): ${log}`)));
  });
}

async function ask(messages) {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: args.server ? (args.name ?? 'model') : 'model', messages, temperature: 0, max_tokens: 128 }),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  return (await response.json()).choices[0].message.content;
}

// Runs fn over items with `parallel` requests in flight.
async function each(items, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

const question = (p) => p.messages.find((m) => m.role === 'user').content;
const reference = (p) => p.messages.find((m) => m.role === 'assistant').content;
const dump = [];

async function inDomain(set, mode) {
  const bySteps = {};
  let correct = 0;
  let refused = 0;
  const started = Date.now();
  await each(set.items, async (p, i) => {
    const messages = [];
    if (mode === 'system') messages.push({ role: 'system', content: systemPrompt });
    if (mode === 'second') {
      const first = set.items[(i + 1) % set.items.length];  // another problem of the set, answered correctly
      messages.push({ role: 'user', content: question(first) }, { role: 'assistant', content: reference(first) });
    }
    messages.push({ role: 'user', content: question(p) });
    const expected = answerOf(reference(p));
    const steps = (reference(p).match(/=/g) ?? []).length;
    const text = await ask(messages);
    const got = answerOf(text);
    const ok = got !== null && got === expected;
    correct += ok ? 1 : 0;
    refused += isRefusal(text) ? 1 : 0;
    bySteps[steps] ??= { total: 0, correct: 0 };
    bySteps[steps].total += 1;
    bySteps[steps].correct += ok ? 1 : 0;
    if (!ok) dump.push({ set: set.name, mode, question: question(p), expected: reference(p), got: text });
  });
  const n = set.items.length;
  return { problems: n, correct, accuracy: n ? correct / n : 0, false_refusals: refused, false_refusal_rate: n ? refused / n : 0,
    by_steps: bySteps, seconds: (Date.now() - started) / 1000 };
}

async function refusals() {
  let refused = 0;
  const started = Date.now();
  await each(offdomain, async (p) => {
    const text = await ask([{ role: 'user', content: question(p) }]);
    if (isRefusal(text)) ++refused;
    else dump.push({ set: 'offdomain', mode: 'refusal', question: question(p), expected: REFUSAL, got: text });
  });
  const n = offdomain.length;
  return { prompts: n, refused, refusal_rate: n ? refused / n : 0, seconds: (Date.now() - started) / 1000 };
}

const result = { model: args.model ?? '(built-in)', system_prompt: systemPrompt, sets: {} };
try {
  for (const set of dataSets) {
    result.sets[set.name] = {};
    for (const mode of modes.filter((m) => m !== 'refusal')) {
      const r = await inDomain(set, mode);
      result.sets[set.name][mode] = r;
      console.error(`${set.name} ${mode}: accuracy ${(100 * r.accuracy).toFixed(1)}% (${r.correct}/${r.problems}); false refusals ` +
        `${r.false_refusals}; by steps: ` + Object.entries(r.by_steps).map(([k, v]) => `${k}: ${v.correct}/${v.total}`).join(', ') +
        ` [${r.seconds.toFixed(0)} s]`);
    }
  }
  if (offdomain.length) {
    result.offdomain = await refusals();
    console.error(`offdomain refusal: ${(100 * result.offdomain.refusal_rate).toFixed(1)}% (${result.offdomain.refused}/${result.offdomain.prompts})`);
  }
} finally {
  if (server) server.kill('SIGTERM');
}
// Backward compatible top-level fields: the first set's plain accuracy.
const first = dataSets.length ? result.sets[dataSets[0].name][modes.find((m) => m !== 'refusal')] : null;
if (first) Object.assign(result, { problems: first.problems, correct: first.correct, accuracy: first.accuracy, by_steps: first.by_steps });
console.log(JSON.stringify(result));
if (args.json) fs.writeFileSync(args.json, JSON.stringify(result, null, 2) + '\n');
if (args.dump) fs.writeFileSync(args.dump, dump.map((d) => JSON.stringify(d)).join('\n') + (dump.length ? '\n' : ''));
