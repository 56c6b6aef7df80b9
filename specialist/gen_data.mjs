// Multi-step arithmetic word problems with worked answers, the training and evaluation data of
// rpu's built-in specialist model. Deterministic for a seed; test problems never occur in the
// training set (compared by their full text).
//
//   node specialist/gen_data.mjs --out DIR [--train 60000] [--test 500] [--seed 1]
//
// Writes DIR/train.jsonl and DIR/test.jsonl in the OpenAI fine-tuning chat format:
//   {"messages": [{"role": "user", "content": "Mia has 12 apples. She buys 7 more. ..."},
//                 {"role": "assistant", "content": "12 + 7 = 19. 19 - 5 = 14. The answer is 14."}]}
import fs from 'node:fs';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => {
  if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
  return pairs;
}, []));
if (!args.out) {
  console.error('usage: node specialist/gen_data.mjs --out DIR [--train N] [--test M] [--seed S]');
  process.exit(2);
}
const trainCount = Number(args.train ?? 60000);
const testCount = Number(args.test ?? 500);
let state = BigInt(args.seed ?? 1) * 0x9E3779B97F4A7C15n & 0xFFFFFFFFFFFFFFFFn;

// splitmix64: the same stream on every platform.
function next() {
  state = (state + 0x9E3779B97F4A7C15n) & 0xFFFFFFFFFFFFFFFFn;
  let z = state;
  z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & 0xFFFFFFFFFFFFFFFFn;
  z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & 0xFFFFFFFFFFFFFFFFn;
  return z ^ (z >> 31n);
}
const pick = (n) => Number(next() % BigInt(n));
const choice = (list) => list[pick(list.length)];

const people = [['Mia', 'She'], ['Leo', 'He'], ['Tom', 'He'], ['Ana', 'She'], ['Sam', 'He'], ['Ivy', 'She'],
  ['Ben', 'He'], ['Zoe', 'She'], ['Max', 'He'], ['Eva', 'She'], ['Noah', 'He'], ['Lily', 'She']];
const things = ['apples', 'books', 'coins', 'cards', 'shells', 'pens', 'stickers', 'marbles', 'cookies', 'stamps'];
const gains = [['buys', 'more'], ['finds', 'more'], ['gets', 'more'], ['picks up', 'more']];
const losses = [['gives away', ''], ['loses', ''], ['sells', ''], ['gives', 'to a friend']];
const questions = ['How many {t} does {n} have now?', 'How many {t} does {n} have in the end?'];

function problem() {
  const [name, pronoun] = choice(people);
  const thing = choice(things);
  let value = pick(60);
  const sentences = [`${name} has ${value} ${thing}.`];
  const work = [];
  const steps = 1 + pick(3);
  for (let s = 0; s < steps; ++s) {
    const subject = s === 0 ? pronoun : choice([name, pronoun]);
    if (value > 0 && pick(2) === 0) {
      const amount = 1 + pick(Math.min(value, 30));
      const [verb, tail] = choice(losses);
      sentences.push(`${subject} ${verb} ${amount}${tail ? ' ' + tail : ''}.`);
      work.push(`${value} - ${amount} = ${value - amount}.`);
      value -= amount;
    } else {
      const amount = 1 + pick(30);
      const [verb, tail] = choice(gains);
      sentences.push(`${subject} ${verb} ${amount} ${tail}.`);
      work.push(`${value} + ${amount} = ${value + amount}.`);
      value += amount;
    }
  }
  sentences.push(choice(questions).replace('{t}', thing).replace('{n}', name));
  return { question: sentences.join(' '), answer: `${work.join(' ')} The answer is ${value}.`, steps };
}

const line = (p) => JSON.stringify({ messages: [{ role: 'user', content: p.question }, { role: 'assistant', content: p.answer }] });
const train = [];
const seen = new Set();
while (train.length < trainCount) {
  const p = problem();
  seen.add(p.question);
  train.push(line(p));
}
const test = [];
const testSeen = new Set();
while (test.length < testCount) {
  const p = problem();
  if (seen.has(p.question) || testSeen.has(p.question)) continue;
  testSeen.add(p.question);
  test.push(line(p));
}
fs.mkdirSync(args.out, { recursive: true });
fs.writeFileSync(path.join(args.out, 'train.jsonl'), train.join('\n') + '\n');
fs.writeFileSync(path.join(args.out, 'test.jsonl'), test.join('\n') + '\n');
console.error(`wrote ${train.length} training and ${test.length} test problems to ${args.out}`);
