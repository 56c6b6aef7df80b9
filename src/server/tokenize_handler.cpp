// POST /tokenize, /detokenize and /apply-template, as llama-server answers them: clients count
// and inspect tokens, and render a conversation with the model's own chat template (to continue
// it through /v1/completions), with the served model's tokenizer and template. A model behind
// an upstream (the gateway) has neither here: a 400 naming the model.
#include <fmt/format.h>

#include "server/connection_gate.h"
#include "server/handlers.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace rpu {
namespace {

using json = nlohmann::ordered_json;

const Tokenizer& served_tokenizer(ServerContext& ctx, std::string& model) {
  if (model.empty()) model = ctx.backend.model_id();
  check_model_name(ctx, model);
  const Tokenizer* tokenizer = ctx.backend.local_tokenizer(model);
  if (tokenizer == nullptr) {
    throw ApiError::bad_request("model", fmt::format("model {} is served by an upstream: this server has no tokenizer for it", model));
  }
  return *tokenizer;
}

// A piece as llama-server writes it: a string when it is whole UTF-8, else its bytes (a byte
// token may hold part of a character).
json piece_json(const std::string& piece) {
  if (unicode::is_valid_utf8(piece)) return piece;
  json bytes = json::array();
  for (unsigned char c : piece) bytes.push_back(static_cast<int>(c));
  return bytes;
}

// A control token ("<|im_start|>", "<s>") has no text when generated, but llama-server shows
// special tokens in pieces and detokenized text as the vocabulary writes them, so /tokenize
// then /detokenize gives a text with special tokens back.
bool is_control(const Tokenizer& tokenizer, int32_t id) {
  return tokenizer.vocab().kinds[static_cast<size_t>(id)] == TokenKind::kControl;
}

std::string text_of(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  TextStream stream(tokenizer);
  std::string text;
  for (int32_t id : ids) {
    text += is_control(tokenizer, id) ? stream.flush() + tokenizer.vocab().pieces[static_cast<size_t>(id)] : stream.push(id);
  }
  return text + stream.flush();
}

}  // namespace

void handle_tokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  TokenizeRequest r = parse_tokenize_request(req.body);
  const Tokenizer& tokenizer = served_tokenizer(ctx, r.model);
  json tokens = json::array();
  for (int32_t id : tokenizer.encode(r.content, r.add_special, r.parse_special)) {
    if (r.with_pieces) {
      const std::string piece =
          is_control(tokenizer, id) ? tokenizer.vocab().pieces[static_cast<size_t>(id)] : tokenizer.token_to_piece(id);
      tokens.push_back({{"id", id}, {"piece", piece_json(piece)}});
    } else {
      tokens.push_back(id);
    }
  }
  send_json(res, 200, {{"tokens", std::move(tokens)}});
}

void handle_detokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  DetokenizeRequest r = parse_detokenize_request(req.body);
  const Tokenizer& tokenizer = served_tokenizer(ctx, r.model);
  const int32_t n_vocab = tokenizer.vocab().size();
  for (int32_t id : r.tokens) {
    if (id >= n_vocab) {
      throw ApiError::bad_request("tokens", fmt::format("token id {} is outside the vocabulary ({} tokens)", id, n_vocab));
    }
  }
  send_json(res, 200, {{"content", text_of(tokenizer, r.tokens)}});
}

void handle_apply_template(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  ChatRequest r = parse_chat_request(req.body, ctx.backend.model_id());
  tag_caller(r, req);
  r.cancelled = current_client_gone_check();  // template work stops for a client that left
  check_model_name(ctx, r.model);
  const std::optional<std::string> prompt = ctx.backend.render_chat(r);
  if (!prompt) {
    throw ApiError::bad_request("model", fmt::format("model {} is served by an upstream: this server has no chat template for it", r.model));
  }
  send_json(res, 200, {{"prompt", *prompt}});
}

}  // namespace rpu
