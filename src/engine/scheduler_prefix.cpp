// Requests that arrive together with one long system prompt: the first admitted computes the
// prompt's rows; the others wait for them and map its KV pages (kv_cache.h: share_prefix, no
// copy) instead of each computing the same prefix. Waiting costs nothing: a waiting sample has
// a slot but takes no part in steps until the rows are there. Exact, since rows do not depend on
// which batch computed them (batch invariance).
#include <algorithm>

#include "engine/scheduler.h"
#include "engine/scheduler_state.h"

namespace rpu {
namespace {

// Tokens a prompt (the first prompt_size of `sample_tokens`) has in common with `tokens` from the
// start; no copy of the prompt (this runs for every waiting request at every step).
int prompt_prefix(const std::vector<int32_t>& sample_tokens, int prompt_size, const std::vector<int32_t>& tokens) {
  return static_cast<int>(std::min(common_prefix(sample_tokens, tokens), static_cast<size_t>(prompt_size)));
}

}  // namespace

void Scheduler::await_shared_prefix(Sample& leader, int reuse) {
  const int limit = leader.prompt_size - 1;  // the last prompt token is always evaluated
  // Worth waiting for: any token more than `reuse`. The wait lasts until the other slot's
  // prefill has passed the prefix (a few steps at most), and every token not recomputed is
  // compute saved; a threshold (say a page) would also make the outcome depend on how far that
  // prefill had got when this request arrived.
  int best_len = reuse;
  for (const Slot& slot : slots_) {
    const Sample* other = slot.owner;
    if (other == nullptr || other == &leader || other->waits_for_leader || other->evaluated >= other->prompt_size) {
      continue;
    }
    const int len = std::min(prompt_prefix(other->tokens, other->prompt_size, leader.tokens), limit);
    if (len > best_len) {
      best_len = len;
      leader.prefix_from = other->slot;
      leader.prefix_len = len;
    }
  }
}

bool Scheduler::take_awaited_prefix(Sample& s) {
  if (s.prefix_from < 0) return true;
  const Slot& from = slots_[static_cast<size_t>(s.prefix_from)];
  const int limit = s.prompt_size - 1;
  const int have = std::min({static_cast<int>(common_prefix(from.history, s.tokens)), limit, s.prefix_len});
  // Keep waiting while the slot's owner is still prefilling a prompt that holds the prefix (a
  // cancelled or finished owner, or a new one with another prompt, will not bring the rows).
  const Sample* owner = from.owner;
  const bool coming =
      owner != nullptr && owner->evaluated < owner->prompt_size && prompt_prefix(owner->tokens, owner->prompt_size, s.tokens) >= s.prefix_len;
  if (have < s.prefix_len && coming) return false;
  const int from_slot = s.prefix_from;
  s.prefix_from = -1;
  if (have <= s.evaluated) return true;  // what the slot holds now is no better: prefill as usual
  forward_->share_prefix(from_slot, s.slot, have);
  slots_[static_cast<size_t>(s.slot)].history.assign(s.tokens.begin(), s.tokens.begin() + have);
  const int gained = have - s.evaluated;
  s.evaluated = have;
  s.request->cached_tokens = have;
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.cached_prompt_tokens += static_cast<uint64_t>(gained);
  return true;
}

}  // namespace rpu
