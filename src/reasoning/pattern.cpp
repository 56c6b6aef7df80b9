#include "reasoning/pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"

namespace rpu::reasoning {

struct Pattern::Code {
  pcre2_code* code = nullptr;
  // Read-only once built, so one context serves every thread (PCRE2 allows sharing
  // contexts that are not modified).
  pcre2_match_context* context = nullptr;
  ~Code() {
    pcre2_match_context_free(context);
    pcre2_code_free(code);
  }
};

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR message[256];
  pcre2_get_error_message(code, message, sizeof(message));
  return reinterpret_cast<const char*>(message);
}

bool is_budget_error(int rc) {
  return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
         rc == PCRE2_ERROR_NOMEMORY;
}

struct MatchData {
  explicit MatchData(const pcre2_code* code) : data(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(data); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
  pcre2_match_data* data;
};

// Next start after an empty match at `pos`: one whole UTF-8 character on, so the scan
// neither loops nor starts inside a character.
size_t next_char(std::string_view text, size_t pos) {
  ++pos;
  while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
  return pos;
}

}  // namespace

Pattern::Pattern(std::string_view pattern, std::string_view param, PatternBudget budget)
    : source_(pattern), budget_(budget) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (code == nullptr) fail("{}: invalid regex '{}': {} (at offset {})", param, pattern, pcre2_message(error), offset);
  auto owned = std::make_shared<Code>();
  owned->code = code;
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // best effort: the interpreter runs without it
  owned->context = pcre2_match_context_create(nullptr);
  if (owned->context == nullptr) fail("{}: out of memory compiling regex '{}'", param, pattern);
  pcre2_set_match_limit(owned->context, budget.match_limit);
  pcre2_set_depth_limit(owned->context, budget.depth_limit);
  pcre2_set_heap_limit(owned->context, budget.heap_limit_kib);
  uint32_t captures = 0;
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &captures);
  capture_count_ = static_cast<int>(captures);
  code_ = std::move(owned);
}

Pattern::Status Pattern::find(std::string_view text, size_t start, Match& out) const {
  if (start > text.size()) return Status::kNoMatch;
  MatchData md(code_->code);
  if (md.data == nullptr) return Status::kBudgetExceeded;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  int rc = pcre2_match(code_->code, subject, text.size(), start, 0, md.data, code_->context);
  // The JIT's small machine stack can run out where the interpreter (heap frames, bounded
  // by the heap limit) would not; retry there before calling it a budget overrun.
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
    rc = pcre2_match(code_->code, subject, text.size(), start, PCRE2_NO_JIT, md.data, code_->context);
  if (rc == PCRE2_ERROR_NOMATCH) return Status::kNoMatch;
  if (is_budget_error(rc)) return Status::kBudgetExceeded;
  if (rc < 0) fail("regex '{}' failed on a {}-byte text: {}", source_, text.size(), pcre2_message(rc));
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.data);
  const uint32_t pairs = pcre2_get_ovector_count(md.data);
  out.begin = ov[0];
  out.end = ov[1];
  out.groups.assign(static_cast<size_t>(capture_count_) + 1, std::nullopt);
  for (uint32_t g = 0; g < pairs && g <= static_cast<uint32_t>(capture_count_); ++g) {
    if (ov[2 * g] == PCRE2_UNSET) continue;
    out.groups[g] = std::make_pair(static_cast<size_t>(ov[2 * g]), static_cast<size_t>(ov[2 * g + 1]));
  }
  return Status::kMatch;
}

Pattern::Status Pattern::find_last(std::string_view text, Match& out, int group) const {
  Match m;
  bool found = false;
  size_t start = 0;
  const auto deadline = std::chrono::steady_clock::now() + budget_.scan_time;
  for (size_t n = 0; start <= text.size(); ++n) {
    // A pattern matching (almost) everywhere on a huge text is a budget problem too, and so
    // is one whose every match costs nearly the step limit.
    if (n == budget_.max_matches) return Status::kBudgetExceeded;
    if (n > 0 && std::chrono::steady_clock::now() > deadline) return Status::kBudgetExceeded;
    const Status s = find(text, start, m);
    if (s == Status::kBudgetExceeded) return s;
    if (s == Status::kNoMatch) break;
    start = m.end > m.begin ? m.end : next_char(text, m.end);
    if (group < 0 || group >= static_cast<int>(m.groups.size()) || !m.groups[static_cast<size_t>(group)]) continue;
    found = true;
    out = m;
  }
  return found ? Status::kMatch : Status::kNoMatch;
}

Pattern::Status Pattern::search(std::string_view text) const {
  Match m;
  return find(text, 0, m);
}

}  // namespace rpu::reasoning
