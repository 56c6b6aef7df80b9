// rpu ask --kb KB [-m MODEL] "question": a retrieval-augmented answer through the pipeline. The
// question is searched in the knowledge base, the best chunks go into the system message as
// numbered sources (retrieval/knowledge_backend.h), the model answers (streamed to stdout), and
// the sources it cited follow, each resolved to its file, heading and offsets.
// With --print-messages it prints the request the model would get instead (sources added), and
// with --questions FILE.jsonl it does so for every {"question": ...} line of FILE, one JSON line
// each in the same order, opening the base and the model once (how a reader's training data is
// made from exactly the prompts it is served: bench/kb/reader.sh).
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "commands.h"
#include "kb_models.h"
#include "local_session.h"
#include "options.h"
#include "core/error.h"
#include "retrieval/knowledge_backend.h"

namespace rpu::cli {
namespace {

using namespace rpu::retrieval;

struct AskOptions {
  std::string model_path;
  std::string kb;
  std::string question;
  std::string questions_file;
  std::string system;
  std::string embed;
  std::string rerank;
  int rerank_top = retrieval::kDefaultRerankDepth;
  int k = 5;
  std::string mode = "hybrid";
  int max_context_tokens = 1500;
  int max_tokens = 256;
  bool json = false;
  bool extractive = false;
  bool print_messages = false;
  RuntimeOptions runtime;
  SamplingParams sampling;
};

int ask(AskOptions& o) {
  if (o.question.empty() && o.questions_file.empty()) fail("a question is required (or --questions FILE with --print-messages)");
  if (!o.questions_file.empty() && !o.print_messages) fail("--questions needs --print-messages");
  o.sampling.validate();
  EmbeddingModels models(o.runtime);
  KnowledgeLibrary library([&](const KbSettings& settings) { return models.for_base(settings, o.embed); });
  const std::string name = std::filesystem::path(o.kb).stem().string();
  library.add(name, o.kb);
  library.set_reranker(models.reranker(o.rerank));
  SessionOptions session_options;
  session_options.model_path = o.model_path;
  auto session = open_local_session(session_options, o.runtime);
  const Tokenizer& tokenizer = *session->loaded.tokenizer;
  KnowledgeBackend backend(*session->backend, library, [&](std::string_view text) {
    return static_cast<int>(tokenizer.encode(text, false, false).size());
  });

  auto make_request = [&](const std::string& question) {
    ChatRequest request;
    request.model = backend.model_id();
    if (!o.system.empty()) request.messages.push_back({{"role", "system"}, {"content", o.system}});
    request.messages.push_back({{"role", "user"}, {"content", question}});
    request.knowledge = {{"kb", name}, {"k", o.k}, {"mode", o.mode}, {"max_tokens", o.max_context_tokens}};
    if (!o.rerank.empty()) request.knowledge["rerank"] = o.rerank_top;
    if (o.extractive) request.knowledge["extractive"] = true;
    request.max_tokens = o.max_tokens;
    request.sampling = o.sampling;
    request.has_seed = true;
    return request;
  };
  auto print_messages = [&](const std::string& question) {
    const AugmentedRequest augmented = backend.augment(make_request(question));
    std::printf("%s\n", nlohmann::ordered_json({{"messages", augmented.request.messages}, {"rpu", {{"knowledge", augmented.knowledge}}}}).dump().c_str());
  };
  if (!o.questions_file.empty()) {
    std::ifstream in(o.questions_file);
    if (!in) fail("--questions {}: cannot open it", o.questions_file);
    std::string line;
    for (int line_no = 1; std::getline(in, line); ++line_no) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const auto record = nlohmann::json::parse(line, nullptr, false);
      if (record.is_discarded() || !record.is_object() || !record.contains("question") || !record["question"].is_string()) {
        fail("--questions {} line {}: expected a JSON object with a string \"question\"", o.questions_file, line_no);
      }
      print_messages(record["question"].get<std::string>());
    }
    return 0;
  }
  if (o.print_messages) {
    print_messages(o.question);
    return 0;
  }
  const ChatRequest request = make_request(o.question);
  const CallResult result = run_chat(backend, request, [&](const ChatEvent& e) {
    if (o.json) return;
    std::fwrite(e.text.data(), 1, e.text.size(), stdout);
    std::fflush(stdout);
  });
  const ChoiceResult& choice = result.choices.at(0);
  if (!choice.error.empty()) fail("{}", choice.error);
  if (o.json) {
    nlohmann::ordered_json out = {{"answer", choice.text}, {"finish_reason", choice.finish_reason}, {"rpu", choice.extension}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("\n");
  const auto& ext = choice.extension;
  if (ext.contains("citations") && !ext["citations"].empty()) {
    std::printf("\nSources:\n");
    for (const auto& c : ext["citations"]) {
      std::printf("  [%d] %s%s%s\n", c["n"].get<int>(), c["source"].get<std::string>().c_str(),
                  c["heading"].get<std::string>().empty() ? "" : " > ", c["heading"].get<std::string>().c_str());
    }
  }
  if (ext.contains("invalid_citations")) {
    std::fprintf(stderr, "rpu: warning: the answer cites sources that were not in its context: %s\n",
                 ext["invalid_citations"].dump().c_str());
  }
  return 0;
}

}  // namespace

Action add_ask_command(CLI::App& app) {
  auto o = std::make_shared<AskOptions>();
  CLI::App* cmd = app.add_subcommand("ask", "answer a question from a knowledge base, with citations");
  auto* question = cmd->add_option("question", o->question, "the question");
  cmd->add_option("--kb", o->kb, "knowledge base file (rpu kb create)")->required();
  cmd->add_option("-m,--model", o->model_path, "model file (GGUF); default: the built-in model")->check(CLI::ExistingFile);
  cmd->add_option("--system", o->system, "system prompt (the sources are appended to it)");
  cmd->add_option("-k", o->k, "sources retrieved")->check(CLI::Range(1, 50));
  cmd->add_option("--mode", o->mode, "retrieval: hybrid, bm25 or dense")->check(CLI::IsMember({"hybrid", "bm25", "dense"}));
  cmd->add_option("--embed", o->embed, "embedding model instead of the one the base names (same dimensions)");
  add_rerank_options(cmd, o->rerank, &o->rerank_top);
  cmd->add_option("--max-context-tokens", o->max_context_tokens, "token budget of the sources block")
      ->check(CLI::Range(64, 1 << 20));
  cmd->add_option("-n,--max-tokens", o->max_tokens, "most tokens in the answer")->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--extractive", o->extractive, "the answer may use only words of the sources and the question");
  cmd->add_flag("--json", o->json, "the answer, citations and sources as JSON");
  cmd->add_flag("--print-messages", o->print_messages,
                "print the messages the model would get (sources added) as one JSON line, and stop");
  auto* questions = cmd->add_option("--questions", o->questions_file,
                                    "with --print-messages: a JSONL file of {\"question\": ...}; one JSON line of "
                                    "messages for each, in order")
                        ->check(CLI::ExistingFile);
  question->excludes(questions);
  add_sampling_options(cmd, o->sampling);
  add_runtime_options(cmd, o->runtime);
  return [o] { return ask(*o); };
}

}  // namespace rpu::cli
