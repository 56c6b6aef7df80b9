#!/usr/bin/env node
// Replays another training run's learning rates by steps, for a comparison that does not depend
// on the machine's speed. A run time-boxed with `rpu train --minutes` anneals its cosine by wall
// time (whichever of the steps and the time is further along), so its learning rate at a step
// depends on how fast the machine was; its loss.csv records the rate it used at every step.
// `rpu train --resume --steps T --lr PEAK --warmup W` (no --minutes) gives, from the checkpoint's
// step to step T, the rate PEAK * (0.1 + 0.9 * (1 + cos(pi * (step - W) / (T - W))) / 2) (W at or
// below the checkpoint's step only moves where the cosine starts). This fits such resume
// segments to the logged rates.
//
//   node bench/kb/match_lr.mjs --ref RUN/loss.csv --from A --to B [--segments N]
//        prints N lines "T PEAK W" (resume segments covering steps A+1..B, equal lengths), and
//        the mean and largest relative difference from the logged rates
//   node bench/kb/match_lr.mjs --ref RUN/loss.csv --compare OTHER/loss.csv [--from A --to B]
//        the mean and largest relative difference between two runs' logged rates, step by step
//
// Steps are counted as loss.csv counts them (1 = the first step). Rates are rounded to 4
// significant digits, as they are passed on the command line.
import fs from 'node:fs';

const FINAL_RATIO = 0.1;  // rpu's LearningRateSchedule: the cosine ends at peak * 0.1

// rpu's LearningRateSchedule::at(step) with no time budget; step counts from 0.
export function lrAt(step, peak, warmup, total) {
  if (warmup > 0 && step < warmup) return peak * (step + 1) / warmup;
  const progress = Math.min(1, Math.max(0, (step - warmup) / Math.max(1, total - warmup)));
  return peak * (FINAL_RATIO + (1 - FINAL_RATIO) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

// loss.csv -> Map(step counted from 1 -> learning rate); a resumed run's file holds both parts.
export function readRates(file) {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  const head = lines[0].split(',');
  const si = head.indexOf('step'), li = head.indexOf('learning_rate');
  if (si < 0 || li < 0) throw new Error(`${file}: no step or learning_rate column`);
  const out = new Map();
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    out.set(Number(f[si]), Number(f[li]));
  }
  return out;
}

export const round4 = (x) => Number(x.toPrecision(4));

// One segment: steps a+1..b (1-based) trained by a call with --steps b; returns {total, peak, warmup, errors}.
export function fitSegment(rates, a, b) {
  let best = null;
  for (let w = 0; w <= a; w += 5) {
    // the peak that fits best in relative terms: the geometric mean of logged / shape
    let logSum = 0;
    for (let s = a + 1; s <= b; s++) logSum += Math.log(rates.get(s) / lrAt(s - 1, 1, w, b));
    const peak = round4(Math.exp(logSum / (b - a)));
    const errors = [];
    for (let s = a + 1; s <= b; s++) errors.push(Math.abs(lrAt(s - 1, peak, w, b) - rates.get(s)) / rates.get(s));
    const mean = errors.reduce((x, y) => x + y, 0) / errors.length;
    if (best === null || mean < best.mean) best = { total: b, peak, warmup: w, errors, mean };
  }
  return best;
}

export function summary(errors) {
  const mean = errors.reduce((x, y) => x + y, 0) / errors.length;
  return `mean ${(100 * mean).toFixed(2)}%, largest ${(100 * Math.max(...errors)).toFixed(2)}% over ${errors.length} steps`;
}

function main() {
  const args = {};
  for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  if (!args.ref) throw new Error('--ref RUN/loss.csv is required');
  const ref = readRates(args.ref);
  if (args.compare) {
    const other = readRates(args.compare);
    const from = Number(args.from ?? 0), to = Number(args.to ?? Math.max(...ref.keys()));
    const errors = [];
    for (let s = from + 1; s <= to; s++) {
      if (!ref.has(s) || !other.has(s)) throw new Error(`step ${s} missing from one of the files`);
      errors.push(Math.abs(other.get(s) - ref.get(s)) / ref.get(s));
    }
    const mean = (m) => { let t = 0; for (let s = from + 1; s <= to; s++) t += m.get(s); return t / (to - from); };
    console.log(`steps ${from + 1}..${to}: learning rate differs by ${summary(errors)}; ` +
                `mean rate ${mean(ref).toPrecision(4)} (ref) vs ${mean(other).toPrecision(4)}`);
    return;
  }
  const from = Number(args.from), to = Number(args.to), n = Number(args.segments ?? 1);
  if (!(to > from) || !(n >= 1)) throw new Error('--from A --to B with B > A, --segments N >= 1');
  for (let s = from + 1; s <= to; s++) if (!ref.has(s)) throw new Error(`${args.ref}: no step ${s}`);
  const all = [];
  for (let i = 0; i < n; i++) {
    const a = from + Math.round((to - from) * i / n), b = from + Math.round((to - from) * (i + 1) / n);
    const seg = fitSegment(ref, a, b);
    console.log(`${seg.total} ${seg.peak} ${seg.warmup}`);
    all.push(...seg.errors);
  }
  console.error(`match_lr: ${n} segments over steps ${from + 1}..${to}: learning rate differs from ${args.ref} by ${summary(all)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
