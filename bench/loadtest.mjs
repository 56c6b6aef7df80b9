// Load test of `rpu serve` under hostile traffic (issue 11, bench/RESULTS.md "Load test").
// Starts the server itself, then:
//   - opens IDLE silent connections and SLOWLORIS connections that send one header line every
//     2 s, and keeps them open for the whole run;
//   - CLIENTS concurrent clients send REQUESTS requests in all, a fixed mix of: valid chat,
//     completions and streamed chat; malformed bodies; streams the client abandons mid-way;
//     huge JSON schemas (20,000 required properties);
//   - probes /health every 100 ms throughout and records its latency;
//   - at the end waits for /metrics to show 0 active sequences and 0 queued requests, and reads
//     the server's RSS (VmRSS) before and after.
// Passes (exit 0) with zero crashes, zero leaked slots, every valid request answered 200, and
// every /health probe within 100 ms. Prints a markdown report.
//
//   node bench/loadtest.mjs --rpu build/rpu [--model M.gguf] [--clients 64] [--requests 10000]
//        [--idle 500] [--slowloris 100] [--parallel 8] [--serve-args "..."]
// Without --model the server runs the built-in model (it has a chat template).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { Worker } from 'node:worker_threads';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => {
  if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
  return pairs;
}, []));
if (!args.rpu) {
  console.error('usage: node bench/loadtest.mjs --rpu RPU [--model M.gguf] [--clients 64] [--requests 10000]');
  process.exit(2);
}
const clients = Number(args.clients ?? 64);
const total = Number(args.requests ?? 10000);
const idleCount = Number(args.idle ?? 500);
const slowCount = Number(args.slowloris ?? 100);
const parallel = Number(args.parallel ?? 8);
const port = 19000 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${port}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = spawn(args.rpu, ['serve', ...(args.model ? [args.model] : []), '--port', String(port), '--parallel', String(parallel),
  '--ctx', '512', '--threads', '2', '--alias', 'tiny', ...(args['serve-args'] ? args['serve-args'].split(' ') : [])],
{ stdio: ['ignore', 'ignore', 'pipe'] });
let serverLog = '';
server.stderr.on('data', (d) => { serverLog = (serverLog + d).slice(-20000); });
let exitedEarly = null;
server.on('exit', (code, signal) => { exitedEarly = { code, signal }; });
// The server never outlives this script, however it ends.
process.on('exit', () => { if (exitedEarly === null) server.kill('SIGKILL'); });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8'))[1]);

async function waitHealthy() {
  for (let i = 0; i < 600; ++i) {
    try { if ((await fetch(`${base}/health`)).ok) return; } catch { /* starting */ }
    if (exitedEarly) throw new Error(`server exited: ${JSON.stringify(exitedEarly)}\n${serverLog}`);
    await sleep(100);
  }
  throw new Error('server did not start');
}

async function metricValue(name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm'));
  return m ? Number(m[1]) : NaN;
}

// --- hostile connections held open for the whole run ----------------------------------
// The server closes a connection whose headers do not complete in time; an attacker opens a
// new one, so each closed connection is replaced at once and the counts stay up all run.
const held = new Set();
let holding = true;
let idleReplaced = 0, slowClosedByServer = 0;
function openIdle() {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.on('close', () => {
    held.delete(s);
    if (holding) { ++idleReplaced; openIdle(); }
  });
  held.add(s);
}
function openSlowloris() {
  const s = net.connect(port, '127.0.0.1');
  let line = 0;
  const timer = setInterval(() => { if (!s.destroyed) s.write(`X-Slow-${line++}: ${'a'.repeat(20)}\r\n`); }, 2000);
  s.on('error', () => {});
  s.on('close', () => {
    clearInterval(timer);
    held.delete(s);
    if (holding) { ++slowClosedByServer; openSlowloris(); }
  });
  s.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
  held.add(s);
}
function releaseHeld() {
  holding = false;
  for (const s of held) s.destroy();
}

// --- /health probe ------------------------------------------------------------------------
// In a worker thread with its own event loop, so the latency measured is the server's, not
// this process's event loop lag under 64 busy clients.
const probeSource = `
  const { parentPort, workerData } = require('node:worker_threads');
  const http = require('node:http');
  const agent = new http.Agent({ keepAlive: false });
  let running = true;
  parentPort.on('message', () => { running = false; });
  const once = () => new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.get({ host: '127.0.0.1', port: workerData.port, path: '/health', agent, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, ok: res.statusCode === 200 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, ok: false }));
  });
  (async () => {
    const results = [];
    while (running) {
      results.push(await once());
      await new Promise((r) => setTimeout(r, 100));
    }
    parentPort.postMessage(results);
  })();`;
function startHealthProbe() {
  const worker = new Worker(probeSource, { eval: true, workerData: { port } });
  const done = new Promise((resolve) => worker.once('message', resolve));
  return { stop: async () => { worker.postMessage('stop'); const r = await done; await worker.terminate(); return r; } };
}

// --- the request mix ----------------------------------------------------------------------
const messages = [{ role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Sam has 12 apples and buys 7 more. How many apples does Sam have now?' }];
const hugeSchema = JSON.stringify({
  model: 'tiny', messages, max_tokens: 4,
  response_format: { type: 'json_schema', json_schema: { name: 'huge', schema: {
    type: 'object', required: Array.from({ length: 20000 }, (_, i) => `p${i}`),
    properties: Object.fromEntries(Array.from({ length: 20000 }, (_, i) => [`p${i}`, { type: 'integer' }])) } } },
});
const kinds = ['chat', 'chat', 'completion', 'completion', 'stream', 'stream', 'malformed', 'disconnect', 'huge_schema'];
const stats = Object.fromEntries(kinds.map((k) => [k, { sent: 0, statuses: {} }]));
const validLatency = [];
const unexpected = [];

// Every request has 60 s: a request still unanswered then is a hang, counted as unexpected.
async function post(path, body, signal) {
  const timeout = AbortSignal.timeout(60_000);
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body,
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
}

async function one(kind, i) {
  const t0 = performance.now();
  let status;
  try {
    if (kind === 'chat') {
      const r = await post('/v1/chat/completions', JSON.stringify({ model: 'tiny', messages, max_tokens: 8, temperature: 0.8, seed: i }));
      status = r.status; await r.text();
    } else if (kind === 'completion') {
      const r = await post('/v1/completions', JSON.stringify({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 8, seed: i }));
      status = r.status; await r.text();
    } else if (kind === 'stream') {
      const r = await post('/v1/chat/completions', JSON.stringify({ model: 'tiny', messages, max_tokens: 8, stream: true }));
      status = r.status;
      const text = await r.text();
      if (status === 200 && !text.trimEnd().endsWith('data: [DONE]')) unexpected.push(`stream ${i} ended without [DONE]`);
    } else if (kind === 'malformed') {
      const bodies = ['{"model": ', '[1,2', '{"model":"tiny","messages":[{"role":"user","content":42}]}',
        '{"model":"tiny","messages":[],"max_tokens":1e999}', '\u0000\u0001garbage'];
      const r = await post('/v1/chat/completions', bodies[i % bodies.length]);
      status = r.status; await r.text();
    } else if (kind === 'disconnect') {
      const controller = new AbortController();
      const r = await post('/v1/chat/completions', JSON.stringify({ model: 'tiny', messages, max_tokens: 400, ignore_eos: true, stream: true }),
        controller.signal);
      status = r.status;
      const reader = r.body.getReader();
      await reader.read();
      controller.abort();
      await reader.read().catch(() => {});
    } else if (kind === 'huge_schema') {
      const r = await post('/v1/chat/completions', hugeSchema);
      status = r.status; await r.text();
    }
  } catch (e) {
    status = kind === 'disconnect' ? 'aborted' : `error: ${e.cause?.code ?? e.message}`;
  }
  const s = stats[kind];
  s.sent += 1;
  s.statuses[status] = (s.statuses[status] ?? 0) + 1;
  const valid = kind === 'chat' || kind === 'completion' || kind === 'stream';
  if (valid) {
    validLatency.push(performance.now() - t0);
    if (status !== 200) unexpected.push(`${kind} ${i}: ${status}`);
  } else if ((kind === 'malformed' || kind === 'huge_schema') && status !== 400) {
    unexpected.push(`${kind} ${i}: ${status}`);
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] : NaN;
};

let code = 0;
try {
  await waitHealthy();
  const rssBefore = rssKiB();
  for (let i = 0; i < idleCount; ++i) openIdle();
  for (let i = 0; i < slowCount; ++i) openSlowloris();
  await sleep(500);
  const probe = startHealthProbe();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < total) {
      const i = next++;
      await one(kinds[i % kinds.length], i);
    }
  }));
  const wall = (performance.now() - t0) / 1000;
  const probes = await probe.stop();
  const healthMs = probes.map((p) => p.ms);
  const healthFailures = probes.filter((p) => !p.ok).length;
  // Slots and queue must drain back to zero once the clients are gone.
  let active = NaN, queued = NaN;
  for (let i = 0; i < 100; ++i) {
    active = await metricValue('rpu_active_sequences');
    queued = await metricValue('rpu_queue_depth');
    if (active === 0 && queued === 0) break;
    await sleep(100);
  }
  const rssAfter = rssKiB();
  releaseHeld();
  const crashed = exitedEarly !== null;
  const healthMax = Math.max(...healthMs);
  console.log(`## Load test: ${total} requests from ${clients} clients, ${idleCount} idle + ${slowCount} slowloris connections\n`);
  console.log(`command: node bench/loadtest.mjs --rpu ${args.rpu}${args.model ? ' --model ' + args.model : ''} --clients ${clients} --requests ${total}` +
    ` --idle ${idleCount} --slowloris ${slowCount} --parallel ${parallel}` +
    `${args['serve-args'] ? ` --serve-args "${args['serve-args']}"` : ''}\n`);
  console.log('| kind | sent | statuses |\n|---|---:|---|');
  for (const k of Object.keys(stats)) console.log(`| ${k} | ${stats[k].sent} | ${JSON.stringify(stats[k].statuses)} |`);
  console.log(`\n| measure | value |\n|---|---:|`);
  console.log(`| wall time | ${wall.toFixed(1)} s (${(total / wall).toFixed(0)} req/s) |`);
  console.log(`| server crashed | ${crashed ? 'YES ' + JSON.stringify(exitedEarly) : 'no'} |`);
  console.log(`| active sequences / queued after | ${active} / ${queued} |`);
  console.log(`| RSS before / after | ${(rssBefore / 1024).toFixed(1)} MiB / ${(rssAfter / 1024).toFixed(1)} MiB |`);
  console.log(`| valid requests p50 / p99 latency | ${pct(validLatency, 50).toFixed(1)} ms / ${pct(validLatency, 99).toFixed(1)} ms |`);
  console.log(`| /health probes, p50 / p99 / max | ${healthMs.length}, ${pct(healthMs, 50).toFixed(1)} / ${pct(healthMs, 99).toFixed(1)} / ${healthMax.toFixed(1)} ms |`);
  console.log(`| /health failures | ${healthFailures} |`);
  console.log(`| hostile connections closed by the server (and reopened) | ${slowClosedByServer} slowloris, ${idleReplaced} idle |`);
  console.log(`| unexpected answers | ${unexpected.length}${unexpected.length ? ': ' + unexpected.slice(0, 5).join('; ') : ''} |`);
  const pass = !crashed && active === 0 && queued === 0 && unexpected.length === 0 && healthFailures === 0 && healthMax <= 100;
  console.log(`\n${pass ? 'PASS' : 'FAIL'}`);
  code = pass ? 0 : 1;
} catch (e) {
  console.error(e.stack ?? e);
  code = 1;
} finally {
  releaseHeld();
  server.kill('SIGTERM');
}
process.exit(code);
