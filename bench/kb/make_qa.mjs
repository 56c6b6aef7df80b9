#!/usr/bin/env node
// Documents and question/answer triples for the reader benchmark (bench/kb/reader.sh).
//
//   node bench/kb/make_qa.mjs --corpus wordnet|gcide|debref|jargon --out DIR [--entries N] [--questions N]
//        [--absent 0.2] [--seed 1] [--source FILE] [--min-chars N]
//
// Reads a Debian-shipped glossary (term -> definition):
//   wordnet  /usr/share/wordnet/data.{noun,verb,adj,adv} (package wordnet-base): a synset's first
//            lemma -> its gloss (lemmas that head more than one synset are dropped, so every
//            question has one answer)
//   gcide    /usr/share/dictd/gcide.{index,dict.dz} (package dict-gcide: Webster's 1913 dictionary
//            with later additions): a headword's first entry -> its numbered senses as paragraphs
//            (pronunciation, etymology, quotations, notes, synonyms and run-in compounds dropped,
//            {cross refs} unbraced, accent codes like "[e^]" -> "e"), for paragraph-shaped sources
//            with other words than WordNet's one-line glosses. (dict-foldoc is never used: it
//            holds Jargon File text, and the Jargon File must stay unseen.)
//   debref   /usr/share/debian-reference/*.en.html (package debian-reference-en: the Debian
//            Reference manual): a section heading -> the prose paragraphs under it (running
//            text, list items, Note/Tip boxes; no tables or listings), the heading without its
//            number and leading article as the term: paragraph-shaped technical prose (446
//            usable sections; it does not mention the Jargon File)
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
// --min-chars N keeps only entries whose text (all paragraphs) has at least N characters
// (gcide: the paragraph-shaped entries, not the one-line ones).
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
  const o = { corpus: '', out: '', entries: 0, questions: 0, absent: 0.2, seed: 1, source: '', minChars: 0 };
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
    else if (a === '--min-chars') o.minChars = Number(v());
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Object.hasOwn(CORPORA, o.corpus)) throw new Error(`--corpus ${Object.keys(CORPORA).join('|')}`);
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

// ---- GCIDE (dictd format): gcide.index lines "headword \t offset \t length" (dictd base64
// numbers) into gcide.dict.dz (gzip). An entry:
//   Abacus \Ab"a*cus\ ([a^]b"[.a]*k[u^]s), n.; E. pl. {Abacuses}; L.
//      pl. {Abaci} (-s[imac]). [L. abacus, abax, Gr. 'a`bax]
//      1. A table or tray strewn with sand, anciently used for
//         drawing, calculating, etc. [Obs.]
//         [1913 Webster]
//   <blank> 2. ...   then quotations (indented 8+), "Note:" / "Syn:" paragraphs, "{Compound} ..."
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const b64 = (s) => [...s].reduce((v, c) => v * 64 + B64.indexOf(c), 0);
const ACCENTS = { ae: 'ae', AE: 'Ae', oe: 'oe', OE: 'Oe', imac: 'i', th: 'th', eth: 'th', thorn: 'th', ng: 'ng', add: 'a', udd: 'u', asl: 'a', aum: 'a', deg: ' degrees', sect: 'section', oo: 'oo' };

export function cleanGcide(text) {
  return text
    .replace(/\[([=.~^'`"])([a-zA-Z]{1,2})\]/g, '$2')           // [=e] [.a] [~e] ['e] ["o] [=oo]
    .replace(/\[([a-zA-Z]{1,2})([\^=~'`".])\]/g, '$1')          // [i^] [oo^]
    .replace(/\[([a-zA-Z]{2,5})\]/g, (m, w) => (ACCENTS[w] ?? m))
    .replace(/[{}]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

// One entry's text -> its sense paragraphs (cleaned), or [] when it has none.
export function gcideParagraphs(entry) {
  const lines = entry.split('\n');
  // The header: the first line, and the lines after it while a bracket or parenthesis is open
  // (a long etymology) or the next line goes on with a plural or an etymology.
  let depth = 0, i = 0;
  for (; i < lines.length; i++) {
    for (const c of lines[i]) {
      if (c === '[' || c === '(' || c === '{') depth++;
      else if (c === ']' || c === ')' || c === '}') depth = Math.max(0, depth - 1);
    }
    const next = (lines[i + 1] ?? '').trim();
    if (depth === 0 && !/^(pl\.|n\.|v\. ?[ti]\.|a\.|adv\.|imp\.|p\. ?p\.|\[(?!1913|Webster|WordNet|PJC))/.test(next)) break;
  }
  const paragraphs = [];
  let cur = [];
  const flush = () => { if (cur.length) paragraphs.push(cleanGcide(cur.join(' '))); cur = []; };
  let mode = 'sense';  // 'sense', 'note' (a usage note, kept: paragraph-shaped prose) or 'skip' (Syn:)
  for (const line of lines.slice(i + 1)) {
    const indent = line.length - line.trimStart().length;
    const t = line.trim();
    if (t === '') { flush(); mode = 'sense'; continue; }
    if (/^(\[[^\]]*\]\s*)+$/.test(t)) { flush(); continue; }  // [1913 Webster] [PJC]: a source tag
    if (indent >= (mode === 'note' ? 11 : 8)) continue;      // a quotation (or a note's lines)
    if (/^Note\s*:/.test(t)) { flush(); mode = 'note'; cur.push(t.replace(/^Note\s*:\s*/, '')); continue; }
    if (/^[A-Z][a-z]+\s*:/.test(t) && indent <= 4 && !/^\d/.test(t)) { flush(); mode = 'skip'; continue; }  // Syn:, Usage:
    if (t.startsWith('{') && indent <= 4 && cur.length === 0) break;  // run-in compounds: the rest
    if (/^(\d+\.|\([a-z]\))\s/.test(t) && indent <= 4) { flush(); mode = 'sense'; }
    if (mode !== 'skip') cur.push(t);
  }
  flush();
  return paragraphs
    .map((p) => p.replace(/\s*\[(1913 Webster|Webster 1913 Suppl\.|WordNet [^\]]*|\+?PJC|Century Dict\.)[^\]]*\]/g, '')  // inline source tags
      .replace(/\s+--\s?[A-Z][^]*$/, '').trim())             // a closing "--Shak." citation
    .filter((p) => p.length >= 3 && !/\[[^\]\s]*[\^=~`"][^\]\s]*\]/.test(p) && !/Narrower terms|Also See/.test(p));
}

function readGcide(file) {
  const dir = file || '/usr/share/dictd';
  const index = fs.readFileSync(path.join(dir, 'gcide.index'), 'utf8');
  const data = zlib.gunzipSync(fs.readFileSync(path.join(dir, 'gcide.dict.dz')));
  // A headword's entries (homographs: "Hack", n.; "Hack", v. t.; ...) become one entry, their
  // senses in the dictionary's order: the first entry's first sense is the answer.
  const byKey = new Map();
  for (const line of index.split('\n')) {
    const [word, off, len] = line.split('\t');
    if (!len || !/^[a-z][a-z '-]*[a-z]$/i.test(word)) continue;
    const entry = data.subarray(b64(off), b64(off) + b64(len)).toString('utf8');
    if (!entry.startsWith(`${word} \\`)) continue;  // an index line pointing into another entry
    const key = word.toLowerCase();
    if (!byKey.has(key)) byKey.set(key, { term: word, paragraphs: [] });
    const e = byKey.get(key);
    if (e.term === word) e.paragraphs.push(...gcideParagraphs(entry));  // (not "Bill" under "bill")
  }
  const out = [];
  for (const e of byKey.values()) {
    if (e.paragraphs.length === 0) continue;
    // "1. (Zool.) A quadruped ..." -> "A quadruped ...": the definition, without number or domain
    const first = e.paragraphs[0].replace(/^(\d+\.\s+)?(\([a-z]\)\s+)?(\([^)]{1,30}\)\s*)*/, '');
    if (first.length < 15 || /^(See|Same as|Var)\b/.test(first)) continue;
    out.push({ term: e.term, paragraphs: e.paragraphs, answerFrom: first });
  }
  return out;
}

// ---- The Debian Reference manual (package debian-reference-en): DocBook XHTML chapters
// /usr/share/debian-reference/{pr01,ch01..ch12,apa}.en.html. A section heading ("1.1.3. The
// root account") -> the prose paragraphs under it up to the next heading (<p> of the running text,
// of list items and of Note/Tip/Caution/Warning boxes; data tables, screen listings and the tables
// of contents dropped), inline markup removed. The term is the heading without its number and a
// leading article ("root account"); headings used by more than one section are dropped, as
// WordNet's repeated lemmas are, so every question has one answer.
const HTML_ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

export function htmlText(html) {
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&#x([0-9a-f]+);/gi, (m, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (m, d) => String.fromCodePoint(Number(d)))
    .replace(/&([a-z]+);/gi, (m, n) => HTML_ENTITIES[n] ?? m)
    .replace(/\s+/g, ' ')
    .trim();
}

export function debrefSections(html) {
  const body = html
    .replace(/<div class="toc">[\s\S]*?<\/dl>\s*<\/div>/g, '')           // a chapter's contents
    .replace(/<div class="list-of-tables">[\s\S]*?<\/dl>\s*<\/div>/g, '')
    .replace(/<table\b([^>]*)>[\s\S]*?<\/table>/g, (m, attrs) =>          // data tables out, boxes kept
      (/summary="(Note|Tip|Caution|Warning|Important)"/.test(attrs) ? m : ''))
    .replace(/<pre\b[\s\S]*?<\/pre>/g, '');
  const sections = [];
  let cur = null;
  const re = /<h([1-6]) class="title"[^>]*>([\s\S]*?)<\/h\1>|<p(?:\s[^>]*)?>([\s\S]*?)<\/p>/g;
  let m;
  while ((m = re.exec(body)) !== null) {
    if (m[1]) {
      const title = htmlText(m[2])
        .replace(/^(Chapter|Appendix)\s+[0-9A-Z]+\.\s*/, '')
        .replace(/^([0-9A-Z]+\.)+\s*/, '');
      cur = { title, paragraphs: [] };
      sections.push(cur);
    } else if (cur && !/^<p class="title"/.test(m[0])) {
      const t = htmlText(m[3]);
      if (t.length >= 3) cur.paragraphs.push(t);
    }
  }
  return sections;
}

function readDebref(file) {
  const dir = file || '/usr/share/debian-reference';
  const files = fs.readdirSync(dir).filter((f) => /^(pr|ch|ap)[0-9a-z]+\.en\.html$/.test(f)).sort();
  if (files.length === 0) throw new Error(`${dir}: no Debian Reference chapters (apt-get install debian-reference-en)`);
  const byKey = new Map();
  for (const f of files) {
    for (const s of debrefSections(fs.readFileSync(path.join(dir, f), 'utf8'))) {
      const term = s.title.replace(/^(The|A|An)\s+/, '').trim();
      if (!/^[A-Za-z0-9]/.test(term) || s.paragraphs.length === 0) continue;
      const key = term.toLowerCase();
      byKey.set(key, byKey.has(key) ? null : { term, paragraphs: s.paragraphs, answerFrom: s.paragraphs[0] });
    }
  }
  // As for GCIDE: a first paragraph that only points elsewhere ("See the following.") has no
  // answer to extract.
  return [...byKey.values()].filter((e) => e && !/^(See|Refer to)\b/.test(e.answerFrom));
}

const CORPORA = {
  wordnet: { read: readWordnet, title: 'WordNet glossary' },
  gcide: { read: readGcide, title: 'Webster\'s dictionary' },
  jargon: { read: readJargon, title: 'The Jargon File' },
  debref: { read: readDebref, title: 'The Debian Reference' },
};

function letterOf(term) {
  const c = term.charAt(0).toLowerCase();
  return c >= 'a' && c <= 'z' ? c : 'other';
}

function main() {
  const o = parseArgs(process.argv);
  const rand = rng(o.seed);
  let entries = CORPORA[o.corpus].read(o.source);
  entries = entries.filter((e) => extractAnswer(e.answerFrom).length >= 12 && e.paragraphs.join('\n\n').length >= o.minChars);
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
  const title = CORPORA[o.corpus].title;
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

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) main();
