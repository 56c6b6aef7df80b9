#include "server/handlers.h"

namespace rpu {

RequestTally& request_tally() {
  thread_local RequestTally tally;
  return tally;
}

void send_json(httplib::Response& res, int status, const nlohmann::ordered_json& body) {
  res.status = status;
  res.set_content(to_json_text(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& error) { send_json(res, error.status, error_body(error)); }

void check_model_name(const ServerContext& ctx, const std::string& model) {
  // One model is served; clients must still name it (as OpenAI requires), and any other
  // name is refused rather than silently answered by a different model.
  if (!ctx.backend.accepts_model(model)) {
    throw ApiError(404, "the model '" + model + "' does not exist; this server serves '" + ctx.backend.model_id() + "'",
                   "invalid_request_error", "model", "model_not_found");
  }
}

}  // namespace rpu
