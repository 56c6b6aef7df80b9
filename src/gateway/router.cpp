#include "gateway/router.h"

#include "reasoning/pattern.h"

namespace rpu::gateway {

struct Router::CompiledRule {
  std::unique_ptr<reasoning::Pattern> system, user;
  std::optional<bool> has_tools;
  std::string task;
};

namespace {

std::string content_text(const nlohmann::ordered_json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string text;
  if (!content.is_array()) return text;
  for (const auto& part : content) {
    if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string()) {
      if (!text.empty()) text += "\n";
      text += part["text"].get<std::string>();
    }
  }
  return text;
}

bool found(const reasoning::Pattern* pattern, const std::string& text) {
  return pattern == nullptr || pattern->search(text) == reasoning::Pattern::Status::kMatch;
}

}  // namespace

std::string system_text(const nlohmann::ordered_json& messages) {
  std::string text;
  if (!messages.is_array()) return text;
  for (const auto& m : messages) {
    if (!m.is_object()) continue;
    const std::string role = m.value("role", "");
    if ((role == "system" || role == "developer") && m.contains("content")) {
      if (!text.empty()) text += "\n";
      text += content_text(m["content"]);
    }
  }
  return text;
}

std::string last_user_text(const nlohmann::ordered_json& messages) {
  if (!messages.is_array()) return {};
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->is_object() && it->value("role", "") == "user" && it->contains("content")) return content_text((*it)["content"]);
  }
  return {};
}

Router::Router(const std::vector<RouteConfig>& routes, const std::string& default_route) : routes_(routes) {
  for (size_t i = 0; i < routes.size(); ++i) {
    const MatchConfig& m = routes[i].match;
    if (m.empty()) {
      rules_.push_back(nullptr);
    } else {
      auto rule = std::make_unique<CompiledRule>();
      const std::string key = "routes[" + std::to_string(i) + "].match";
      if (!m.system_regex.empty()) rule->system = std::make_unique<reasoning::Pattern>(m.system_regex, key + ".system");
      if (!m.user_regex.empty()) rule->user = std::make_unique<reasoning::Pattern>(m.user_regex, key + ".user");
      rule->has_tools = m.has_tools;
      rule->task = m.task;
      rules_.push_back(std::move(rule));
    }
    if (routes[i].name == default_route) default_ = i;
  }
}

Router::~Router() = default;

bool Router::matches(const CompiledRule& rule, const ChatRequest& request) const {
  if (!rule.task.empty() && request.task != rule.task) return false;
  if (rule.has_tools) {
    const bool has = request.tools.is_array() && !request.tools.empty();
    if (has != *rule.has_tools) return false;
  }
  return found(rule.system.get(), system_text(request.messages)) && found(rule.user.get(), last_user_text(request.messages));
}

std::optional<size_t> Router::by_name(const std::string& model) const {
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].name == model) return i;
    for (const std::string& alias : routes_[i].aliases) {
      if (alias == model) return i;
    }
  }
  return std::nullopt;
}

void Router::not_found(const std::string& model) const {
  std::string names;
  for (const std::string& n : model_names()) names += (names.empty() ? "'" : ", '") + n + "'";
  throw ApiError(404, "the model '" + model + "' does not exist; this gateway routes " + names, "invalid_request_error",
                 "model", "model_not_found");
}

RouteChoice Router::pick(const ChatRequest& request) const {
  if (const auto i = by_name(request.model)) return {*i, "model"};
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i] && matches(*rules_[i], request)) return {i, "rule"};
  }
  if (classifier_) {
    if (const auto name = classifier_(request)) {
      if (const auto i = by_name(*name)) return {*i, "classifier"};
    }
  }
  if (default_) return {*default_, "default"};
  not_found(request.model);
}

RouteChoice Router::pick_by_model(const std::string& model) const {
  if (const auto i = by_name(model)) return {*i, "model"};
  if (default_) return {*default_, "default"};
  not_found(model);
}

std::vector<std::string> Router::model_names() const {
  std::vector<std::string> names;
  for (const RouteConfig& r : routes_) {
    names.push_back(r.name);
    names.insert(names.end(), r.aliases.begin(), r.aliases.end());
  }
  return names;
}

}  // namespace rpu::gateway
