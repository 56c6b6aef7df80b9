// Verifiers for best-of-N and step search: each judges one candidate text on its own.
// All verifiers are immutable after construction and safe to call from several threads.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace rpu {
class Grammar;
}

namespace rpu::reasoning {

class Pattern;

struct Verdict {
  bool pass = false;
  double score = 0;  // in [0, 1]
  std::string reason;
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  virtual Verdict check(std::string_view candidate) const = 0;
  virtual std::string name() const = 0;
};

// Recomputes every "a op b = c" in the text (decode/arithmetic.h says exactly what is read and how
// results are compared) and checks that a final "The answer is N" equals the result of the
// last step before it. Fails on any wrong step or a wrong final answer; the reason lists the
// wrong ones ("12 + 7 = 29: expected 19"). score = correct checks / all checks, where the
// final-answer comparison is one check. A text without steps passes with score 0.5 and
// reason "no steps to check": nothing is known to be wrong, but nothing was verified either,
// so it ranks below a candidate whose steps all check out.
class ArithmeticVerifier : public Verifier {
 public:
  Verdict check(std::string_view candidate) const override;
  std::string name() const override { return "arithmetic"; }
};

// Passes when the pattern matches anywhere in the candidate (score 1, else 0). Runs under
// pattern.h's matching budget; running out of it is a fail with a reason saying so.
// Throws rpu::Error "reasoning.verifier.pattern: ..." for an invalid pattern.
class RegexVerifier : public Verifier {
 public:
  explicit RegexVerifier(std::string_view pattern);
  Verdict check(std::string_view candidate) const override;
  std::string name() const override { return "regex"; }

 private:
  std::shared_ptr<const Pattern> pattern_;
};

// Passes when the trimmed candidate is one JSON value accepted by the schema. The check
// runs the project's schema -> grammar converter and byte-level grammar matcher on the
// candidate re-serialised compactly with keys sorted, and the schema is also read with
// keys sorted (nlohmann::json), so whitespace and key order never decide the verdict (the
// grammar itself fixes both). What the converter enforces, and the keywords it rejects,
// are listed in decode/json_schema.h; one difference from a full validator remains: extra
// keys allowed by additionalProperties must sort after the declared ones.
// Throws rpu::Error "reasoning.verifier.schema: ..." for a schema the converter rejects.
class JsonSchemaVerifier : public Verifier {
 public:
  explicit JsonSchemaVerifier(const nlohmann::json& schema);
  Verdict check(std::string_view candidate) const override;
  std::string name() const override { return "json_schema"; }

 private:
  std::shared_ptr<const Grammar> grammar_;
};

// Runs an external program without a shell: argv[0] is looked up in PATH (or is a path),
// the candidate is written to its stdin, stdout and stderr are read (the first 4 KiB kept
// for the reason, the rest discarded), and exit status 0 is a pass (score 1, else 0).
// - Over timeout_ms the program's whole process group is killed (SIGKILL): a fail with
//   reason "timed out after N ms". When the program ends, anything it left running in its
//   process group is killed too, and the program is always reaped (no zombies).
// - A program that exits without reading its stdin is fine: the write's SIGPIPE is blocked
//   in the calling thread and the EPIPE ends the writing.
// - The constructor throws rpu::Error "reasoning.verifier.command: ..." when argv is empty
//   or argv[0] is not an executable file (in PATH or as a path), and
//   "reasoning.verifier.timeout_ms: ..." unless 0 < timeout_ms <= 600000. The resolved path
//   is kept, so later PATH changes do not matter.
class CommandVerifier : public Verifier {
 public:
  CommandVerifier(std::vector<std::string> argv, int timeout_ms);
  Verdict check(std::string_view candidate) const override;
  std::string name() const override { return "command"; }
  const std::string& program_path() const { return path_; }

 private:
  std::vector<std::string> argv_;
  std::string path_;
  int timeout_ms_;
};

// {"type": "arithmetic"} | {"type": "regex", "pattern": "..."} |
// {"type": "json_schema", "schema": {...}} |
// {"type": "command", "command": ["prog", "arg"], "timeout_ms": 2000 (default)}.
// Returns nullptr for the model-scored types "logprob" and "judge" (built on a model backend
// elsewhere). Throws rpu::Error naming the field: "reasoning.verifier.type" (missing or
// unknown), ".pattern", ".schema", ".command", ".timeout_ms".
std::unique_ptr<Verifier> make_verifier(const nlohmann::json& spec);

}  // namespace rpu::reasoning
