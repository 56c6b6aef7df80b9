#include "convert/copy_fields.h"

#include <algorithm>

#include "convert/metric.h"
#include "decode/copy_matcher.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

// The answer's JSON objects whose values the model writes: its content when that is a JSON
// object, and each tool call's arguments.
std::vector<json> answer_objects(const json& answer) {
  std::vector<json> objects;
  if (!answer.is_object()) return objects;
  if (answer.contains("content") && answer["content"].is_string()) {
    if (auto o = parse_json_object(answer["content"].get<std::string>())) objects.push_back(std::move(*o));
  }
  if (answer.contains("tool_calls") && answer["tool_calls"].is_array()) {
    for (const auto& call : answer["tool_calls"]) {
      if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
      const json& args = call["function"].value("arguments", json());
      if (args.is_object()) objects.push_back(args);
      if (args.is_string())
        if (auto o = parse_json_object(args.get<std::string>())) objects.push_back(std::move(*o));
    }
  }
  return objects;
}

}  // namespace

std::vector<CopyFieldStat> copy_field_stats(const std::vector<const LoggedCall*>& calls) {
  std::vector<CopyFieldStat> stats;
  const auto stat_of = [&stats](const std::string& key) -> CopyFieldStat& {
    for (auto& s : stats)
      if (s.key == key) return s;
    stats.push_back(CopyFieldStat{key, 0, 0, 0, {}});
    return stats.back();
  };
  for (const LoggedCall* call : calls) {
    const CopyTexts texts = copy_texts(call->messages);
    for (const json& object : answer_objects(call->answer)) {
      for (const auto& [key, value] : object.items()) {
        if (!value.is_string() || value.get_ref<const std::string&>().empty()) continue;
        const std::string& v = value.get_ref<const std::string&>();
        CopyFieldStat& s = stat_of(key);
        ++s.values;
        const std::string shape = value_shape(v);
        const auto copied_from = [&](const std::vector<std::string>& from) {
          return std::any_of(from.begin(), from.end(), [&](const std::string& t) {
            if (t.find(v) == std::string::npos) return false;
            const std::vector<std::string> candidates = copy_candidates(t, {shape});
            return std::find(candidates.begin(), candidates.end(), v) != candidates.end();
          });
        };
        // The last user message is one of the messages: a value found there needs no second search.
        const bool in_last_user = copied_from(texts.last_user);
        if (!in_last_user && !copied_from(texts.messages)) continue;
        ++s.copied;
        if (in_last_user) ++s.copied_last_user;
        auto it = std::find_if(s.shapes.begin(), s.shapes.end(), [&](const auto& p) { return p.first == shape; });
        if (it == s.shapes.end()) s.shapes.emplace_back(shape, 1);
        else ++it->second;
      }
    }
  }
  return stats;
}

std::vector<CopyField> copied_fields(const std::vector<const LoggedCall*>& calls, const CopyFieldOptions& options) {
  std::vector<CopyField> fields;
  for (const CopyFieldStat& s : copy_field_stats(calls)) {
    if (s.values < options.min_values || s.copied < options.min_share * s.values) continue;
    CopyField field{s.key, {}, s.copied_last_user >= options.min_share * s.values};
    // Shapes that recur; a rare one is more likely a teacher's slip ("463172" for "SB-463172")
    // than a form to allow. When the recurring ones leave too much out, any span goes.
    const auto seen_once = std::count_if(s.shapes.begin(), s.shapes.end(), [](const auto& p) { return p.second == 1; });
    const double min_count = std::max(2.0, options.min_shape_share * s.copied);
    int covered = 0;
    for (const auto& [shape, count] : s.shapes) {
      if (count < min_count) continue;
      field.shapes.push_back(shape);
      covered += count;
    }
    if (field.shapes.size() > options.max_shapes || seen_once > options.max_unseen_shape * s.copied ||
        covered < options.min_shape_cover * s.copied) {
      field.shapes.clear();
    }
    fields.push_back(std::move(field));
  }
  return fields;
}

}  // namespace rpu::convert
