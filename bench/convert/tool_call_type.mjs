// The tool_call type of the replayable workload (tasks.mjs): the tools an agent offers (weather,
// e-mail, calendar, orders, currency, tables, reminders, calls), requests that need one of them,
// and the call with its arguments copied and normalised. Split from tasks.mjs to keep it small.
import {
  COMPANIES,
  CITIES,
  RESTAURANTS,
  SUBJECTS,
  EVENT_TITLES,
  REMINDER_TASKS,
  NUMBER_WORDS,
  CURRENCIES,
  alternation,
  lcfirst,
  NAME_RE,
  EMAIL_RE,
  PHONE_RE,
  ORDER_RE,
  findFirst,
  person,
  email,
  phone,
  e164,
  orderId,
  isoDate,
  weekday,
  addDays,
  randomDate,
  formatDate,
  parseDate,
  randomTime,
  hhmm,
  formatTime,
  parseTime,
  round2,
} from './vocab.mjs';

// ---------------------------------------------------------------------------------------------
// tool_call
// ---------------------------------------------------------------------------------------------

const fn = (name, description, properties, required = Object.keys(properties)) => ({
  type: 'function', function: { name, description, parameters: { type: 'object', properties, required } },
});
const str = (description) => ({ type: 'string', description });
export const TOOL_DEFS = {
  get_weather: fn('get_weather', 'Current weather for a city.', {
    city: str('City name as the user wrote it'),
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'], description: 'Temperature unit; celsius unless the user asks for fahrenheit' },
  }),
  send_email: fn('send_email', 'Send an e-mail.', { to: str('Recipient e-mail address'), subject: str('Subject line, verbatim') }),
  create_event: fn('create_event', 'Create a calendar event.', {
    title: str('Event title, verbatim'), date: str('YYYY-MM-DD'), time: str('HH:MM, 24-hour clock'),
  }),
  lookup_order: fn('lookup_order', 'Look up the status of an order.', { order_id: str('Order number such as AB-123456') }),
  convert_currency: fn('convert_currency', 'Convert an amount between currencies.', {
    amount: { type: 'number', description: 'Amount as a number' }, from: str('ISO 4217 code'), to: str('ISO 4217 code'),
  }),
  book_table: fn('book_table', 'Reserve a restaurant table.', {
    restaurant: str('Restaurant name'), party_size: { type: 'integer', description: 'Number of people' },
    date: str('YYYY-MM-DD'), time: str('HH:MM, 24-hour clock'),
  }),
  set_reminder: fn('set_reminder', 'Set a reminder.', {
    text: str('What to be reminded of, verbatim'), minutes: { type: 'integer', description: 'Minutes from now' },
  }),
  call_contact: fn('call_contact', 'Place a phone call.', {
    name: str('Full name of the person'), phone: str('E.164, e.g. +14155550134; numbers without a country code are US numbers'),
  }),
};
export const TOOL_NAMES = Object.keys(TOOL_DEFS);
const CURRENCY_FORMS = Object.entries(CURRENCIES).flatMap(([code, forms]) => forms.map((form) => ({ code, form })));
const CUR_RE = `(${alternation(CURRENCY_FORMS.map((c) => c.form))})`;
const curCode = (form) => CURRENCY_FORMS.find((c) => c.form.toLowerCase() === form.toLowerCase()).code;
const DUR_RE = '(\\d+)\\s*(minutes|minute|mins|hours|hour)|(an hour|half an hour)';
const durMinutes = (m) => (m[3] ? (m[3] === 'an hour' ? 60 : 30) : (/^h/.test(m[2]) ? 60 : 1) * Number(m[1]));
const unquote = (t) => t.replace(/"[^"]*"/g, '""');

// Each tool: gen(rng) -> {text, args}; parse(text) -> args | null (reads only the text).
export const TOOLS = {
  get_weather: {
    gen(rng) {
      const city = rng.pick(CITIES);
      const unitText = rng.weighted([[5, ''], [2, ' in Fahrenheit'], [1, ' in Celsius'], [1, ' in °F'], [1, ' in °C']]);
      const unit = /F/.test(unitText) ? 'fahrenheit' : 'celsius';
      const text = rng.pick([`What's the weather like in ${city}${unitText}?`,
        `Is it going to rain in ${city} today?${unitText ? ` Temperatures${unitText}, please.` : ''}`,
        `Check the current temperature in ${city}${unitText}.`, `How hot is it in ${city} right now${unitText}?`,
        `weather ${city}${unitText}`]);
      return { text, args: { city, unit } };
    },
    parse(text) {
      if (!/weather|temperature|rain|hot is it/i.test(unquote(text))) return null;
      const city = findFirst(`(?:${alternation(CITIES)})`, text);
      if (!city) return null;
      return { city, unit: /fahrenheit|°F/i.test(text) ? 'fahrenheit' : 'celsius' };
    },
    result: (a, rng) => ({ json: { city: a.city, temperature: rng.int(-5, 35), condition: rng.pick(['sunny', 'cloudy', 'rain']) },
      say: (j) => `It is ${j.temperature} degrees and ${j.condition} in ${a.city}.` }),
  },
  send_email: {
    gen(rng) {
      const p = person(rng), to = email(rng, p), subject = rng.pick(SUBJECTS);
      const text = rng.pick([`Send an email to ${to} with the subject "${subject}".`,
        `Email ${p.full} at ${to}, subject: "${subject}".`, `Can you write to ${to}? Subject line "${subject}".`,
        `Drop a note to ${to} titled "${subject}"`]);
      return { text, args: { to, subject } };
    },
    parse(text) {
      if (!/email|write to|note to/i.test(unquote(text))) return null;
      const to = findFirst(EMAIL_RE, text), q = /"([^"]+)"/.exec(text);
      return to && q ? { to, subject: q[1] } : null;
    },
    result: (a) => ({ json: { status: 'sent', to: a.to }, say: () => `Done, the email "${a.subject}" is on its way.` }),
  },
  create_event: {
    gen(rng) {
      const title = rng.pick(EVENT_TITLES), date = randomDate(rng), time = randomTime(rng);
      const d = formatDate(rng, date, false), t = formatTime(rng, time);
      const text = rng.pick([`Schedule "${title}" on ${d} at ${t}.`, `Put "${title}" in my calendar for ${d}, ${t}.`,
        `Create an event called "${title}" on ${d} at ${t}.`, `Add a meeting "${title}" with ${person(rng).full} on ${d} at ${t}`]);
      return { text, args: { title, date: isoDate(date), time: hhmm(time) } };
    },
    parse(text) {
      if (!/schedule|calendar|event|meeting/i.test(unquote(text))) return null;
      const q = /"([^"]+)"/.exec(text), rest = unquote(text), date = parseDate(rest), time = parseTime(rest.replace(/\b\d{4}\b/g, ''));
      return q && date && time ? { title: q[1], date: isoDate(date), time: hhmm(time) } : null;
    },
    result: (a) => ({ json: { status: 'created', id: 'evt_1' }, say: () => `"${a.title}" is in your calendar on ${a.date} at ${a.time}.` }),
  },
  lookup_order: {
    gen(rng) {
      const id = orderId(rng);
      const text = rng.pick([`Where is my order ${id}?`, `Track order ${id} for me.`, `What's the status of ${id}?`,
        `Has order ${id} shipped yet?`, `order status ${id}`]);
      return { text, args: { order_id: id } };
    },
    parse(text) {
      const id = findFirst(ORDER_RE, text);
      return id && /where|track|status|shipped/i.test(text) ? { order_id: id } : null;
    },
    result: (a, rng) => ({ json: { order_id: a.order_id, status: rng.pick(['shipped', 'processing', 'delivered']) },
      say: (j) => `Order ${a.order_id} is ${j.status}.` }),
  },
  convert_currency: {
    gen(rng) {
      const [from, to] = rng.sample(Object.keys(CURRENCIES), 2);
      const amount = rng.weighted([[3, rng.int(5, 999)], [1, rng.int(1000, 25000)], [1, rng.int(100, 99999) / 100]]);
      const amountText = amount >= 1000 && rng.chance(0.6) ? amount.toLocaleString('en-US') : String(amount);
      const f = rng.pick(CURRENCIES[from]), t = rng.pick(CURRENCIES[to]);
      const text = rng.pick([`How much is ${amountText} ${f} in ${t}?`, `Convert ${amountText} ${f} to ${t}.`,
        `What are ${amountText} ${f} worth in ${t}?`, `${amountText} ${f} to ${t} please`]);
      return { text, args: { amount, from, to } };
    },
    parse(text) {
      const m = new RegExp(`(\\d{1,3}(?:,\\d{3})+(?:\\.\\d+)?|\\d+(?:\\.\\d+)?)\\s+${CUR_RE}\\b.*?\\b(?:in|to|into)\\s+${CUR_RE}`, 'i').exec(text);
      return m ? { amount: Number(m[1].replace(/,/g, '')), from: curCode(m[2]), to: curCode(m[3]) } : null;
    },
    result: (a) => ({ json: { amount: a.amount, from: a.from, to: a.to, rate: 1.08 },
      say: () => `${a.amount} ${a.from} is about ${round2(a.amount * 1.08)} ${a.to}.` }),
  },
  book_table: {
    gen(rng) {
      const restaurant = rng.pick(RESTAURANTS), n = rng.int(1, 12), date = randomDate(rng), time = randomTime(rng);
      const nt = rng.chance(0.5) ? NUMBER_WORDS[n] : String(n), d = formatDate(rng, date, false), t = formatTime(rng, time);
      const text = rng.pick([`Book a table for ${nt} at ${restaurant} on ${d} at ${t}.`,
        `Reserve ${restaurant} for ${nt} people, ${d} at ${t}.`, `I need a table for ${nt} at ${restaurant}, ${d}, ${t}.`,
        `Get us a table at ${restaurant} for a party of ${nt} on ${d} at ${t}`]);
      return { text, args: { restaurant, party_size: n, date: isoDate(date), time: hhmm(time) } };
    },
    parse(text) {
      if (!/table|reserve/i.test(text)) return null;
      const restaurant = findFirst(`(?:${alternation(RESTAURANTS)})`, text);
      const n = /(?:party of|for)\s+(\d+|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b/i.exec(text);
      const date = parseDate(text), time = parseTime(text.replace(/\b\d{4}\b/g, ''));
      if (!restaurant || !n || !date || !time) return null;
      const size = /^\d+$/.test(n[1]) ? Number(n[1]) : NUMBER_WORDS.indexOf(n[1].toLowerCase());
      return { restaurant, party_size: size, date: isoDate(date), time: hhmm(time) };
    },
    result: (a) => ({ json: { status: 'confirmed' }, say: () => `Your table at ${a.restaurant} for ${a.party_size} is confirmed.` }),
  },
  set_reminder: {
    gen(rng) {
      const task = rng.chance(0.2) ? `email ${person(rng).full} back` : rng.pick(REMINDER_TASKS);
      const [dt, minutes] = rng.weighted([[3, (() => { const n = rng.int(2, 55); return [`${n} minutes`, n]; })()],
        [1, (() => { const n = rng.int(2, 55); return [`${n} mins`, n]; })()],
        [2, (() => { const n = rng.int(2, 8); return [`${n} hours`, n * 60]; })()], [1, ['an hour', 60]], [1, ['half an hour', 30]]]);
      const text = rng.pick([`Remind me to ${task} in ${dt}.`, `Set a reminder to ${task} in ${dt}.`,
        `In ${dt}, remind me to ${task}.`, `Ping me in ${dt} to ${task}`]);
      return { text, args: { text: task, minutes } };
    },
    parse(text) {
      if (!/remind|ping me/i.test(text)) return null;
      const dur = new RegExp(DUR_RE, 'i').exec(text);
      if (!dur) return null;
      const t = new RegExp(`(?:remind me to|reminder to) (.+?) in (?:${DUR_RE})`, 'i').exec(text)
        ?? new RegExp(`(?:remind me to|in (?:${DUR_RE}) to) (.+?)(?=[.!?](?:\\s|$)|$)`, 'i').exec(text);
      if (!t) return null;
      const task = t[1] !== undefined && !/^\d+$/.test(t[1]) ? t[1] : t[t.length - 1];
      return { text: task, minutes: durMinutes(dur) };
    },
    result: (a) => ({ json: { status: 'scheduled' }, say: () => `I will remind you to ${a.text} in ${a.minutes} minutes.` }),
  },
  call_contact: {
    gen(rng) {
      const p = person(rng), ph = phone(rng);
      const text = rng.pick([`Call ${p.full} on ${ph}.`, `Ring ${p.full} at ${ph}, please.`, `Dial ${ph} and ask for ${p.full}.`,
        `Can you phone ${p.full}? The number is ${ph}.`]);
      return { text, args: { name: p.full, phone: e164(ph) } };
    },
    parse(text) {
      if (!/call|ring|dial|phone/i.test(text)) return null;
      const name = findFirst(NAME_RE, text), ph = findFirst(PHONE_RE, text);
      return name && ph ? { name, phone: e164(ph) } : null;
    },
    result: (a) => ({ json: { status: 'ringing' }, say: () => `Calling ${a.name} now.` }),
  },
};

const TOOL_SYSTEMS = [
  () => "You are a helpful assistant. Use the provided tools when they help answer the user's request.",
  () => 'You are Jarvis, an executive-assistant agent. Call exactly one tool per request. Dates are YYYY-MM-DD, times HH:MM (24-hour), phone numbers E.164.',
  () => 'Answer the following requests as best you can. You have access to tools; when a tool is needed, call it with arguments taken from the user\'s message.',
  (rng) => { const d = randomDate(rng); return `You are an AI agent acting for ${rng.pick(COMPANIES)} employees. Today is ${weekday(d)}, ${isoDate(d)}. Prefer calling a tool over asking questions.`; },
];

export const callId = (rng) => `call_${Math.floor(rng.float() * 2 ** 32).toString(36)}${Math.floor(rng.float() * 2 ** 32).toString(36)}`;

export const toolCall = {
  name: 'tool_call',
  systems: TOOL_SYSTEMS,
  temperature: (rng) => rng.pick([0, 0, 0.2, 0.7]),
  maxTokens: (rng) => rng.pick([256, 512, 1024]),
  gen(rng, ctx) {
    const name = ctx.tool ?? rng.pick(TOOL_NAMES);
    const { text: raw, args } = TOOLS[name].gen(rng);
    const text = raw.replace(/\.\.(?=\s|$)/g, '.');  // "at 5:45 p.m.."
    const user = rng.chance(0.15) ? `${rng.pick(['Hey, ', 'Please ', 'Quick one: '])}${lcfirst(text)}` : text;
    return { user, expected: { name, arguments: args }, reply: { tool_calls: [{ name, arguments: args }] } };
  },
  // The tools array: the right tool and 1-3 others, shuffled.
  tools(rng, name) {
    const others = rng.sample(TOOL_NAMES.filter((n) => n !== name), rng.int(1, 3));
    return rng.shuffle([name, ...others]).map((n) => TOOL_DEFS[n]);
  },
  solve(user, req) {
    const offered = (req.tools ?? []).map((t) => t?.function?.name).filter((n) => TOOLS[n]);
    for (const name of TOOL_NAMES) {  // a fixed priority, whatever the tools' order
      if (!offered.includes(name)) continue;
      const args = TOOLS[name].parse(user);
      if (args) return { expected: { name, arguments: args }, reply: { tool_calls: [{ name, arguments: args }] } };
    }
    return null;
  },
  wrong(expected, rng, req) {
    const a = { ...expected.arguments };
    const mutators = [];
    if (a.date) mutators.push(() => { const [y, m, d] = a.date.split('-').map(Number); a.date = isoDate(addDays({ y, m, d }, 1)); });
    if (a.time) mutators.push(() => { a.time = `${String((Number(a.time.slice(0, 2)) + 12) % 24).padStart(2, '0')}${a.time.slice(2)}`; });
    if (a.unit) mutators.push(() => { a.unit = a.unit === 'celsius' ? 'fahrenheit' : 'celsius'; });
    if (a.amount !== undefined) mutators.push(() => { a.amount = String(a.amount); }, () => { [a.from, a.to] = [a.to, a.from]; });
    if (a.party_size !== undefined) mutators.push(() => { a.party_size += 1; });
    if (a.minutes !== undefined) mutators.push(() => { a.minutes = a.minutes >= 60 ? a.minutes / 60 : a.minutes * 60; });
    if (a.phone) mutators.push(() => { a.phone = a.phone.replace(/^\+1?/, ''); });
    if (a.subject) mutators.push(() => { a.subject = a.subject.toLowerCase() === a.subject ? `Re: ${a.subject}` : a.subject.toLowerCase(); });
    if (a.order_id) mutators.push(() => { a.order_id = a.order_id.replace('-', ''); });
    if (a.title) mutators.push(() => { a.title = `${a.title} meeting`; });
    if (a.text) mutators.push(() => { a.text = `Reminder: ${a.text}`; });
    if (a.city) mutators.push(() => { a.city = `${a.city}, ${rng.pick(['US', 'UK', 'EU'])}`; });
    const offered = (req.tools ?? []).map((t) => t?.function?.name).filter((n) => n && n !== expected.name);
    if (offered.length && rng.chance(0.25)) return { tool_calls: [{ name: rng.pick(offered), arguments: a }] };
    rng.pick(mutators)();
    return { tool_calls: [{ name: expected.name, arguments: a }] };
  },
};
