// Knowledge bases through the CLI and the server: `rpu kb` on real files (added, unchanged,
// changed, removed; broken files named while the rest is ingested; two writers; a base from a
// newer rpu), `rpu ask`, and `rpu serve --kb` driven by the official OpenAI client
// (tests/peers/server/knowledge.mjs).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>

#include "gateway_util.h"
#include "pdf_writer.h"
#include "server_process.h"
#include "test_util.h"

namespace rpu {
namespace {

namespace fs = std::filesystem;

// Two documents about different things, and one file that cannot be read as text.
std::string make_docs(const std::string& dir) {
  fs::create_directories(dir + "/docs/sub");
  test::write_file(dir + "/docs/rust.md",
                   "# Rust\n\nRust is a systems programming language.\n\n## Ownership\n\nEach value has one owner. When the "
                   "owner goes out of scope, the value is dropped.\n\n## Borrowing\n\nReferences borrow a value without "
                   "taking ownership of it.\n");
  test::write_file(dir + "/docs/sub/jargon.txt",
                   "The Jargon File is a glossary of hacker slang.\n\nA kludge is a clumsy but working solution to a "
                   "problem.\n\nA hack is a clever solution.\n");
  test::write_file(dir + "/docs/notes.bin.txt", std::string("\x7f" "ELF\0\0\0\1binary", 14));
  return dir + "/docs";
}

// make_docs without the binary file: two documents every `kb add` ingests.
std::string make_text_docs(const std::string& dir) {
  const std::string docs = make_docs(dir);
  fs::remove(docs + "/notes.bin.txt");
  return docs;
}

TEST(KnowledgeBaseCli, AddsSkipsUnchangedReplacesChangedRemovesAndNamesBrokenFiles) {
  const std::string dir = test::temp_path("kb_cli");
  const std::string docs = make_docs(dir), kb = dir + "/docs.kb";
  ASSERT_EQ(test::run_rpu({"kb", "create", kb}).exit_code, 0);
  const auto again = test::run_rpu({"kb", "create", kb});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;

  auto add = test::run_rpu({"kb", "add", kb, docs});
  EXPECT_EQ(add.exit_code, 1) << "a failed file makes the exit code non-zero";
  EXPECT_NE(add.out.find("2 added, 0 updated, 0 unchanged, 1 failed"), std::string::npos) << add.out;
  EXPECT_NE(add.err.find("notes.bin.txt: binary file"), std::string::npos) << add.err;

  auto search = test::run_rpu({"kb", "search", kb, "what is a kludge", "--json", "-k", "2"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  auto hits = nlohmann::json::parse(search.out);
  ASSERT_FALSE(hits.empty());
  EXPECT_TRUE(hits[0]["source"].get<std::string>().ends_with("sub/jargon.txt")) << hits.dump(2);
  EXPECT_NE(hits[0]["text"].get<std::string>().find("kludge"), std::string::npos);
  // The offsets point at the chunk's text in the file (exact for .txt).
  const std::string file = test::read_file(hits[0]["source"]);
  const auto begin = hits[0]["offsets"]["byte_begin"].get<size_t>(), end = hits[0]["offsets"]["byte_end"].get<size_t>();
  EXPECT_NE(hits[0]["text"].get<std::string>().find(file.substr(begin, std::min<size_t>(end - begin, 40))), std::string::npos);

  fs::remove(docs + "/notes.bin.txt");
  add = test::run_rpu({"kb", "add", kb, docs});
  EXPECT_EQ(add.exit_code, 0) << add.err;
  EXPECT_NE(add.out.find("0 added, 0 updated, 2 unchanged, 0 failed"), std::string::npos) << add.out;

  test::write_file(docs + "/sub/jargon.txt", "A foobar is a placeholder name.\n");
  add = test::run_rpu({"kb", "add", kb, docs});
  EXPECT_NE(add.out.find("0 added, 1 updated, 1 unchanged"), std::string::npos) << add.out;
  search = test::run_rpu({"kb", "search", kb, "kludge", "--json"});
  EXPECT_EQ(nlohmann::json::parse(search.out).size(), 0u) << "the old chunks were replaced: " << search.out;
  search = test::run_rpu({"kb", "search", kb, "placeholder", "--json"});
  EXPECT_EQ(nlohmann::json::parse(search.out).size(), 1u) << search.out;

  const auto rm = test::run_rpu({"kb", "rm", kb, docs + "/sub"});
  EXPECT_NE(rm.out.find("removed 1 sources"), std::string::npos) << rm.out;
  const auto info = test::run_rpu({"kb", "info", kb, "--json"});
  const auto j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["sources"], 1);
  EXPECT_EQ(j["schema_version"], 1);
  fs::remove_all(dir);
}

// One `kb add` of a folder holding every kind of bad file the issue names beside good ones:
// each bad file is named with its problem, the good ones are ingested and searchable, and the
// exit code says something failed.
TEST(KnowledgeBaseCli, EveryBadFileOfABatchIsNamedAndTheRestIngested) {
  const std::string dir = test::temp_path("kb_bad_batch");
  const std::string docs = make_docs(dir), kb = dir + "/docs.kb";
  test::PdfSpec pdf;
  pdf.pages = {{"Secret."}};
  pdf.encrypted = true;
  test::write_file(docs + "/locked.pdf", test::make_pdf(pdf));
  pdf.encrypted = false;
  const std::string good_pdf = test::make_pdf(pdf);
  test::write_file(docs + "/sub/truncated.pdf", good_pdf.substr(0, good_pdf.size() / 3));
  test::write_file(docs + "/latin1.txt", "caf\xe9 au lait\n");
  ASSERT_EQ(test::run_rpu({"kb", "create", kb}).exit_code, 0);
  const auto add = test::run_rpu({"kb", "add", kb, docs});
  EXPECT_EQ(add.exit_code, 1) << add.err;
  EXPECT_NE(add.out.find("2 added, 0 updated, 0 unchanged, 4 failed"), std::string::npos) << add.out;
  EXPECT_NE(add.err.find("locked.pdf: encrypted PDF"), std::string::npos) << add.err;
  EXPECT_NE(add.err.find("truncated.pdf: broken PDF"), std::string::npos) << add.err;
  EXPECT_NE(add.err.find("latin1.txt: invalid UTF-8 at byte 3"), std::string::npos) << add.err;
  EXPECT_NE(add.err.find("notes.bin.txt: binary file"), std::string::npos) << add.err;
  const auto search = test::run_rpu({"kb", "search", kb, "kludge", "--json"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  EXPECT_EQ(nlohmann::json::parse(search.out).size(), 1u) << search.out;
  // A failed file leaves nothing behind: the next add tries it again (and fails again).
  const auto again = test::run_rpu({"kb", "add", kb, docs});
  EXPECT_NE(again.out.find("0 added, 0 updated, 2 unchanged, 4 failed"), std::string::npos) << again.out;
  fs::remove_all(dir);
}

// `rpu kb add` run under a pseudo-terminal: what its stderr would show a person. Returns the
// bytes written to the terminal and sets `status` to the exit status.
std::string run_on_terminal(const std::vector<std::string>& args, int* status) {
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    std::vector<char*> argv{const_cast<char*>(RPU_BINARY)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(RPU_BINARY, argv.data());
    ::_exit(127);
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));  // EIO at the end
  ::close(master);
  ::waitpid(pid, status, 0);
  return out;
}

TEST(KnowledgeBaseCli, AddShowsAProgressBarOnATerminalOnly) {
  const std::string dir = test::temp_path("kb_progress");
  const std::string docs = make_text_docs(dir), kb = dir + "/docs.kb";
  ASSERT_EQ(test::run_rpu({"kb", "create", kb}).exit_code, 0);
  int status = -1;
  const std::string shown = run_on_terminal({"kb", "add", kb, docs}, &status);
  ASSERT_TRUE(WIFEXITED(status)) << shown;
  EXPECT_EQ(WEXITSTATUS(status), 0) << shown;
  // The bar redraws one line in place (carriage return, erase line) and names the file count.
  EXPECT_NE(shown.find("\r\x1b[Kadding ["), std::string::npos) << shown;
  EXPECT_NE(shown.find("file 2/2"), std::string::npos) << shown;
  EXPECT_NE(shown.find("2 added"), std::string::npos) << shown;
  // Piped (not a terminal), the same command prints the summary and no bar.
  fs::remove(kb);
  ASSERT_EQ(test::run_rpu({"kb", "create", kb}).exit_code, 0);
  const auto piped = test::run_rpu({"kb", "add", kb, docs});
  EXPECT_EQ(piped.err.find("adding ["), std::string::npos) << piped.err;
  EXPECT_NE(piped.out.find("2 added"), std::string::npos) << piped.out;
  fs::remove_all(dir);
}

TEST(KnowledgeBaseCli, RefusesASecondWriterANewerSchemaAndAMissingBase) {
  const std::string dir = test::temp_path("kb_refuse");
  const std::string docs = make_docs(dir), kb = dir + "/docs.kb";
  ASSERT_EQ(test::run_rpu({"kb", "create", kb}).exit_code, 0);
  {
    // Another writer holds the base (what `rpu kb add` holds while it works).
    const int fd = ::open(kb.c_str(), O_RDONLY);
    ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
    const auto r = test::run_rpu({"kb", "add", kb, docs});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("another writer"), std::string::npos) << r.err;
    // Readers are not blocked.
    EXPECT_EQ(test::run_rpu({"kb", "info", kb}).exit_code, 0);
    ::close(fd);
  }
  const auto missing = test::run_rpu({"kb", "search", dir + "/nope.kb", "x"});
  EXPECT_NE(missing.err.find("no such file"), std::string::npos) << missing.err;
  // A base written by a newer rpu: its schema version is above ours.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(kb.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  const auto newer = test::run_rpu({"kb", "info", kb});
  EXPECT_NE(newer.exit_code, 0);
  EXPECT_NE(newer.err.find("written by a newer rpu (schema version 99; this rpu reads up to 1)"), std::string::npos) << newer.err;
  EXPECT_NE(test::run_rpu({"kb", "add", kb, docs}).exit_code, 0);
  const auto not_kb = test::run_rpu({"kb", "info", docs + "/rust.md"});
  EXPECT_NE(not_kb.exit_code, 0);
  fs::remove_all(dir);
}

TEST(KnowledgeBaseCli, AskRetrievesWithTheBuiltInModelAsEmbedder) {
  const std::string dir = test::temp_path("kb_ask");
  const std::string docs = make_text_docs(dir), kb = dir + "/docs.kb";
  ASSERT_EQ(test::run_rpu({"kb", "create", kb, "--embed", "builtin", "--chunk-tokens", "64", "--overlap", "8"}).exit_code, 0);
  ASSERT_EQ(test::run_rpu({"kb", "add", kb, docs}).exit_code, 0);
  const auto info = nlohmann::json::parse(test::run_rpu({"kb", "info", kb, "--json"}).out);
  EXPECT_EQ(info["embed_model"], "builtin");
  EXPECT_GT(info["dims"].get<int>(), 0);
  EXPECT_EQ(info["embedded"], info["chunks"]);
  for (const char* mode : {"dense", "hybrid"}) {
    const auto r = test::run_rpu({"kb", "search", kb, "kludge", "--mode", mode, "--json", "-k", "3"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out).size(), 3u) << mode;
  }
  const auto ask = test::run_rpu({"ask", "--kb", kb, "What is a kludge?", "--mode", "bm25", "-k", "2", "--json", "-n", "16", "--temp", "0"});
  ASSERT_EQ(ask.exit_code, 0) << ask.err;
  const auto answer = nlohmann::json::parse(ask.out);
  EXPECT_TRUE(answer["rpu"]["knowledge"]["sources"][0]["source"].get<std::string>().ends_with("jargon.txt")) << ask.out;
  EXPECT_TRUE(answer["rpu"]["citations"].is_array());
  fs::remove_all(dir);
}

// The text documents of make_docs (the binary one removed) in a base of 64-token chunks
// overlapping by 8; its path, or "" when building it failed.
std::string small_chunk_base(const std::string& dir) {
  const std::string docs = make_text_docs(dir), kb = dir + "/docs.kb";
  if (test::run_rpu({"kb", "create", kb, "--chunk-tokens", "64", "--overlap", "8"}).exit_code != 0) return "";
  if (test::run_rpu({"kb", "add", kb, docs}).exit_code != 0) return "";
  return kb;
}

// Words as extractive.h defines them, keyed with the first letter lowercased.
std::set<std::string> words_of(const std::string& text) {
  std::set<std::string> out;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    if (word[0] >= 'A' && word[0] <= 'Z') word[0] = static_cast<char>(word[0] - 'A' + 'a');
    out.insert(word);
    word.clear();
  };
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) word += static_cast<char>(c);
    else flush();
  }
  flush();
  return out;
}

// --extractive: every word of the answer is a word of the context the model read (the sources
// block and the question, as --print-messages shows it), in either first-letter case. The
// built-in arithmetic model, asked about slang, would otherwise answer in its own words.
TEST(KnowledgeBaseCli, ExtractiveAnswersUseOnlyWordsOfTheContext) {
  const std::string dir = test::temp_path("kb_extractive");
  const std::string docs = make_text_docs(dir), kb = dir + "/docs.kb";
  ASSERT_EQ(test::run_rpu({"kb", "create", kb}).exit_code, 0);
  ASSERT_EQ(test::run_rpu({"kb", "add", kb, docs}).exit_code, 0);
  const std::vector<std::string> common = {"ask", "--kb", kb, "What is a kludge?", "--mode", "bm25", "-k", "2"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_rpu(args);
  };
  const auto messages = with({"--print-messages"});
  ASSERT_EQ(messages.exit_code, 0) << messages.err;
  std::set<std::string> context;
  const auto printed = nlohmann::json::parse(messages.out);
  for (const auto& m : printed["messages"]) {
    const auto w = words_of(m["content"].get<std::string>());
    context.insert(w.begin(), w.end());
  }
  ASSERT_TRUE(context.count("kludge") && context.count("clumsy")) << messages.out;
  for (const char* seed : {"1", "2", "3"}) {
    const auto r = with({"--extractive", "--json", "-n", "24", "--temp", "1", "--seed", seed});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto out = nlohmann::json::parse(r.out);
    std::string answer = out["answer"];
    EXPECT_FALSE(answer.empty());
    // Cut at the token limit, the last word may be unfinished (a prefix of a context word).
    if (out["finish_reason"] == "length") answer.erase(answer.find_last_of(" .,;:!?[]()\n") + 1);
    for (const std::string& w : words_of(answer)) EXPECT_TRUE(context.count(w)) << "'" << w << "' in: " << answer;
  }
  const auto plain = with({"--json", "-n", "24", "--temp", "0"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  size_t foreign = 0;
  for (const std::string& w : words_of(nlohmann::json::parse(plain.out)["answer"])) foreign += context.count(w) ? 0 : 1;
  EXPECT_GT(foreign, 0u) << "the check above would pass without --extractive: " << plain.out;
  fs::remove_all(dir);
}

// A bert encoder (the bge-tiny synth preset, WordPiece) as the base's embedding model: chunks
// are counted in its tokens and embedded by it; a dense search embeds the query with the same
// model; a model of another width is refused for that base.
TEST(KnowledgeBaseCli, ABertEncoderEmbedsTheChunks) {
  const std::string dir = test::temp_path("kb_bert");
  const std::string docs = make_text_docs(dir), kb = dir + "/docs.kb", model = dir + "/bge-tiny.gguf";
  ASSERT_EQ(test::run_rpu({"synth", model, "--like", "bge-tiny", "--type", "F32", "--seed", "3"}).exit_code, 0);
  const auto created = test::run_rpu({"kb", "create", kb, "--embed", model, "--chunk-tokens", "32", "--overlap", "4"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const auto add = test::run_rpu({"kb", "add", kb, docs});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const auto info = nlohmann::json::parse(test::run_rpu({"kb", "info", kb, "--json"}).out);
  EXPECT_EQ(info["dims"], 64);
  EXPECT_EQ(info["embed_model"], fs::absolute(model).lexically_normal().string());
  EXPECT_EQ(info["embedded"], info["chunks"]);
  const auto dense = test::run_rpu({"kb", "search", kb, "ownership of values", "--mode", "dense", "--json", "-k", "50"});
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  EXPECT_EQ(nlohmann::json::parse(dense.out).size(), info["chunks"].get<size_t>()) << "every chunk has a vector";
  const auto other = test::run_rpu({"kb", "search", kb, "x", "--mode", "dense", "--embed", "builtin"});
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.err.find("stores 64-dimensional embeddings"), std::string::npos) << other.err;
  fs::remove_all(dir);
}

TEST(KnowledgeBaseCli, AskPrintsTheMessagesOfEveryQuestionInAFile) {
  const std::string dir = test::temp_path("kb_ask_batch");
  const std::string kb = small_chunk_base(dir);
  ASSERT_FALSE(kb.empty());
  const std::string questions = dir + "/questions.jsonl";
  test::write_file(questions, "{\"question\": \"What is a kludge?\", \"answer\": \"x\"}\n\n{\"question\": \"Who owns a value in Rust?\"}\n");
  const auto r = test::run_rpu({"ask", "--kb", kb, "--questions", questions, "--print-messages", "-k", "2", "--mode", "bm25"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u) << r.out;
  const char* asked[] = {"What is a kludge?", "Who owns a value in Rust?"};
  const char* best[] = {"jargon.txt", "rust.md"};
  for (size_t i = 0; i < 2; ++i) {
    const auto& messages = lines[i]["messages"];
    ASSERT_EQ(messages.size(), 2u) << lines[i];
    EXPECT_EQ(messages[0]["role"], "system");
    EXPECT_NE(messages[0]["content"].get<std::string>().find("[1] "), std::string::npos);
    EXPECT_EQ(messages[1]["content"], asked[i]);
    EXPECT_EQ(lines[i]["rpu"]["knowledge"]["query"], asked[i]);
    EXPECT_TRUE(lines[i]["rpu"]["knowledge"]["sources"][0]["source"].get<std::string>().ends_with(best[i])) << lines[i];
  }
  // The same question alone gives the same line.
  const auto one = test::run_rpu({"ask", "--kb", kb, "What is a kludge?", "--print-messages", "-k", "2", "--mode", "bm25"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(nlohmann::json::parse(one.out), lines[0]);

  const auto no_print = test::run_rpu({"ask", "--kb", kb, "--questions", questions});
  EXPECT_NE(no_print.exit_code, 0);
  EXPECT_NE(no_print.err.find("--questions needs --print-messages"), std::string::npos) << no_print.err;
  test::write_file(questions, "{\"question\": \"What is a kludge?\"}\n{\"q\": 1}\n");
  const auto bad = test::run_rpu({"ask", "--kb", kb, "--questions", questions, "--print-messages"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("line 2"), std::string::npos) << bad.err;
  const auto none = test::run_rpu({"ask", "--kb", kb});
  EXPECT_NE(none.exit_code, 0);
  fs::remove_all(dir);
}

// rpu chat --kb: each turn searches its own message; its sources join that turn's system
// message only (the history keeps the conversation, not earlier turns' sources).
std::vector<std::string> shown_prompts(const std::string& err) {
  std::vector<std::string> prompts;
  for (size_t at = err.find("[prompt]"); at != std::string::npos; at = err.find("[prompt]", at + 1)) {
    prompts.push_back(err.substr(at, err.find("[/prompt]", at) - at));
  }
  return prompts;
}

TEST(KnowledgeBaseCli, ChatSearchesEveryTurnAndKeepsOnlyTheConversation) {
  const std::string dir = test::temp_path("kb_chat");
  const std::string kb = small_chunk_base(dir);
  ASSERT_FALSE(kb.empty());
  const auto r = test::run_rpu({"chat", "--kb", kb, "--kb-k", "1", "--show-prompt", "--system", "Answer from the sources.",
                                "-n", "8", "--temp", "0"},
                               "", "What is a kludge?\nWho owns a value in Rust?\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> prompts = shown_prompts(r.err);
  ASSERT_EQ(prompts.size(), 2u) << r.err;
  EXPECT_NE(prompts[0].find("Answer from the sources."), std::string::npos) << prompts[0];
  EXPECT_NE(prompts[0].find("clumsy but working"), std::string::npos) << prompts[0];
  EXPECT_NE(prompts[1].find("[1] Rust > "), std::string::npos) << prompts[1];
  EXPECT_EQ(prompts[1].find("clumsy but working"), std::string::npos) << "the first turn's source stayed: " << prompts[1];
  EXPECT_NE(prompts[1].find("What is a kludge?"), std::string::npos) << "the history was lost: " << prompts[1];
  EXPECT_NE(prompts[1].find("Answer from the sources."), std::string::npos) << prompts[1];
  fs::remove_all(dir);
}

// rpu chat --kb --extractive, as an agent converses (a system prompt, two turns): each answer
// uses only words of the prompt the model was shown (its sources, the history and the message);
// --extractive without --kb is refused before any model is loaded.
TEST(KnowledgeBaseCli, ChatExtractiveAnswersUseOnlyWordsOfTheirPrompt) {
  const std::string dir = test::temp_path("kb_chat_extractive");
  const std::string kb = small_chunk_base(dir);
  ASSERT_FALSE(kb.empty());
  auto chat = [&](bool extractive) {
    std::vector<std::string> args = {"chat", "--kb", kb, "--kb-k", "1", "--show-prompt", "--system",
                                     "Answer from the sources.", "-n", "16", "--temp", "1", "--seed", "3"};
    if (extractive) args.push_back("--extractive");
    return test::run_rpu(args, "", "What is a kludge?\nWho owns a value in Rust?\n");
  };
  const auto r = chat(true);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> prompts = shown_prompts(r.err);
  ASSERT_EQ(prompts.size(), 2u) << r.err;
  std::set<std::string> shown;
  for (const std::string& p : prompts) {
    const auto w = words_of(p);
    shown.insert(w.begin(), w.end());
  }
  // One answer a line. Cut at the token limit, an answer's last word may be unfinished: it must
  // then be the start of a shown word; every other word must be a shown word.
  std::istringstream lines(r.out);
  size_t checked = 0;
  for (std::string line; std::getline(lines, line);) {
    const size_t cut = line.find_last_of(" .,;:!?[]()") + 1;  // 0 when the line has no separator
    for (const std::string& w : words_of(line.substr(0, cut))) {
      EXPECT_TRUE(shown.count(w)) << "'" << w << "' in: " << line;
      ++checked;
    }
    for (const std::string& rest : words_of(line.substr(cut))) {
      const auto next = shown.lower_bound(rest);
      EXPECT_TRUE(next != shown.end() && next->compare(0, rest.size(), rest) == 0) << "'" << rest << "' in: " << line;
    }
  }
  EXPECT_GT(checked, 0u) << r.out;
  // The control: without --extractive the built-in arithmetic model answers in its own words.
  const auto plain = chat(false);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  size_t foreign = 0;
  for (const std::string& w : words_of(plain.out)) foreign += shown.count(w) ? 0 : 1;
  EXPECT_GT(foreign, 0u) << "the check above would pass without --extractive: " << plain.out;

  const auto alone = test::run_rpu({"chat", "--extractive", "-n", "4"}, "", "hi\n");
  EXPECT_NE(alone.exit_code, 0);
  EXPECT_NE(alone.err.find("--kb"), std::string::npos) << alone.err;
  fs::remove_all(dir);
}

TEST(KnowledgeBaseServer, CitationsThroughTheOpenAIClient) {
  if (!test::node_peers_installed()) GTEST_SKIP() << "tests/peers/node_modules missing (run scripts/install-deps.sh)";
  const std::string dir = test::temp_path("kb_server");
  const std::string docs = make_text_docs(dir), kb = dir + "/docs.kb";
  // Chunks of 16 words: each of jargon.txt's three paragraphs is a chunk of its own.
  ASSERT_EQ(test::run_rpu({"kb", "create", kb, "--chunk-tokens", "16", "--overlap", "0"}).exit_code, 0);
  ASSERT_EQ(test::run_rpu({"kb", "add", kb, docs}).exit_code, 0);
  test::ServerProcess server({"--kb", "docs=" + kb, "--threads", "2"});
  const test::NodeResult r = test::run_node("knowledge.mjs", {server.url(), "rpu-arith", "sub/jargon.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- server log ---\n" << server.log();
  EXPECT_TRUE(server.running()) << server.log();
  fs::remove_all(dir);
}

// The gateway: knowledge_bases: by name, a route's default extension for calls that carry
// none, a call's own extension on a route without one, and config mistakes named with lines.
TEST(KnowledgeBaseGateway, RouteDefaultsAndCallExtensionsGetSourcesAndCitations) {
  const std::string dir = test::temp_path("kb_gateway");
  const std::string docs = make_text_docs(dir), kb = dir + "/docs.kb";
  ASSERT_EQ(test::run_rpu({"kb", "create", kb}).exit_code, 0);
  ASSERT_EQ(test::run_rpu({"kb", "add", kb, docs}).exit_code, 0);
  test::write_file(dir + "/gateway.yaml", R"(models:
  general: {local: builtin, parallel: 2, threads: 1}
knowledge_bases:
  docs: docs.kb
routes:
  - name: with-docs
    target: general
    aliases: [docs-model]
    knowledge: {kb: docs, k: 2, mode: bm25}
  - name: plain
    target: general
default_route: plain
)");
  auto gateway = test::start_gateway(dir + "/gateway.yaml");
  auto r = test::http_post(gateway->url(), "/v1/chat/completions", test::chat_body("docs-model", "What is a kludge?", 8));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.gateway().value("route", ""), "with-docs");
  const auto& knowledge = r.json["rpu"]["knowledge"];
  ASSERT_TRUE(knowledge.is_object()) << r.body;
  EXPECT_EQ(knowledge["kb"], "docs");
  EXPECT_TRUE(knowledge["sources"][0]["source"].get<std::string>().ends_with("sub/jargon.txt")) << r.body;
  EXPECT_TRUE(r.json["rpu"]["citations"].is_array());

  auto plain = test::http_post(gateway->url(), "/v1/chat/completions", test::chat_body("anything", "What is a kludge?", 8));
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_FALSE(plain.json["rpu"].contains("knowledge")) << "no default, no extension: no retrieval";
  auto body = test::chat_body("anything", "Who owns a value?", 8);
  body["knowledge"] = {{"kb", "docs"}, {"k", 1}, {"mode", "bm25"}};
  auto asked = test::http_post(gateway->url(), "/v1/chat/completions", body);
  ASSERT_EQ(asked.status, 200) << asked.body;
  EXPECT_TRUE(asked.json["rpu"]["knowledge"]["sources"][0]["source"].get<std::string>().ends_with("rust.md")) << asked.body;
  body["knowledge"]["kb"] = "other";
  auto unknown = test::http_post(gateway->url(), "/v1/chat/completions", body);
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.json["error"]["param"], "knowledge.kb") << unknown.body;
  gateway.reset();

  test::write_file(dir + "/bad.yaml", "models:\n  general: {local: builtin}\nroutes:\n  - name: a\n    target: general\n"
                                      "    knowledge: {kb: nope}\n");
  const auto bad = test::run_rpu({"gateway", "--config", dir + "/bad.yaml"});
  EXPECT_NE(bad.err.find("bad.yaml:6: routes[0].knowledge.kb: 'nope' is not defined under knowledge_bases:"), std::string::npos)
      << bad.err;
  fs::remove_all(dir);
}

TEST(KnowledgeBaseServer, ABadKnowledgeBaseFailsAtStartUp) {
  const auto r = test::run_rpu({"serve", "--kb", "docs=/no/such.kb", "--port", "0"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/no/such.kb"), std::string::npos) << r.err;
  const auto bad = test::run_rpu({"serve", "--kb", "nonsense", "--port", "0"});
  EXPECT_NE(bad.err.find("expected NAME=FILE"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace rpu
