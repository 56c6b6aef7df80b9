#include <random>

#include "server/handlers.h"

namespace rpu {

void send_json(httplib::Response& res, int status, const nlohmann::ordered_json& body) {
  res.status = status;
  res.set_content(to_json_text(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& error) { send_json(res, error.status, error_body(error)); }

void check_model_name(const ServerContext& ctx, const std::string& model) {
  // One model is served; clients must still name it (as OpenAI requires), and any other
  // name is refused rather than silently answered by a different model.
  if (model != ctx.options.model_id) {
    throw ApiError(404, "the model '" + model + "' does not exist; this server serves '" + ctx.options.model_id + "'",
                   "invalid_request_error", "model", "model_not_found");
  }
}

uint64_t random_seed() {
  static thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine();
}

std::shared_ptr<const GrammarVocab> ServerContext::grammar_vocab() {
  std::call_once(grammar_vocab_once_, [this] { grammar_vocab_ = GrammarVocab::build(tokenizer); });
  return grammar_vocab_;
}

}  // namespace rpu
