// Scoring an answer against a call's expected answer (labels.jsonl), with the metric chosen by
// the expected answer's shape:
//
//   null                      open-ended: not scored
//   number                    last_number: the number after "The answer is", else the last
//                             number of the text ("1,234" = 1234, "53.0" = 53)
//   string                    exact: equal after trimming whitespace
//   {name, arguments}         tool_call: the first tool call's name and its arguments (JSON) are
//                             equal: same keys, strings after trimming, numbers by value (a
//                             number given as a string is wrong)
//   any other object          json_fields: the answer's JSON object (code fences and prose around
//                             it tolerated) has every expected key with an equal value; the call is
//                             correct when all fields are, and `fields` says how many were
//
// answer: {content: string|null, tool_calls: [{function: {name, arguments}}]|undefined}
// Returns {metric, scored, correct, fields?}.

export function metricFor(expected) {
  if (expected === null || expected === undefined) return 'none';
  if (typeof expected === 'number') return 'last_number';
  if (typeof expected === 'string') return 'exact';
  if (typeof expected === 'object' && !Array.isArray(expected) && Object.keys(expected).length === 2
      && typeof expected.name === 'string' && expected.arguments && typeof expected.arguments === 'object') return 'tool_call';
  return 'json_fields';
}

export function lastNumber(text) {
  if (typeof text !== 'string') return null;
  const tagged = /answer is\s*:?\s*\$?(-?\d[\d,]*(?:\.\d+)?)/gi;
  let m, found = null;
  while ((m = tagged.exec(text)) !== null) found = m[1];
  if (found === null) {
    const all = text.match(/-?\d[\d,]*(?:\.\d+)?/g);
    if (!all) return null;
    found = all[all.length - 1];
  }
  const n = Number(found.replace(/,/g, ''));
  return Number.isFinite(n) ? n : null;
}

// The first JSON object in a text: the whole text, a ```json fence, or the span from the first
// "{" to the last "}".
export function parseJsonObject(text) {
  if (typeof text !== 'string') return null;
  const tries = [text.trim()];
  const fence = /```(?:json)?\s*([\s\S]*?)```/.exec(text);
  if (fence) tries.push(fence[1].trim());
  const a = text.indexOf('{'), b = text.lastIndexOf('}');
  if (a >= 0 && b > a) tries.push(text.slice(a, b + 1));
  for (const t of tries) {
    try {
      const v = JSON.parse(t);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v;
    } catch { /* next */ }
  }
  return null;
}

function sameValue(want, got) {
  if (want === null) return got === null;
  if (typeof want === 'number') return typeof got === 'number' && Math.abs(got - want) < 1e-9;
  if (typeof want === 'string') return typeof got === 'string' && got.trim() === want.trim();
  if (typeof want === 'boolean') return got === want;
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => sameValue(w, got[i]));
  if (typeof want === 'object') {
    if (!got || typeof got !== 'object' || Array.isArray(got)) return false;
    const wk = Object.keys(want).sort(), gk = Object.keys(got).sort();
    return wk.length === gk.length && wk.every((k, i) => k === gk[i] && sameValue(want[k], got[k]));
  }
  return false;
}

export function score(expected, answer) {
  const metric = metricFor(expected);
  const content = typeof answer?.content === 'string' ? answer.content : '';
  switch (metric) {
    case 'none':
      return { metric, scored: false, correct: null };
    case 'last_number': {
      const n = lastNumber(content);
      return { metric, scored: true, correct: n !== null && Math.abs(n - expected) < 1e-9 };
    }
    case 'exact':
      return { metric, scored: true, correct: content.trim() === expected.trim() };
    case 'tool_call': {
      const call = answer?.tool_calls?.[0]?.function;
      if (!call || call.name !== expected.name) return { metric, scored: true, correct: false };
      let args;
      try {
        args = typeof call.arguments === 'string' ? JSON.parse(call.arguments || '{}') : call.arguments;
      } catch {
        return { metric, scored: true, correct: false };
      }
      return { metric, scored: true, correct: sameValue(expected.arguments, args) };
    }
    default: {
      const got = parseJsonObject(content);
      const keys = Object.keys(expected);
      const right = got ? keys.filter((k) => k in got && sameValue(expected[k], got[k])).length : 0;
      return { metric, scored: true, correct: right === keys.length, fields: [right, keys.length] };
    }
  }
}
