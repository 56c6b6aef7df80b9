// Small text helpers shared by layers that compare or report text.
#pragma once

#include <string>
#include <string_view>

namespace rpu {

// `s` without leading and trailing ASCII whitespace (space, \t, \r, \n, \f, \v).
std::string_view trim_ascii(std::string_view s);
// Runs of ASCII whitespace become one space; none at either end ("a \n\t b " -> "a b").
std::string collapse_whitespace(std::string_view s);

}  // namespace rpu
