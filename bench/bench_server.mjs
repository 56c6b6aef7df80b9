#!/usr/bin/env node
// Throughput of an OpenAI-compatible completion server under concurrent clients (rpu serve,
// llama.cpp's llama-server, ...). Node 20, built-in modules only.
//
//   node bench/bench_server.mjs --url http://127.0.0.1:8080 --concurrency 1,4,8,16 \
//        --requests-per-stream 4 --max-tokens 128 --prompt-words 64 --out result.json
//
// For each concurrency level C, C client loops run at once, each sending R requests one after
// another; the level's wall time runs from the first send to the last reply. Requests ask for
// exactly --max-tokens tokens (temperature 0, ignore_eos) because random-weight benchmark
// models may emit EOS early, and fixed lengths make runs comparable. Every request's prompt
// starts with its own number, so no server can answer from a prefix cache.
// Exits non-zero if any request fails or returns fewer tokens than asked.
import http from 'node:http';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const USAGE = `usage: bench_server.mjs [--url URL] [--model NAME] [--concurrency 1,4,8,16]
  [--requests-per-stream R] [--max-tokens M] [--prompt-words P] [--api-key KEY]
  [--wait-health SECONDS] [--label NAME] [--out FILE.json]`;

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8080' },
      model: { type: 'string', default: 'default' },
      concurrency: { type: 'string', default: '1,4,8,16' },
      'requests-per-stream': { type: 'string', default: '4' },
      'max-tokens': { type: 'string', default: '128' },
      'prompt-words': { type: 'string', default: '64' },
      'api-key': { type: 'string' },
      // Poll GET /health until it answers 200 (a server still loading answers 503 or refuses).
      'wait-health': { type: 'string', default: '0' },
      label: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positiveInt = (name) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const concurrency = values.concurrency.split(',').map((s) => Number(s.trim()));
  if (concurrency.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new Error('--concurrency must be a comma-separated list of positive integers');
  }
  const waitHealth = Number(values['wait-health']);
  if (!(waitHealth >= 0)) throw new Error('--wait-health must be a number of seconds');
  return {
    url: values.url.replace(/\/+$/, ''),
    model: values.model,
    concurrency,
    requestsPerStream: positiveInt('requests-per-stream'),
    maxTokens: positiveInt('max-tokens'),
    promptWords: positiveInt('prompt-words'),
    apiKey: values['api-key'],
    waitHealth,
    label: values.label ?? values.url,
    out: values.out,
  };
}

// Plain English words; a deterministic generator picks them so runs see the same prompts.
const WORDS = (
  'the of and to in is was that for on with as by at from his her they this have had not are ' +
  'but one all were when there can an which their said if will each about how up out them then ' +
  'she many some so these would other into has more two time could way people my than first ' +
  'water been call who oil its now find long down day did get come made may part over new sound ' +
  'take only little work know place year live me back give most very after thing our just name ' +
  'good sentence man think say great where help through much before line right too mean old any ' +
  'same tell boy follow came want show also around form three small set put end does another well'
).split(' ');

function makePrompt(id, words) {
  let state = (id * 2654435761 + 12345) >>> 0;  // per-request xorshift seed
  const out = [`${id}.`];
  for (let i = 0; i < words; i++) {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    out.push(WORDS[state % WORDS.length]);
  }
  return out.join(' ');
}

// node:http rather than fetch: fetch's built-in 300 s header timeout would abort long
// requests at high concurrency on a slow CPU; here requests wait as long as the server needs.
const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

function request(options, method, path, body) {
  const url = new URL(options.url + path);
  const transport = url.protocol === 'https:' ? https : http;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = { Accept: 'application/json' };
  if (payload) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = payload.length;
  }
  if (options.apiKey) headers.Authorization = `Bearer ${options.apiKey}`;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method, headers, agent: agents[url.protocol] }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

async function waitForHealth(options) {
  const deadline = performance.now() + options.waitHealth * 1000;
  let last = 'no answer';
  for (;;) {
    try {
      const res = await request(options, 'GET', '/health');
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.code ?? err.message;
    }
    if (performance.now() > deadline) throw new Error(`${options.url}/health not ready: ${last}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// One completion; returns its latency and token counts, or an error string.
async function complete(options, id) {
  const body = {
    model: options.model,
    prompt: makePrompt(id, options.promptWords),
    max_tokens: options.maxTokens,
    temperature: 0,
    ignore_eos: true,
    stream: false,
  };
  const start = performance.now();
  let res;
  try {
    res = await request(options, 'POST', '/v1/completions', body);
  } catch (err) {
    return { error: `request ${id}: ${err.code ?? err.message}` };
  }
  const seconds = (performance.now() - start) / 1000;
  if (res.status !== 200) return { seconds, error: `request ${id}: HTTP ${res.status}: ${res.text.slice(0, 200)}` };
  let usage;
  try {
    usage = JSON.parse(res.text).usage;
  } catch {
    return { seconds, error: `request ${id}: response is not JSON: ${res.text.slice(0, 200)}` };
  }
  const completion = usage?.completion_tokens;
  if (!Number.isInteger(completion)) return { seconds, error: `request ${id}: no usage.completion_tokens` };
  const result = { seconds, completionTokens: completion, promptTokens: usage.prompt_tokens ?? 0 };
  if (completion < options.maxTokens) {
    result.error = `request ${id}: ${completion} completion tokens, asked for ${options.maxTokens}`;
  }
  return result;
}

// Nearest-rank percentile of an ascending array.
function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

let nextRequestId = 1;

async function runLevel(options, concurrency) {
  const results = [];
  const stream = async () => {
    for (let i = 0; i < options.requestsPerStream; i++) results.push(await complete(options, nextRequestId++));
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, stream));
  const wallSeconds = (performance.now() - start) / 1000;
  const latencies = results.filter((r) => r.seconds !== undefined).map((r) => r.seconds).sort((a, b) => a - b);
  const completionTokens = results.reduce((sum, r) => sum + (r.completionTokens ?? 0), 0);
  const errors = results.filter((r) => r.error).map((r) => r.error);
  return {
    concurrency,
    requests: results.length,
    errors: errors.length,
    error_samples: errors.slice(0, 5),
    prompt_tokens: results.reduce((sum, r) => sum + (r.promptTokens ?? 0), 0),
    completion_tokens: completionTokens,
    wall_seconds: wallSeconds,
    tokens_per_second: completionTokens / wallSeconds,
    latency_seconds: {
      mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
    },
  };
}

function markdownTable(levels) {
  const rows = [
    '| streams | requests | errors | gen tokens | wall s | gen tok/s | mean latency s | p50 s | p95 s |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const l of levels) {
    const s = l.latency_seconds;
    rows.push(`| ${l.concurrency} | ${l.requests} | ${l.errors} | ${l.completion_tokens} | ${l.wall_seconds.toFixed(2)} ` +
      `| ${l.tokens_per_second.toFixed(1)} | ${s.mean.toFixed(3)} | ${s.p50.toFixed(3)} | ${s.p95.toFixed(3)} |`);
  }
  return rows.join('\n');
}

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (options.waitHealth > 0) await waitForHealth(options);
  // Warm-up: first-request costs (page faults of the weights, lazy allocations) stay out.
  const warm = await complete(options, 0);
  if (warm.error) throw new Error(`warm-up failed: ${warm.error}`);

  const levels = [];
  for (const concurrency of options.concurrency) {
    console.error(`${options.label}: ${concurrency} stream(s) x ${options.requestsPerStream} request(s)...`);
    const level = await runLevel(options, concurrency);
    for (const e of level.error_samples) console.error(`  error: ${e}`);
    levels.push(level);
  }
  console.log(`${options.label} — max_tokens ${options.maxTokens}, prompt ${options.promptWords} words, ` +
    `${options.requestsPerStream} request(s) per stream\n`);
  console.log(markdownTable(levels));
  if (options.out) {
    const report = {
      label: options.label,
      url: options.url,
      model: options.model,
      max_tokens: options.maxTokens,
      prompt_words: options.promptWords,
      requests_per_stream: options.requestsPerStream,
      date: new Date().toISOString(),
      levels,
    };
    writeFileSync(options.out, JSON.stringify(report, null, 2) + '\n');
  }
  const failed = levels.reduce((sum, l) => sum + l.errors, 0);
  if (failed > 0) {
    console.error(`${failed} request(s) failed or came back short`);
    process.exitCode = 1;
  }
}

main()
  .catch((err) => {
    console.error(err.message);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const agent of Object.values(agents)) agent.destroy();
  });
