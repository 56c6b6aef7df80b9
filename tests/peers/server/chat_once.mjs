// One chat completion through the official client: node chat_once.mjs BASE_URL MODEL QUESTION
import OpenAI from 'openai';

const [baseUrl, model, question] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'none', maxRetries: 0 });
const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: question }], temperature: 0, max_tokens: 96 });
console.log(r.choices[0].message.content);
