// Reading a client's JSON body: nesting and the number of keys per object (the JSON library
// finds keys by a linear scan) are bounded before parsing, and every parse failure
// (syntax, a number too large to represent) becomes a 400 that names where it happened, so
// no library exception text or 500 reaches the client.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace rpu {

// Parses `body` as a JSON object. Throws ApiError 400 (param: the JSON path of the failure,
// e.g. "max_tokens" or "messages[2].content", when there is one).
nlohmann::ordered_json parse_json_body(std::string_view body);

}  // namespace rpu
