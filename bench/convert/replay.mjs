#!/usr/bin/env node
// Replays a workload (workload.mjs) against an OpenAI-compatible endpoint (the rpu gateway, the
// stand-in teacher, any model server) with the official `openai` client, and scores each answer
// against labels.jsonl (score.mjs: the metric follows the expected answer's shape).
//
//   node bench/convert/replay.mjs --base-url URL --calls calls.jsonl --labels labels.jsonl
//        [--concurrency 4] [--out results.jsonl] [--api-key K] [--stream-share 0]
//        [--upstreams big,teacher] [--timeout 120] [--retries 0] [--limit N] [--json summary.json]
//
// --base-url: e.g. http://127.0.0.1:8090/v1 (a URL without a path gets /v1). --api-key defaults to
// $OPENAI_API_KEY, else "none". --stream-share S streams that share of the calls (chosen by call
// id, so the same calls every run) with stream_options.include_usage. A call counts as answered
// locally when the response carries the gateway's `rpu.gateway` field, it did not escalate, and
// its answered_by is not one of --upstreams (the gateway config's upstream target names).
//
// Writes one line per call to --out: {id, type, stream, latency_ms, ttft_ms, status, error,
// answer: {content, tool_calls}, finish_reason, usage, gateway, local, metric, correct, fields}
// and prints a per-type table (calls, scored, accuracy, p50/p90 latency, share answered locally,
// escalated, errors). Exit status 0 unless the files cannot be read; failed calls are counted
// and recorded, never fatal.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { hash32, isMain, loadOpenAI, percentile, readJsonl } from './common.mjs';
import { score } from './score.mjs';
import { TYPE_NAMES } from './tasks.mjs';

const USAGE = `usage: node bench/convert/replay.mjs --base-url URL --calls calls.jsonl --labels labels.jsonl
       [--concurrency 4] [--out results.jsonl] [--api-key K] [--stream-share 0] [--upstreams big,teacher]
       [--timeout 120] [--retries 0] [--limit N] [--json summary.json] [--quiet]`;

export function normaliseBaseUrl(url) {
  const u = new URL(url);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1';
  return u.toString().replace(/\/+$/, '');
}

export const streamed = (id, share) => share > 0 && hash32(`stream:${id}`) / 4294967296 < share;

// One call: the request and what came back.
async function runCall(client, body, label, { stream, upstreams }) {
  const t0 = performance.now();
  const rec = { id: label.id, type: label.type, stream, latency_ms: null, ttft_ms: null, status: 200, error: null,
    answer: null, finish_reason: null, usage: null, gateway: null, local: false };
  try {
    if (!stream) {
      const r = await client.chat.completions.create(body);
      const choice = r.choices?.[0];
      rec.answer = { content: choice?.message?.content ?? null, tool_calls: choice?.message?.tool_calls ?? undefined };
      rec.finish_reason = choice?.finish_reason ?? null;
      rec.usage = r.usage ?? null;
      rec.gateway = r.rpu?.gateway ?? null;
    } else {
      const s = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
      let content = null;
      const calls = [];
      for await (const chunk of s) {
        if (chunk.rpu?.gateway) rec.gateway = chunk.rpu.gateway;
        if (chunk.usage) rec.usage = chunk.usage;
        for (const c of chunk.choices ?? []) {
          if (c.index !== 0) continue;
          const d = c.delta ?? {};
          if (typeof d.content === 'string' && d.content.length) {
            if (rec.ttft_ms === null) rec.ttft_ms = performance.now() - t0;
            content = (content ?? '') + d.content;
          }
          for (const tc of d.tool_calls ?? []) {
            if (rec.ttft_ms === null) rec.ttft_ms = performance.now() - t0;
            const i = tc.index ?? 0;
            calls[i] ??= { id: tc.id ?? null, type: 'function', function: { name: '', arguments: '' } };
            if (tc.id) calls[i].id = tc.id;
            if (tc.function?.name) calls[i].function.name += tc.function.name;
            if (tc.function?.arguments) calls[i].function.arguments += tc.function.arguments;
          }
          if (c.finish_reason) rec.finish_reason = c.finish_reason;
          if (c.rpu?.gateway) rec.gateway = c.rpu.gateway;
        }
      }
      rec.answer = { content, tool_calls: calls.length ? calls.filter(Boolean) : undefined };
    }
  } catch (e) {
    rec.status = e?.status ?? null;
    rec.error = String(e?.message ?? e).slice(0, 500);
  }
  rec.latency_ms = Math.round((performance.now() - t0) * 10) / 10;
  if (rec.ttft_ms !== null) rec.ttft_ms = Math.round(rec.ttft_ms * 10) / 10;
  if (rec.gateway) rec.local = rec.gateway.escalated === false && !upstreams.includes(rec.gateway.answered_by);
  const s = rec.error ? { metric: null, scored: label.expected !== null, correct: label.expected === null ? null : false }
    : score(label.expected, rec.answer);
  rec.metric = s.metric;
  rec.correct = s.scored ? s.correct : null;
  if (s.fields) rec.fields = s.fields;
  return rec;
}

export async function replay({ baseURL, calls, labels, concurrency = 4, apiKey, streamShare = 0, upstreams = ['big', 'teacher'],
  timeoutS = 120, retries = 0, onResult } = {}) {
  const OpenAI = loadOpenAI();
  if (!OpenAI) throw new Error('the openai npm package is not installed (run scripts/install-deps.sh, or set RPU_PEERS_DIR)');
  const client = new OpenAI({ baseURL: normaliseBaseUrl(baseURL), apiKey: apiKey ?? process.env.OPENAI_API_KEY ?? 'none',
    maxRetries: retries, timeout: timeoutS * 1000 });
  const results = new Array(calls.length);
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const i = next++;
      const stream = streamed(labels[i].id, streamShare);
      results[i] = await runCall(client, calls[i], labels[i], { stream, upstreams });
      onResult?.(results[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, calls.length)) }, worker));
  return results;
}

// Per-type rows and the totals.
export function summarise(results) {
  const groups = new Map();
  const add = (key, r) => {
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  };
  for (const r of results) {
    add(r.type, r);
    add('all', r);
    if (r.type !== 'open') add('recurring', r);
  }
  const order = [...TYPE_NAMES.filter((t) => groups.has(t)), ...[...groups.keys()].filter((t) => !TYPE_NAMES.includes(t) && t !== 'all' && t !== 'recurring'), 'recurring', 'all']
    .filter((k) => groups.has(k));
  return order.map((type) => {
    const rs = groups.get(type);
    const scored = rs.filter((r) => r.correct !== null);
    const lat = rs.filter((r) => !r.error).map((r) => r.latency_ms);
    return {
      type, calls: rs.length, scored: scored.length,
      accuracy: scored.length ? scored.filter((r) => r.correct).length / scored.length : null,
      p50_ms: lat.length ? percentile(lat, 50) : null, p90_ms: lat.length ? percentile(lat, 90) : null,
      local: rs.filter((r) => r.local).length / rs.length,
      escalated: rs.filter((r) => r.gateway?.escalated).length / rs.length,
      streamed: rs.filter((r) => r.stream).length, errors: rs.filter((r) => r.error).length,
    };
  });
}

export function formatTable(rows) {
  const pct = (x) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);
  const ms = (x) => (x === null ? '-' : `${Math.round(x)}`);
  const lines = ['| type | calls | scored | accuracy | p50 ms | p90 ms | local | escalated | streamed | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    const name = r.type === 'all' || r.type === 'recurring' ? `**${r.type}**` : r.type;
    lines.push(`| ${name} | ${r.calls} | ${r.scored} | ${pct(r.accuracy)} | ${ms(r.p50_ms)} | ${ms(r.p90_ms)} | ${pct(r.local)} | ${pct(r.escalated)} | ${r.streamed} | ${r.errors} |`);
  }
  return lines.join('\n');
}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'base-url': { type: 'string' },
        calls: { type: 'string' },
        labels: { type: 'string' },
        concurrency: { type: 'string', default: '4' },
        out: { type: 'string' },
        'api-key': { type: 'string' },
        'stream-share': { type: 'string', default: '0' },
        upstreams: { type: 'string', default: 'big,teacher' },
        timeout: { type: 'string', default: '120' },
        retries: { type: 'string', default: '0' },
        limit: { type: 'string' },
        json: { type: 'string' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    console.error(`${e.message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help || !values['base-url'] || !values.calls || !values.labels) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  let calls, labels;
  try {
    normaliseBaseUrl(values['base-url']);
    calls = readJsonl(values.calls);
    labels = readJsonl(values.labels);
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }
  if (calls.length !== labels.length) {
    console.error(`${values.calls} has ${calls.length} calls but ${values.labels} has ${labels.length} labels`);
    process.exit(2);
  }
  if (values.limit) {
    calls = calls.slice(0, Number(values.limit));
    labels = labels.slice(0, calls.length);
  }
  const started = performance.now();
  let done = 0;
  let results;
  try {
    results = await replay({
      baseURL: values['base-url'], calls, labels, concurrency: Number(values.concurrency), apiKey: values['api-key'],
      streamShare: Number(values['stream-share']), upstreams: values.upstreams.split(',').map((s) => s.trim()).filter(Boolean),
      timeoutS: Number(values.timeout), retries: Number(values.retries),
      onResult: () => {
        done++;
        if (!values.quiet && process.stderr.isTTY && (done % 25 === 0 || done === calls.length)) process.stderr.write(`\r${done}/${calls.length}`);
      },
    });
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }
  if (!values.quiet && process.stderr.isTTY) process.stderr.write('\n');
  const seconds = (performance.now() - started) / 1000;
  if (values.out) {
    fs.writeFileSync(`${values.out}.tmp`, results.map((r) => `${JSON.stringify(r)}\n`).join(''));
    fs.renameSync(`${values.out}.tmp`, values.out);
  }
  const rows = summarise(results);
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify({ seconds, rows }, null, 2)}\n`);
  console.log(formatTable(rows));
  console.log(`\n${results.length} calls in ${seconds.toFixed(1)} s against ${normaliseBaseUrl(values['base-url'])}`);
  const firstError = results.find((r) => r.error);
  if (firstError) console.log(`first error (${firstError.id}): ${firstError.status ?? ''} ${firstError.error}`);
}

if (isMain(import.meta.url)) main();
