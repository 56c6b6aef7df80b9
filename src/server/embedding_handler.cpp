// POST /v1/embeddings: each input's final hidden states, mean-pooled and L2-normalised,
// computed by the scheduler alongside the generations in flight.
#include <condition_variable>
#include <mutex>

#include "server/handlers.h"

namespace rpu {

void handle_embeddings(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const EmbeddingRequest r = parse_embedding_request(req.body);
  check_model_name(ctx, r.model);
  const int n_embd = ctx.model.config().n_embd;
  if (r.dimensions > 0 && r.dimensions != n_embd) {
    throw ApiError(400, "this model's embeddings have " + std::to_string(n_embd) + " dimensions; got dimensions = " +
                            std::to_string(r.dimensions),
                   "invalid_request_error", "dimensions", "");
  }
  struct Pending {
    std::mutex mutex;
    std::condition_variable done;
    std::vector<std::vector<float>> embeddings;
    int remaining = 0;
    int tokens = 0;
  };
  auto pending = std::make_shared<Pending>();
  pending->embeddings.resize(r.inputs.size());
  pending->remaining = static_cast<int>(r.inputs.size());
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const EmbeddingInput& input = r.inputs[i];
    std::vector<int32_t> tokens =
        input.is_tokens ? input.tokens : ctx.tokenizer.encode(input.text, /*add_special=*/true, /*parse_special=*/false);
    try {
      ids.push_back(ctx.scheduler.submit_embedding(std::move(tokens), [pending, i](std::vector<float> e, int n_tokens) {
        std::lock_guard<std::mutex> lock(pending->mutex);
        pending->embeddings[i] = std::move(e);
        pending->tokens += n_tokens;
        if (--pending->remaining == 0) pending->done.notify_all();
      }));
    } catch (const QueueFullError& e) {
      for (uint64_t id : ids) ctx.scheduler.cancel(id);
      throw ApiError(429, e.what(), "rate_limit_exceeded", "", "queue_full");
    } catch (const Error& e) {
      for (uint64_t id : ids) ctx.scheduler.cancel(id);
      throw ApiError(400, std::string("input ") + std::to_string(i) + ": " + e.what(), "invalid_request_error", "input",
                     "");
    }
  }
  std::unique_lock<std::mutex> lock(pending->mutex);
  pending->done.wait(lock, [&] { return pending->remaining == 0; });
  ctx.metrics.on_prompt(pending->tokens, 0);
  send_json(res, 200, embeddings_list(ctx.options.model_id, pending->embeddings, r.base64, pending->tokens));
}

}  // namespace rpu
