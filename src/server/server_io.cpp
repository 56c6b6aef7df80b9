#include "server/handlers.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace rpu {

RequestTally& request_tally() {
  thread_local RequestTally tally;
  return tally;
}

void send_json(httplib::Response& res, int status, const nlohmann::ordered_json& body) {
  res.status = status;
  res.set_content(to_json_text(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& error) {
  if (error.retry_after_seconds > 0) {
    res.set_header("Retry-After", std::to_string(static_cast<long>(std::ceil(error.retry_after_seconds))));
  }
  send_json(res, error.status, error_body(error));
}

// The caller's identity and task, as the router and usage log need them (call.h).
void tag_caller(GenerationFields& fields, const httplib::Request& req) {
  fields.client_key_id = request_tally().key_id;
  fields.task = req.get_header_value("X-Rpu-Task");
}

void keep_large_allocations_returnable() {
#if defined(__GLIBC__)
  // glibc raises its mmap threshold to the largest block freed (up to 32 MiB): after one big
  // request, the buffers of later big requests land in per-thread arenas, which malloc_trim
  // does not give back in full (19 requests of 3 MB each then held 300 MB). A fixed
  // threshold keeps blocks of 1 MiB and more as mappings, returned to the system on free.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}

void return_memory_after_request(size_t body_bytes) {
  // Small requests leave little behind, and malloc_trim walks every arena: only after big ones.
  constexpr size_t kLargeBody = 1u << 20;
  if (body_bytes < kLargeBody) return;
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

void check_model_name(const ServerContext& ctx, std::string& model, bool for_rerank) {
  // Clients must name a model (as OpenAI requires). A strict server refuses any other name
  // rather than answer it with a different model; a lenient one with a single model answers
  // every name with it, keeping a reasoning suffix ("NAME+sc8") the backend understands. A
  // reranker served beside a chat model (--rerank) does not make two: it answers /v1/rerank.
  if (ctx.backend.accepts_model(model)) return;
  const std::vector<std::string> ids = ctx.backend.model_ids();
  const std::string reranker = ctx.backend.default_reranker();
  std::vector<std::string> candidates;
  if (for_rerank && !reranker.empty()) {
    candidates = {reranker};
  } else {
    std::copy_if(ids.begin(), ids.end(), std::back_inserter(candidates), [&](const std::string& id) { return id != reranker; });
  }
  if (!ctx.options.strict_model && candidates.size() == 1) {
    const size_t plus = model.rfind('+');
    const std::string with_suffix = plus == std::string::npos ? candidates[0] : candidates[0] + model.substr(plus);
    model = ctx.backend.accepts_model(with_suffix) ? with_suffix : candidates[0];
    return;
  }
  std::string served;
  for (const std::string& id : ids) served += (served.empty() ? "'" : ", '") + id + "'";
  throw ApiError(404, "the model '" + model + "' does not exist; this server serves " + served,
                 "invalid_request_error", "model", "model_not_found");
}

}  // namespace rpu
