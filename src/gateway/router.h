// Which route answers a call. In order:
//   1. the request's `model` is a route's alias or name;
//   2. the first route (in config order) whose `match` rules all hold: a regex on the system
//      prompt(s), a regex on the last user message, tools present or absent, the task header;
//   3. the task classifier, when one is installed (the conversion loop's: it maps a call to a
//      learnt task, which names a route);
//   4. the default route;
// otherwise the call is a 404 naming the model. Regexes run under reasoning::Pattern's budget:
// a rule that runs out of it does not match.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "pipeline/call.h"

namespace rpu::reasoning {
class Pattern;
}

namespace rpu::gateway {

// A conversion-loop classifier: the route name for a call, or nullopt when unsure.
using TaskClassifier = std::function<std::optional<std::string>(const ChatRequest&)>;

struct RouteChoice {
  size_t route = 0;     // index into the config's routes
  const char* by = "";  // "model", "rule", "classifier", "default"
};

class Router {
 public:
  explicit Router(const std::vector<RouteConfig>& routes, const std::string& default_route);
  ~Router();

  // Throws ApiError 404 (param "model") when nothing claims the call.
  RouteChoice pick(const ChatRequest& request) const;
  // Completions and embeddings have no messages: by model name, else the default route.
  RouteChoice pick_by_model(const std::string& model) const;
  void set_classifier(TaskClassifier classifier) { classifier_ = std::move(classifier); }
  // Every model name a client may send (aliases and route names).
  std::vector<std::string> model_names() const;
  bool has_default() const { return default_.has_value(); }

 private:
  struct CompiledRule;
  bool matches(const CompiledRule& rule, const ChatRequest& request) const;
  std::optional<size_t> by_name(const std::string& model) const;
  [[noreturn]] void not_found(const std::string& model) const;

  const std::vector<RouteConfig>& routes_;
  std::vector<std::unique_ptr<CompiledRule>> rules_;  // per route; null when it has no match
  std::optional<size_t> default_;
  TaskClassifier classifier_;
};

// The text a call's rules look at (exposed for tests): system messages joined with "\n",
// and the last user message; array content contributes its text parts.
std::string system_text(const nlohmann::ordered_json& messages);
std::string last_user_text(const nlohmann::ordered_json& messages);

}  // namespace rpu::gateway
