// The text rpu perplexity prints, laid out as llama-perplexity lays out its own.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "engine/perplexity.h"

namespace rpu {
namespace {

// Mean and standard error of a sum of `count` values whose squares sum to sum2.
std::pair<double, double> mean_and_error(double sum, double sum2, size_t count) {
  if (count < 1) return {0.0, 0.0};
  const double n = static_cast<double>(count);
  const double mean = sum / n;
  const double var = sum2 / n - mean * mean;
  return {mean, var > 0 && count > 10 ? std::sqrt(var / (n - 1)) : 0.0};
}

// Covariance of the means of two series.
double mean_covariance(double sum_a, double sum_b, double sum_ab, size_t count) {
  if (count < 10) return 0.0;
  const double n = static_cast<double>(count);
  return (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1);
}

// Linear interpolation between the sorted values around fraction * (n - 1).
double percentile(const std::vector<float>& sorted, double fraction) {
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  const double at = fraction * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(at);
  const double frac = at - static_cast<double>(i);
  return (1 - frac) * sorted[i] + frac * sorted[std::min(i + 1, sorted.size() - 1)];
}

double median(const std::vector<float>& sorted) {
  const size_t n = sorted.size();
  return n % 2 == 0 ? 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]) : sorted[n / 2];
}

struct LogPplRatio {
  std::pair<double, double> q, base;
  double cov = 0, value = 0, error = 0;
};

LogPplRatio log_ppl_ratio(const KlStats& s) {
  LogPplRatio r;
  r.q = mean_and_error(s.q.sum, s.q.sum2, s.count());
  r.base = mean_and_error(s.base.sum, s.base.sum2, s.count());
  r.cov = mean_covariance(s.q.sum, s.base.sum, s.sum_nll_nll_base, s.count());
  r.value = r.q.first - r.base.first;
  r.error = std::sqrt(std::max(0.0, r.q.second * r.q.second + r.base.second * r.base.second - 2.0 * r.cov));
  return r;
}

std::pair<double, double> same_top(const KlStats& s) {
  const double p = s.count() ? static_cast<double>(s.n_same_top) / static_cast<double>(s.count()) : 0.0;
  return {p, s.count() > 1 ? std::sqrt(p * (1 - p) / static_cast<double>(s.count() - 1)) : 0.0};
}

std::pair<double, double> p_diff_rms(const KlStats& s) {
  const auto mse = mean_and_error(s.sum_p_diff2, s.sum_p_diff4, s.count());
  const double rms = std::sqrt(mse.first);
  return {rms, rms > 0 ? 0.5 / rms * mse.second : 0.0};
}

std::string ppl_statistics(const KlStats& s) {
  const LogPplRatio r = log_ppl_ratio(s);
  const double ppl = std::exp(r.q.first), ppl_err = ppl * r.q.second;
  const double ppl_base = std::exp(r.base.first), ppl_base_err = ppl_base * r.base.second;
  const double cor = r.q.second * r.base.second > 0 ? r.cov / (r.q.second * r.base.second) : 0.0;
  const double ratio = std::exp(r.value);
  const double diff_err =
      std::sqrt(std::max(0.0, ppl_err * ppl_err + ppl_base_err * ppl_base_err - 2.0 * ppl * ppl_base * r.cov));
  std::string out = "====== Perplexity statistics ======\n";
  out += fmt::format("Mean PPL(Q)                   : {:10.6f} ± {:10.6f}\n", ppl, ppl_err);
  out += fmt::format("Mean PPL(base)                : {:10.6f} ± {:10.6f}\n", ppl_base, ppl_base_err);
  out += fmt::format("Cor(ln(PPL(Q)), ln(PPL(base))): {:6.2f}%\n", 100.0 * cor);
  out += fmt::format("Mean ln(PPL(Q)/PPL(base))     : {:10.6f} ± {:10.6f}\n", r.value, r.error);
  out += fmt::format("Mean PPL(Q)/PPL(base)         : {:10.6f} ± {:10.6f}\n", ratio, ratio * r.error);
  out += fmt::format("Mean PPL(Q)-PPL(base)         : {:10.6f} ± {:10.6f}\n", ppl - ppl_base, diff_err);
  return out;
}

std::string kld_statistics(const KlStats& s) {
  const std::vector<float>& v = s.kld_values;
  const auto kl = mean_and_error(s.sum_kld, s.sum_kld2, s.count());
  std::string out = "====== KL divergence statistics ======\n";
  out += fmt::format("Mean    KLD: {:10.6f} ± {:10.6f}\n", kl.first, kl.second);
  out += fmt::format("Maximum KLD: {:10.6f}\n", v.back());
  for (const auto& [label, fraction] : {std::pair{"99.9%", 0.999}, {"99.0%", 0.99}, {"95.0%", 0.95}, {"90.0%", 0.9}}) {
    out += fmt::format("{}   KLD: {:10.6f}\n", label, percentile(v, fraction));
  }
  out += fmt::format("Median  KLD: {:10.6f}\n", median(v));
  for (const auto& [label, fraction] : {std::pair{"10.0%", 0.1}, {" 5.0%", 0.05}, {" 1.0%", 0.01}, {" 0.1%", 0.001}}) {
    out += fmt::format("{}   KLD: {:10.6f}\n", label, percentile(v, fraction));
  }
  out += fmt::format("Minimum KLD: {:10.6f}\n", v.front());
  return out;
}

std::string p_diff_statistics(const KlStats& s) {
  const std::vector<float>& v = s.p_diff_values;
  const auto mean = mean_and_error(s.sum_p_diff, s.sum_p_diff2, s.count());
  std::string out = "====== Token probability statistics ======\n";
  out += fmt::format("Mean    Δp: {:6.3f} ± {:5.3f} %\n", 100.0 * mean.first, 100.0 * mean.second);
  out += fmt::format("Maximum Δp: {:6.3f}%\n", 100.0 * v.back());
  for (const auto& [label, fraction] :
       {std::pair{"99.9%", 0.999}, {"99.0%", 0.99}, {"95.0%", 0.95}, {"90.0%", 0.9}, {"75.0%", 0.75}}) {
    out += fmt::format("{}   Δp: {:6.3f}%\n", label, 100.0 * percentile(v, fraction));
  }
  out += fmt::format("Median  Δp: {:6.3f}%\n", 100.0 * median(v));
  for (const auto& [label, fraction] :
       {std::pair{"25.0%", 0.25}, {"10.0%", 0.1}, {" 5.0%", 0.05}, {" 1.0%", 0.01}, {" 0.1%", 0.001}}) {
    out += fmt::format("{}   Δp: {:6.3f}%\n", label, 100.0 * percentile(v, fraction));
  }
  out += fmt::format("Minimum Δp: {:6.3f}%\n", 100.0 * v.front());
  const auto rms = p_diff_rms(s);
  out += fmt::format("RMS Δp    : {:6.3f} ± {:5.3f} %\n", 100.0 * rms.first, 100.0 * rms.second);
  const auto top = same_top(s);
  out += fmt::format("Same top p: {:6.3f} ± {:5.3f} %\n", 100.0 * top.first, 100.0 * top.second);
  return out;
}

}  // namespace

std::string format_ppl_progress(int chunk, const NllStats& so_far) { return fmt::format("[{}]{:.4f},", chunk + 1, so_far.ppl()); }

std::string format_ppl_final(const NllStats& nll) {
  return fmt::format("Final estimate: PPL = {:.4f} +/- {:.5f}\n", nll.ppl(), nll.ppl_error());
}

std::string format_kl_table_header() {
  return "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS            "
         "Same top p\n";
}

std::string format_kl_table_row(int chunk, const KlStats& s) {
  const LogPplRatio r = log_ppl_ratio(s);
  const double ppl = std::exp(r.q.first);
  const auto kl = mean_and_error(s.sum_kld, s.sum_kld2, s.count());
  const auto rms = p_diff_rms(s);
  const auto top = same_top(s);
  return fmt::format("{:4d}    {:9.4f} ± {:9.4f}    {:10.5f} ± {:10.5f}    {:10.5f} ± {:10.5f}    {:6.3f} ± {:6.3f} %    {:6.3f} ± {:6.3f} %\n",
                     chunk + 1, ppl, ppl * r.q.second, r.value, r.error, kl.first, kl.second, 100.0 * rms.first,
                     100.0 * rms.second, 100.0 * top.first, 100.0 * top.second);
}

std::string format_kl_summary(KlStats stats) {
  if (stats.count() == 0) return "no tokens scored\n";
  std::sort(stats.kld_values.begin(), stats.kld_values.end());
  std::sort(stats.p_diff_values.begin(), stats.p_diff_values.end());
  return ppl_statistics(stats) + "\n" + kld_statistics(stats) + "\n" + p_diff_statistics(stats);
}

}  // namespace rpu
