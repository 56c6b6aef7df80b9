#include "retrieval/knowledge_context.h"

#include <fmt/format.h>

#include <algorithm>

namespace rpu::retrieval {

namespace {

std::string instructions() {
  return "Answer from the numbered sources below and cite each source you use as [n]. If they do not contain the "
         "answer, reply exactly: " +
         std::string(kNotInSources);
}

std::string source_entry(const SearchHit& hit, int n) {
  std::string head = source_label(hit.chunk.title, hit.chunk.heading);
  if (hit.chunk.page_begin > 0) head += fmt::format(" (page {})", hit.chunk.page_begin);
  return fmt::format("[{}] {}\n{}", n, head, hit.chunk.text);
}

}  // namespace

std::string source_label(const std::string& title, const std::string& heading) {
  if (heading.empty() || heading == title) return title;
  if (title.empty() || heading.starts_with(title + " > ")) return heading;
  return fmt::format("{} > {}", title, heading);
}

ContextBlock build_context(const std::vector<SearchHit>& hits, int max_tokens, const TokenCount& count) {
  ContextBlock block;
  block.text = instructions();
  block.tokens = count(block.text);
  for (const SearchHit& hit : hits) {
    const std::string entry = fmt::format("\n\n{}", source_entry(hit, static_cast<int>(block.sources.size()) + 1));
    const int cost = count(entry);
    if (block.tokens + cost > max_tokens) {
      ++block.left_out;
      continue;
    }
    block.text += entry;
    block.tokens += cost;
    block.sources.push_back(hit);
  }
  return block;
}

void add_context_to_messages(nlohmann::ordered_json& messages, const std::string& block) {
  if (!messages.is_array()) return;
  if (!messages.empty() && messages[0].is_object() && messages[0].value("role", "") == "system" &&
      messages[0].contains("content") && messages[0]["content"].is_string()) {
    messages[0]["content"] = messages[0]["content"].get<std::string>() + "\n\n" + block;
    return;
  }
  messages.insert(messages.begin(), nlohmann::ordered_json{{"role", "system"}, {"content", block}});
}

std::string last_user_text(const nlohmann::ordered_json& messages) {
  if (!messages.is_array()) return "";
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (!it->is_object() || it->value("role", "") != "user" || !it->contains("content")) continue;
    const auto& content = (*it)["content"];
    if (content.is_string()) return content.get<std::string>();
    std::string text;
    if (content.is_array()) {
      for (const auto& part : content) {
        if (part.is_object() && part.contains("text") && part["text"].is_string()) {
          if (!text.empty()) text += '\n';
          text += part["text"].get<std::string>();
        }
      }
    }
    return text;
  }
  return "";
}

Citations find_citations(std::string_view answer, int n_sources) {
  Citations out;
  auto note = [&](long n) {
    std::vector<int>& into = (n >= 1 && n <= n_sources) ? out.cited : out.invalid;
    const int value = static_cast<int>(std::min<long>(n, 1 << 30));
    if (std::find(into.begin(), into.end(), value) == into.end()) into.push_back(value);
  };
  for (size_t i = 0; i < answer.size(); ++i) {
    if (answer[i] != '[') continue;
    // "[" digits ("," or ", " digits)* "]"
    std::vector<long> numbers;
    size_t j = i + 1;
    bool ok = false;
    while (j < answer.size()) {
      size_t start = j;
      long n = 0;
      while (j < answer.size() && answer[j] >= '0' && answer[j] <= '9' && j - start < 9) n = n * 10 + (answer[j++] - '0');
      if (j == start) break;
      numbers.push_back(n);
      if (j < answer.size() && answer[j] == ']') {
        ok = true;
        break;
      }
      if (j < answer.size() && answer[j] == ',') ++j;
      else break;
      while (j < answer.size() && answer[j] == ' ') ++j;
    }
    if (!ok) continue;
    for (long n : numbers) note(n);
    i = j;
  }
  return out;
}

nlohmann::ordered_json source_json(const SearchHit& hit, int n) {
  return {{"n", n},
          {"source", hit.chunk.source_path},
          {"title", hit.chunk.title},
          {"heading", hit.chunk.heading},
          {"offsets",
           {{"byte_begin", hit.chunk.byte_begin},
            {"byte_end", hit.chunk.byte_end},
            {"page_begin", hit.chunk.page_begin},
            {"page_end", hit.chunk.page_end}}},
          {"score", hit.score},
          {"chunk_id", hit.chunk.id}};
}

}  // namespace rpu::retrieval
