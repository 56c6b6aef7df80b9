// Validates generated outputs against their JSON Schemas with ajv (JSON Schema 2020-12).
// Usage: node check_schema.mjs cases.json
//   cases.json: [{"schema": {...}, "outputs": ["<text>", ...]}, ...]
// Prints one JSON line: [[{"ok": bool, "error": "..."} per output] per case].
// Formats date/time/date-time/uuid are checked by the RFC 3339 / RFC 4122 rules below (the
// ajv-formats package is not a dependency); other formats are annotations.
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';

const daysIn = (y, m) => [31, (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
const date = (s) => {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  return !!m && +m[2] >= 1 && +m[2] <= 12 && +m[3] >= 1 && +m[3] <= daysIn(+m[1], +m[2]);
};
const time = (s) => {
  const m = /^(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|z|[+-](\d{2}):(\d{2}))$/.exec(s);
  return !!m && +m[1] <= 23 && +m[2] <= 59 && +m[3] <= 60 && (m[6] === undefined || (+m[6] <= 23 && +m[7] <= 59));
};
const formats = {
  date,
  time,
  'date-time': (s) => { const i = s.search(/[Tt]/); return i === 10 && date(s.slice(0, 10)) && time(s.slice(11)); },
  uuid: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
};

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: false, formats });
const results = cases.map(({ schema, outputs }) => {
  const validate = ajv.compile(schema);
  return outputs.map((text) => {
    let value;
    try { value = JSON.parse(text); } catch (e) { return { ok: false, error: 'not JSON: ' + e.message }; }
    if (validate(value)) return { ok: true };
    return { ok: false, error: ajv.errorsText(validate.errors) };
  });
});
process.stdout.write(JSON.stringify(results) + '\n');
