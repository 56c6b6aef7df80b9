#include "convert/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "convert/clusters_file.h"
#include "convert/routing_table.h"
#include "convert/run.h"
#include "core/error.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

std::string ms(double v) { return v < 0 ? "-" : fmt::format("{:.0f}", v); }
std::string pct(double v) { return v < 0 ? "-" : fmt::format("{:.1f}%", 100 * v); }

// The best score any (candidate, strategy) pair, evaluated or trained, reached, its strategy
// and its p50 latency (ties: the fewer samples per call, as S4 picks).
void specialist_scores(const json& state, ReportRow& row) {
  auto consider = [&](const json& c) {
    const double score = c["score"].get<double>(), samples = c.value("samples_per_call", 1.0);
    if (score > row.specialist_score || (score == row.specialist_score && samples < row.samples_per_call)) {
      row.specialist_score = score;
      row.specialist_p50_ms = c["latency_p50_ms"];
      row.strategy = c.value("strategy", std::string("greedy"));
      row.samples_per_call = samples;
    }
  };
  if (state.contains("evaluated")) {
    for (const json& c : state["evaluated"]) consider(c);
  }
  if (state.contains("trained")) {
    const json& t = state["trained"];
    if (t.contains("candidates")) {
      for (const json& c : t["candidates"]) consider(c);
    } else {
      consider(t["candidate"]);
    }
    row.model_mb = state["trained"].value("model_mb", -1.0);
    row.train_minutes = state["trained"].value("minutes", 0.0);
  }
}

ReportRow row_for(const ClusterRecord& c, const json& state, double price) {
  ReportRow row;
  row.cluster = c.id;
  row.share = c.volume;
  for (const auto& t : c.top_terms) row.label += (row.label.empty() ? "" : " ") + t;
  row.teacher_p50_ms = c.mean_latency_ms;
  if (state.is_null()) {
    row.decision = "not run";
    return row;
  }
  row.teacher_p50_ms = state.value("teacher_latency_p50_ms", c.mean_latency_ms);
  if (state.contains("skipped")) {
    row.decision = "skipped";
    row.reason = state["skipped"];
    return row;
  }
  specialist_scores(state, row);
  if (!state.contains("deployed")) {
    row.decision = "in progress";
    return row;
  }
  const json& d = state["deployed"];
  row.decision = d["deployed"].get<bool>() ? "deployed" : "kept on the teacher";
  row.reason = d.value("reason", "");
  if (d["deployed"].get<bool>()) {
    // What is served: the deployed pair's strategy, and why it (and not greedy) was chosen.
    row.strategy = d.value("strategy", std::string("greedy"));
    row.samples_per_call = d.value("samples_per_call", 1.0);
    if (d.contains("strategy_reason")) row.reason += "; strategy: " + d["strategy_reason"].get<std::string>();
    row.local_share = d.value("local_share", 0.0);
    // Saved: the teacher's tokens on the calls the specialist now keeps.
    row.cost_saved = static_cast<double>(c.prompt_tokens + c.completion_tokens) * row.local_share * price / 1000;
  }
  return row;
}

std::string cluster_table(const Report& r) {
  std::string md =
      "| cluster | top terms | share of calls | teacher | specialist | strategy (samples/call) | decision | served locally | "
      "teacher p50 ms | specialist p50 ms | cost saved | specialist MB | train min |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const ReportRow& row : r.rows) {
    md += fmt::format("| {} | {} | {} | {:.3f} | {} | {} | {} | {} | {} | {} | {:.4f} | {} | {:.1f} |\n", row.cluster, row.label,
                      pct(row.share), row.teacher_score,
                      row.specialist_score < 0 ? "-" : fmt::format("{:.3f}", row.specialist_score),
                      row.strategy.empty() ? "-" : fmt::format("{} ({:.1f})", row.strategy, row.samples_per_call), row.decision,
                      pct(row.local_share * row.share), ms(row.teacher_p50_ms), ms(row.specialist_p50_ms), row.cost_saved,
                      row.model_mb < 0 ? "-" : fmt::format("{:.1f}", row.model_mb), row.train_minutes);
  }
  md += "\nWhy:\n\n";
  for (const ReportRow& row : r.rows) md += fmt::format("- cluster {}: {} — {}\n", row.cluster, row.decision, row.reason);
  return md;
}

// The replay's per-call results, summarised overall and per call type.
std::string replay_section(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read the replay results '{}'", path);
  struct Tally {
    int calls = 0, local = 0, scored = 0, correct = 0;
    std::vector<double> local_ms, teacher_ms;
  };
  std::map<std::string, Tally> by_type;
  Tally all;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    const bool local = j.value("local", false);
    for (Tally* t : {&all, &by_type[j.value("type", "?")]}) {
      ++t->calls;
      t->local += local ? 1 : 0;
      if (j.contains("correct") && j["correct"].is_boolean()) {
        ++t->scored;
        t->correct += j["correct"].get<bool>() ? 1 : 0;
      }
      if (j.contains("latency_ms") && j["latency_ms"].is_number()) (local ? t->local_ms : t->teacher_ms).push_back(j["latency_ms"]);
    }
  }
  auto acc = [](const Tally& t) { return t.scored ? static_cast<double>(t.correct) / t.scored : -1.0; };
  std::string md = fmt::format(
      "\n## Measured through the gateway ({})\n\n{} calls: **{} answered locally**, accuracy {} (scored calls), p50 "
      "latency local {} ms vs teacher {} ms.\n\n| type | calls | local | accuracy | local p50 ms | teacher p50 ms |\n"
      "|---|---|---|---|---|---|\n",
      path, all.calls, pct(all.calls ? static_cast<double>(all.local) / all.calls : 0), pct(acc(all)),
      ms(median(all.local_ms)), ms(median(all.teacher_ms)));
  for (const auto& [type, t] : by_type) {
    md += fmt::format("| {} | {} | {} | {} | {} | {} |\n", type, t.calls, pct(static_cast<double>(t.local) / t.calls),
                      pct(acc(t)), ms(median(t.local_ms)), ms(median(t.teacher_ms)));
  }
  return md;
}

std::string chart(const Report& r) {
  const int bar = 14, group = 3 * bar + 16, left = 60, height = 220, top = 20;
  const int width = left + group * static_cast<int>(r.rows.size()) + 180;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"4\"/>"
      "<text x=\"4\" y=\"{}\">teacher 1.0</text>\n",
      width, height + top + 40, left, top, width - 180, top, top + 4);
  const char* colours[] = {"#8c8c8c", "#3b7dd8", "#3aa657"};
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const ReportRow& row = r.rows[i];
    const double values[] = {row.share, std::max(0.0, row.specialist_score), row.local_share * row.share};
    const int x0 = left + group * static_cast<int>(i);
    for (int b = 0; b < 3; ++b) {
      const int h = static_cast<int>(values[b] * height);
      svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n", x0 + b * bar,
                         top + height - h, bar - 2, h, colours[b]);
    }
    svg += fmt::format("<text x=\"{}\" y=\"{}\">c{}</text>\n", x0 + bar, top + height + 14, row.cluster);
  }
  const char* names[] = {"share of calls", "specialist score", "share served locally"};
  for (int b = 0; b < 3; ++b) {
    const int y = top + 10 + 16 * b, x = width - 170;
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n", x,
                       y, colours[b], x + 14, y + 9, names[b]);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\">{:.1f}% of calls replaceable</text>\n</svg>\n", left, top + height + 32,
                     100 * r.replaceable);
  return svg;
}

}  // namespace

// The generalist (RunOptions::wants_generalist), when the run trained one: its size, its
// training, and which clusters it learned or left out.
std::string generalist_section(const std::string& work_dir) {
  std::ifstream in(work_dir + "/generalist.json");
  if (!in) return "";
  const json g = json::parse(in, nullptr, false);
  if (!g.is_object()) return "";
  std::string md = "\n## Generalist\n\n";
  if (g["model"].is_null()) return md + g.value("reason", std::string("none trained")) + "\n";
  md += fmt::format(
      "One model ({}, {} trainable parameters, {:.1f} MB, vocabulary {}) trained for {:.1f} min ({} steps) on {} calls of "
      "clusters {}; a candidate in each of them.\n",
      g.value("from", std::string("?")), g.value("trainable_parameters", 0), g.value("model_mb", 0.0),
      g.value("vocab_size", 0), g.value("minutes", 0.0), g.value("steps", 0), g.value("examples", 0), g["clusters"].dump());
  for (const auto& [id, why] : g["left_out"].items()) md += fmt::format("- cluster {} left out: {}\n", id, why.get<std::string>());
  return md;
}

// Augmentation (augment.h), when the run asked the teacher for variants: what it asked, what it
// kept per cluster, and whether the teacher went away.
std::string augmentation_section(const std::string& work_dir) {
  std::ifstream in(work_dir + "/augment.json");
  if (!in) return "";
  const json a = json::parse(in, nullptr, false);
  if (!a.is_object() || !a["clusters"].is_object()) return "";
  std::string md = fmt::format("\n## Augmentation\n\nUp to {} variants of each trainable call, answered by the teacher:\n\n",
                               a.value("per_call", 0));
  md += "| cluster | trainable calls | variants asked | kept | not in the cluster's shape | failed | seconds |\n";
  md += "|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& [id, r] : a["clusters"].items()) {
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {:.0f} |\n", id, r.value("sources", 0), r.value("variants", 0),
                      r.value("kept", 0), r.value("wrong_shape", 0), r.value("failed", 0), r.value("seconds", 0.0));
    if (r.value("stopped", false)) md += fmt::format("\nStopped at cluster {}: {}\n\n", id, r.value("stop_reason", std::string()));
  }
  return md;
}

Report build_report(const ReportOptions& o) {
  const ClustersFile clusters = read_clusters_file(o.work_dir + "/clusters.json");
  Report r;
  for (const ClusterRecord& c : clusters.clusters) {
    r.rows.push_back(row_for(c, read_cluster_state(o.work_dir, c.id), o.price_per_1k_tokens));
    r.replaceable += r.rows.back().share * r.rows.back().local_share;
  }
  double saved = 0;
  for (const ReportRow& row : r.rows) saved += row.cost_saved;
  const std::string svg_name = std::filesystem::path(o.out).stem().string() + ".svg";
  r.markdown = fmt::format(
      "# Conversion report\n\nLog: {} ({} calls, {} clusters, {}). Teacher score is 1 by definition: the held-out "
      "answers are its own.\n\n**{:.1f}% of calls replaceable** (deployed clusters' share x the share of held-out "
      "calls their calibrated threshold keeps local); estimated cost saved {:.4f} at {} per 1k tokens.\n\n![chart]({})\n\n",
      clusters.log, clusters.calls, clusters.clusters.size(), clusters.method, 100 * r.replaceable, saved,
      o.price_per_1k_tokens, svg_name);
  r.markdown += cluster_table(r);
  r.markdown += augmentation_section(o.work_dir);
  r.markdown += generalist_section(o.work_dir);
  if (!o.replay.empty()) r.markdown += replay_section(o.replay);
  r.svg = chart(r);
  return r;
}

Report write_report(const ReportOptions& o) {
  Report r = build_report(o);
  write_file_atomically(o.out, r.markdown);
  const std::filesystem::path svg = std::filesystem::path(o.out).replace_extension(".svg");
  write_file_atomically(svg.string(), r.svg);
  return r;
}

}  // namespace rpu::convert
