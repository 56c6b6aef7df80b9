#include "convert/augment.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>

#include "convert/evaluate.h"
#include "convert/metric.h"
#include "convert/routing_table.h"
#include "convert/split.h"
#include "core/error.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// ---- Cutting a message into slots -----------------------------------------------------------

enum class TokenKind { kSpace, kWord, kDigits, kPlaceholder, kOther };

struct Token {
  TokenKind kind;
  std::string text;
};

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Length of a scrub placeholder ("<PERSON_1>", "<EMAIL_12>") starting at i, or 0.
size_t placeholder_length(std::string_view s, size_t i) {
  if (s[i] != '<' || i + 2 >= s.size() || !(s[i + 1] >= 'A' && s[i + 1] <= 'Z')) return 0;
  size_t j = i + 1;
  while (j < s.size() && ((s[j] >= 'A' && s[j] <= 'Z') || is_ascii_digit(s[j]) || s[j] == '_')) ++j;
  return j < s.size() && s[j] == '>' ? j + 1 - i : 0;
}

std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  auto run = [&](TokenKind kind, bool (*in)(char)) {
    size_t j = i;
    while (j < s.size() && in(s[j])) ++j;
    out.push_back({kind, std::string(s.substr(i, j - i))});
    i = j;
  };
  while (i < s.size()) {
    if (const size_t n = placeholder_length(s, i); n > 0) {
      out.push_back({TokenKind::kPlaceholder, std::string(s.substr(i, n))});
      i += n;
    } else if (is_space(s[i])) {
      run(TokenKind::kSpace, is_space);
    } else if (is_ascii_alpha(s[i])) {
      run(TokenKind::kWord, is_ascii_alpha);
    } else if (is_ascii_digit(s[i])) {
      run(TokenKind::kDigits, is_ascii_digit);
    } else {
      out.push_back({TokenKind::kOther, std::string(1, s[i])});
      ++i;
    }
  }
  return out;
}

// How a neighbouring token enters a slot's key: a word by its text before the slot (the verb or
// article that says what fills it), by its kind after it; digits and placeholders by kind.
std::string neighbour(const std::vector<Token>& t, size_t i, int step, bool before) {
  for (size_t j = i;;) {
    if (step < 0 && j == 0) return "^";
    j = static_cast<size_t>(static_cast<long long>(j) + step);
    if (j >= t.size()) return "$";
    switch (t[j].kind) {
      case TokenKind::kSpace: continue;
      case TokenKind::kDigits: return "#";
      case TokenKind::kPlaceholder: return "<>";
      case TokenKind::kOther: return t[j].text;
      case TokenKind::kWord: {
        if (!before) return "w";
        std::string lower = t[j].text;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return lower;
      }
    }
  }
}

// Whether token i begins a sentence or a line (its capital says nothing about what it is).
bool starts_sentence(const std::vector<Token>& t, size_t i) {
  for (size_t j = i; j-- > 0;) {
    if (t[j].kind == TokenKind::kSpace) {
      if (t[j].text.find('\n') != std::string::npos) return true;
      continue;
    }
    if (t[j].kind != TokenKind::kOther) return false;
    const char c = t[j].text[0];
    return c == '.' || c == '!' || c == '?' || c == ':' || c == '"' || c == '(' || c == '-';
  }
  return true;
}

// The slot of token i, or "" for a token that is never swapped: only digit runs and names
// (capitalised words inside a sentence) are. Swapping common words would change what the
// message asks (its label), not just the values the answer copies or transforms.
std::string slot_key(const std::vector<Token>& t, size_t i) {
  std::string kind;
  if (t[i].kind == TokenKind::kWord) {
    if (!std::isupper(static_cast<unsigned char>(t[i].text[0])) || starts_sentence(t, i)) return "";
    kind = "W";
  } else if (t[i].kind == TokenKind::kDigits) {
    kind = fmt::format("d{}", t[i].text.size());
  } else {
    return "";
  }
  return kind + '|' + neighbour(t, i, -1, true) + '|' + neighbour(t, i, +1, false);
}

// The message a variant changes: the last user message with string content; -1 when none.
int last_user_message(const json& messages) {
  if (!messages.is_array()) return -1;
  for (size_t i = messages.size(); i-- > 0;) {
    const json& m = messages[i];
    if (m.is_object() && m.value("role", "") == "user") return m.contains("content") && m["content"].is_string() ? static_cast<int>(i) : -1;
  }
  return -1;
}

// splitmix64: a seeded stream that is the same on every platform.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

using SlotPool = std::map<std::string, std::vector<std::string>>;  // slot -> distinct values, sorted

SlotPool slot_pool(const std::vector<const LoggedCall*>& sources) {
  std::map<std::string, std::set<std::string>> seen;
  for (const LoggedCall* c : sources) {
    const int m = last_user_message(c->messages);
    if (m < 0) continue;
    const std::vector<Token> t = tokenize(c->messages[static_cast<size_t>(m)]["content"].get<std::string>());
    for (size_t i = 0; i < t.size(); ++i) {
      if (std::string key = slot_key(t, i); !key.empty()) seen[key].insert(t[i].text);
    }
  }
  SlotPool pool;
  for (auto& [key, values] : seen) {
    if (values.size() >= 2) pool[key].assign(values.begin(), values.end());
  }
  return pool;
}

// One variant of `text`, or "" when no token was swapped.
std::string vary_text(const std::string& text, const SlotPool& pool, double p, Rng& rng) {
  std::vector<Token> t = tokenize(text);
  bool changed = false;
  for (size_t i = 0; i < t.size(); ++i) {
    const std::string key = slot_key(t, i);
    const auto it = key.empty() ? pool.end() : pool.find(key);
    if (it == pool.end() || rng.uniform() >= p) continue;
    const std::string& value = it->second[rng.below(it->second.size())];
    changed = changed || value != t[i].text;
    t[i].text = value;
  }
  if (!changed) return "";
  std::string out;
  for (const Token& token : t) out += token.text;
  return out;
}

// ---- Asking the teacher ---------------------------------------------------------------------

// What a cluster's answers look like: the metrics at least a tenth of them take (a cluster
// may hold two call types) and the longest.
struct AnswerShape {
  std::set<MetricKind> metrics;
  size_t max_chars = 0;
};

AnswerShape answer_shape(const std::vector<const LoggedCall*>& sources) {
  std::map<MetricKind, size_t> votes;
  AnswerShape shape;
  for (const LoggedCall* c : sources) {
    ++votes[metric_for_answer(c->answer)];
    shape.max_chars = std::max(shape.max_chars, answer_text(c->answer).size());
  }
  for (const auto& [kind, n] : votes) {
    if (10 * n >= sources.size()) shape.metrics.insert(kind);
  }
  return shape;
}

bool fits_shape(const AnswerShape& shape, const json& message) {
  return shape.metrics.count(metric_for_answer(message)) > 0 &&
         answer_text(message).size() <= shape.max_chars * 3 / 2 + 16;
}

}  // namespace

json AugmentReport::to_json() const {
  json out{{"sources", sources}, {"variants", variants}, {"answered", answered}, {"kept", kept},
           {"wrong_shape", wrong_shape}, {"failed", failed}, {"stopped", stopped}, {"seconds", seconds}};
  if (stopped) out["stop_reason"] = stop_reason;
  return out;
}

std::vector<LoggedCall> vary_calls(const std::vector<const LoggedCall*>& sources, int per_call,
                                   double swap_probability, uint64_t seed) {
  std::vector<LoggedCall> out;
  if (per_call <= 0) return out;
  const SlotPool pool = slot_pool(sources);
  std::set<std::string> seen;  // request keys: the sources' and every variant's so far
  for (const LoggedCall* c : sources) seen.insert(request_key(c->messages, c->tools));
  Rng rng{seed};
  for (const LoggedCall* c : sources) {
    const int m = last_user_message(c->messages);
    if (m < 0) continue;
    const std::string text = c->messages[static_cast<size_t>(m)]["content"].get<std::string>();
    // A few tries per variant wanted: a source with few swappable slots yields fewer.
    for (int made = 0, tries = 0; made < per_call && tries < 4 * per_call; ++tries) {
      std::string varied = vary_text(text, pool, swap_probability, rng);
      if (varied.empty()) continue;
      LoggedCall v = *c;
      v.messages[static_cast<size_t>(m)]["content"] = std::move(varied);
      if (!seen.insert(request_key(v.messages, v.tools)).second) continue;
      v.source_id = c->id;
      v.id = 0;
      v.answer = json();
      v.from_teacher = false;
      v.latency_ms = 0;
      v.prompt_tokens = v.completion_tokens = 0;
      out.push_back(std::move(v));
      ++made;
    }
  }
  return out;
}

std::vector<LoggedCall> augment_calls(Backend& teacher, const std::vector<const LoggedCall*>& sources,
                                      const AugmentOptions& options, AugmentReport* report,
                                      const AugmentProgress& progress) {
  AugmentReport r;
  r.sources = sources.size();
  std::vector<LoggedCall> variants = vary_calls(sources, options.per_call, options.swap_probability, options.seed);
  r.variants = variants.size();
  const AnswerShape shape = answer_shape(sources);
  const auto start = Clock::now();
  std::mutex mutex;  // r's counters, the failure run, the progress line
  int failures_in_a_row = 0;
  // Each variant is one greedy teacher call; a kept one gets the answer and from_teacher.
  run_calls_in_parallel(variants.size(), options.parallel, [&](size_t i) {
    LoggedCall& v = variants[i];
    std::string error;
    json message;
    bool finished = false;
    const auto t0 = Clock::now();
    try {
      const CallResult result = run_chat(teacher, greedy_request(v, options.model.empty() ? v.model : options.model,
                                                                 options.max_tokens));
      const ChoiceResult& choice = first_choice(result);
      message = assistant_message(choice);
      finished = choice.finish_reason != "length";
    } catch (const std::exception& e) {
      error = e.what();
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::lock_guard lock(mutex);
    if (!error.empty()) {
      ++r.failed;
      if (++failures_in_a_row < options.max_consecutive_failures) return true;
      if (!r.stopped) {
        r.stopped = true;
        r.stop_reason = fmt::format("{} teacher calls failed in a row; the last: {}", failures_in_a_row, error);
      }
      return false;
    }
    failures_in_a_row = 0;
    ++r.answered;
    if (finished && fits_shape(shape, message)) {
      v.answer = std::move(message);
      v.latency_ms = ms;
      v.from_teacher = true;
      ++r.kept;
    } else {
      ++r.wrong_shape;
    }
    if (progress && r.answered % 500 == 0) progress(fmt::format("    augmentation: {} of {} answered", r.answered, r.variants));
    return true;
  });
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::erase_if(variants, [](const LoggedCall& v) { return !v.from_teacher; });
  if (report) *report = r;
  return variants;
}

void write_augmented(const std::string& path, const std::map<int, std::vector<LoggedCall>>& calls) {
  std::string text;
  for (const auto& [cluster, list] : calls) {
    for (const LoggedCall& c : list) {
      text += json{{"cluster", cluster}, {"source", c.source_id}, {"messages", c.messages}, {"tools", c.tools},
                   {"answer", c.answer}, {"latency_ms", c.latency_ms}, {"max_tokens", c.max_tokens}}.dump() + "\n";
    }
  }
  write_file_atomically(path, text);
}

std::map<int, std::vector<LoggedCall>> read_augmented(const std::string& path, int64_t first_id) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot read the augmented calls", path);
  std::map<int, std::vector<LoggedCall>> out;
  std::string line;
  int64_t id = first_id;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      const json j = json::parse(line);
      LoggedCall c;
      c.id = id--;
      c.source_id = j.value("source", int64_t{0});  // files written before sources were kept: 0
      c.messages = j.at("messages");
      c.tools = j.at("tools");
      c.answer = j.at("answer");
      c.latency_ms = j.value("latency_ms", 0.0);
      c.max_tokens = j.value("max_tokens", 0);  // files written before it was kept: none
      c.model = "augmented";
      c.kind = "chat";
      c.from_teacher = true;
      out[j.at("cluster").get<int>()].push_back(std::move(c));
    } catch (const json::exception& e) {
      fail("{}:{}: not an augmented call: {}", path, n, e.what());
    }
  }
  return out;
}

}  // namespace rpu::convert
