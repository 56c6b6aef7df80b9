// Exact-answer accuracy of a model on specialist/gen_data.mjs problems, run through rpu itself:
// starts `rpu serve MODEL --port 0` (or uses --server URL), asks every question through
// /v1/chat/completions at temperature 0, and compares the number after "The answer is" with
// the reference answer.
//
//   node specialist/eval.mjs --rpu build/rpu [--model M.gguf] --data DIR/test.jsonl [--limit N] [--parallel 4]
//
// Without --model the server runs rpu's built-in model. Prints one JSON line on stdout.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => {
  if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
  return pairs;
}, []));
if (!args.data || (!args.rpu && !args.server)) {
  console.error('usage: node specialist/eval.mjs --rpu build/rpu [--model M.gguf] --data test.jsonl [--limit N] [--parallel P] [--server URL]');
  process.exit(2);
}
const parallel = Number(args.parallel ?? 4);
const problems = fs.readFileSync(args.data, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l))
  .slice(0, args.limit ? Number(args.limit) : undefined);

const answerOf = (text) => {
  const m = /The answer is (-?\d+)/.exec(text ?? '');
  return m ? Number(m[1]) : null;
};

let server = null;
let url = args.server;
if (!url) {
  const serveArgs = ['serve', ...(args.model ? [args.model] : []), '--port', '0', '--parallel', String(parallel), '--alias', 'model'];
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

async function ask(question) {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: args.server ? (args.name ?? 'model') : 'model', messages: [{ role: 'user', content: question }],
      temperature: 0, max_tokens: 96 }),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  return (await response.json()).choices[0].message.content;
}

const bySteps = {};
let correct = 0;
let next = 0;
const started = Date.now();
try {
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < problems.length) {
      const p = problems[next++];
      const question = p.messages.find((m) => m.role === 'user').content;
      const reference = answerOf(p.messages.find((m) => m.role === 'assistant').content);
      const steps = (p.messages.find((m) => m.role === 'assistant').content.match(/=/g) ?? []).length;
      const got = answerOf(await ask(question));
      const ok = got !== null && got === reference;
      correct += ok ? 1 : 0;
      bySteps[steps] ??= { total: 0, correct: 0 };
      bySteps[steps].total += 1;
      bySteps[steps].correct += ok ? 1 : 0;
    }
  }));
} finally {
  if (server) server.kill('SIGTERM');
}
const result = { problems: problems.length, correct, accuracy: problems.length ? correct / problems.length : 0, by_steps: bySteps,
  seconds: (Date.now() - started) / 1000 };
console.log(JSON.stringify(result));
console.error(`accuracy ${(100 * result.accuracy).toFixed(1)}% (${correct}/${problems.length}); by steps: ` +
  Object.entries(bySteps).map(([k, v]) => `${k}: ${v.correct}/${v.total}`).join(', '));
