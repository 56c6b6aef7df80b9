// Where self-consistency's extra time goes, measured interleaved so a loaded machine hurts every
// variant alike: for each question in turn, greedy with logprobs (the bench's baseline), greedy
// without (speculative decoding stays on), plain OpenAI `n: 8` at temperature 0.7, and the
// reasoning extension's self-consistency@8. Reports wall time and the server's CPU time (user +
// system, from /proc/PID/stat, Linux only) per question, and both as a multiple of greedy.
// The server keeps a prompt's KV cache, so only the first of the four requests on a question
// prefills it: the order rotates per question (each goes first equally often), and the table
// shows the prompt tokens each found cached.
//
//   node bench/reasoning_time.mjs RPU DATA.jsonl [REPETITIONS] [QUESTIONS]
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const [rpu, data] = process.argv.slice(2, 4);
const reps = Number(process.argv[4] ?? 1);
const questions = Number(process.argv[5] ?? 40);
if (!rpu || !data) {
  console.error('usage: node bench/reasoning_time.mjs RPU DATA.jsonl [REPETITIONS] [QUESTIONS]');
  process.exit(2);
}
const port = 19500 + Math.floor(Math.random() * 400);
const base = `http://127.0.0.1:${port}`;
const server = spawn(rpu, ['serve', '--port', String(port), '--parallel', '8', '--threads', '2'], { stdio: 'ignore' });
const cpuSeconds = () => {  // fields 14 and 15 of /proc/PID/stat: utime, stime in clock ticks (100/s)
  const fields = fs.readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
let up = false;
for (let i = 0; i < 300 && !up; ++i) {
  try { up = (await fetch(`${base}/health`)).ok; } catch { await new Promise((r) => setTimeout(r, 100)); }
}
if (!up) { server.kill(); throw new Error('rpu serve did not come up'); }
const rows = fs.readFileSync(data, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).slice(0, questions);
const kinds = {
  greedy: { temperature: 0, logprobs: true },
  greedy_without_logprobs: { temperature: 0 },
  n8: { n: 8, temperature: 0.7 },
  sc8: { reasoning: { strategy: 'self_consistency', n: 8, temperature: 0.7 } },
};
const totals = Object.fromEntries(Object.keys(kinds).map((k) => [k, { wall: 0, cpu: 0, tokens: 0, cached: 0 }]));
try {
  for (let rep = 0; rep < reps; ++rep) {
    for (const [i, row] of rows.entries()) {
      const order = Object.entries(kinds);
      for (let turn = 0; turn < i % order.length; ++turn) order.push(order.shift());
      for (const [kind, body] of order) {
        const cpu0 = cpuSeconds(), t0 = process.hrtime.bigint();
        const response = await fetch(`${base}/v1/chat/completions`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ model: 'rpu-arith', messages: row.messages.slice(0, -1), max_tokens: 96, seed: 1 + i, ...body }),
        });
        const json = await response.json();
        if (!response.ok) throw new Error(`HTTP ${response.status}: ${JSON.stringify(json)}`);
        totals[kind].wall += Number(process.hrtime.bigint() - t0) / 1e9;
        totals[kind].cpu += cpuSeconds() - cpu0;
        totals[kind].tokens += json.usage.completion_tokens;
        totals[kind].cached += json.usage.prompt_tokens_details?.cached_tokens ?? 0;
      }
    }
  }
} finally {
  server.kill('SIGTERM');
}
const q = rows.length * reps;
console.log('| request | wall s / question | x greedy | CPU s / question | x greedy | tokens / question | cached prompt tokens |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const [kind, t] of Object.entries(totals)) {
  console.log(`| ${kind} | ${(t.wall / q).toFixed(4)} | ${(t.wall / totals.greedy.wall).toFixed(2)} | ` +
    `${(t.cpu / q).toFixed(4)} | ${(t.cpu / totals.greedy.cpu).toFixed(2)} | ${(t.tokens / q).toFixed(1)} | ${(t.cached / q).toFixed(1)} |`);
}
