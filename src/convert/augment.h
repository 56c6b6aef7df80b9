// S5's optional augmentation: more training calls like a cluster's, answered by the teacher.
//
// Why: a small model trained from scratch on a few hundred calls of a type memorises them. What
// it has to learn is to copy and transform the values in a request (order ids, product names,
// quantities, dates), and for that it needs more distinct values in more combinations than a
// day's log holds.
//
// How: each trainable call is varied. Its last user message is cut into tokens (words, digit
// runs, scrub placeholders, spaces, other characters), and each digit run and each name (a
// capitalised word inside a sentence) is swapped, with probability swap_probability, for another
// value the cluster's calls have in the same slot: the same kind of token (a digit run: of the
// same length) after the same token and before the same kind of token. "has 258 candies" ->
// "has 731 candies", "The Terra 500 blender" -> "The Pulse 300 blender". Common words are never
// swapped: that would change what the message asks (a support ticket's category), where a
// number or a name only changes the values its answer copies or transforms. Placeholders
// (<PERSON_1>) are never swapped. A slot the cluster only ever fills one way never changes, so a
// variant keeps the cluster's shape. Variants equal to a source call, or to each other, are
// dropped.
//
// The teacher answers each variant as a live call (greedy): the labels are the teacher's, never
// rpu's. An answer whose shape is not the cluster's (a metric under a tenth of its answers take, unfinished, or
// far longer than the cluster's longest) means the teacher did not read the variant as the task,
// and it is dropped.
//
// Faults: each call is retried by the teacher backend (the gateway's retry settings); a call
// that still fails is skipped and counted; after max_consecutive_failures failures in a row the
// teacher is taken as gone and augmentation stops with what it has (the report says so). The
// caller writes the result as one whole file (write_augmented): never a half-written dataset.
//
// The held-out split is a function of a request's content (split.h), so a variant that happens
// to equal a held-out call is held out too, and write_training_file leaves it out.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "convert/logged_call.h"
#include "pipeline/backend.h"

namespace rpu::convert {

struct AugmentOptions {
  int per_call = 0;                  // variants asked per trainable call (0: no augmentation)
  int parallel = 16;                 // teacher calls in flight
  int max_tokens = 512;              // per teacher answer; an answer cut at it is dropped
  int max_consecutive_failures = 16;
  double swap_probability = 0.5;
  uint64_t seed = 1;
  std::string model;                 // the model name sent to the teacher (empty: the source call's)
};

struct AugmentReport {
  size_t sources = 0;       // trainable calls varied
  size_t variants = 0;      // distinct variants asked
  size_t answered = 0;      // the teacher answered
  size_t kept = 0;          // answered in the cluster's shape
  size_t wrong_shape = 0;   // answered, dropped (see above)
  size_t failed = 0;        // failed after the backend's retries
  bool stopped = false;     // the teacher was taken as gone
  std::string stop_reason;
  double seconds = 0;
  nlohmann::ordered_json to_json() const;
};

// The variants of `sources` (pure: the same sources and seed give the same variants). Each is a
// copy of its source with the last user message changed, no answer, from_teacher false, and
// source_id the source's id.
std::vector<LoggedCall> vary_calls(const std::vector<const LoggedCall*>& sources, int per_call,
                                   double swap_probability, uint64_t seed);

using AugmentProgress = std::function<void(const std::string&)>;

// Varies `sources` (one cluster's trainable calls) and asks `teacher` for each variant's answer.
// Returns the kept calls: from_teacher, with the teacher's answer and latency.
std::vector<LoggedCall> augment_calls(Backend& teacher, const std::vector<const LoggedCall*>& sources,
                                      const AugmentOptions& options, AugmentReport* report,
                                      const AugmentProgress& progress = {});

// DIR/augmented.jsonl: one line per kept call, {"cluster", "source" (the id of the call it
// varies), "messages", "tools", "answer", "latency_ms"}, written to path.tmp and renamed. read_augmented gives calls with ids from
// first_id downwards (negative: never a log row's), by cluster. Throw rpu::Error.
void write_augmented(const std::string& path, const std::map<int, std::vector<LoggedCall>>& calls);
std::map<int, std::vector<LoggedCall>> read_augmented(const std::string& path, int64_t first_id = -1);

}  // namespace rpu::convert
