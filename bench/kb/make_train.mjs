#!/usr/bin/env node
// Training conversations for the reader from exactly the prompts it is served.
//
//   node bench/kb/make_train.mjs --qa QA.jsonl[,QA2...] --messages M.jsonl[,M2...] --out TRAIN.jsonl
//        [--answer span|term] [--partial absent|drop]
//
// QA.jsonl is make_qa.mjs's output (or a shard of it); M.jsonl is `rpu ask --kb KB --questions
// QA.jsonl --print-messages` on it (one line per question, same order; a shorter M.jsonl just
// uses the first questions). Shards are paired in order. For each question the target is
//   answerable, retrieved: the extractive answer + " [n]", n = the first source in the context
//                          under the entry's heading whose text holds the answer; with
//                          --answer term, "TERM: " + the answer + " [n]": the span as the source
//                          writes it, from the entry's term on ("TERM: definition"), so a reader
//                          starts by copying the question's term and then continues the copy at
//                          the one place in the sources where that term is followed by ":" (what
//                          an induction head does) instead of jumping to the definition blind
//   answerable, missed:    "The sources do not contain the answer." (what a reader should say)
//   absent:                "The sources do not contain the answer."
// --partial drop leaves out the answerable questions whose entry is in the context only by
// chunks that do not hold the answer (a long entry's later chunks: Webster's "Wolf" retrieved by
// its second and third chunks): the entry is there but its first sentence is not, so neither
// target is right, and "not in the sources" beside the entry's own text teaches the reader to
// refuse a paragraph it should read. (--partial absent, the default, keeps them as missed.)
// Writes {"messages": [system (with the sources), user, assistant]} lines and prints counts.
import fs from 'node:fs';
import path from 'node:path';

export const NOT_IN_SOURCES = 'The sources do not contain the answer.';

// The text of each numbered source in a system message: {n -> text}.
export function sourceTexts(system) {
  const out = new Map();
  const re = /(?:^|\n\n)\[(\d+)\] ([^\n]*)\n([\s\S]*?)(?=\n\n\[\d+\] |$)/g;
  let m;
  while ((m = re.exec(system)) !== null) out.set(Number(m[1]), { header: m[2], text: m[3] });
  return out;
}

// The first source (n) that is the entry's chunk holding the answer, or 0.
export function sourceOf(q, knowledge, system) {
  if (q.kind !== 'answerable') return 0;
  const texts = sourceTexts(system);
  for (const s of knowledge.sources) {
    if (path.basename(s.source) !== q.source) continue;
    if (!(s.heading === q.heading || s.heading.endsWith(` > ${q.heading}`))) continue;
    const t = texts.get(s.n);
    if (t && t.text.includes(q.answer)) return s.n;
  }
  return 0;
}

function main() {
  const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []));
  if (!args.qa || !args.messages || !args.out) throw new Error('--qa QA.jsonl --messages M.jsonl --out TRAIN.jsonl');
  const style = args.answer ?? 'span';
  const partial = args.partial ?? 'absent';
  if (!['absent', 'drop'].includes(partial)) throw new Error(`--partial absent|drop, got ${partial}`);
  if (!['span', 'term'].includes(style)) throw new Error(`--answer span|term, got ${style}`);
  const readLines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean);
  const qaFiles = args.qa.split(','), msgFiles = args.messages.split(',');
  if (qaFiles.length !== msgFiles.length) throw new Error('--qa and --messages need as many files');
  const qa = [], msgs = [];
  qaFiles.forEach((f, k) => {
    const q = readLines(f).map((l) => JSON.parse(l));
    const m = readLines(msgFiles[k]).slice(0, q.length);
    qa.push(...q.slice(0, m.length));
    msgs.push(...m);
  });
  const counts = { answerable: 0, retrieved: 0, missed: 0, partial: 0, absent: 0, truncated: 0 };
  const out = [];
  for (let i = 0; i < msgs.length && i < qa.length; i++) {
    let m;
    try { m = JSON.parse(msgs[i]); } catch { counts.truncated++; continue; }  // a cut-off last line
    const q = qa[i];
    if (m.messages[m.messages.length - 1].content !== q.question) throw new Error(`line ${i + 1}: messages and questions out of order`);
    const system = m.messages[0].content;
    let target = NOT_IN_SOURCES;
    if (q.kind === 'answerable') {
      counts.answerable++;
      const n = sourceOf(q, m.rpu.knowledge, system);
      if (n > 0) {
        counts.retrieved++;
        target = style === 'term' ? `${q.term}: ${q.answer} [${n}]` : `${q.answer} [${n}]`;
      } else if (m.rpu.knowledge.sources.some((s) => path.basename(s.source) === q.source &&
                 (s.heading === q.heading || s.heading.endsWith(` > ${q.heading}`)))) {
        counts.partial++;  // the entry's other chunks only
        if (partial === 'drop') continue;
      } else counts.missed++;
    } else counts.absent++;
    out.push(JSON.stringify({ messages: [...m.messages, { role: 'assistant', content: target }] }));
  }
  fs.writeFileSync(args.out, out.join('\n') + '\n');
  console.error(`make_train: ${out.length} conversations: ${counts.answerable} answerable ` +
    `(${counts.retrieved} retrieved, ${counts.missed} missed -> "${NOT_IN_SOURCES}", ${counts.partial} only by chunks ` +
    `without the answer -> ${partial === 'drop' ? 'left out' : `"${NOT_IN_SOURCES}"`}), ${counts.absent} absent -> ${args.out}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) main();
