// Inference-time reasoning on the built-in model, one script, one run (issue "Think before
// answering", bench/RESULTS.md): greedy vs self-consistency@8 vs adaptive consistency (at most
// 8) vs best-of-8 with the arithmetic verifier, on a question set, through `rpu serve` over HTTP.
// Reports accuracy, how well each answer's confidence separates right from wrong (AUROC), the
// wall time per question (one question at a time) and the samples adaptive consistency used.
//
//   node bench/reasoning.mjs --rpu build/rpu [--model M.gguf] --data specialist/reworded.jsonl
//        [--n 8] [--temperature 0.7] [--seed 1] [--json OUT.json] [--only NAME,NAME] [--judge J.gguf]
//
// Each data line is {"messages": [..., {"role": "assistant", "content": "... The answer is N."}]}:
// the last message is the reference; the others are sent. Correct = the last number of the
// reply equals the reference's last number. Greedy's confidence is its mean token probability.
// pass@N: the share of questions where ANY sample's answer (the response's rpu.votes) is right,
// the ceiling of any rule that selects among the samples. Settings are chosen on the dev split
// (odd lines, 1-based) and the table is printed for dev, test (even lines) and all, from one run.
// --only a,b runs just the named strategies (greedy always runs: it is the baseline).
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

function meanTokenProbability(r) {  // greedy's confidence
  const lp = r.choices[0].logprobs?.content ?? [];
  return lp.length ? Math.exp(lp.reduce((a, t) => a + t.logprob, 0) / lp.length) : 0;
}

const strategies = {
  greedy: { body: { temperature: 0, logprobs: true }, confidence: meanTokenProbability },
  [`self_consistency@${n}`]: { body: { reasoning: { strategy: 'self_consistency', n, temperature } } },
  [`adaptive@${n}`]: { body: { reasoning: { strategy: 'adaptive', n, temperature, round: 2, threshold: 0.75 } } },
  [`best_of_${n}+arithmetic`]: {
    body: { reasoning: { strategy: 'best_of_n', n, temperature, verifier: { type: 'arithmetic' } } } },
  [`best_of_${n}+grounded_arithmetic`]: {
    body: { reasoning: { strategy: 'best_of_n', n, temperature, verifier: { type: 'arithmetic', grounded: true } } } },
  // Also prefers the passing chain that uses every number of the question (a dropped step).
  [`best_of_${n}+complete_arithmetic`]: {
    body: { reasoning: { strategy: 'best_of_n', n, temperature, verifier: { type: 'arithmetic', grounded: true, complete: true } } } },
  // Verified vote: the samples that pass the grounded verifier vote (weight = score; "w": also
  // x exp(mean token log-probability)).
  [`best_of_${n}+grounded_arithmetic+vote`]: {
    body: { reasoning: { strategy: 'best_of_n', n, temperature, select: 'vote',
      verifier: { type: 'arithmetic', grounded: true } } } },
  [`best_of_${n}+grounded_arithmetic+wvote`]: {
    body: { reasoning: { strategy: 'best_of_n', n, temperature, select: 'vote', weighted: true,
      verifier: { type: 'arithmetic', grounded: true } } } },
  // Beam 4, 2 continuations per entry and step: 8 continuations a step, like the 8 samples above.
  // The model writes one line, so a step ends at "." (one "a op b = c." sentence; ". " would
  // leave a trailing blank the tokenizer glues to no word, and the model derails).
  // With --judge J.gguf (a judge model, `rpu serve --judge`): the candidates that pass the
  // grounded arithmetic verifier are shown to the judge, the highest P(yes) wins.
  ...(args.judge ? {
    [`best_of_${n}+judge`]: { body: { reasoning: { strategy: 'best_of_n', n, temperature, verifier: { type: 'judge' } } } },
    [`best_of_${n}+grounded_arithmetic+judge`]: {
      body: { reasoning: { strategy: 'best_of_n', n, temperature,
        verifier: { type: 'judge', after: { type: 'arithmetic', grounded: true } } } } },
    [`best_of_${n}+grounded_arithmetic+judge+vote`]: {
      body: { reasoning: { strategy: 'best_of_n', n, temperature, select: 'vote',
        verifier: { type: 'judge', after: { type: 'arithmetic', grounded: true } } } } },
  } : {}),
  // The calculator (the "calculator" extension): every step's result is computed, so what is
  // left to the model (and to the strategies) is setting the steps up.
  'greedy+calculator': { body: { temperature: 0, logprobs: true, calculator: true }, confidence: meanTokenProbability },
  [`self_consistency@${n}+calculator`]: {
    body: { calculator: true, reasoning: { strategy: 'self_consistency', n, temperature } } },
  [`best_of_${n}+grounded_arithmetic+vote+calculator`]: {
    body: { calculator: true, reasoning: { strategy: 'best_of_n', n, temperature, select: 'vote',
      verifier: { type: 'arithmetic', grounded: true } } } },
  'step_search@4x2+grounded_arithmetic': {
    body: { reasoning: { strategy: 'step_search', n: 4, expand: 2, temperature, step_delimiter: '.',
      verifier: { type: 'arithmetic', grounded: true } } } },
};
if (args.only) {
  const keep = new Set(['greedy', ...args.only.split(',')]);
  for (const name of Object.keys(strategies)) if (!keep.has(name)) delete strategies[name];
}

const rows = fs.readFileSync(args.data, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const serverArgs = ['serve', ...(args.model ? [args.model] : []), '--port', String(port), '--parallel', String(n),
  '--threads', '2', ...(args.judge ? ['--judge', args.judge] : [])];
const server = spawn(args.rpu, serverArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
let serverLog = '';
server.stderr.on('data', (d) => { serverLog += d; });
const records = {};  // strategy -> per question {ok, any, confidence, seconds, samples, tokens}
try {
  await waitForHealth();
  for (const [name, s] of Object.entries(strategies)) {
    records[name] = [];
    for (const [i, row] of rows.entries()) {
      const messages = row.messages.slice(0, -1);
      const expected = lastNumber(row.messages.at(-1).content);
      const started = process.hrtime.bigint();
      const r = await chat({ model: 'rpu-arith', messages, max_tokens: 96, seed: seed + i, ...s.body });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const ok = lastNumber(r.choices[0].message.content) === expected;
      const sampled = Object.keys(r.rpu?.votes ?? {});
      records[name].push({
        // Step search returns no votes: it has no set of finished samples to choose among.
        ok, any: r.rpu?.votes ? ok || sampled.some((a) => lastNumber(a) === expected) : null,
        confidence: s.confidence ? s.confidence(r) : r.rpu.confidence, seconds,
        samples: r.rpu?.samples ?? 1, tokens: r.usage.completion_tokens,
      });
    }
    console.error(`${name}: ${records[name].filter((q) => q.ok).length}/${rows.length}`);
  }
} finally {
  server.kill('SIGTERM');
}

function summarise(qs) {
  const sum = (f) => qs.reduce((a, q) => a + f(q), 0);
  return {
    accuracy: sum((q) => q.ok) / qs.length, correct: sum((q) => q.ok), questions: qs.length,
    pass_at_n: qs.some((q) => q.any === null) ? NaN : sum((q) => q.any) / qs.length, auroc: auroc(qs.map((q) => [q.confidence, q.ok])),
    seconds_per_question: sum((q) => q.seconds) / qs.length, mean_samples: sum((q) => q.samples) / qs.length,
    completion_tokens_per_question: sum((q) => q.tokens) / qs.length,
  };
}
const splits = { all: () => true, 'dev (odd lines)': (i) => i % 2 === 0, 'test (even lines)': (i) => i % 2 === 1 };
const results = {};
for (const [split, keep] of Object.entries(splits)) {
  results[split] = Object.fromEntries(Object.entries(records).map(([name, qs]) =>
    [name, summarise(qs.filter((_, i) => keep(i)))]));
  const greedy = results[split].greedy;
  console.log(`\n${split}:\n`);
  console.log(`| strategy | accuracy | vs greedy | pass@N | confidence AUROC | s / question | x greedy time | samples | tokens / question |`);
  console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|`);
  for (const [name, r] of Object.entries(results[split])) {
    console.log(`| ${name} | ${(100 * r.accuracy).toFixed(1)}% (${r.correct}/${r.questions}) | ` +
      `${name === 'greedy' ? '' : `${r.accuracy >= greedy.accuracy ? '+' : ''}${(100 * (r.accuracy - greedy.accuracy)).toFixed(1)}`} | ` +
      `${name === 'greedy' ? '' : Number.isNaN(r.pass_at_n) ? 'n/a' : `${(100 * r.pass_at_n).toFixed(1)}%`} | ` +
      `${Number.isNaN(r.auroc) ? 'n/a' : r.auroc.toFixed(3)} | ${r.seconds_per_question.toFixed(3)} | ` +
      `${(r.seconds_per_question / greedy.seconds_per_question).toFixed(2)} | ${r.mean_samples.toFixed(2)} | ` +
      `${r.completion_tokens_per_question.toFixed(0)} |`);
  }
}
if (args.json) fs.writeFileSync(args.json, JSON.stringify({ data: args.data, n, temperature, seed, results, records }, null, 2));
