#!/usr/bin/env node
// Documents and question/answer triples for the reader benchmark (bench/kb/reader.sh).
//
//   node bench/kb/make_qa.mjs --corpus wordnet|jargon --out DIR [--entries N] [--questions N]
//        [--absent 0.2] [--seed 1] [--source FILE]
//
// Reads a Debian-shipped glossary (term -> definition):
//   wordnet  /usr/share/wordnet/data.{noun,verb,adj,adv} (package wordnet-base): a synset's first
//            lemma -> its gloss (lemmas that head more than one synset are dropped, so every
//            question has one answer)
//   jargon   /usr/share/doc/jargon-text/jargon.txt.gz (package jargon-text): ":term:" entries of
//            the Jargon File's glossary -> their definition paragraphs ({cross refs} unbraced,
//            etymology paragraphs "[...]" dropped)
// and writes
//   DIR/docs/<corpus>-<letter>.md   the entries in the base, "## term" then "term: definition"
//   DIR/qa.jsonl                    {question, answer, source, heading, term, kind}
//   DIR/absent_terms.txt            the held-out terms (never in DIR/docs)
// kind "answerable": answer = an extractive span of the entry (its first sentence or clause,
// at most ~80 characters, cut at a word), source = the document holding it, heading = the term.
// kind "absent" (--absent of the questions): a held-out entry's term, so the base does not hold
// it; answer = exactly "The sources do not contain the answer." (kNotInSources).
// Deterministic for a seed.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export const NOT_IN_SOURCES = 'The sources do not contain the answer.';

export const TEMPLATES = [
  (t) => `What is ${t}?`,
  (t) => `What does ${t} mean?`,
  (t) => `Define ${t}.`,
  (t) => `In the glossary, what is meant by ${t}?`,
  (t) => `What is the meaning of ${t}?`,
  (t) => `Explain the term "${t}".`,
];

function parseArgs(argv) {
  const o = { corpus: '', out: '', entries: 0, questions: 0, absent: 0.2, seed: 1, source: '' };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--corpus') o.corpus = v();
    else if (a === '--out') o.out = v();
    else if (a === '--entries') o.entries = Number(v());
    else if (a === '--questions') o.questions = Number(v());
    else if (a === '--absent') o.absent = Number(v());
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--source') o.source = v();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!['wordnet', 'jargon'].includes(o.corpus)) throw new Error('--corpus wordnet|jargon');
  if (!o.out) throw new Error('--out DIR');
  return o;
}

export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle(a, rand) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// The first sentence (or clause) of a definition, at most ~80 characters, cut at a word.
export function extractAnswer(def, max = 80) {
  let s = def.trim();
  // The first sentence end: [.!?] then the end or a space and a capital, not after "esp." etc.
  const re = /[.!?](?=$|\s+[A-Z“"(])/g;
  let m;
  while ((m = re.exec(s)) !== null) {
    const word = s.slice(0, m.index).split(/\s/).pop().toLowerCase();
    if (['esp', 'e.g', 'i.e', 'etc', 'cf', 'vs', 'approx', 'mr', 'dr', 'st', 'inc', 'ltd', 'co', 'orig', 'usu', 'fig', 'prob', 'poss'].includes(word)) continue;
    if (/^[a-z]$/i.test(word) || /“\/?$/.test(word)) continue;
    s = s.slice(0, m.index + 1);
    break;
  }
  const semi = s.indexOf(';');
  if (semi > 10) s = s.slice(0, semi);
  if (s.length > max) {
    let cut = s.lastIndexOf(' ', max);
    if (cut < 20) cut = max;
    s = s.slice(0, cut);
  }
  return s.replace(/[\s,:;(\-–—]+$/, '').trim();
}

// ---- WordNet: "offset lex_filenum ss_type w_cnt word lex_id ... | gloss"
function readWordnet(file) {
  const dir = file || '/usr/share/wordnet';
  const byLemma = new Map();
  for (const pos of ['noun', 'verb', 'adj', 'adv']) {
    const text = fs.readFileSync(path.join(dir, `data.${pos}`), 'utf8');
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('  ')) continue;
      const bar = line.indexOf(' | ');
      if (bar < 0) continue;
      const fields = line.slice(0, bar).split(' ');
      const lemma = fields[4].replace(/\(.*\)$/, '').replace(/_/g, ' ');
      const gloss = line.slice(bar + 3).trim();
      if (!/^[a-z][a-z '-]*[a-z]$/i.test(lemma)) continue;
      const key = lemma.toLowerCase();
      if (byLemma.has(key)) byLemma.set(key, null);
      else byLemma.set(key, { term: lemma, gloss });
    }
  }
  const entries = [];
  for (const e of byLemma.values()) {
    if (!e) continue;
    // "the act of folding; "he gave the napkins a double fold"" -> definition, then examples
    const parts = e.gloss.split(/;\s*/);
    const defs = parts.filter((p) => !p.startsWith('"'));
    const examples = parts.filter((p) => p.startsWith('"')).map((p) => p.replace(/^"|"$/g, ''));
    if (defs.length === 0) continue;
    let def = defs.join('; ');
    def = def.charAt(0).toUpperCase() + def.slice(1);
    if (!/[.!?]$/.test(def)) def += '.';
    const body = [def];
    if (examples.length) body.push(`For example: "${examples.join('"; "')}".`);
    entries.push({ term: e.term, paragraphs: [body.join(' ')], answerFrom: def });
  }
  return entries;
}

// ---- The Jargon File: "   :term: /pronunciation/, n." then indented paragraphs.
function readJargon(file) {
  const src = file || '/usr/share/doc/jargon-text/jargon.txt.gz';
  const raw = fs.readFileSync(src);
  const text = src.endsWith('.gz') ? zlib.gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  const lines = text.split('\n');
  const entries = [];
  let cur = null;
  let para = [];
  const flush = () => {
    if (cur && para.length) cur.raw.push(para.join(' '));
    para = [];
  };
  for (const line of lines) {
    const m = line.match(/^ {3}:([^:]+):(.*)$/);
    if (m) {
      flush();
      cur = { term: m[1].trim(), raw: [] };
      entries.push(cur);
      continue;
    }
    if (!cur) continue;
    if (line.trim() === '') { flush(); continue; }
    if (!line.startsWith(' ')) { flush(); cur = null; continue; }  // a chapter after the glossary
    para.push(line.trim());
  }
  flush();
  const out = [];
  const seen = new Set();
  for (const e of entries) {
    const key = e.term.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    const paragraphs = e.raw
      .map((p) => p.replace(/[{}]/g, ''))
      .filter((p) => !p.startsWith('['));
    if (paragraphs.length === 0) continue;
    // "1. n. An unpleasant substance." -> "An unpleasant substance."
    const first = paragraphs[0].replace(/^(\d+\.\s+)?((n|vt|vi|v|adj|adv|interj|pl|excl|prep|pron|conj|obs)\.\s+)*/i, '');
    if (first.length < 15 || /^(See|Syn|Compare|Same as|Var)\b/i.test(first)) continue;
    out.push({ term: e.term, paragraphs, answerFrom: first });
  }
  return out;
}

function letterOf(term) {
  const c = term.charAt(0).toLowerCase();
  return c >= 'a' && c <= 'z' ? c : 'other';
}

function main() {
  const o = parseArgs(process.argv);
  const rand = rng(o.seed);
  let entries = o.corpus === 'wordnet' ? readWordnet(o.source) : readJargon(o.source);
  entries = entries.filter((e) => extractAnswer(e.answerFrom).length >= 12);
  entries.sort((a, b) => a.term.localeCompare(b.term));
  shuffle(entries, rand);
  if (o.entries > 0) entries = entries.slice(0, o.entries);
  // Held-out entries: the absent questions ask about them, and they are never written to docs.
  const nQuestions = o.questions > 0 ? Math.min(o.questions, entries.length) : entries.length;
  const nAbsent = Math.round(nQuestions * o.absent);
  const heldOut = entries.slice(0, nAbsent);
  const inBase = entries.slice(nAbsent);
  const nAnswerable = Math.min(nQuestions - nAbsent, inBase.length);

  const docsDir = path.join(o.out, 'docs');
  fs.rmSync(docsDir, { recursive: true, force: true });
  fs.mkdirSync(docsDir, { recursive: true });
  const byLetter = new Map();
  for (const e of inBase) {
    const l = letterOf(e.term);
    if (!byLetter.has(l)) byLetter.set(l, []);
    byLetter.get(l).push(e);
  }
  const title = o.corpus === 'wordnet' ? 'WordNet glossary' : 'The Jargon File';
  for (const [l, list] of byLetter) {
    list.sort((a, b) => a.term.localeCompare(b.term));
    const file = `${o.corpus}-${l}.md`;
    const parts = [`# ${title}: ${l === 'other' ? 'symbols and digits' : l.toUpperCase()}\n`];
    for (const e of list) {
      e.source = file;
      // The entry's first paragraphs, up to ~700 characters (the first one always).
      const body = [];
      let len = 0;
      for (const p of e.paragraphs) {
        if (body.length && len + p.length > 700) break;
        body.push(p.replace(/^#/, '\\#'));
        len += p.length;
      }
      // The term starts the entry's text too: BM25 matches a question on it even when the
      // definition never repeats the term (the heading alone weighs little against "what is").
      body[0] = `${e.term}: ${body[0]}`;
      parts.push(`## ${e.term}\n\n${body.join('\n\n')}\n`);
    }
    fs.writeFileSync(path.join(docsDir, file), parts.join('\n'));
  }

  const qa = [];
  for (const e of inBase.slice(0, nAnswerable)) {
    const t = TEMPLATES[Math.floor(rand() * TEMPLATES.length)];
    qa.push({ question: t(e.term), answer: extractAnswer(e.answerFrom), source: e.source, heading: e.term, term: e.term, kind: 'answerable' });
  }
  for (const e of heldOut) {
    const t = TEMPLATES[Math.floor(rand() * TEMPLATES.length)];
    qa.push({ question: t(e.term), answer: NOT_IN_SOURCES, source: '', heading: '', term: e.term, kind: 'absent' });
  }
  shuffle(qa, rand);
  fs.writeFileSync(path.join(o.out, 'qa.jsonl'), qa.map((q) => JSON.stringify(q)).join('\n') + '\n');
  fs.writeFileSync(path.join(o.out, 'absent_terms.txt'), heldOut.map((e) => e.term).join('\n') + '\n');
  console.error(`make_qa: ${o.corpus}: ${inBase.length} entries in ${byLetter.size} documents, ` +
    `${nAnswerable} answerable + ${heldOut.length} absent questions -> ${o.out}`);
}

main();
