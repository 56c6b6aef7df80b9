// Retrieved chunks as the model reads them, and the citations read back from its answer.
//
// The sources block (appended to the system message, or a new one first):
//   Answer from the numbered sources below and cite each source you use as [n]. If they do
//   not contain the answer, reply exactly: The sources do not contain the answer.
//
//   [1] <title> > <heading path>
//   <chunk text>
//
//   [2] ...
// Sources are added best first while they fit the token budget (a source that does not fit
// is left out whole, never cut), so [n] is the n-th best chunk that fit.
//
// Citations: every "[n]" (also "[1, 3]" and "[1][2]") in the answer. A number is a citation
// only when source n was in the context; any other number is reported as invalid, never as a
// citation (the caller's guarantee: every cited number resolves to a chunk the model saw).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "retrieval/retriever.h"

namespace rpu::retrieval {

inline constexpr std::string_view kNotInSources = "The sources do not contain the answer.";

struct ContextBlock {
  std::string text;               // the block, instructions included
  std::vector<SearchHit> sources; // sources[n - 1] is [n]
  int tokens = 0;                 // the block's size by the counter
  int left_out = 0;               // hits that did not fit the budget
};

using TokenCount = std::function<int(std::string_view)>;

// "Title > Heading > Sub": the title, then the heading path unless it already starts with the
// title (a Markdown H1 is both).
std::string source_label(const std::string& title, const std::string& heading);

ContextBlock build_context(const std::vector<SearchHit>& hits, int max_tokens, const TokenCount& count);

// The block inserted into an OpenAI messages array: appended to a leading system message
// (after a blank line), or as a new system message first.
void add_context_to_messages(nlohmann::ordered_json& messages, const std::string& block);

// The text a retrieval query is made of: the last user message's text (string content or
// text parts); empty when there is none.
std::string last_user_text(const nlohmann::ordered_json& messages);

struct Citations {
  std::vector<int> cited;    // distinct valid source numbers, in order of first appearance
  std::vector<int> invalid;  // numbers in brackets that name no source in the context
};
Citations find_citations(std::string_view answer, int n_sources);

// {source, title, heading, offsets: {byte_begin, byte_end, page_begin, page_end}, score,
//  chunk_id, n}: the JSON one source is reported as (rpu.citations and rpu.sources).
nlohmann::ordered_json source_json(const SearchHit& hit, int n);

}  // namespace rpu::retrieval
