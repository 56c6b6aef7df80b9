// rpu tokenize MODEL TEXT: shows how a model's tokenizer splits a text, token by token.
// MODEL is a GGUF file or a Hugging Face tokenizer.json.
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace rpu::cli {
namespace {

struct TokenizeOptions {
  std::string model_path;
  std::string text;
  bool no_special = false;
  bool parse_special = false;
  bool ids_only = false;
};

// A piece as a double-quoted string: printable UTF-8 as is, everything else escaped, so that
// spaces, newlines and partial characters (byte tokens) are all visible.
std::string quote(const std::string& bytes) {
  std::string out = "\"";
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      // Keep a whole well-formed UTF-8 sequence; escape stray bytes.
      size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
      bool whole = len > 0 && i + len <= bytes.size();
      for (size_t k = 1; whole && k < len; ++k) whole = (static_cast<unsigned char>(bytes[i + k]) & 0xc0) == 0x80;
      if (whole) {
        out.append(bytes, i, len);
        i += len - 1;
      } else {
        out += fmt::format("\\x{:02x}", c);
      }
    }
  }
  return out + "\"";
}

int tokenize(const TokenizeOptions& o) {
  // A Hugging Face folder: its tokenizer.json (what the folder's conversion is built from).
  std::error_code ec;
  const bool folder = std::filesystem::is_directory(o.model_path, ec);
  const auto tokenizer = Tokenizer::from_file(folder ? (std::filesystem::path(o.model_path) / "tokenizer.json").string()
                                                     : o.model_path);
  const auto ids = tokenizer->encode(o.text, !o.no_special, o.parse_special);
  if (o.ids_only) {
    fmt::print("{}\n", fmt::join(ids, " "));
    return 0;
  }
  const Vocab& v = tokenizer->vocab();
  for (int32_t id : ids) {
    std::string piece = tokenizer->token_to_piece(id);
    // Control tokens have no text of their own; show their name instead.
    if (piece.empty()) piece = v.pieces[static_cast<size_t>(id)];
    fmt::print("{:>8} {}\n", id, quote(piece));
  }
  fmt::print("{} tokens\n", ids.size());
  return 0;
}

}  // namespace

Action add_tokenize_command(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "show the token ids and pieces of a text");
  // No ExistingFile check: a missing model is reported like any other bad model (exit 1).
  cmd->add_option("model", o->model_path, "GGUF model or Hugging Face tokenizer.json")->required();
  cmd->add_option("text", o->text, "text to tokenize")->required();
  cmd->add_flag("--no-special", o->no_special, "do not add BOS/EOS (or [CLS]/[SEP])");
  cmd->add_flag("--parse-special", o->parse_special, "turn special tokens written in the text into those tokens");
  cmd->add_flag("--ids-only", o->ids_only, "print only the ids, space-separated, on one line");
  return [o] { return tokenize(*o); };
}

}  // namespace rpu::cli
