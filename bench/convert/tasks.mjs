// The call types of the replayable agent workload (issue 13), shared by the generator
// (workload.mjs) and the stand-in teacher (teacher.mjs).
//
// Each recurring type has a family of system prompts (paraphrases, as different agent
// frameworks would write them), a generator of varied inputs with the correct answer, and a
// solver that reads only the request (system prompt, last user message, tools) and computes the
// same answer by program: the teacher never sees the generator's labels. Every answer is a
// deterministic function of the input.
//
//   classify    one label of billing|technical|account|sales|other
//   extract     compact JSON {"name","email","order_id","product"}, values copied, null when absent
//   tool_call   one tool call; arguments copied and normalised (dates YYYY-MM-DD, times HH:MM,
//               phone numbers E.164, amounts as numbers, durations in minutes)
//   normalize   a date -> YYYY-MM-DD, or an imperial quantity -> metric "<value> <unit>" (2 decimals)
//   arithmetic  a 1-3 step + / - word problem -> worked steps and "The answer is N." (the
//               built-in model's format); expected = N
//   rewrite     a blunt instruction -> "Could you please <instruction>?"
//   open        free-form writing and multi-hop questions; expected = null (not scored)
import { Rng, contentText, hash32 } from './common.mjs';
import {
  COMPANIES,
  PRODUCTS,
  ISSUES,
  CITIES,
  escapeRe,
  cap,
  lcfirst,
  fill,
  NAME_RE,
  EMAIL_RE,
  ORDER_RE,
  PRODUCT_RE,
  SLOT_RE,
  findFirst,
  person,
  email,
  phone,
  orderId,
  isoDate,
  addDays,
  randomDate,
  formatDate,
  parseDate,
  round2,
  UNITS,
  convertQuantity,
} from './vocab.mjs';
import { TOOL_DEFS, TOOL_NAMES, TOOLS, callId, toolCall } from './tool_call_type.mjs';

// ---------------------------------------------------------------------------------------------
// PII sprinkles shared by the customer-message types
// ---------------------------------------------------------------------------------------------

function opener(rng, p) {
  return rng.weighted([[4, ''], [2, 'Hi,'], [1, 'Hello,'], [1, 'Hi there,'], [1, 'Dear support team,'], [1, 'Hey,'],
    [1, 'Good morning,'], [2, `Hi, this is ${p.full}.`], [1, `Hello, my name is ${p.full}.`]]);
}
function closer(rng, p) {
  return rng.weighted([[4, ''], [2, 'Thanks.'], [1, `Thanks, ${p.first}`], [2, `Regards,\n${p.full}`],
    [1, `Best,\n${p.full}\n${phone(rng)}`], [2, `You can reach me at ${email(rng, p)}.`],
    [1, `Please call me back on ${phone(rng)}.`], [1, `— ${p.full} (${email(rng, p)})`], [1, 'Sent from my iPhone']]);
}
const join = (...parts) => parts.filter(Boolean).join(' ').replace(/ \n/g, '\n').replace(/ +/g, ' ').trim();

// ---------------------------------------------------------------------------------------------
// classify
// ---------------------------------------------------------------------------------------------

const LABELS = ['billing', 'technical', 'account', 'sales', 'other'];
const CLASSIFY_PHRASES = {
  billing: ['I was charged twice for my subscription this month', 'my invoice shows the wrong amount',
    'I need a refund for order {order}', 'why was my card declined when I tried to pay',
    "can you send me a copy of last month's invoice", 'the annual plan on my bill costs more than advertised',
    'please update the VAT number on my invoices', 'I was billed again after I cancelled',
    'the promo code discount was not applied to my payment', 'how do I change the credit card you charge',
    'there is a charge on my statement I do not recognise', 'I want to switch from monthly to yearly billing',
    'the refund for order {order} has not reached my account yet', 'why did my bill go up this month'],
  technical: ['the app crashes whenever I open the settings page', 'I get error 502 when uploading files',
    'the sync between my phone and laptop stopped working', 'the API returns a timeout after 30 seconds',
    'the export to CSV produces an empty file', 'my {product} will not connect to Wi-Fi after the update',
    'notifications are not showing up on Android', 'the dashboard takes minutes to load',
    'the search bar returns no results even for exact names', 'the firmware update failed halfway',
    'my {product} keeps disconnecting from Bluetooth', 'the web page shows a blank screen in Safari',
    'the integration with Slack stopped posting messages', 'videos freeze after a few seconds of playback'],
  account: ['I forgot my password and the reset email never arrives',
    'please change the email address on my account to {email}', 'how do I delete my account',
    'I want to add a second user to my profile', 'my account is locked after too many login attempts',
    'I need to update my phone number to {phone}', 'can you merge my two accounts',
    'how do I turn on two-factor authentication', 'I cannot log in since I changed my email',
    'please remove my old address from my profile', 'someone else may have access to my account',
    'how do I transfer the account ownership to a colleague', 'my username is shown incorrectly',
    'I never received the verification code for my login'],
  sales: ['do you offer discounts for teams of 50 people', "I'd like a quote for the enterprise plan",
    'can I get a demo of the product for my company', 'what is the price difference between the pro and business plans',
    'we are interested in buying 200 licenses', 'do you have a reseller program', 'is there an education discount',
    'can we get volume pricing for the {product}', 'I would like to talk to someone about a bulk order',
    'does the business plan include priority support', 'we want to upgrade our whole department',
    'can you send me a brochure about your enterprise features', 'is there a free trial for larger teams',
    'who can I talk to about a partnership'],
  other: ['what are your office hours during the holidays', 'I just wanted to say your team was very helpful',
    'are you hiring in Berlin', 'where can I find your privacy policy', 'can I send feedback about your website design',
    'do you have a newsletter', 'is your company attending the trade fair next month',
    'who should I contact for a press interview', 'do you have a physical store I can visit',
    'I found a typo on your homepage', 'can I use your logo in a school presentation',
    'what charities does your company support', 'how long has your company been in business',
    'do you offer internships for students'],
};
const phraseRe = (phrase) => new RegExp(escapeRe(phrase).replace(/\\\{(\w+)\\\}/g, (m, k) => SLOT_RE[k] ?? m), 'i');
const CLASSIFY_MATCHERS = LABELS.flatMap((label) => CLASSIFY_PHRASES[label].map((p) => ({ label, re: phraseRe(p) })));

const CLASSIFY_SYSTEMS = [
  () => "You are a customer-support triage assistant. Classify the customer's message into exactly one of these categories: billing, technical, account, sales, other. Reply with the category only, in lowercase.",
  () => '# Role\nYou are the Router agent of the Helpdesk crew.\n# Goal\nDecide which team handles the ticket.\n# Output\nExactly one label from: billing | technical | account | sales | other\nNo explanation, no punctuation.',
  () => 'Given the user message below, classify it as one of `billing`, `technical`, `account`, `sales`, or `other`.\n\nDo not respond with more than one word.',
  (rng) => `You route incoming support emails for ${rng.pick(COMPANIES)}. Categories:\n- billing: payments, invoices, refunds\n- technical: bugs, errors, outages\n- account: login, profile, access\n- sales: pricing, quotes, demos\n- other: anything else\nAnswer with the category name and nothing else.`,
];

function customerSlots(rng, p) {
  return { order: orderId(rng), email: email(rng, p), phone: phone(rng), product: rng.pick(PRODUCTS) };
}

const classify = {
  name: 'classify',
  systems: CLASSIFY_SYSTEMS,
  temperature: (rng) => rng.pick([0, 0, 0, 0.1]),
  maxTokens: (rng) => rng.pick([5, 10, 16, 20]),
  gen(rng) {
    const label = rng.pick(LABELS);
    const p = person(rng);
    const open = opener(rng, p);
    let core = fill(rng.pick(CLASSIFY_PHRASES[label]), customerSlots(rng, p));
    if (!open.endsWith(',')) core = cap(core);  // "Hi, my invoice ..." / "Hi, this is Ana Silva. My invoice ..."
    const q = /^(why|how|what|where|who|is|are|do|does|can)\b/i.test(core);
    core += rng.chance(0.1) ? '' : q ? '?' : rng.pick(['.', '.', '!']);
    let text = join(open, core, closer(rng, p));
    if (rng.chance(0.15)) text = text.toLowerCase();
    text = rng.weighted([[6, text], [1, `Customer message:\n"""\n${text}\n"""`], [1, `Ticket:\n${text}\n\nCategory:`],
      [1, `Input: ${text}\nLabel:`]]);
    return { user: text, expected: label, reply: { content: label } };
  },
  detect: (sys) => LABELS.every((l) => sys.toLowerCase().includes(l)),
  solve(user) {
    const hit = CLASSIFY_MATCHERS.find((m) => m.re.test(user));
    const label = hit ? hit.label : 'other';
    return { expected: label, reply: { content: label } };
  },
  wrong(expected) {
    const confusion = { billing: 'account', technical: 'account', account: 'technical', sales: 'billing', other: 'sales' };
    const label = confusion[expected];
    return { content: label };
  },
};

// ---------------------------------------------------------------------------------------------
// extract
// ---------------------------------------------------------------------------------------------

const EXTRACT_KEYS = ['name', 'email', 'order_id', 'product'];
const EXTRACT_SYSTEMS = [
  () => 'Extract the following fields from the customer message: name, email, order_id, product. Respond with a compact JSON object with exactly these keys in this order. Use null for any field that is not mentioned. Copy values exactly as written.',
  () => 'You are a data-entry agent. Return ONLY minified JSON matching {"name": string|null, "email": string|null, "order_id": string|null, "product": string|null}. Values must be copied verbatim from the text; missing values are null.',
  () => '### Instruction\nParse the support email into a record.\n### Schema\nname (full name of the customer), email, order_id (like AB-123456), product (product name as written)\n### Rules\nOutput JSON on one line. Unknown fields: null. No prose.',
  (rng) => `You work in the back office of ${rng.pick(COMPANIES)}. Extract structured data from each message. Output format: {"name":...,"email":...,"order_id":...,"product":...} (one line, keys in this order, null if absent).`,
];

const extract = {
  name: 'extract',
  systems: EXTRACT_SYSTEMS,
  temperature: (rng) => rng.pick([0, 0, 0.2]),
  maxTokens: (rng) => rng.pick([128, 200, 256, 512]),
  gen(rng) {
    const p = person(rng);
    const v = {
      name: rng.chance(0.75) ? p.full : null,
      email: rng.chance(0.6) ? email(rng, p) : null,
      order_id: rng.chance(0.7) ? orderId(rng) : null,
      product: rng.chance(0.8) ? rng.pick(PRODUCTS) : null,
    };
    const issue = rng.pick(ISSUES);
    const item = v.product ? rng.pick([`My ${v.product}`, `The ${v.product} I bought`, `The ${v.product} I ordered`])
      : rng.pick(['My package', 'The item I ordered', 'My delivery']);
    let body;
    if (v.order_id && rng.chance(0.4)) {
      body = `${item} (order ${v.order_id}) ${issue}.`;
    } else {
      body = `${item} ${issue}.`;
      if (v.order_id) {
        const o = rng.pick([`The order number is ${v.order_id}.`, `Order ${v.order_id}.`, `My order is ${v.order_id}.`]);
        body = rng.chance(0.5) ? `${o} ${body}` : `${body} ${o}`;
      }
    }
    const parts = [body];
    if (v.email) parts.push(rng.pick([`Please reply to ${v.email}.`, `My email is ${v.email}.`, `You can contact me at ${v.email}.`]));
    if (rng.chance(0.3)) parts.push(rng.pick([`Or call me on ${phone(rng)}.`, `My number is ${phone(rng)}.`]));
    if (rng.chance(0.5)) parts.push(rng.pick(['I would like a replacement.', 'Please advise.', 'Can I get a refund?', 'This is urgent.']));
    let text = parts.join(' ');
    if (v.name) {
      text = rng.weighted([[2, `Hi, this is ${v.name}. ${text}`], [1, `My name is ${v.name}. ${text}`],
        [1, `${v.name} here. ${text}`], [2, `${text}\n\nRegards,\n${v.name}`], [1, `${text}\nThanks,\n${v.name}`]]);
    } else if (rng.chance(0.5)) {
      text = `${rng.pick(['Hello,', 'Hi,', 'Dear team,'])} ${text}`;
    }
    text = rng.weighted([[6, text], [1, `Email body:\n${text}`], [1, `Message:\n"""\n${text}\n"""`]]);
    return { user: text, expected: v, reply: { content: JSON.stringify(v) } };
  },
  detect: (sys) => /order_id/.test(sys) && /product/.test(sys) && /email/i.test(sys),
  solve(user) {
    const v = {
      name: findFirst(NAME_RE, user),
      email: findFirst(EMAIL_RE, user),
      order_id: findFirst(ORDER_RE, user),
      product: findFirst(PRODUCT_RE, user),
    };
    return { expected: v, reply: { content: JSON.stringify(v) } };
  },
  wrong(expected, rng) {
    const v = { ...expected };
    const present = EXTRACT_KEYS.filter((k) => v[k] !== null);
    const key = present.length ? rng.pick(present) : 'name';
    if (key === 'name') v.name = v.name ? v.name.split(' ')[0] : 'Customer';
    else if (key === 'email') v.email = null;
    else if (key === 'order_id') v.order_id = v.order_id.replace(/^[A-Z]+-/, '');
    else v.product = v.product.split(' ').slice(0, -1).join(' ');
    return { content: JSON.stringify(v) };
  },
};

// ---------------------------------------------------------------------------------------------
// normalize
// ---------------------------------------------------------------------------------------------

const NORMALIZE_SYSTEMS = [
  () => "You normalise values for a data pipeline. If the input contains a date, reply with it in ISO 8601 format (YYYY-MM-DD); numeric dates like 3/5/2024 are month/day/year, dotted ones like 5.3.2024 are day.month.year. If it contains a quantity in imperial units, convert it to metric (miles->km, lb->kg, °F->°C, gallons->L, inches->cm, feet->m, ounces->g), round half away from zero to 2 decimal places and reply as '<value> <unit>', e.g. '5.63 km'. Reply with the normalised value only.",
  () => 'Role: unit & date normaliser.\nRules:\n1. Dates -> YYYY-MM-DD (ISO 8601). a/b/yyyy = month/day/year; a.b.yyyy = day.month.year.\n2. Imperial -> metric: mi->km, lb->kg, °F->°C, gal->L, in->cm, ft->m, oz->g. Exactly 2 decimals (round half up), format "<number> <unit>".\n3. Output the value alone.',
  () => 'Normalize the value in the user input.\n- date => YYYY-MM-DD (slashes: month first; dots: day first)\n- imperial quantity => metric with two decimals, e.g. "3.5 miles" => "5.63 km", "98.6 °F" => "37.00 °C"\nRespond with nothing but the normalized value.',
];

// The teacher's reply: a date as is; a conversion with its working as reasoning_content, as a
// reasoning model (DeepSeek-R1, Qwen3 through vLLM) sends its thinking apart from the answer.
function normalizeReply(user) {
  const date = parseDate(user);
  if (date) return { content: isoDate(date) };
  const q = convertQuantity(user);
  return q ? { content: q.answer, reasoning_content: q.working } : null;
}

const normalize = {
  name: 'normalize',
  systems: NORMALIZE_SYSTEMS,
  temperature: () => 0,
  maxTokens: (rng) => rng.pick([16, 32, 64]),
  gen(rng) {
    const p = person(rng);
    let value, answer;
    if (rng.chance(0.55)) {
      const date = randomDate(rng);
      value = formatDate(rng, date, true);
      answer = isoDate(date);
      value = rng.weighted([[3, value], [1, `The shipment left the warehouse on ${value}.`],
        [1, `Contract start date: ${value} (signed by ${p.full}, ${email(rng, p)})`], [1, `${p.first} was born on ${value}.`],
        [1, `Invoice due ${value}`]]);
    } else {
      const unit = rng.pick(UNITS);
      const [lo, hi] = unit.range;
      let x = unit.dec ? rng.int(lo * 10, hi * 10) / 10 : rng.int(lo, hi);
      if (unit.dec && rng.chance(0.4)) x = Math.round(x);
      const form = rng.pick(unit.forms);
      const xs = x >= 1000 && rng.chance(0.5) ? x.toLocaleString('en-US') : String(x);
      const q = form === '°F' && rng.chance(0.5) ? `${xs}°F` : `${xs} ${form}`;
      answer = `${round2(unit.f(x))} ${unit.to}`;
      value = rng.chance(0.4) ? q : fill(rng.pick(unit.lines), { q, who: rng.chance(0.5) ? p.full : p.first });
    }
    const user = rng.weighted([[3, value], [1, `Normalize: ${value}`], [1, `Input: ${value}\nOutput:`], [1, `Convert ${value}`]]);
    return { user, expected: answer, reply: normalizeReply(user) ?? { content: answer } };
  },
  detect: (sys) => /YYYY-MM-DD/.test(sys) && /metric/i.test(sys) && /normali[sz]/i.test(sys),
  solve(user) {
    const reply = normalizeReply(user);
    return reply ? { expected: reply.content, reply } : null;
  },
  wrong(expected, rng) {
    let m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(expected);
    if (m) {
      const [y, mo, d] = [+m[1], +m[2], +m[3]];
      if (d <= 12 && d !== mo && rng.chance(0.6)) return { content: isoDate({ y, m: d, d: mo }) };
      return { content: isoDate(addDays({ y, m: mo, d }, rng.chance(0.5) ? 1 : -1)) };
    }
    m = /^(-?\d+\.\d{2}) (.+)$/.exec(expected);
    if (!m) return { content: `${expected}0` };
    const v = Number(m[1]);
    return rng.chance(0.5) ? { content: `${(v + (rng.chance(0.5) ? 0.01 : -0.01)).toFixed(2)} ${m[2]}` }
      : { content: `${v.toFixed(1)} ${m[2]}` };
  },
};

// ---------------------------------------------------------------------------------------------
// arithmetic (the built-in model's task and answer format)
// ---------------------------------------------------------------------------------------------

const KIDS = [['Leo', 'he', 'him', 'his'], ['Tom', 'he', 'him', 'his'], ['Sam', 'he', 'him', 'his'], ['Ben', 'he', 'him', 'his'],
  ['Max', 'he', 'him', 'his'], ['Noah', 'he', 'him', 'his'], ['Liam', 'he', 'him', 'his'], ['Oscar', 'he', 'him', 'his'],
  ['Ethan', 'he', 'him', 'his'], ['Omar', 'he', 'him', 'his'], ['Raj', 'he', 'him', 'his'], ['Kenji', 'he', 'him', 'his'],
  ['Mia', 'she', 'her', 'her'], ['Emma', 'she', 'her', 'her'], ['Olivia', 'she', 'her', 'her'], ['Sophia', 'she', 'her', 'her'],
  ['Chloe', 'she', 'her', 'her'], ['Zoe', 'she', 'her', 'her'], ['Nora', 'she', 'her', 'her'], ['Priya', 'she', 'her', 'her'],
  ['Aisha', 'she', 'her', 'her'], ['Mei', 'she', 'her', 'her'], ['Elena', 'she', 'her', 'her'], ['Clara', 'she', 'her', 'her']];
const OBJECTS = ['coins', 'stickers', 'apples', 'marbles', 'books', 'pencils', 'cards', 'shells', 'stamps', 'cookies',
  'balloons', 'toy cars', 'crayons', 'beads', 'candies', 'trading cards', 'eggs', 'flowers', 'comics', 'buttons'];
const PLUS = ['{He} buys {n} more.', '{He} finds {n} more.', '{Other} gives {him} {n} more.', '{He} gets {n} more from {Other}.',
  '{He} wins {n} more.', '{He} collects {n} more.', '{He} receives {n} more.', 'Then {he} buys {n} more.'];
const MINUS = ['{He} loses {n}.', '{He} gives {n} to {Other}.', '{He} sells {n}.', '{He} uses {n}.', '{He} donates {n}.',
  '{He} trades away {n}.', '{He} drops {n}.', 'Then {he} gives away {n}.'];
const PLUS_RE = /\b(buys|finds|gives (?:him|her)|gets|wins|collects|receives)\b/i;
const MINUS_RE = /\b(loses|gives \d+ to|sells|uses|donates|trades away|drops|gives away)\b/i;
const QUESTIONS = ['How many {obj} does {Name} have now?', 'How many {obj} does {he} have left?',
  'How many {obj} does {Name} have in the end?', 'What is the number of {obj} {Name} has now?'];

export function workedAnswer(start, steps) {
  let total = start;
  const parts = [];
  for (const [sign, n] of steps) {
    const next = sign > 0 ? total + n : total - n;
    parts.push(`${total} ${sign > 0 ? '+' : '-'} ${n} = ${next}.`);
    total = next;
  }
  return { total, text: `${parts.join(' ')} The answer is ${total}.` };
}

const ARITH_SYSTEMS = [
  () => "You solve arithmetic word problems. Show your work and end with 'The answer is N.'",
  () => 'You are a math tutor agent. Solve the word problem step by step, one operation per step, then state the final answer as "The answer is N."',
  () => 'You are a helpful assistant.',
  () => 'You are the Calculator agent. For each word problem write the steps (a + b = c.) and finish with The answer is N.',
];

const arithmetic = {
  name: 'arithmetic',
  systems: ARITH_SYSTEMS,
  systemWeights: [4, 3, 2, 2],
  temperature: (rng) => rng.pick([0, 0, 0.3, 0.7]),
  maxTokens: (rng) => rng.pick([128, 256, 512]),
  gen(rng) {
    const [Name, he, him] = rng.pick(KIDS);
    let other = rng.pick(KIDS)[0];
    if (other === Name) other = 'a friend';
    const obj = rng.pick(OBJECTS);
    const big = rng.chance(0.35);
    const start = big ? rng.int(100, 999) : rng.int(10, 99);
    let total = start;
    const steps = [], sentences = [`${Name} has ${start} ${obj}.`];
    const count = rng.weighted([[3, 1], [4, 2], [3, 3]]);
    for (let i = 0; i < count; i++) {
      const minus = total > 1 && rng.chance(0.5);
      const n = minus ? rng.int(1, Math.max(1, Math.min(total, big ? 400 : 60))) : rng.int(1, big ? 400 : 60);
      const t = rng.pick(minus ? MINUS : PLUS);
      sentences.push(cap(fill(t, { He: cap(he), he, him, n, Other: cap(other) })));
      steps.push([minus ? -1 : 1, n]);
      total += minus ? -n : n;
    }
    sentences.push(fill(rng.pick(QUESTIONS), { obj, Name, he }));
    let user = sentences.join(' ');
    user = rng.weighted([[6, user], [1, `Solve: ${user}`], [1, `Question: ${user}`],
      [1, `Can you help my kid with this homework question? ${user}`], [1, `${user} Show your work.`]]);
    const { total: answer, text } = workedAnswer(start, steps);
    return { user, expected: answer, reply: { content: text } };
  },
  detect: () => false,  // by the user message (parse), whatever the system prompt says
  parse(user) {
    const sentences = user.split(/(?<=[.?!])\s+/);
    let start = null;
    const steps = [];
    let asked = false;
    for (const s of sentences) {
      if (start === null) {
        const m = /\b[A-Z][a-z]+ has (\d+) [a-z ]+\.$/.exec(s);
        if (m) start = Number(m[1]);
        continue;
      }
      if (/^(How many|What is the number)/.test(s)) { asked = true; break; }
      const num = /(\d+)/.exec(s);
      if (!num) return null;
      if (MINUS_RE.test(s)) steps.push([-1, Number(num[1])]);
      else if (PLUS_RE.test(s)) steps.push([1, Number(num[1])]);
      else return null;
    }
    if (start === null || !asked || steps.length === 0) return null;
    return { start, steps };
  },
  solve(user) {
    const p = this.parse(user);
    if (!p) return null;
    const { total, text } = workedAnswer(p.start, p.steps);
    return { expected: total, reply: { content: text }, parsed: p };
  },
  wrong(expected, rng, req, solved) {
    const { start, steps } = solved.parsed;
    const i = rng.int(0, steps.length - 1);
    let total = start;
    const parts = [];
    steps.forEach(([sign, n], k) => {
      let next = sign > 0 ? total + n : total - n;
      if (k === i) next += rng.pick([1, -1, 10, -10]);
      parts.push(`${total} ${sign > 0 ? '+' : '-'} ${n} = ${next}.`);
      total = next;
    });
    return { content: `${parts.join(' ')} The answer is ${total}.` };
  },
};

// ---------------------------------------------------------------------------------------------
// rewrite
// ---------------------------------------------------------------------------------------------

const REWRITE_BASES = ['send the signed contract to {full}', 'forward the invoice to {email}',
  'call {full} at {phone} about the delivery', "update the slides for tomorrow's meeting",
  'fix the typo on the pricing page', 'cancel my subscription', 'book a meeting room for Thursday afternoon',
  "reply to {first}'s email", 'move my call with {full} to next week', 'share the Q3 report with {email}',
  'add {full} to the project channel', 'review the pull request', 'print two copies of the agenda',
  'refund order {order}', 'check why the build is failing', 'order more coffee for the office',
  'send me the minutes from the board meeting', 'remove {email} from the mailing list',
  'stop sending me promotional emails', 'change my delivery address', 'ship the {product} to my office instead',
  'turn off the lights in the meeting room', 'ask {full} for the updated budget', 'clean up the shared drive',
  'approve the holiday request from {full}', 'translate the brochure into Spanish', 'replace the broken {product}',
  'tell {first} the launch is delayed', 'double-check the numbers in the report', 'archive the old tickets'];
const REWRITE_TAILS = ['', '', '', ' today', ' by Friday', ' as soon as possible', ' before noon', ' this week', ' right now'];
const REWRITE_SYSTEMS = [
  () => 'Rewrite the user\'s request as a polite question. Rule: drop a leading "Please", start with "Could you please ", keep the rest of the wording exactly (first letter lowercased), and end with a question mark. Reply with the rewritten sentence only.',
  () => "You are the Tone agent. Turn blunt instructions into a polite request of the form 'Could you please <instruction>?' Keep every other word unchanged; remove any leading 'please' and the final punctuation. Output only the sentence.",
  () => 'Make this message polite.\nFormat: Could you please + the original instruction (lowercase first letter, no trailing period or exclamation mark) + ?\nNothing else.',
];

export function politeRewrite(sentence) {
  let s = sentence.trim().replace(/^please[,]?\s+/i, '').replace(/[.!?]+$/, '').trim();
  s = lcfirst(s);
  return `Could you please ${s}?`;
}

const rewrite = {
  name: 'rewrite',
  systems: REWRITE_SYSTEMS,
  temperature: (rng) => rng.pick([0, 0, 0.3]),
  maxTokens: (rng) => rng.pick([64, 128, 256]),
  gen(rng) {
    const p = person(rng);
    let s = fill(rng.pick(REWRITE_BASES), { full: p.full, first: p.first, email: email(rng, p), phone: phone(rng),
      order: orderId(rng), product: rng.pick(PRODUCTS) }) + rng.pick(REWRITE_TAILS);
    if (rng.chance(0.3)) s = `please ${s}`;
    if (rng.chance(0.8)) s = cap(s);
    s += rng.pick(['.', '.', '!', '', '!!']);
    const answer = politeRewrite(s);
    const user = rng.weighted([[6, s], [1, `Rewrite this: "${s}"`], [1, `Text: "${s}"`], [1, `Make this polite: "${s}"`]]);
    return { user, expected: answer, reply: { content: answer } };
  },
  detect: (sys) => /Could you please/i.test(sys),
  solve(user) {
    const q = /"([^"]+)"/.exec(user);
    const answer = politeRewrite(q ? q[1] : user);
    return { expected: answer, reply: { content: answer } };
  },
  wrong(expected, rng) {
    return { content: rng.pick([expected.replace('Could you please', 'Can you please'), expected.replace(/\?$/, '.'),
      expected.replace('Could you please ', 'Could you please kindly ')]) };
  },
};

// ---------------------------------------------------------------------------------------------
// open (no small model should take these)
// ---------------------------------------------------------------------------------------------

const TOPICS = ['the first snow of winter', 'a lighthouse keeper', 'learning to code at sixty', 'a city at night',
  'an old bicycle', 'the smell of coffee', 'moving to a new country', 'a cat who hates Mondays', 'the last day of school',
  'autumn leaves', 'a long train journey', 'friendship', 'the ocean at dawn', 'a forgotten umbrella', 'deadlines'];
const CONCEPTS = ['inflation', 'how vaccines work', 'quantum entanglement', 'the blockchain', 'photosynthesis',
  'compound interest', 'how a CPU cache works', 'the causes of the French Revolution', 'machine learning overfitting',
  'why the sky is blue', 'supply chain bottlenecks', 'the greenhouse effect'];
const BUSINESSES = ['bakery', 'bike repair shop', 'AI consulting firm', 'dog-walking service', 'vegan food truck',
  'board game café', 'language school', 'plant nursery'];
const COUNTRIES = ['Portugal', 'Kenya', 'Japan', 'Peru', 'Norway', 'Vietnam', 'Morocco', 'Canada', 'Poland', 'Chile'];
const OPEN_SAFE = [  // no tool would match these (used when the call also carries tools)
  (rng) => `Write a short poem about ${rng.pick(TOPICS)}.`,
  (rng) => `Write a haiku about ${rng.pick(TOPICS)}.`,
  (rng) => `Explain ${rng.pick(CONCEPTS)} to a ten-year-old.`,
  (rng) => `Give me five name ideas for a ${rng.pick(BUSINESSES)}, with a one-line pitch for each.`,
  (rng) => `What are the pros and cons of ${rng.pick(['remote work', 'four-day weeks', 'open-plan offices', 'microservices', 'electric cars'])}?`,
];
const OPEN_ALL = [...OPEN_SAFE,
  (rng) => { const p = person(rng); return `Draft a friendly reply to ${p.full} (${email(rng, p)}), who wrote that the ${rng.pick(PRODUCTS)} ${rng.pick(ISSUES)}. Apologise and offer a 10% discount.`; },
  (rng) => `Plan a three-day itinerary in ${rng.pick(CITIES)} for a family with two kids, with a budget for each day.`,
  (rng) => `Which river flows through the capital of the country that borders both ${rng.pick(COUNTRIES)} and ${rng.pick(COUNTRIES)}, and what is it known for?`,
  (rng) => `If I fly from ${rng.pick(CITIES)} to ${rng.pick(CITIES)} and then on to ${rng.pick(CITIES)}, which leg is the longest and roughly how long would the whole trip take?`,
  (rng) => `Who was the head of government of ${rng.pick(COUNTRIES)} when the country hosted its first major international sporting event, and what was their main policy?`,
  (rng) => `Outline a go-to-market plan for the ${rng.pick(PRODUCTS)} aimed at students.`,
  (rng) => `Write a LinkedIn post announcing that ${person(rng).full} joins our team as head of ${rng.pick(['design', 'sales', 'engineering', 'marketing'])}.`,
  (rng) => { const a = person(rng), b = person(rng); return `Summarise this meeting for the wiki:\n${a.full}: we slipped the launch by two weeks because of the payment bug.\n${b.full}: marketing can move the campaign, but we need a date by Friday.\n${a.first}: I will confirm with the vendor, call me on ${phone(rng)} if anything changes.`; },
  (rng) => `Write a Python function that ${rng.pick(['merges two sorted lists', 'checks whether a string is a palindrome', 'parses a CSV line with quotes', 'computes a moving average'])}, with a docstring and tests.`,
];
const OPEN_SYSTEMS = [
  () => 'You are a helpful assistant.',
  () => 'You are the Writer agent in a marketing crew. Produce polished, original copy. Be concise but vivid.',
  () => 'You are a research assistant. Think step by step, combine facts from several sources, and explain your reasoning.',
  (rng) => `You are Planner, the lead agent of ${rng.pick(COMPANIES)}'s assistant team. Break the user's goal into steps and answer thoroughly. Today's date is ${isoDate(randomDate(rng))}.`,
];

const open = {
  name: 'open',
  systems: OPEN_SYSTEMS,
  temperature: (rng) => rng.pick([0.7, 0.8, 1.0]),
  maxTokens: (rng) => rng.pick([512, 1024, 2048]),
  gen(rng, ctx) {
    const user = rng.pick(ctx.withTools ? OPEN_SAFE : OPEN_ALL)(rng);
    return { user, expected: null, reply: { content: freeText(rng, user) } };
  },
};

const OPENERS = ['Sure!', 'Great question.', 'Here is a take on it.', 'Happy to help.', 'Let me think this through.',
  'Here you go.', 'Good idea.', 'Of course.'];
const SENTENCES = ['The key is to start from what the reader already knows and build from there.',
  'There are a few moving parts, so it helps to take them one at a time.',
  'Most people underestimate how much the small details matter here.',
  'A useful way to picture it is as a chain where each link depends on the one before.',
  'The trade-off is mostly between speed and certainty.', 'History offers a few instructive parallels.',
  'In practice, the answer depends on the budget and the timeline.', 'It is worth checking the assumptions first.',
  'A short example makes this much clearer.', 'The second step is where most plans go wrong.',
  'Experts disagree on the details, but the broad picture is clear.', 'Keep the tone warm and the sentences short.',
  'Numbers alone rarely tell the whole story.', 'The simplest option is often the most robust one.',
  'One thing to watch is how the pieces interact over time.', 'That said, there is no single right answer.',
  'Think of it as a conversation rather than a lecture.', 'The result is surprisingly elegant once it clicks.',
  'Each option has a clear cost and a less obvious benefit.', 'Start small, measure, and then expand.'];
const POEM_WORDS = ['silver', 'quiet', 'morning', 'river', 'ember', 'window', 'whisper', 'harbor', 'lantern', 'drift',
  'echo', 'meadow', 'shadow', 'thread', 'salt', 'wind', 'stone', 'glass', 'rain', 'hollow'];

export function freeText(rng, request) {
  const about = /about (.+?)[.?!]?$/m.exec(request)?.[1] ?? `${request.split(/\s+/).slice(0, 8).join(' ')}${request.split(/\s+/).length > 8 ? '...' : ''}`;
  if (/poem|haiku/i.test(request)) {
    const lines = [];
    const n = /haiku/i.test(request) ? 3 : rng.int(4, 8);
    for (let i = 0; i < n; i++) {
      lines.push(cap(`${rng.pick(POEM_WORDS)} ${rng.pick(['and', 'of', 'in', 'beneath', 'over'])} ${rng.pick(POEM_WORDS)}${rng.chance(0.4) ? `, ${rng.pick(POEM_WORDS)}` : ''}`));
    }
    return `${rng.pick(['A few lines', 'A small poem', 'Here is something'])} about ${about}:\n\n${lines.join('\n')}`;
  }
  const sentences = rng.sample(SENTENCES, rng.int(3, 7));
  const subject = about.replace(/[.?!:]+$/, '').replace(/\s+/g, ' ');
  const topic = /about /.test(request) ? `On ${subject}: ${lcfirst(sentences[0])}` : `You asked: "${subject}". ${sentences[0]}`;
  return [rng.pick(OPENERS), topic, ...sentences.slice(1)].join(' ');
}

export const TYPES = { classify, extract, tool_call: toolCall, normalize, arithmetic, rewrite, open };
export const TYPE_NAMES = Object.keys(TYPES);
export const DEFAULT_MIX = { classify: 17, extract: 13, tool_call: 14, normalize: 11, arithmetic: 10, rewrite: 10, open: 25 };

// ---------------------------------------------------------------------------------------------
// Building a call (the generator)
// ---------------------------------------------------------------------------------------------

// A message of the reply for the conversation history.
function historyMessages(rng, reply) {
  if (!reply.tool_calls) return [{ role: 'assistant', content: reply.content }];
  const calls = reply.tool_calls.map((c) => ({ id: callId(rng), type: 'function',
    function: { name: c.name, arguments: JSON.stringify(c.arguments) } }));
  const out = [{ role: 'assistant', content: null, tool_calls: calls }];
  const c = reply.tool_calls[0];
  const r = TOOLS[c.name].result(c.arguments, rng);
  out.push({ role: 'tool', tool_call_id: calls[0].id, content: JSON.stringify(r.json) });
  out.push({ role: 'assistant', content: r.say(r.json) });
  return out;
}

// One call: {body, label}. rng is the call's own stream.
export function buildCall(rng, type, { model = 'gpt-4o' } = {}) {
  const t = TYPES[type];
  const systemIndex = t.systemWeights ? rng.weighted(t.systemWeights.map((w, i) => [w, i])) : rng.int(0, t.systems.length - 1);
  const system = t.systems[systemIndex](rng);
  const body = { model, messages: [{ role: 'system', content: system }] };
  let tools = null, toolName = null;
  if (type === 'tool_call') {
    toolName = rng.pick(TOOL_NAMES);
    tools = toolCall.tools(rng, toolName);
  } else if (type === 'open' && rng.chance(0.15)) {
    tools = rng.sample(Object.values(TOOL_DEFS), rng.int(1, 3));
  }
  // Earlier turns: 30% of calls carry 1-3 answered turns of the same kind.
  const turns = rng.chance(0.3) ? rng.int(1, 3) : 0;
  for (let i = 0; i < turns; i++) {
    const ctx = type === 'tool_call' ? { tool: rng.pick(tools.map((x) => x.function.name)) } : { withTools: !!tools };
    const prior = t.gen(rng, ctx);
    body.messages.push({ role: 'user', content: prior.user });
    body.messages.push(...historyMessages(rng, prior.reply));
  }
  const call = t.gen(rng, { tool: toolName, withTools: !!tools });
  body.messages.push({ role: 'user', content: call.user });
  if (tools) {
    body.tools = tools;
    if (rng.chance(0.3)) body.tool_choice = 'auto';
  }
  body.temperature = t.temperature(rng);
  body.max_tokens = t.maxTokens(rng);
  return { body, expected: call.expected };
}

// ---------------------------------------------------------------------------------------------
// Solving a request (the teacher)
// ---------------------------------------------------------------------------------------------

// -> {type, expected, reply, solved} or {type: 'open'|'unknown', reply: null} (free text).
export function solveRequest(req) {
  const messages = Array.isArray(req.messages) ? req.messages : [];
  const text = (m) => (typeof m?.content === 'string' ? m.content
    : Array.isArray(m?.content) ? m.content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('') : '');
  const sys = messages.filter((m) => m?.role === 'system' || m?.role === 'developer').map(text).join('\n');
  const last = messages[messages.length - 1];
  if (!last || last.role !== 'user') return { type: 'unknown', reply: null };
  const user = text(last);
  if (Array.isArray(req.tools) && req.tools.length) {
    const s = toolCall.solve(user, req);
    if (s) return { type: 'tool_call', ...s, solved: s };
  }
  for (const t of [classify, extract, normalize, rewrite]) {
    if (!t.detect(sys)) continue;
    const s = t.solve(user, req);
    if (s) return { type: t.name, ...s, solved: s };
  }
  const s = arithmetic.solve(user);
  if (s) return { type: 'arithmetic', ...s, solved: s };
  return { type: 'open', reply: null };
}

export function wrongReply(type, solved, rng, req) {
  return TYPES[type].wrong(solved.expected, rng, req, solved);
}

// The stand-in teacher's reply to a request (teacher.mjs serves it, teacher_log.mjs logs it):
// {type, wrong, reply}, reply being {content} or {tool_calls: [{name, arguments}]}. A recurring
// call type is solved by program; which calls get a plausible wrong answer (errorRate) is a
// function of (seed, messages, tools), so both give the same answers. Anything else gets free text.
export function teacherReply(body, { seed = 1, errorRate = 0 } = {}) {
  const canonical = JSON.stringify({ messages: body.messages, tools: body.tools ?? null });
  let solved;
  try {
    solved = solveRequest(body);
  } catch {
    solved = { type: 'unknown', reply: null };
  }
  if (solved.reply) {
    if (hash32(`teacher-error:${seed}:${canonical}`) / 4294967296 < errorRate) {
      try {
        const rng = new Rng(hash32(`teacher-wrong:${seed}:${canonical}`));
        return { type: solved.type, wrong: true, reply: wrongReply(solved.type, solved, rng, body) };
      } catch { /* fall back to the right answer */ }
    }
    return { type: solved.type, wrong: false, reply: solved.reply };
  }
  const messages = body.messages;
  const last = messages[messages.length - 1];
  if (last.role === 'tool') {
    const said = contentText(last.content).replace(/\s+/g, ' ').slice(0, 200);
    return { type: solved.type, wrong: false, reply: { content: `Done. The tool returned: ${said || 'nothing'}` } };
  }
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const request = contentText(lastUser?.content).trim() || 'your message';
  return { type: solved.type, wrong: false, reply: { content: freeText(new Rng(hash32(`teacher-text:${seed}:${canonical}`)), request) } };
}
