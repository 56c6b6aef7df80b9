// The replayable workload's vocabularies and value helpers (names, e-mails, phone numbers,
// order ids, dates, times, quantities, the scrubber's placeholders), shared by the call types
// in tasks.mjs. Split from tasks.mjs to keep each file small.
// ---------------------------------------------------------------------------------------------
// Vocabularies
// ---------------------------------------------------------------------------------------------

// Given names from the scrubber's list (data/pii/first_names.txt), so "First Last" is found...
export const GIVEN = ['James', 'Robert', 'Michael', 'David', 'Daniel', 'Andrew', 'Kevin', 'Brian', 'Jason', 'Ryan',
  'Eric', 'Justin', 'Samuel', 'Patrick', 'Nathan', 'Peter', 'Kyle', 'Ethan', 'Noah', 'Sean', 'Dylan', 'Gabriel',
  'Oliver', 'Lucas', 'Hugo', 'Felix', 'Jonas', 'Tobias', 'Stefan', 'Pierre', 'Julien', 'Marco', 'Carlos', 'Miguel',
  'Diego', 'Pablo', 'Ahmed', 'Omar', 'Yusuf', 'Arjun', 'Rahul', 'Wei', 'Kenji', 'Dmitri', 'Ivan', 'Mary', 'Jennifer',
  'Linda', 'Elizabeth', 'Susan', 'Jessica', 'Sarah', 'Karen', 'Lisa', 'Emily', 'Michelle', 'Amanda', 'Rebecca',
  'Laura', 'Anna', 'Emma', 'Nicole', 'Helen', 'Rachel', 'Maria', 'Olivia', 'Lauren', 'Megan', 'Hannah', 'Alice',
  'Sophia', 'Natalie', 'Charlotte', 'Mia', 'Chloe', 'Zoe', 'Nora', 'Leah', 'Sofia', 'Clara', 'Julia', 'Sabine',
  'Camille', 'Giulia', 'Chiara', 'Lucia', 'Elena', 'Isabel', 'Fatima', 'Aisha', 'Priya', 'Ananya', 'Mei', 'Ingrid',
  'Astrid', 'Valentina', 'Camila', 'Naomi', 'Fiona', 'Niamh', 'Declan', 'Ewan', 'Simon', 'Martin', 'Nadia', 'Tariq',
  'Kofi', 'Amara', 'Ngozi', 'Zeynep', 'Piotr', 'Katarzyna', 'Lenka', 'Yasmin'];
// ...and some that are not on it, so some names get past the scrubber, as on real traffic.
export const GIVEN_UNLISTED = ['Thiago', 'Oluwaseun', 'Siddharth', 'Bogdan', 'Ximena', 'Anneliese', 'Kwabena', 'Saoirse'];
export const SURNAMES = ['Smith', 'Garcia', 'Miller', 'Rossi', 'Kowalski', 'Nguyen', 'Okafor', 'Tanaka', 'Patel',
  'Johansson', 'Dubois', 'Silva', 'Kim', 'Novak', 'Schmidt', 'Fischer', 'Weber', 'Jansen', 'Brown', 'Taylor', 'Lopez',
  'Martinez', 'Hernandez', 'Wilson', 'Anderson', 'Moreau', 'Bianchi', 'Yilmaz', 'Sato', 'Chen', 'Singh', 'Costa',
  'Wright', 'Murphy', 'Walsh', 'Larsen', 'Mensah', 'Haddad', 'Cohen', 'Ivanova', 'Becker', 'Hoffmann', 'Romano',
  'Ferreira', 'Kaur', 'Reddy', 'Zhang', 'Wang', 'Park', 'Lee', 'Nakamura', 'Adeyemi', 'Banerjee', 'Eriksen',
  'Fernandez', 'Gallagher', 'Horvat', 'Jovanovic', 'Kovacs', 'Lindqvist', 'Mahlangu', 'Nowak', 'Ortiz', 'Petrov'];
export const DOMAINS = ['gmail.com', 'outlook.com', 'yahoo.com', 'proton.me', 'icloud.com', 'hey.com', 'acme-corp.com',
  'northwind.io', 'globex.net', 'initech.co', 'mail.example.org', 'fastmail.fm'];
export const COMPANIES = ['Acme Cloud', 'Northwind', 'Globex', 'Initech', 'Umbrella Software', 'Stark Retail', 'Wayne Logistics',
  'Hooli', 'Vandelay Imports', 'Soylent Foods', 'Cyberdyne Systems', 'Tyrell Home'];
export const PRODUCTS = ['Sonic X2 headphones', 'Nimbus 3 router', 'Terra 500 blender', 'Vega smartwatch',
  'Orion 4K monitor', 'Pulse fitness band', 'Zephyr air purifier', 'Atlas standing desk', 'Lumen desk lamp',
  'Echo Mini speaker', 'Helix office chair', 'Polar 2 kettle', 'Summit hiking backpack', 'Pageturn e-reader',
  'Quartz coffee grinder', 'Breeze tower fan', 'Cobalt gaming mouse', 'Drift electric toothbrush',
  'Ember space heater', 'Fjord rain jacket', 'Granite cast-iron pan', 'Harbor travel mug', 'Iris robot vacuum',
  'Juniper yoga mat', 'Kestrel camera drone', 'Lyra wireless earbuds', 'Meridian laptop stand', 'Tundra cooler box',
  'Cascade water filter', 'Photon LED strip'];
export const ISSUES = ['arrived damaged', 'stopped working after two days', 'is missing the charger', 'was delivered to the wrong address',
  'is not what I ordered', 'makes a loud buzzing noise', 'never arrived', 'came without a manual', 'has a cracked screen',
  'keeps turning itself off', 'was charged twice', 'arrived in the wrong colour'];
export const CITIES = ['Lisbon', 'New York', 'São Paulo', 'Tokyo', 'Cape Town', 'Berlin', 'Mumbai', 'Sydney', 'Toronto',
  'Nairobi', 'Reykjavik', 'Buenos Aires', 'Seoul', 'Istanbul', 'Mexico City', 'Oslo', 'Dublin', 'Singapore',
  'Vancouver', 'Marrakesh', 'Chicago', 'Kraków', 'Hanoi', 'Lima'];
export const RESTAURANTS = ['The Green Fork', 'Sakura Sushi', "Luigi's Trattoria", 'Café Central', 'The Olive Tree',
  'Bombay Spice', 'Harbour Grill', 'La Petite Maison', 'Blue Lagoon Bistro', 'El Toro Loco', 'Golden Dragon',
  'Nordic Table', 'The Copper Kettle', 'Casa Verde'];
export const SUBJECTS = ['Quarterly report', 'Meeting notes', 'Contract renewal', 'Welcome aboard', 'Updated proposal',
  'Lunch on Friday', 'Invoice question', 'Project kickoff', 'Budget review', 'Holiday schedule', 'Design feedback',
  'Onboarding checklist', 'Travel plans', 'Board deck draft'];
export const EVENT_TITLES = ['Team standup', 'Budget review', 'Dentist appointment', '1:1 with manager', 'Product demo',
  'Quarterly planning', 'Yoga class', 'Client call', 'Sprint retro', 'Parent-teacher meeting', 'Lunch with the sales team',
  'Car service'];
export const REMINDER_TASKS = ['call the dentist', 'water the plants', 'submit the expense report', 'check the oven',
  'join the standup', 'pick up the dry cleaning', 'send the slides', 'take my medication', 'move the car',
  'review the contract', 'feed the cat', 'book the flights', 'follow up with the landlord', 'stretch'];
export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];
export const CURRENCIES = {
  USD: ['US dollars', 'dollars', 'USD'],
  EUR: ['euros', 'EUR'],
  GBP: ['British pounds', 'pounds sterling', 'GBP'],
  JPY: ['Japanese yen', 'yen', 'JPY'],
  CHF: ['Swiss francs', 'CHF'],
  CAD: ['Canadian dollars', 'CAD'],
};
export const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October',
  'November', 'December'];
export const MON3 = MONTHS.map((m) => m.slice(0, 3));
export const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

export const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
export const alternation = (list) => list.slice().sort((a, b) => b.length - a.length).map(escapeRe).join('|');
export const cap = (s) => (s ? s.charAt(0).toUpperCase() + s.slice(1) : s);
export const lcfirst = (s) => (s ? s.charAt(0).toLowerCase() + s.slice(1) : s);
export const ascii = (s) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^A-Za-z]/g, '').toLowerCase();
export const fill = (template, slots) => template.replace(/\{(\w+)\}/g, (m, k) => (k in slots ? slots[k] : m));

// Placeholders the gateway's scrubber writes (<PERSON_1>, <EMAIL_2>, ...): a scrubbed call sent
// back to the teacher (augmentation) still parses, and the answer copies the placeholder.
export const PH = (type) => `<${type}_\\d+>`;
export const NAME_RE = `(?:(?:${alternation([...GIVEN, ...GIVEN_UNLISTED])}) (?:${alternation(SURNAMES)})|${PH('PERSON')})`;
export const EMAIL_RE = `(?:[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+|${PH('EMAIL')})`;
export const PHONE_RE = `(?:\\+\\d[\\d ]{7,16}\\d|\\(\\d{3}\\) \\d{3}-\\d{4}|\\b\\d{3}[-.]\\d{3}[-.]\\d{4}\\b|${PH('PHONE')})`;
export const ORDER_RE = '\\b[A-Z]{2}-\\d{6}\\b';
export const PRODUCT_RE = `(?:${alternation(PRODUCTS)})`;
export const SLOT_RE = { order: ORDER_RE, email: EMAIL_RE, phone: PHONE_RE, product: PRODUCT_RE, name: NAME_RE, first: '[A-Z][a-z]+' };

export const findFirst = (re, text) => {
  const m = new RegExp(re).exec(text);
  return m ? m[0] : null;
};

export function person(rng) {
  const first = rng.chance(0.1) ? rng.pick(GIVEN_UNLISTED) : rng.pick(GIVEN);
  const last = rng.pick(SURNAMES);
  return { first, last, full: `${first} ${last}` };
}

export function email(rng, p) {
  const f = ascii(p.first), l = ascii(p.last);
  const local = rng.pick([`${f}.${l}`, `${f}${l}`, `${f[0]}.${l}`, `${f}_${l}${rng.int(1, 99)}`, `${f}${rng.int(70, 99)}`, `${l}.${f}`]);
  return `${local}@${rng.pick(DOMAINS)}`;
}

export function phone(rng) {
  const area = rng.pick(['212', '310', '415', '503', '617', '646', '702', '737', '917', '312']);
  const ex = String(rng.int(201, 989));
  const line = String(rng.int(0, 9999)).padStart(4, '0');
  return rng.weighted([
    [3, `(${area}) ${ex}-${line}`],
    [2, `${area}-${ex}-${line}`],
    [1, `${area}.${ex}.${line}`],
    [2, `+1 ${area} ${ex} ${line}`],
    [1, `+44 20 ${rng.int(7000, 8999)} ${String(rng.int(0, 9999)).padStart(4, '0')}`],
    [1, `+49 30 ${rng.int(2000000, 99999999)}`],
    [1, `+33 1 ${rng.int(10, 99)} ${rng.int(10, 99)} ${rng.int(10, 99)} ${rng.int(10, 99)}`],
  ]);
}

// E.164: "+" and the digits; numbers without a country code are US numbers (+1).
export function e164(text) {
  if (/^<PHONE_\d+>$/.test(text)) return text;
  const digits = text.replace(/\D/g, '');
  return text.trim().startsWith('+') ? `+${digits}` : `+1${digits}`;
}

export function orderId(rng) {
  const letters = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
  return `${rng.pick(letters)}${rng.pick(letters)}-${String(rng.int(100000, 999999))}`;
}

// ---------------------------------------------------------------------------------------------
// Dates, times and quantities
// ---------------------------------------------------------------------------------------------

export const daysIn = (y, m) => new Date(Date.UTC(y, m, 0)).getUTCDate();
export const validDate = (y, m, d) => m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m);
export const isoDate = ({ y, m, d }) => `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
export const ordinal = (d) => {
  const s = (d % 100 >= 11 && d % 100 <= 13) ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' }[d % 10] ?? 'th');
  return `${d}${s}`;
};
export const weekday = ({ y, m, d }) => WEEKDAYS[new Date(Date.UTC(y, m - 1, d)).getUTCDay()];
export const addDays = ({ y, m, d }, n) => {
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
};

export function randomDate(rng) {
  const y = rng.int(2019, 2027), m = rng.int(1, 12);
  return { y, m, d: rng.int(1, daysIn(y, m)) };
}

// numeric: also M/D/YYYY and D.M.YYYY (the normalisation prompts state those conventions).
export function formatDate(rng, date, numeric) {
  const { y, m, d } = date;
  const M = MONTHS[m - 1], Mon = MON3[m - 1];
  const forms = [
    [3, `${M} ${ordinal(d)}, ${y}`], [3, `${M} ${d}, ${y}`], [2, `${d} ${M} ${y}`], [1, `${Mon} ${d}, ${y}`],
    [1, `${Mon}. ${d}, ${y}`], [1, `the ${ordinal(d)} of ${M}, ${y}`], [1, `${ordinal(d)} ${M} ${y}`],
    [1, `${weekday(date)}, ${M} ${d}, ${y}`], [1, `${M} ${d} ${y}`], [1, `${y}/${String(m).padStart(2, '0')}/${String(d).padStart(2, '0')}`],
  ];
  if (numeric) forms.push([2, `${m}/${d}/${y}`], [1, `${d}.${m}.${y}`]);
  return rng.weighted(forms).replace('May.', 'May');
}

export const MONTH_RE = `(${alternation([...MONTHS, ...MON3, 'Sept'])})\\.?`;
export const monthIndex = (name) => {
  const n = name.toLowerCase().slice(0, 3);
  return MON3.findIndex((m) => m.toLowerCase() === n) + 1;
};
export const DATE_PATTERNS = [
  [new RegExp(`\\b(?:(?:${WEEKDAYS.join('|')}),?\\s+)?${MONTH_RE}\\s+(\\d{1,2})(?:st|nd|rd|th)?,?\\s+(\\d{4})\\b`, 'i'),
    (g) => ({ y: +g[3], m: monthIndex(g[1]), d: +g[2] })],
  [new RegExp(`\\b(\\d{1,2})(?:st|nd|rd|th)?\\s+(?:of\\s+)?${MONTH_RE},?\\s+(\\d{4})\\b`, 'i'),
    (g) => ({ y: +g[3], m: monthIndex(g[2]), d: +g[1] })],
  [/\b(\d{4})[/-](\d{1,2})[/-](\d{1,2})\b/, (g) => ({ y: +g[1], m: +g[2], d: +g[3] })],
  [/\b(\d{1,2})\/(\d{1,2})\/(\d{4})\b/, (g) => ({ y: +g[3], m: +g[1], d: +g[2] })],
  [/\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b/, (g) => ({ y: +g[3], m: +g[2], d: +g[1] })],
];

// The first date in the text (by position), or null.
export function parseDate(text) {
  let best = null;
  for (const [re, build] of DATE_PATTERNS) {
    const m = re.exec(text);
    if (!m) continue;
    const date = build(m);
    if (!validDate(date.y, date.m, date.d)) continue;
    if (!best || m.index < best.index) best = { index: m.index, date };
  }
  return best ? best.date : null;
}

export function randomTime(rng) {
  return { h: rng.int(7, 21), min: rng.pick([0, 0, 0, 15, 30, 30, 45]) };
}
export const hhmm = ({ h, min }) => `${String(h).padStart(2, '0')}:${String(min).padStart(2, '0')}`;
export function formatTime(rng, { h, min }) {
  if (h === 12 && min === 0 && rng.chance(0.5)) return 'noon';
  const h12 = h % 12 === 0 ? 12 : h % 12, ap = h < 12 ? 'am' : 'pm';
  const mm = String(min).padStart(2, '0');
  return rng.weighted([
    [3, min === 0 ? `${h12}${ap}` : `${h12}:${mm}${ap}`],
    [2, min === 0 ? `${h12} ${ap}` : `${h12}:${mm} ${ap}`],
    [1, `${h12}:${mm} ${ap === 'am' ? 'a.m.' : 'p.m.'}`],
    [3, hhmm({ h, min })],
  ]);
}
export function parseTime(text) {
  if (/\bnoon\b/i.test(text)) return { h: 12, min: 0 };
  let m = /\b(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)/i.exec(text);
  if (m) {
    let h = +m[1] % 12;
    if (m[3].toLowerCase().startsWith('p')) h += 12;
    return { h, min: m[2] ? +m[2] : 0 };
  }
  m = /\b(\d{1,2}):(\d{2})\b/.exec(text);
  if (m && +m[1] < 24 && +m[2] < 60) return { h: +m[1], min: +m[2] };
  return null;
}

// Round half away from zero to 2 decimals; always 2 decimals; never "-0.00".
export function round2(x) {
  const r = Math.sign(x) * Math.round(Math.abs(x) * 100 + 1e-7) / 100;
  return (r === 0 ? 0 : r).toFixed(2);
}

export const UNITS = [
  { forms: ['miles', 'mi'], to: 'km', f: (x) => x * 1.609344, expr: (x) => `${x} * 1.609344`, range: [0.5, 500], dec: 1,
    lines: ['{who} ran {q} last weekend.', 'The delivery van drove {q} today.', 'The trail is {q} long.', 'Distance: {q}'] },
  { forms: ['pounds', 'lbs', 'lb'], to: 'kg', f: (x) => x * 0.45359237, expr: (x) => `${x} * 0.45359237`, range: [1, 300], dec: 1,
    lines: ['The parcel for {who} weighs {q}.', 'Shipping weight: {q}', '{who} says the suitcase is {q}.'] },
  { forms: ['°F', 'degrees Fahrenheit'], to: '°C', f: (x) => (x - 32) * 5 / 9, expr: (x) => `(${x} - 32) * 5 / 9`, range: [-20, 110], dec: 1,
    lines: ['Temperature reading: {q}', 'The oven is set to {q}.', '{who} reported a fever of {q}.'] },
  { forms: ['gallons', 'gal'], to: 'L', f: (x) => x * 3.785411784, expr: (x) => `${x} * 3.785411784`, range: [1, 60], dec: 1,
    lines: ['The tank holds {q}.', 'We used {q} of paint.', 'Fuel added: {q}'] },
  { forms: ['inches'], to: 'cm', f: (x) => x * 2.54, expr: (x) => `${x} * 2.54`, range: [1, 80], dec: 1,
    lines: ['The screen is {q} wide.', 'Rainfall this month: {q}', '{who} measured the shelf at {q}.'] },
  { forms: ['feet', 'ft'], to: 'm', f: (x) => x * 0.3048, expr: (x) => `${x} * 0.3048`, range: [2, 400], dec: 0,
    lines: ['The ceiling is {q} high.', 'The boat is {q} long.', 'Cable length: {q}'] },
  { forms: ['ounces', 'oz'], to: 'g', f: (x) => x * 28.349523125, expr: (x) => `${x} * 28.349523125`, range: [1, 64], dec: 1,
    lines: ['Add {q} of flour.', 'The package weighs {q}.', 'Serving size: {q}'] },
];
export const UNIT_FORMS = UNITS.flatMap((u) => u.forms.map((form) => ({ form, unit: u })));
export const QTY_RE = new RegExp(`(-?\\d{1,3}(?:,\\d{3})+(?:\\.\\d+)?|-?\\d+(?:\\.\\d+)?)\\s*(${alternation(UNIT_FORMS.map((u) => u.form))})(?![A-Za-z])`);

// A quantity's metric answer ("100.74 km") and the working a reasoning model would show for it
// ("62.6 * 1.609344 = 100.74", its reasoning_content); null when the text holds none.
export function convertQuantity(text) {
  const m = QTY_RE.exec(text);
  if (!m) return null;
  const value = Number(m[1].replace(/,/g, ''));
  const unit = UNIT_FORMS.find((u) => u.form === m[2]).unit;
  const result = round2(unit.f(value));
  return { answer: `${result} ${unit.to}`, working: `${unit.expr(value)} = ${result}` };
}

export function parseQuantity(text) {
  return convertQuantity(text)?.answer ?? null;
}
