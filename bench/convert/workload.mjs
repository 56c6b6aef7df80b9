#!/usr/bin/env node
// The replayable agent workload of the conversion loop (issue 13): a seeded generator of an
// agent trace. Each line of --out is an OpenAI chat request body as agent frameworks send it
// ({model, messages, tools?, tool_choice?, temperature, max_tokens}); line i of --labels is
// {id, type, expected}: the call's type and its correct answer (null for open-ended calls).
//
//   node bench/convert/workload.mjs --seed S --calls N --out calls.jsonl [--labels labels.jsonl]
//        [--mix classify=17,extract=13,tool_call=14,normalize=11,arithmetic=10,rewrite=10,open=25]
//        [--model gpt-4o]
//
// Deterministic: the same seed gives byte-identical files on every platform, and call i depends
// only on (seed, i), so a longer run starts with the calls of a shorter one. --mix gives relative
// weights (missing types keep their default; 0 leaves a type out). The call types and their
// answers are described in tasks.mjs and README.md.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Rng, hash32, isMain } from './common.mjs';
import { buildCall, DEFAULT_MIX, TYPE_NAMES } from './tasks.mjs';

const USAGE = `usage: node bench/convert/workload.mjs --seed S --calls N --out calls.jsonl [--labels labels.jsonl]
       [--mix type=weight,...] [--model NAME]
  types: ${TYPE_NAMES.join(', ')}`;

export function parseMix(text) {
  const mix = { ...DEFAULT_MIX };
  if (!text) return mix;
  for (const part of text.split(',').filter(Boolean)) {
    const m = /^\s*(\w+)\s*[=:]\s*([\d.]+)\s*$/.exec(part);
    if (!m || !TYPE_NAMES.includes(m[1])) throw new Error(`--mix: bad entry "${part}" (types: ${TYPE_NAMES.join(', ')})`);
    mix[m[1]] = Number(m[2]);
  }
  if (!Object.values(mix).some((w) => w > 0)) throw new Error('--mix: every weight is 0');
  return mix;
}

// The calls of one seed: [{body, label: {id, type, expected}}].
export function generate({ seed = 1, calls = 100, mix = DEFAULT_MIX, model = 'gpt-4o' } = {}) {
  const pairs = Object.entries(mix).filter(([, w]) => w > 0).map(([t, w]) => [w, t]);
  const out = [];
  for (let i = 0; i < calls; i++) {
    const rng = new Rng(hash32(`rpu-workload:${seed}:${i}`));
    const type = rng.weighted(pairs);
    const { body, expected } = buildCall(rng, type, { model });
    out.push({ body, label: { id: `s${seed}-${String(i + 1).padStart(6, '0')}`, type, expected } });
  }
  return out;
}

function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seed: { type: 'string', default: '1' },
        calls: { type: 'string', default: '100' },
        out: { type: 'string' },
        labels: { type: 'string' },
        mix: { type: 'string' },
        model: { type: 'string', default: 'gpt-4o' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    console.error(`${e.message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help || !values.out) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const seed = Number(values.seed), calls = Number(values.calls);
  if (!Number.isInteger(seed) || !Number.isInteger(calls) || calls < 0) {
    console.error(`--seed and --calls must be integers (calls >= 0)\n${USAGE}`);
    process.exit(2);
  }
  let mix;
  try {
    mix = parseMix(values.mix);
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }
  const items = generate({ seed, calls, mix, model: values.model });
  // Written whole and renamed into place: never a half-written file.
  const write = (file, lines) => {
    fs.writeFileSync(`${file}.tmp`, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    fs.renameSync(`${file}.tmp`, file);
  };
  write(values.out, items.map((x) => x.body));
  if (values.labels) write(values.labels, items.map((x) => x.label));
  const counts = {};
  for (const x of items) counts[x.label.type] = (counts[x.label.type] ?? 0) + 1;
  console.error(`${calls} calls (seed ${seed}): ${TYPE_NAMES.filter((t) => counts[t]).map((t) => `${t} ${counts[t]}`).join(', ')}`);
}

if (isMain(import.meta.url)) main();
