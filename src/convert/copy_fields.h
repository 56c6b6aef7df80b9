// Which JSON values of a cluster's answers the teacher copies verbatim from the request, and
// in what shapes, learned from its logged calls so the specialist can be held to copying them
// (the route's `copy_fields:`, decode/copy_matcher.h). Values are read from the answer's
// content when it is a JSON object, and from its tool calls' arguments. A key is copied when
// its string values (nulls aside) are, almost always, candidates of the call's messages other
// than the assistant's as the log holds them (scrubbed: placeholders copy like any text): a
// span that starts and ends at word boundaries. A key the teacher normalises ("date":
// "2026-03-05" from "March 5") is not copied, and stays free.
//
// Source: a key whose values are, almost always (min_share), candidates of the last user
// message alone is held to copying from it (CopyField::last_user_only).
//
// Shapes: when the values' shapes (value_shape) are few and recur (a shape seen once in the
// calls is the estimate of a new value having an unseen one: Good-Turing), the field keeps
// the recurring ones, so "order_id" (always "A-#") cannot take the product's words; otherwise
// any span.
#pragma once

#include <string>
#include <vector>

#include "convert/logged_call.h"
#include "decode/copy_matcher.h"

namespace rpu::convert {

struct CopyFieldOptions {
  int min_values = 20;          // string values a key needs before it can be called copied
  double min_share = 0.97;      // share of them that must be copies
  double max_unseen_shape = 0.02;  // shapes seen once / copied values above this: any shape
  double min_shape_share = 0.02;   // a shape is kept when this share of the copied values (and 2) have it
  double min_shape_cover = 0.95;   // the kept shapes must cover this share, else any shape
  size_t max_shapes = 32;
};

struct CopyFieldStat {
  std::string key;
  int values = 0;   // non-empty string values seen
  int copied = 0;   // of them, candidates of the request
  int copied_last_user = 0;  // of them, candidates of the last user message
  std::vector<std::pair<std::string, int>> shapes;  // the copied values' shapes, with counts
};

// Every key seen with a string value, in order of first appearance.
std::vector<CopyFieldStat> copy_field_stats(const std::vector<const LoggedCall*>& calls);
// The keys that pass `options`, in that order, with their shapes.
std::vector<CopyField> copied_fields(const std::vector<const LoggedCall*>& calls, const CopyFieldOptions& options = {});

}  // namespace rpu::convert
