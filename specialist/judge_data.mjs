// Training data for a judge of the built-in model (rpu-arith-judge, models/README.md): the
// generator's own sampled answers to problems with known results, each labelled by whether its
// final number is right, shaped exactly as the "judge" verifier asks (src/reasoning/scorer.cpp):
//
//   user:      Question: Q\nProposed answer: A\nIs the proposed answer correct? Reply with yes or no.
//   assistant: yes | no
//
// A judge learns from the generator's real mistakes (misread operations, dropped steps, slips),
// which is what best-of-N and the router need it to catch.
//
//   node specialist/judge_data.mjs --rpu build/rpu --problems DIR/test.jsonl --out judge.jsonl
//        [--model M.gguf] [--n 8] [--temperature 0.7] [--seed 1] [--parallel 16] [--balance 1]
//
// --problems: lines {"messages": [..., {"role": "assistant", "content": "... The answer is N."}]}
// (specialist/gen_data.mjs's test.jsonl; the last message is the reference). Identical samples of
// one problem are kept once. --balance R keeps at most R wrong samples per right one over the
// whole file, so "no" does not drown "yes": wrong samples whose steps all compute right (hard
// negatives) are all kept, the others by a seeded choice; 0 keeps all. Prints the counts.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => {
  if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
  return pairs;
}, []));
if (!args.rpu || !args.problems || !args.out) {
  console.error('usage: node specialist/judge_data.mjs --rpu RPU --problems FILE.jsonl --out OUT.jsonl ' +
    '[--model M.gguf] [--n 8] [--temperature 0.7] [--seed 1] [--parallel 16] [--balance 1]');
  process.exit(2);
}
const n = Number(args.n ?? 8);
const temperature = Number(args.temperature ?? 0.7);
const seed = Number(args.seed ?? 1);
const parallel = Number(args.parallel ?? 16);  // server slots; parallel / n requests in flight
const balance = Number(args.balance ?? 1);
const port = 19000 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${port}`;

const JUDGE_QUESTION = (question, answer) =>
  `Question: ${question}\nProposed answer: ${answer}\nIs the proposed answer correct? Reply with yes or no.`;
// Every "a + b = c" / "a - b = c" step computes right: a wrong answer that passes is a hard
// negative (a misread question, a dropped step), which the arithmetic verifier cannot catch.
const stepsRight = (text) => {
  const steps = [...String(text).matchAll(/(-?\d+)\s*([+-])\s*(-?\d+)\s*=\s*(-?\d+)/g)];
  return steps.length > 0 && steps.every(([, a, op, b, c]) => (op === '+' ? +a + +b : +a - +b) === +c);
};
const lastNumber = (text) => (String(text).replace(/(\d),(\d{3})/g, '$1$2').match(/-?\d+(?:\.\d+)?/g) ?? []).at(-1);

// splitmix64 over BigInt: the same choices on every platform.
let state = BigInt(seed) * 0x9E3779B97F4A7C15n & 0xFFFFFFFFFFFFFFFFn;
function uniform() {
  state = (state + 0x9E3779B97F4A7C15n) & 0xFFFFFFFFFFFFFFFFn;
  let z = state;
  z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & 0xFFFFFFFFFFFFFFFFn;
  z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & 0xFFFFFFFFFFFFFFFFn;
  return Number((z ^ (z >> 31n)) >> 11n) / 2 ** 53;
}

async function waitForHealth(server) {
  for (let i = 0; i < 600; ++i) {
    if (server.exitCode !== null) throw new Error(`rpu serve exited (${server.exitCode})`);
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('rpu serve did not come up');
}

async function sample(messages, i) {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'rpu-arith', messages, n, temperature, seed: seed * 1000003 + i, max_tokens: 96 }),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${JSON.stringify(json)}`);
  return json.choices.map((c) => c.message.content);
}

const problems = fs.readFileSync(args.problems, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const server = spawn(args.rpu, ['serve', ...(args.model ? [args.model] : []), '--port', String(port),
  '--parallel', String(Math.max(n, parallel)), '--threads', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
let serverLog = '';
server.stderr.on('data', (d) => { serverLog = (serverLog + d).slice(-4000); });
const examples = [];  // {question, answer, right}
try {
  await waitForHealth(server);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < problems.length; i = next++) {
      const messages = problems[i].messages.slice(0, -1);
      const question = messages.filter((m) => m.role === 'user').at(-1).content;
      const expected = lastNumber(problems[i].messages.at(-1).content);
      for (const answer of new Set(await sample(messages, i))) {
        const right = expected !== undefined && lastNumber(answer) === expected;
        examples.push({ i, question, answer, right, hard: !right && stepsRight(answer) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.ceil(parallel / n)) }, worker));
} catch (e) {
  console.error(serverLog);
  throw e;
} finally {
  server.kill('SIGTERM');
}

// Problem order, then a seeded keep-or-drop of wrong samples to the --balance ratio.
examples.sort((a, b) => a.i - b.i);
// Hard negatives are all kept; easy ones fill up to the ratio.
const right = examples.filter((e) => e.right).length, wrong = examples.length - right;
const hard = examples.filter((e) => e.hard).length, easy = wrong - hard;
const room = Math.max(0, balance * right - hard);
const keepEasy = balance > 0 && easy > room ? room / easy : 1;
const kept = examples.filter((e) => e.right || e.hard || uniform() < keepEasy);
fs.writeFileSync(args.out, kept.map((e) => JSON.stringify({ messages: [
  { role: 'user', content: JUDGE_QUESTION(e.question, e.answer) },
  { role: 'assistant', content: e.right ? 'yes' : 'no' },
] })).join('\n') + '\n');
const keptRight = kept.filter((e) => e.right).length;
console.error(`${problems.length} problems, ${examples.length} distinct samples (${right} right, ${wrong} wrong, ${hard} of ` +
  `them with right steps); ` +
  `kept ${kept.length} (${keptRight} yes, ${kept.length - keptRight} no) -> ${args.out}`);
