#include "retrieval/knowledge_backend.h"

#include <filesystem>

#include "core/error.h"
#include "retrieval/extractive.h"

namespace rpu::retrieval {

void KnowledgeLibrary::add(const std::string& name, const std::string& path) {
  if (name.empty()) fail("knowledge base '{}': empty name", path);
  if (bases_.count(name)) fail("knowledge base name '{}' given twice", name);
  auto kb = std::make_unique<KnowledgeBase>(path, KbAccess::kRead);
  std::unique_ptr<Embedder> embedder = kb->settings().dims > 0 ? factory_(kb->settings()) : nullptr;
  auto retriever = std::make_unique<Retriever>(std::move(kb), std::move(embedder));
  retriever->set_reranker(reranker_);
  bases_[name] = std::move(retriever);
}

void KnowledgeLibrary::set_reranker(std::shared_ptr<Reranker> reranker) {
  reranker_ = std::move(reranker);
  for (auto& [_, retriever] : bases_) retriever->set_reranker(reranker_);
}

void KnowledgeLibrary::add_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) fail("knowledge base folder '{}': not a directory", dir);
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".kb") add(entry.path().stem().string(), entry.path().string());
  }
}

Retriever& KnowledgeLibrary::get(const std::string& name) {
  const auto it = bases_.find(name);
  if (it != bases_.end()) return *it->second;
  std::string known;
  for (const auto& [n, _] : bases_) known += (known.empty() ? "" : ", ") + n;
  throw ApiError(400,
                 "no knowledge base named '" + name + "' (" +
                     (known.empty() ? "this server has none; start it with --kb NAME=FILE" : "known: " + known) + ")",
                 "invalid_request_error", "knowledge.kb");
}

std::vector<std::string> KnowledgeLibrary::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : bases_) out.push_back(n);
  return out;
}

int approximate_tokens(std::string_view text) { return static_cast<int>(text.size() / 4 + 1); }

AugmentedRequest augment_request(KnowledgeLibrary& library, const ChatRequest& request, const TokenCount& count) {
  const KnowledgeSpec spec = knowledge_spec_parse(request.knowledge);
  Retriever& retriever = library.get(spec.kb);
  const std::string query = last_user_text(request.messages);
  if (query.empty()) throw ApiError::bad_request("messages", "a 'knowledge' request needs a user message to search for");
  if (spec.rerank.value_or(0) > 0 && retriever.reranker() == nullptr) {
    throw ApiError::bad_request("knowledge.rerank", "'knowledge.rerank' needs a reranking model; this server has none "
                                                    "(start it with --rerank MODEL)");
  }
  const int rerank = retriever.reranker() ? spec.rerank.value_or(kDefaultRerankDepth) : 0;
  std::vector<SearchHit> hits;
  try {
    hits = retriever.search(query, {.k = spec.k, .mode = spec.mode, .rerank = rerank});
  } catch (const Error& e) {
    throw ApiError::bad_request("knowledge", e.what());
  }
  AugmentedRequest out;
  out.block = std::make_shared<const ContextBlock>(build_context(hits, spec.max_tokens, count ? count : approximate_tokens));
  out.request = request;
  out.request.knowledge = nullptr;
  add_context_to_messages(out.request.messages, out.block->text);
  if (spec.extractive) {
    if (!request.grammar.empty()) {
      throw ApiError::bad_request("knowledge.extractive", "'knowledge.extractive' makes its own grammar; it cannot be "
                                                          "combined with 'grammar'");
    }
    // The sources block (instructions, labels, chunks: the not-in-sources sentence and the
    // citation numbers among them) and the question. The backend that enforces it checks its
    // size and its combination with other constraints, naming this field.
    out.request.grammar = extractive_grammar(extractive_words({out.block->text, query}));
    out.request.grammar_param = "knowledge.extractive";
  }
  out.knowledge = {{"kb", spec.kb}, {"query", query}, {"mode", search_mode_name(spec.mode)},
                   {"sources", nlohmann::ordered_json::array()}, {"left_out", out.block->left_out}};
  if (rerank > 0) out.knowledge["reranker"] = retriever.reranker()->model();
  for (size_t i = 0; i < out.block->sources.size(); ++i) {
    out.knowledge["sources"].push_back(source_json(out.block->sources[i], static_cast<int>(i) + 1));
  }
  return out;
}

ChatEventSink citing_sink(const AugmentedRequest& augmented, ChatEventSink sink) {
  // Each choice's text, to read its citations when it finishes.
  struct State {
    std::mutex mutex;
    std::map<int, std::string> text;
  };
  auto state = std::make_shared<State>();
  return [state, block = augmented.block, knowledge = augmented.knowledge, sink = std::move(sink)](const ChatEvent& event) {
    if (event.finish_reason.empty()) {
      {
        std::lock_guard<std::mutex> lock(state->mutex);
        state->text[event.index] += event.text;
      }
      sink(event);
      return;
    }
    std::string answer;
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      answer = std::move(state->text[event.index]) + event.text;
      state->text.erase(event.index);
    }
    ChatEvent last = event;
    const Citations found = find_citations(answer, static_cast<int>(block->sources.size()));
    if (!last.extension.is_object()) last.extension = nlohmann::ordered_json::object();
    auto& citations = last.extension["citations"] = nlohmann::ordered_json::array();
    // The guarantee: only numbers of sources that were in the context become citations.
    for (int n : found.cited) citations.push_back(source_json(block->sources.at(static_cast<size_t>(n - 1)), n));
    if (!found.invalid.empty()) last.extension["invalid_citations"] = found.invalid;
    last.extension["knowledge"] = knowledge;
    sink(last);
  };
}

KnowledgeBackend::KnowledgeBackend(Backend& inner, KnowledgeLibrary& library, TokenCount count)
    : inner_(inner), library_(library), count_(std::move(count)) {
  if (!count_) count_ = approximate_tokens;
}

std::unique_ptr<CallHandle> KnowledgeBackend::chat(const ChatRequest& request, ChatEventSink sink) {
  if (request.knowledge.is_null()) return inner_.chat(request, std::move(sink));
  const AugmentedRequest augmented = augment(request);
  return inner_.chat(augmented.request, citing_sink(augmented, std::move(sink)));
}

}  // namespace rpu::retrieval
