// Prometheus text lines for backends' metrics_text() (the server's registry lives a layer up).
// Backends nest (a pool of resilient upstreams), and the exposition format allows a family's
// HELP and TYPE only once, before all its samples: merge_metrics_text() joins the texts of
// several backends into one family block per name.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rpu {

// A label value with the format's three escapes (backslash, quote, newline).
std::string metric_label_value(std::string_view value);

// One family: "# HELP", "# TYPE" and one sample per (label set, value); a label set is the
// text between the braces, e.g. upstream="a",outcome="ok".
void append_metric_family(std::string& out, const std::string& name, const std::string& help, const char* type,
                          const std::vector<std::pair<std::string, long long>>& samples);

// The families of every text, each once (its first HELP and TYPE), samples in order.
std::string merge_metrics_text(const std::vector<std::string>& texts);

}  // namespace rpu
