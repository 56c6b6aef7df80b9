// A conversion-loop log without a gateway run: every call of a workload file answered by the
// stand-in teacher's rules (teacher.mjs's answer(): the same solver, wrong answers for the
// same share of calls, free text for open ones; no HTTP, no latency) and written as the JSONL log `rpu convert select|train` read
// (src/convert/cluster_calls.h): {"id", "route", "messages", "tools", "answer"}. "route" is the
// generator's call type, so `--route arithmetic` stands for S3's cluster until clusters exist.
// The messages are not scrubbed (a gateway log's are).
//
//   node bench/convert/teacher_log.mjs --calls calls.jsonl --labels labels.jsonl --out log.jsonl
//        [--error-rate 0.02 --seed 1]
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { readJsonl } from './common.mjs';
import { teacherReply } from './tasks.mjs';

const { values } = parseArgs({ options: {
  calls: { type: 'string' }, labels: { type: 'string' }, out: { type: 'string' },
  'error-rate': { type: 'string', default: '0.02' }, seed: { type: 'string', default: '1' },
} });
if (!values.calls || !values.labels || !values.out) {
  console.error('usage: teacher_log.mjs --calls F --labels F --out F [--error-rate R --seed S]');
  process.exit(2);
}
const errorRate = Number(values['error-rate']), seed = Number(values.seed);

// The same answers as teacher.mjs: which calls are wrong is a function of (seed, messages, tools).
const answer = (body) => teacherReply(body, { seed, errorRate }).reply;
const calls = readJsonl(values.calls), labels = readJsonl(values.labels);
const lines = calls.map((body, i) => {
  const reply = answer(body);
  const message = reply.tool_calls
    ? { role: 'assistant', content: null, tool_calls: reply.tool_calls.map((c, k) => ({ id: `call_${i}_${k}`, type: 'function',
      function: { name: c.name, arguments: JSON.stringify(c.arguments) } })) }
    : { role: 'assistant', content: reply.content };
  return JSON.stringify({ id: i + 1, route: labels[i].type, messages: body.messages, tools: body.tools ?? null, answer: message });
});
fs.writeFileSync(`${values.out}.tmp`, lines.map((l) => `${l}\n`).join(''));
fs.renameSync(`${values.out}.tmp`, values.out);
console.error(`${lines.length} calls answered -> ${values.out}`);
