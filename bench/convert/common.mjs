// Shared helpers of the conversion-loop workload (bench/convert): a seeded PRNG, string hashing,
// the approximate token count, JSONL files, and loading the official `openai` client from
// tests/peers (the only npm dependency). Node 20, ES modules.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');

// mulberry32: 32-bit state, the same stream on every platform and Node version.
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// FNV-1a over UTF-16 code units, then a murmur3 finaliser: a well-mixed 32-bit hash.
export function hash32(text) {
  let h = 0x811C9DC5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85EBCA6B);
  h ^= h >>> 13;
  h = Math.imul(h, 0xC2B2AE35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class Rng {
  constructor(seed) { this.next = mulberry32(seed); }
  float() { return this.next(); }
  int(lo, hi) { return lo + Math.floor(this.next() * (hi - lo + 1)); }  // inclusive
  chance(p) { return this.next() < p; }
  pick(list) { return list[Math.floor(this.next() * list.length)]; }
  // [[weight, value], ...]
  weighted(pairs) {
    let total = 0;
    for (const [w] of pairs) total += w;
    let r = this.next() * total;
    for (const [w, v] of pairs) {
      if (r < w) return v;
      r -= w;
    }
    return pairs[pairs.length - 1][1];
  }
  shuffle(list) {
    const a = list.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
  sample(list, k) { return this.shuffle(list).slice(0, k); }
}

// Approximate token count: words * 1.3, rounded up (what the stand-in teacher reports).
export function approxTokens(text) {
  const words = String(text ?? '').split(/\s+/).filter(Boolean).length;
  return Math.ceil(words * 1.3);
}

export function readJsonl(file) {
  const text = fs.readFileSync(file, 'utf8');
  const out = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line));
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not JSON: ${e.message}`);
    }
  });
  return out;
}

// The text of a message's content: a string, or an array of parts ({type: "text", text}).
export function contentText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (typeof p === 'string' ? p : p && typeof p.text === 'string' ? p.text : '')).join('');
  }
  return '';
}

export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = values.slice().sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

// The official OpenAI client, from tests/peers/node_modules (scripts/install-deps.sh installs it),
// or from RPU_PEERS_DIR. Returns null when it is not installed.
export function loadOpenAI() {
  const dirs = [process.env.RPU_PEERS_DIR, path.join(REPO, 'tests', 'peers')].filter(Boolean);
  for (const dir of dirs) {
    try {
      const require = createRequire(path.join(dir, 'package.json'));
      const mod = require('openai');
      return mod.OpenAI ?? mod.default ?? mod;
    } catch { /* try the next place */ }
  }
  return null;
}

// True when the module at moduleUrl is the script node was started with.
export function isMain(moduleUrl) {
  if (!process.argv[1]) return false;
  try {
    return moduleUrl === pathToFileURL(fs.realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}
