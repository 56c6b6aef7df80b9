// POST /v1/rerank (also /rerank, /v1/reranking and /reranking, the paths llama-server answers
// and Jina / Cohere clients call): each document's relevance to the query, scored by the
// Backend (locally: a cross-encoder's pair batches in the scheduler), returned best first.
#include "server/connection_gate.h"
#include "server/handlers.h"

namespace rpu {

void handle_rerank(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  RerankRequest r = parse_rerank_request(req.body);
  r.client_key_id = request_tally().key_id;
  r.cancelled = current_client_gone_check();  // a client that left stops its unscored pairs
  if (r.model.empty()) {  // TEI clients name none: the reranker beside a chat model, or the one model
    const std::vector<std::string> ids = ctx.backend.model_ids();
    r.model = ctx.backend.default_reranker();
    if (r.model.empty() && ids.size() == 1) r.model = ids.front();
    if (r.model.empty()) throw ApiError::bad_request("model", "'model' is required: this server serves several models");
  }
  check_model_name(ctx, r.model, /*for_rerank=*/true);
  const RerankResult result = ctx.backend.rerank(r);
  if (result.scores.size() != r.documents.size()) {
    throw ApiError(500, "internal error: the reranker returned a wrong number of scores", "server_error", "", "");
  }
  ctx.metrics.on_prompt(result.prompt_tokens, 0);
  request_tally().prompt_tokens = result.prompt_tokens;
  send_json(res, 200, rerank_list(r, result));
}

}  // namespace rpu
