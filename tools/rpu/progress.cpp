#include "progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace rpu::cli {

ProgressBar::ProgressBar(std::string label, std::string item)
    : label_(std::move(label)), item_(std::move(item)), enabled_(::isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(const ConvertProgress& p) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = p.bytes_done >= p.bytes_total;
  if (drawn_ && !last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double fraction = p.bytes_total > 0 ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 1.0;
  const std::string eta = fraction > 0.01 ? fmt::format("{:.0f}s", elapsed / fraction - elapsed) : "?";
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(fraction * kWidth);
  const std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kWidth - filled), '.');
  std::fprintf(stderr, "\r\033[K%s [%s] %s %zu/%zu  %.1f/%.1f MB  %.0fs elapsed, ETA %s", label_.c_str(), bar.c_str(), item_.c_str(),
               p.tensor + 1, p.n_tensors, p.bytes_done / 1e6, p.bytes_total / 1e6, elapsed, eta.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

std::string format_bytes(double bytes) {
  if (bytes >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", bytes / (1024.0 * 1024 * 1024));
  if (bytes >= 1024.0 * 1024) return fmt::format("{:.2f} MiB", bytes / (1024.0 * 1024));
  return fmt::format("{:.2f} KiB", bytes / 1024.0);
}

}  // namespace rpu::cli
