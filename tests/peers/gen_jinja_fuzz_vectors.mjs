// Generates tests/vectors/jinja_fuzz.json: random small templates (seeded, reproducible) mixing
// every construct the engine supports: literals, operators, tests, filters with and without
// arguments, methods, subscripts and slices, if/for/set/namespace/macro statements, whitespace
// control. Each is rendered by @huggingface/jinja; tests/unit/test_jinja.cpp requires rpu to produce
// the same bytes, or to fail where the reference fails. This is a differential regression net for
// semantics no hand-written case pins down (JavaScript number printing, loose equality, ...).
//
// Left out on purpose (known, documented divergences): printing a function (the reference prints
// its JavaScript source, rpu refuses) and indexing half of a surrogate pair (the reference keeps a
// lone surrogate, rpu yields U+FFFD).
//
// Usage (from the repository root): node tests/peers/gen_jinja_fuzz_vectors.mjs
process.env.TZ = "UTC";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
const here = path.dirname(fileURLToPath(import.meta.url));
const { Template } = await import("@huggingface/jinja");

const ctx = { s: " Hello Wörld ", t: "a,b,,c", n: 7, z: 0, f: 2.5, g: 3.0, b: true, l: [3, 1, "x", 2.0, null], e: [], nums: [5, 3, 9, 1], strs: ["b", "A", "c", "a"],
  d: { k: "v", n: 1, "2": "two", nested: { a: [1, { b: "c" }] } }, m: [{ role: "user", content: "hi" }, { role: "assistant", content: "yo", tool_calls: [{ function: { name: "f", arguments: { x: 1 } } }] }],
  u8: "ΣΑΣ straße 😀 é", ws: "\u00a0\t x \n\u3000" };
let seed = 20250307;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const atoms = ["s", "t", "n", "z", "f", "g", "b", "l", "e", "nums", "strs", "d", "m", "u8", "ws", "missing", "none", "true", "false",
  "1", "0", "-3", "2.5", "1.0", "'abc'", "''", "' x '", "\"q\\\"t\"", "[1, 2, 3]", "[]", "{'a': 1, 'b': [2]}", "{}", "(1, 2)", "d.k", "d['n']", "l[0]", "l[-1]", "m[0].role", "m[1].tool_calls[0].function", "d.nested.a[1]", "loopless", "([]|first)", "[none, missing]", "'😀x'[1:]", "u8[2]", "range(3)", "namespace(a=1)", "(l|string)", "ws", "'ΣΑΣ'|lower", "1e3", "'0x1A'", "' 12 '", "'1e3'", "-0.0", "2 ** 60", "7 // -2", "(1,)"];
const bin = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or"];
const tests = ["defined", "undefined", "none", "string", "number", "integer", "mapping", "iterable", "sequence", "boolean", "odd", "even", "true", "false", "lower", "upper", "callable"];
const filters = ["length", "upper", "lower", "title", "capitalize", "trim", "first", "last", "list", "reverse", "sort", "join", "string", "int", "float", "abs", "tojson", "items", "unique", "safe", "indent", "dictsort",
  "join(', ')", "default('D')", "default('D', true)", "tojson(indent=2)", "tojson(ensure_ascii=true)", "replace('a', 'o')", "int(9)", "float(1.5)", "indent(2, true)", "map(attribute='role')", "selectattr('role', 'equalto', 'user')", "rejectattr('content')", "sort(reverse=true)", "sort(attribute='role')", "dictsort(by='value')", "length"];
const methods = [".upper()", ".lower()", ".strip()", ".lstrip('x')", ".rstrip()", ".title()", ".capitalize()", ".split()", ".split(',')", ".split(',', 1)", ".startswith('H')", ".endswith(('d', ' '))", ".replace('l', 'L')", ".replace('l', '', 1)", ".items()", ".keys()", ".values()", ".get('k')", ".get('zz', 5)", ".length", "[1:]", "[::-1]", "[:2]", "[1]", "[-1]", "['k']", ".k"];
function expr(depth) {
  const r = rnd();
  if (depth <= 0 || r < 0.25) return pick(atoms);
  if (r < 0.45) return `(${expr(depth - 1)} ${pick(bin)} ${expr(depth - 1)})`;
  if (r < 0.6) return `${expr(depth - 1)}|${pick(filters)}`;
  if (r < 0.7) return `(${expr(depth - 1)} is ${rnd() < 0.3 ? "not " : ""}${pick(tests)})`;
  if (r < 0.82) return `${pick(atoms)}${pick(methods)}`;
  if (r < 0.88) return `(not ${expr(depth - 1)})`;
  if (r < 0.94) return `(${expr(depth - 1)} if ${expr(depth - 1)} else ${expr(depth - 1)})`;
  return `[${expr(depth - 1)}, ${expr(depth - 1)}]`;
}
function stmt(depth) {
  const r = rnd();
  if (depth <= 0 || r < 0.35) return `{{ ${expr(1 + (rnd() < 0.5 ? 1 : 0))} }}`;
  if (r < 0.5) return `{%- if ${expr(2)} %}A${stmt(depth - 1)}{% elif ${expr(1)} -%} B {%- else %}C${stmt(depth - 1)}{% endif %}`;
  if (r < 0.65) return `{% for x in ${pick(["l", "nums", "strs", "m", "d", "e", "range(3)", "l[::-1]", "d.items()", "s", "missing"])}${rnd() < 0.3 ? " if x" : ""} %}[{{ x }}{{ loop.index }}{{ loop.last }}]${stmt(depth - 1)}{% if loop.index > 2 %}{% ${pick(["break", "continue"])} %}{% endif %}{% else %}E{% endfor %}`;
  if (r < 0.75) return `{% set v = ${expr(2)} %}{{ v }}`;
  if (r < 0.82) return `{% set ns = namespace(c=0) %}{% for x in nums %}{% set ns.c = ns.c + x %}{% endfor %}{{ ns.c }}${stmt(depth - 1)}`;
  if (r < 0.9) return `{% macro mm(a, b='B') %}<{{ a }}{{ b }}>{% endmacro %}{{ mm(${expr(1)}) }}{{ mm(1, b=${expr(1)}) }}`;
  return `  \n  ${stmt(depth - 1)}\n  {#- c -#}\n${stmt(depth - 1)}  `;
}

const cases = [];
for (let i = 0; i < 1200; i++) {
  const t = stmt(i % 3 === 0 ? 1 : 0);
  let c;
  try {
    c = { t, out: new Template(t).render(JSON.parse(JSON.stringify(ctx))) };
  } catch (e) {
    c = { t, err: String(e?.message ?? e) };
  }
  cases.push(c);
}
const target = path.resolve(here, "..", "vectors", "jinja_fuzz.json");
fs.writeFileSync(target, JSON.stringify({ generator: "tests/peers/gen_jinja_fuzz_vectors.mjs", context: ctx, cases }, null, 0) + "\n");
console.log(`${cases.length} cases (${cases.filter((c) => c.err !== undefined).length} expected errors) -> tests/vectors/jinja_fuzz.json`);
