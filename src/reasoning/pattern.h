// A PCRE2 regex from a client (an extraction pattern, a regex verifier) with a matching
// budget. Client patterns can backtrack catastrophically ("(a+)+$" on "aaaa...b"); without
// a budget one request could pin a worker thread for minutes. Every pcre2_match call runs
// with a match limit (backtracking steps), a depth limit and a heap limit; a call that hits
// one reports kBudgetExceeded instead of running on. Callers decide what that means
// (extraction: no answer; the regex verifier: a fail with a reason saying so).
//
// A scan for the last match (find_last) makes one call per match, each under the step limits,
// so a pattern whose every match costs close to the limit ("(?:(a|aa)+y|a)" over runs of a's:
// 6 s for 64 KB under ASan) would still run for seconds; the scan as a whole has a time budget too.
//
// Compiled once, then shared read-only: a Pattern is safe to use from several threads at
// once (match data is allocated per call).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rpu::reasoning {

struct PatternBudget {
  unsigned match_limit = 1'000'000;  // backtracking steps per pcre2_match call
  unsigned depth_limit = 10'000;     // nested backtracking frames (interpreter only)
  unsigned heap_limit_kib = 16 * 1024;
  size_t max_matches = 100'000;      // matches visited when scanning a whole text
  // One scan's time (find_last): legitimate scans take microseconds, so a 1000x margin.
  std::chrono::milliseconds scan_time{250};
};

class Pattern {
 public:
  enum class Status { kMatch, kNoMatch, kBudgetExceeded };

  struct Match {
    size_t begin = 0;
    size_t end = 0;
    // Per group (0 = whole match): byte range, or nullopt when the group did not take part.
    std::vector<std::optional<std::pair<size_t, size_t>>> groups;
  };

  // Throws rpu::Error "<param>: invalid regex '<pattern>': <why> (at offset N)". The pattern
  // is UTF-8; subjects that are not valid UTF-8 still match (bad bytes never match).
  Pattern(std::string_view pattern, std::string_view param, PatternBudget budget = {});

  const std::string& source() const { return source_; }
  int capture_count() const { return capture_count_; }

  // First match at or after byte `start`.
  Status find(std::string_view text, size_t start, Match& out) const;
  // The last of the non-overlapping matches scanning left to right (what "the last number
  // the model wrote" means for a pattern) in which group `group` took part (0: any match);
  // kBudgetExceeded if any step ran out, more than budget.max_matches matches were seen, or
  // the scan ran past budget.scan_time (checked after each match).
  Status find_last(std::string_view text, Match& out, int group = 0) const;
  // Whether the pattern matches anywhere.
  Status search(std::string_view text) const;

 private:
  struct Code;
  std::string source_;
  std::shared_ptr<const Code> code_;
  int capture_count_ = 0;
  PatternBudget budget_;
};

}  // namespace rpu::reasoning
