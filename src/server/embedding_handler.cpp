// POST /v1/embeddings: each input's final hidden states, mean-pooled and L2-normalised,
// computed by the Backend (locally: by the scheduler alongside the generations in flight).
#include "server/connection_gate.h"
#include "server/handlers.h"

namespace rpu {

void handle_embeddings(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  EmbeddingRequest r = parse_embedding_request(req.body);
  r.client_key_id = request_tally().key_id;
  r.cancelled = current_client_gone_check();  // a client that left frees its inputs' slots
  check_model_name(ctx, r.model);
  const EmbeddingResult result = ctx.backend.embed(r);
  ctx.metrics.on_prompt(result.prompt_tokens, 0);
  request_tally().prompt_tokens = result.prompt_tokens;
  send_json(res, 200, embeddings_list(r.model, result.embeddings, r.base64, result.prompt_tokens));
}

}  // namespace rpu
