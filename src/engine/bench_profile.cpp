#include "engine/bench_profile.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace rpu {
namespace {

// One row's derived numbers, per token of the profiled run.
struct Rates {
  double ms_per_token = 0;
  double share = 0;         // of the run's recorded time
  double mb_per_token = 0;  // bytes read
  double gb_per_s = 0;      // 0 when nothing was read
  double of_bandwidth = 0;  // gb_per_s / measured bandwidth, 0 when unknown
  double calls_per_token = 0;
};

Rates rates(const ForwardProfile::Entry& e, const BenchProfile& p, double bandwidth) {
  Rates r;
  const double tokens = static_cast<double>(std::max<int64_t>(p.tokens, 1));
  const double total = p.profile.total_seconds();
  r.ms_per_token = 1e3 * e.seconds / tokens;
  r.share = total > 0 ? e.seconds / total : 0;
  r.mb_per_token = static_cast<double>(e.bytes) / tokens / 1e6;
  r.gb_per_s = e.seconds > 0 && e.bytes > 0 ? static_cast<double>(e.bytes) / e.seconds / 1e9 : 0;
  r.of_bandwidth = bandwidth > 0 ? r.gb_per_s * 1e9 / bandwidth : 0;
  r.calls_per_token = static_cast<double>(e.calls) / tokens;
  return r;
}

std::string row(const std::string& name, const Rates& r, bool with_bandwidth) {
  std::string out = fmt::format("| {} | {:.3f} | {:.1f}% | {:.1f} |", name, r.ms_per_token, 100 * r.share, r.calls_per_token);
  if (r.gb_per_s <= 0) return out + (with_bandwidth ? " - | - | - |\n" : " - | - |\n");
  out += fmt::format(" {:.2f} | {:.2f} |", r.mb_per_token, r.gb_per_s);
  return out + (with_bandwidth ? fmt::format(" {:.0f}% |\n", 100 * r.of_bandwidth) : "\n");
}

std::string header(const char* first, bool with_bandwidth) {
  std::string out = fmt::format("| {} | ms/token | share | calls/token | MB read/token | GB/s |", first);
  out += with_bandwidth ? " % of bandwidth |\n" : "\n";
  out += with_bandwidth ? "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n" : "| --- | ---: | ---: | ---: | ---: | ---: |\n";
  return out;
}

nlohmann::ordered_json entry_json(const ForwardProfile::Entry& e, const Rates& r) {
  return {{"seconds", e.seconds}, {"bytes", e.bytes},         {"calls", e.calls},
          {"ms_per_token", r.ms_per_token}, {"gb_per_s", r.gb_per_s}, {"bandwidth_share", r.of_bandwidth}};
}

}  // namespace

std::string format_profile_markdown(const BenchProfile& p, double bandwidth) {
  const bool bw = bandwidth > 0;
  const ForwardProfile& prof = p.profile;
  std::string out = fmt::format("\nprofile of {} ({} tokens, {:.2f} ms/token recorded):\n\n", p.test, p.tokens,
                                1e3 * prof.total_seconds() / static_cast<double>(std::max<int64_t>(p.tokens, 1)));
  out += header("operation", bw);
  ForwardProfile::Entry matmuls;
  for (size_t i = 0; i < prof.ops.size(); ++i) {
    const ForwardProfile::Entry& e = prof.ops[i];
    if (e.calls == 0) continue;
    const auto op = static_cast<ForwardOp>(i);
    if (op == ForwardOp::kMatmulQkv || op == ForwardOp::kMatmulOut || op == ForwardOp::kMatmulGateUp ||
        op == ForwardOp::kMatmulDown || op == ForwardOp::kOutputHead) {
      matmuls.seconds += e.seconds;
      matmuls.bytes += e.bytes;
      matmuls.calls += e.calls;
    }
    out += row(forward_op_name(op), rates(e, p, bandwidth), bw);
  }
  out += row("**all matmuls**", rates(matmuls, p, bandwidth), bw);
  out += '\n';  // (gcc 12 -O3 reports a false -Wstringop-overflow on "literal" + std::string&&)
  out += header("layer", bw);
  for (size_t l = 0; l < prof.layers.size(); ++l) out += row(fmt::format("{}", l), rates(prof.layers[l], p, bandwidth), bw);
  return out;
}

std::string format_profiles_json(const std::vector<BenchProfile>& profiles, double bandwidth) {
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const BenchProfile& p : profiles) {
    nlohmann::ordered_json j{{"test", p.test}, {"tokens", p.tokens}, {"steps", p.profile.steps},
                             {"seconds", p.profile.total_seconds()}};
    j["operations"] = nlohmann::ordered_json::object();
    for (size_t i = 0; i < p.profile.ops.size(); ++i) {
      const ForwardProfile::Entry& e = p.profile.ops[i];
      if (e.calls > 0) j["operations"][forward_op_name(static_cast<ForwardOp>(i))] = entry_json(e, rates(e, p, bandwidth));
    }
    j["layers"] = nlohmann::ordered_json::array();
    for (const ForwardProfile::Entry& e : p.profile.layers) j["layers"].push_back(entry_json(e, rates(e, p, bandwidth)));
    all.push_back(std::move(j));
  }
  return all.dump();
}

}  // namespace rpu
