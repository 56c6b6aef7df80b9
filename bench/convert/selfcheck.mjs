#!/usr/bin/env node
// Self-check of the workload, the stand-in teacher and the replayer (bench/convert):
//   1. the generator is deterministic (same seed: byte-identical files; a shorter run is a prefix),
//      has every call type, multi-turn histories, tools and personal data;
//   2. the teacher (error rate 0, on a free port) survives bad input: bad JSON and bad fields
//      get a 400 OpenAI error body, unknown input gets free text;
//   3. a replay against the teacher (30% of calls streamed) scores 100% on every scored type,
//      and open-ended calls get text;
//   4. with --error-rate R (default 0.02) the scored accuracy is about 1 - R, and every answer
//      the teacher made wrong on purpose is scored wrong (and no other).
//
//   node bench/convert/selfcheck.mjs [--calls 300] [--seed 7] [--error-rate 0.02] [--keep DIR]
//
// Exit 0 on success, 1 on a failed check, 77 (skipped) when the openai npm package is missing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { HERE, loadOpenAI, readJsonl } from './common.mjs';
import { TYPE_NAMES } from './tasks.mjs';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '300' },
    seed: { type: 'string', default: '7' },
    'error-rate': { type: 'string', default: '0.02' },
    keep: { type: 'string' },
  },
});
const CALLS = Number(values.calls), SEED = Number(values.seed), ERROR_RATE = Number(values['error-rate']);
const started = Date.now();
const node = process.execPath;
const script = (name) => path.join(HERE, name);

if (!loadOpenAI()) {
  console.log('SKIP: the openai npm package is not installed (scripts/install-deps.sh installs tests/peers)');
  process.exit(77);
}

const dir = values.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rpu-convert-selfcheck-'));
fs.mkdirSync(dir, { recursive: true });
const file = (name) => path.join(dir, name);
const children = new Set();

function run(args, { allowFail = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(node, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 && !allowFail) reject(new Error(`node ${args.join(' ')} exited ${code}:\n${out}${err}`));
      else resolve({ code, out, err });
    });
  });
}

function startTeacher(errorRate) {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [script('teacher.mjs'), '--port', '0', '--error-rate', String(errorRate), '--latency-ms', '4',
      '--jitter-ms', '3', '--seed', String(SEED)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the teacher did not start: ${out}`)), 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.on('exit', (code) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`the teacher exited (${code}) before listening: ${out}`));
    });
  });
}

function stopTeacher(t) {
  return new Promise((resolve) => {
    if (t.child.exitCode !== null) return resolve();
    t.child.removeAllListeners('exit');
    t.child.on('exit', () => { children.delete(t.child); resolve(); });
    t.child.kill('SIGTERM');
  });
}

async function http(url, { method = 'POST', body } = {}) {
  const r = await fetch(url, { method, headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, text, json };
}

function assertError(r, status, what) {
  assert.equal(r.status, status, `${what}: HTTP ${r.status}: ${r.text}`);
  assert.ok(r.json?.error, `${what}: no error body: ${r.text}`);
  assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type'], what);
}

async function replay(url, name, streamShare) {
  const out = file(`${name}.results.jsonl`), summary = file(`${name}.summary.json`);
  const r = await run([script('replay.mjs'), '--base-url', url, '--calls', file('calls.jsonl'), '--labels', file('labels.jsonl'),
    '--concurrency', '8', '--stream-share', String(streamShare), '--out', out, '--json', summary, '--quiet']);
  return { table: r.out, results: readJsonl(out), rows: JSON.parse(fs.readFileSync(summary, 'utf8')).rows };
}

const checks = [];
const pass = (what) => { checks.push(what); };

async function main() {
  // 1. The generator.
  await run([script('workload.mjs'), '--seed', String(SEED), '--calls', String(CALLS), '--out', file('calls.jsonl'), '--labels', file('labels.jsonl')]);
  await run([script('workload.mjs'), '--seed', String(SEED), '--calls', String(CALLS), '--out', file('again.jsonl'), '--labels', file('again.labels.jsonl')]);
  await run([script('workload.mjs'), '--seed', String(SEED), '--calls', '50', '--out', file('short.jsonl')]);
  const callsText = fs.readFileSync(file('calls.jsonl'), 'utf8');
  assert.equal(callsText, fs.readFileSync(file('again.jsonl'), 'utf8'), 'same seed, different calls');
  assert.equal(fs.readFileSync(file('labels.jsonl'), 'utf8'), fs.readFileSync(file('again.labels.jsonl'), 'utf8'), 'same seed, different labels');
  assert.ok(callsText.startsWith(fs.readFileSync(file('short.jsonl'), 'utf8')), 'a shorter run is not a prefix of a longer one');
  const other = await run([script('workload.mjs'), '--seed', String(SEED + 1), '--calls', '20', '--out', file('other.jsonl')]);
  assert.ok(other.code === 0 && !callsText.startsWith(fs.readFileSync(file('other.jsonl'), 'utf8')), 'another seed gives the same calls');
  pass('generator: deterministic per seed, prefix-stable, seed-dependent');

  const calls = readJsonl(file('calls.jsonl')), labels = readJsonl(file('labels.jsonl'));
  assert.equal(calls.length, CALLS);
  assert.equal(labels.length, CALLS);
  const byType = {};
  labels.forEach((l) => { byType[l.type] = (byType[l.type] ?? 0) + 1; });
  for (const t of TYPE_NAMES) assert.ok(byType[t] > 0, `no ${t} calls`);
  const openShare = byType.open / CALLS;
  assert.ok(openShare > 0.15 && openShare < 0.35, `open-ended share ${openShare}`);
  const multi = calls.filter((c) => c.messages.filter((m) => m.role === 'user').length > 1).length;
  const withTools = calls.filter((c) => c.tools).length;
  const text = calls.map((c) => JSON.stringify(c.messages)).join('\n');
  const emails = (text.match(/[\w.+-]+@[\w-]+\.[\w.-]+/g) ?? []).length;
  const phones = (text.match(/\(\d{3}\) \d{3}-\d{4}|\+\d{1,2} \d/g) ?? []).length;
  assert.ok(multi > CALLS * 0.15, `only ${multi} multi-turn calls`);
  assert.ok(emails > CALLS * 0.1 && phones > CALLS * 0.05, `personal data: ${emails} e-mails, ${phones} phones`);
  calls.forEach((c, i) => {
    assert.ok(c.model && Array.isArray(c.messages) && c.messages[0].role === 'system' && c.messages.at(-1).role === 'user', `call ${i}`);
    assert.ok(typeof c.temperature === 'number' && Number.isInteger(c.max_tokens), `call ${i}: temperature/max_tokens`);
    if (labels[i].type === 'tool_call') {
      assert.ok(c.tools.some((t) => t.function.name === labels[i].expected.name), `call ${i}: the expected tool is not offered`);
    }
  });
  pass(`workload: ${Object.entries(byType).map(([t, n]) => `${t} ${n}`).join(', ')}; ${multi} multi-turn, ${withTools} with tools, ${emails} e-mails, ${phones} phone numbers`);

  // 2. The teacher's robustness.
  let teacher = await startTeacher(0);
  const u = teacher.url;
  assert.equal((await http(`${u}/health`, { method: 'GET' })).status, 200);
  const models = await http(`${u}/v1/models`, { method: 'GET' });
  assert.equal(models.status, 200);
  assert.equal(models.json.object, 'list');
  assertError(await http(`${u}/v1/chat/completions`, { body: '{"messages": [' }), 400, 'bad JSON');
  assertError(await http(`${u}/v1/chat/completions`, { body: '' }), 400, 'empty body');
  assertError(await http(`${u}/v1/chat/completions`, { body: '[1, 2]' }), 400, 'array body');
  assertError(await http(`${u}/v1/chat/completions`, { body: { model: 'x' } }), 400, 'no messages');
  assertError(await http(`${u}/v1/chat/completions`, { body: { messages: [1] } }), 400, 'message not an object');
  assertError(await http(`${u}/v1/chat/completions`, { body: { messages: [{ role: 'user', content: 'hi' }], n: 99 } }), 400, 'n');
  assertError(await http(`${u}/v1/nothing`, { method: 'GET' }), 404, 'unknown path');
  for (const messages of [
    [{ role: 'user', content: 'qwv zzk 12 ### ???' }],
    [{ role: 'user', content: [{ type: 'text', text: 'Tell me something.' }, { type: 'image_url', image_url: { url: 'x' } }] }],
    [{ role: 'user', content: null }],
    [{ role: 'system', content: 'Classify: billing, technical, account, sales, other.' }, { role: 'user', content: 'ƒ∂ßå' }],
    [{ role: 'user', content: 'Leo has 5 coins.' }, { role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'x', arguments: '{' } }] },
      { role: 'tool', tool_call_id: 'a', content: '{"ok":true}' }],
    [{ role: 'user', content: 'x'.repeat(2_000_000) }],
  ]) {
    const r = await http(`${u}/v1/chat/completions`, { body: { messages, tools: [{ type: 'function', function: { name: 'get_weather' } }] } });
    assert.equal(r.status, 200, `unknown input: ${r.text.slice(0, 300)}`);
    assert.equal(typeof r.json.choices[0].message.content, 'string');
  }
  const two = await http(`${u}/v1/chat/completions`, { body: { messages: [{ role: 'user', content: 'hello' }], n: 2 } });
  assert.equal(two.json.choices.length, 2);
  // A unit conversion comes with its working as reasoning_content, whole and streamed; a date without.
  const normalizeSystem = 'Normalize the value in the user input.\n- date => YYYY-MM-DD (slashes: month first; dots: day first)\n- imperial quantity => metric with two decimals, e.g. "3.5 miles" => "5.63 km", "98.6 °F" => "37.00 °C"\nRespond with nothing but the normalized value.';
  const ask = (content, stream = false) => http(`${u}/v1/chat/completions`, { body: {
    messages: [{ role: 'system', content: normalizeSystem }, { role: 'user', content }], stream, stream_options: { include_usage: true } } });
  const miles = await ask('Distance: 62.6 mi');
  assert.deepEqual([miles.json.choices[0].message.content, miles.json.choices[0].message.reasoning_content],
                   ['100.74 km', '62.6 * 1.609344 = 100.74'], miles.text);
  assert.ok(miles.json.usage.completion_tokens_details.reasoning_tokens > 0, miles.text);
  const fever = await ask('Lauren reported a fever of -19.5°F.', true);
  const deltas = fever.text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)))
    .flatMap((c) => c.choices.map((x) => x.delta));
  assert.equal(deltas.map((d) => d.reasoning_content ?? '').join(''), '(-19.5 - 32) * 5 / 9 = -28.61', fever.text);
  assert.equal(deltas.map((d) => d.content ?? '').join(''), '-28.61 °C', fever.text);
  const date = await ask('Invoice due 12 January 2019');
  assert.equal(date.json.choices[0].message.content, '2019-01-12');
  assert.equal(date.json.choices[0].message.reasoning_content, undefined);
  pass('teacher: 400 OpenAI error bodies for bad JSON and bad fields, 404 for unknown paths, free text for unknown input, reasoning_content with unit conversions');

  // 3. Replay with error rate 0: every scored type at 100%.
  const clean = await replay(u, 'clean', 0.3);
  for (const row of clean.rows) {
    assert.equal(row.errors, 0, `${row.type}: ${row.errors} failed calls`);
    if (row.scored) assert.equal(row.accuracy, 1, `${row.type}: accuracy ${row.accuracy}\n${clean.table}`);
    if (TYPE_NAMES.includes(row.type)) assert.ok(row.streamed > 0, `${row.type}: no streamed calls`);
  }
  const streamedTools = clean.results.filter((r) => r.type === 'tool_call' && r.stream);
  assert.ok(streamedTools.length > 0 && streamedTools.every((r) => r.correct && r.finish_reason === 'tool_calls'), 'streamed tool calls');
  assert.ok(clean.results.filter((r) => r.stream).every((r) => r.usage && r.usage.total_tokens > 0), 'streams without a usage chunk');
  for (const r of clean.results.filter((x) => x.type === 'open')) {
    assert.ok(r.answer.content && r.answer.content.length > 20 && !r.answer.tool_calls, `open call ${r.id} answered ${JSON.stringify(r.answer)}`);
  }
  const openTexts = new Set(clean.results.filter((x) => x.type === 'open').map((r) => r.answer.content));
  assert.ok(openTexts.size > byType.open * 0.9, 'open-ended answers are not varied');
  pass(`replay, error rate 0: 100% on every scored type (${clean.results.filter((r) => r.stream).length} calls streamed)`);
  console.log(clean.table);
  await stopTeacher(teacher);

  // 4. Replay with the error rate.
  if (ERROR_RATE > 0) {
    teacher = await startTeacher(ERROR_RATE);
    const noisy = await replay(teacher.url, 'noisy', 0.3);
    const stats = (await http(`${teacher.url}/stats`, { method: 'GET' })).json;
    await stopTeacher(teacher);
    const scored = noisy.results.filter((r) => r.correct !== null);
    const wrong = scored.filter((r) => !r.correct).length;
    const accuracy = 1 - wrong / scored.length;
    const tolerance = Math.max(0.02, 3 * Math.sqrt((ERROR_RATE * (1 - ERROR_RATE)) / scored.length));
    assert.ok(Math.abs(accuracy - (1 - ERROR_RATE)) <= tolerance, `accuracy ${accuracy} with --error-rate ${ERROR_RATE}\n${noisy.table}`);
    assert.equal(wrong, stats.wrong, `the teacher answered ${stats.wrong} calls wrong on purpose, the replay scored ${wrong} wrong`);
    if (ERROR_RATE * scored.length >= 3) assert.ok(wrong > 0, 'no wrong answers');
    pass(`replay, error rate ${ERROR_RATE}: accuracy ${(100 * accuracy).toFixed(1)}% (${wrong} of ${scored.length} wrong, as the teacher intended)`);
  }
}

try {
  await main();
  for (const c of checks) console.log(`ok  ${c}`);
  console.log(`selfcheck passed in ${((Date.now() - started) / 1000).toFixed(1)} s${values.keep ? ` (files in ${dir})` : ''}`);
  if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
} catch (e) {
  for (const c of checks) console.log(`ok  ${c}`);
  console.log(`FAILED: ${e.message}`);
  console.log(`files kept in ${dir}`);
  for (const c of children) c.kill('SIGTERM');
  process.exit(1);
}
