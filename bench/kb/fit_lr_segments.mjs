#!/usr/bin/env node
// Segments "B T PEAK W" for bench/kb/replay_lr.sh: another run's logged learning rates replayed by
// steps, where match_lr.mjs's resume segments cannot follow them. A call `rpu train --steps T`
// anneals to 0.1 x its peak at step T, so a segment that must end at step B with its rate still
// near the reference's (steps 100-2,000 of run 3: 2e-3 falling slowly) would have to be a few
// steps long. Here a segment trains with a cosine to a later step T and is stopped at B (its
// checkpoint): the rate over steps A+1..B is PEAK * (0.1 + 0.9 * (1 + cos(pi * (step - W) /
// (T - W))) / 2), with W at most A for a resumed segment (a larger W would be a warmup ramp) and
// W = the reference's warmup for the first, from-scratch segment.
//
//   node bench/kb/fit_lr_segments.mjs --ref RUN/loss.csv --from A --to B [--tol 0.02] [--warmup 100]
//        greedy: each segment as long as its largest relative difference stays within --tol
//        (boundaries land on the reference's jumps, where a wall-time run was paused); prints the
//        segments and the whole plan's mean and largest difference
//   node bench/kb/fit_lr_segments.mjs --ref RUN/loss.csv --plan SEGMENTS [--from A]
//        the difference between a plan (lines "B T PEAK W", e.g. merged by hand) and the reference
//   node bench/kb/fit_lr_segments.mjs --ref RUN/loss.csv --fit A,B [--warmup 100]
//        the best single segment over steps A+1..B
import fs from 'node:fs';
import { readRates, lrAt, round4, summary } from './match_lr.mjs';

// The segment over steps a+1..b (1-based, as loss.csv counts) with the smallest largest relative
// difference: W on a 50-step grid (and a itself), T from b on a 10-step grid (100 beyond 6,000),
// PEAK the geometric mean of logged / shape.
export function fitSegment(ref, a, b, firstWarmup) {
  let best = null;
  const ws = a === 0 ? [firstWarmup] : [...Array(Math.floor(a / 50) + 1).keys()].map((i) => i * 50).concat([a]);
  for (const w of ws) {
    for (let t = Math.max(b, w + 1); t <= 30000; t += t < 6000 ? 10 : 100) {
      let logSum = 0;
      for (let s = a + 1; s <= b; s++) logSum += Math.log(ref.get(s) / lrAt(s - 1, 1, w, t));
      const peak = round4(Math.exp(logSum / (b - a)));
      let largest = 0, sum = 0;
      for (let s = a + 1; s <= b; s++) {
        const e = Math.abs(lrAt(s - 1, peak, w, t) - ref.get(s)) / ref.get(s);
        largest = Math.max(largest, e);
        sum += e;
      }
      if (!best || largest < best.largest) best = { from: a, to: b, total: t, peak, warmup: w, largest, mean: sum / (b - a) };
    }
  }
  return best;
}

// The relative differences of a plan [{to, total, peak, warmup}] from the reference, steps from+1..
export function planErrors(ref, plan, from) {
  const errors = [];
  let a = from;
  for (const seg of plan) {
    for (let s = a + 1; s <= seg.to; s++) errors.push(Math.abs(lrAt(s - 1, seg.peak, seg.warmup, seg.total) - ref.get(s)) / ref.get(s));
    a = seg.to;
  }
  return errors;
}

function main() {
  const args = {};
  for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  if (!args.ref) throw new Error('--ref RUN/loss.csv is required');
  const ref = readRates(args.ref);
  const warmup = Number(args.warmup ?? 100);
  if (args.plan) {
    const plan = fs.readFileSync(args.plan, 'utf8').trim().split('\n').filter((l) => l && l !== 'end').map((l) => {
      const [to, total, peak, w] = l.trim().split(/\s+/).map(Number);
      return { to, total, peak, warmup: w };
    });
    const from = Number(args.from ?? 0);
    console.log(`plan ${args.plan}: ${plan.length} segments over steps ${from + 1}..${plan.at(-1).to}: ` +
                `learning rate differs from ${args.ref} by ${summary(planErrors(ref, plan, from))}`);
    return;
  }
  if (args.fit) {
    const [a, b] = args.fit.split(',').map(Number);
    console.log(JSON.stringify(fitSegment(ref, a, b, warmup)));
    return;
  }
  const from = Number(args.from), to = Number(args.to), tol = Number(args.tol ?? 0.02), grid = 25;
  for (let s = from + 1; s <= to; s++) if (!ref.has(s)) throw new Error(`${args.ref}: no step ${s}`);
  const plan = [];
  let a = from;
  while (a < to) {
    let best = null;
    for (let b = Math.min(a + grid, to); ; b = Math.min(b + grid, to)) {
      const seg = fitSegment(ref, a, b, warmup);
      if (seg.largest > tol) break;
      best = seg;
      if (b === to) break;
    }
    // by ones past the last grid point that fits: a jump in the reference ends the segment there
    for (let b = (best ? best.to : a) + 1; b <= Math.min(to, a + 2 * grid) && (!best || best.to < to); b++) {
      const seg = fitSegment(ref, a, b, warmup);
      if (seg.largest > tol) break;
      best = seg;
    }
    if (!best) throw new Error(`no segment from step ${a} within ${tol}`);
    plan.push(best);
    console.log(`${best.to} ${best.total} ${best.peak} ${best.warmup}`);
    a = best.to;
  }
  console.error(`fit_lr_segments: ${plan.length} segments over steps ${from + 1}..${to}: learning rate differs from ` +
                `${args.ref} by ${summary(planErrors(ref, plan, from))}`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
