// Inference-time reasoning on the built-in model, one script, one run (issue "Think before
// answering", bench/RESULTS.md): greedy vs self-consistency@8 vs adaptive consistency (at most
// 8) vs best-of-8 with the arithmetic verifier, on a question set, through `rpu serve` over HTTP.
// Reports accuracy, how well each answer's confidence separates right from wrong (AUROC), the
// wall time per question (one question at a time) and the samples adaptive consistency used.
//
//   node bench/reasoning.mjs --rpu build/rpu [--model M.gguf] --data specialist/reworded.jsonl
//        [--n 8] [--temperature 0.7] [--seed 1] [--json OUT.json]
//
// Each data line is {"messages": [..., {"role": "assistant", "content": "... The answer is N."}]}:
// the last message is the reference; the others are sent. Correct = the last number of the
// reply equals the reference's last number. Greedy's confidence is its mean token probability.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => {
  if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
  return pairs;
}, []));
if (!args.rpu || !args.data) {
  console.error('usage: node bench/reasoning.mjs --rpu RPU --data FILE.jsonl [--model M.gguf] [--n 8] [--json OUT]');
  process.exit(2);
}
const n = Number(args.n ?? 8);
const temperature = Number(args.temperature ?? 0.7);
const seed = Number(args.seed ?? 1);
const port = 18000 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${port}`;

const lastNumber = (text) => (String(text).replace(/(\d),(\d{3})/g, '$1$2').match(/-?\d+(?:\.\d+)?/g) ?? []).at(-1);

function auroc(pairs) {  // [confidence, correct]: P(conf of a right answer > conf of a wrong one)
  const right = pairs.filter((p) => p[1]).map((p) => p[0]);
  const wrong = pairs.filter((p) => !p[1]).map((p) => p[0]);
  if (!right.length || !wrong.length) return NaN;
  let wins = 0;
  for (const r of right) for (const w of wrong) wins += r > w ? 1 : r === w ? 0.5 : 0;
  return wins / (right.length * wrong.length);
}

async function waitForHealth() {
  for (let i = 0; i < 300; ++i) {
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('rpu serve did not come up');
}

async function chat(body) {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

const strategies = {
  greedy: { body: { temperature: 0, logprobs: true }, confidence: (r) => {
    const lp = r.choices[0].logprobs?.content ?? [];
    return lp.length ? Math.exp(lp.reduce((a, t) => a + t.logprob, 0) / lp.length) : 0;
  } },
  [`self_consistency@${n}`]: { body: { reasoning: { strategy: 'self_consistency', n, temperature } } },
  [`adaptive@${n}`]: { body: { reasoning: { strategy: 'adaptive', n, temperature, round: 2, threshold: 0.75 } } },
  [`best_of_${n}+arithmetic`]: {
    body: { reasoning: { strategy: 'best_of_n', n, temperature, verifier: { type: 'arithmetic' } } } },
  [`best_of_${n}+grounded_arithmetic`]: {
    body: { reasoning: { strategy: 'best_of_n', n, temperature, verifier: { type: 'arithmetic', grounded: true } } } },
};

const rows = fs.readFileSync(args.data, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const serverArgs = ['serve', ...(args.model ? [args.model] : []), '--port', String(port), '--parallel', String(n),
  '--threads', '2'];
const server = spawn(args.rpu, serverArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
let serverLog = '';
server.stderr.on('data', (d) => { serverLog += d; });
const results = {};
try {
  await waitForHealth();
  for (const [name, s] of Object.entries(strategies)) {
    const pairs = [];
    let correct = 0, seconds = 0, samples = 0, tokens = 0;
    for (const [i, row] of rows.entries()) {
      const messages = row.messages.slice(0, -1);
      const expected = lastNumber(row.messages.at(-1).content);
      const started = process.hrtime.bigint();
      const r = await chat({ model: 'rpu-arith', messages, max_tokens: 96, seed: seed + i, ...s.body });
      seconds += Number(process.hrtime.bigint() - started) / 1e9;
      const ok = lastNumber(r.choices[0].message.content) === expected;
      correct += ok ? 1 : 0;
      const confidence = s.confidence ? s.confidence(r) : r.rpu.confidence;
      pairs.push([confidence, ok]);
      samples += r.rpu?.samples ?? 1;
      tokens += r.usage.completion_tokens;
    }
    results[name] = {
      accuracy: correct / rows.length, correct, questions: rows.length, auroc: auroc(pairs),
      seconds_per_question: seconds / rows.length, mean_samples: samples / rows.length,
      completion_tokens_per_question: tokens / rows.length,
    };
    console.error(`${name}: ${correct}/${rows.length}`);
  }
} finally {
  server.kill('SIGTERM');
}

const greedy = results.greedy;
console.log(`| strategy | accuracy | vs greedy | confidence AUROC | s / question | x greedy time | samples | tokens / question |`);
console.log(`|---|---:|---:|---:|---:|---:|---:|---:|`);
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${name} | ${(100 * r.accuracy).toFixed(1)}% (${r.correct}/${r.questions}) | ` +
    `${name === 'greedy' ? '' : `${r.accuracy >= greedy.accuracy ? '+' : ''}${(100 * (r.accuracy - greedy.accuracy)).toFixed(1)}`} | ` +
    `${Number.isNaN(r.auroc) ? 'n/a' : r.auroc.toFixed(3)} | ${r.seconds_per_question.toFixed(3)} | ` +
    `${(r.seconds_per_question / greedy.seconds_per_question).toFixed(2)} | ${r.mean_samples.toFixed(2)} | ` +
    `${r.completion_tokens_per_question.toFixed(0)} |`);
}
if (args.json) fs.writeFileSync(args.json, JSON.stringify({ data: args.data, n, temperature, seed, results }, null, 2));
