#include "convert/training_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

std::string text_of(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array()) {
    for (const json& part : content) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string()) {
        if (!out.empty()) out += '\n';  // (not ("" or "\n") + string&&: gcc 12 -O3's false -Wstringop-overflow)
        out += part["text"].get_ref<const std::string&>();
      }
    }
  }
  return out;
}

// The tools as one line: what a model needs to pick one and fill its arguments.
std::string tools_line(const json& tools) {
  json list = json::array();
  for (const json& t : tools) {
    if (!t.is_object() || !t.contains("function") || !t["function"].is_object()) continue;
    const json& fn = t["function"];
    json item{{"name", fn.value("name", "")}};
    if (fn.contains("description")) item["description"] = fn["description"];
    if (fn.contains("parameters")) item["parameters"] = fn["parameters"];
    list.push_back(std::move(item));
  }
  return "Tools: " + list.dump();
}

json plain_message(const json& m) {
  const std::string role = m.value("role", "user");
  if (role == "tool") return json{{"role", "user"}, {"content", "Tool result: " + text_of(m.value("content", json()))}};
  if (role == "assistant") {
    std::string text = text_of(m.value("content", json()));
    if (text.empty()) text = answer_text(m);
    return json{{"role", "assistant"}, {"content", text}};
  }
  return json{{"role", role == "developer" ? std::string("system") : role}, {"content", text_of(m.value("content", json()))}};
}

}  // namespace

json training_prompt(const LoggedCall& call) {
  json out = json::array();
  if (call.messages.is_array()) {
    for (const json& m : call.messages) {
      if (m.is_object()) out.push_back(plain_message(m));
    }
  }
  if (call.tools.is_array() && !call.tools.empty()) {
    const std::string line = tools_line(call.tools);
    auto system = std::find_if(out.begin(), out.end(), [](const json& m) { return m["role"] == "system"; });
    if (system != out.end()) {
      (*system)["content"] = (*system)["content"].get<std::string>() + "\n" + line;
    } else {
      out.insert(out.begin(), json{{"role", "system"}, {"content", line}});
    }
  }
  return out;
}

json training_messages(const LoggedCall& call) {
  json out = training_prompt(call);
  out.push_back(json{{"role", "assistant"}, {"content", answer_text(call.answer)}});
  return out;
}

TrainingFileReport write_training_file(const std::vector<const LoggedCall*>& calls, const SplitOptions& split,
                                       const std::string& path) {
  TrainingFileReport report;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write training file '{}'", tmp);
    for (const LoggedCall* c : calls) {
      if (!c->from_teacher) {
        ++report.not_teacher;
        continue;
      }
      if (is_held_out(*c, split)) {
        ++report.held_out_skipped;
        continue;
      }
      out << json{{"messages", training_messages(*c)}}.dump() << '\n';
      ++report.written;
    }
    out.flush();
    if (!out) fail("writing training file '{}' failed", tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail("cannot rename '{}' to '{}': {}", tmp, path, ec.message());
  return report;
}

}  // namespace rpu::convert
