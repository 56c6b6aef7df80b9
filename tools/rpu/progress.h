// A one-line progress bar on stderr for long conversions (rpu quantize, rpu synth): tensor
// i/n, MB written, elapsed time and ETA, redrawn in place at most ten times a second. When
// stderr is not a terminal it prints nothing, so logs and pipes get only the summary line.
#pragma once

#include <chrono>
#include <string>

#include "model/requantize.h"

namespace rpu::cli {

class ProgressBar {
 public:
  // Enabled only when stderr is a TTY; `item` names what p.tensor counts ("tensor", "file").
  explicit ProgressBar(std::string label, std::string item = "tensor");
  ~ProgressBar();                           // clears a drawn bar's line

  void update(const ConvertProgress& p);
  ProgressFn callback() {
    if (!enabled_) return nullptr;
    return [this](const ConvertProgress& p) { update(p); };
  }
  void finish();  // erases the bar so that a summary line can follow

 private:
  std::string label_;
  std::string item_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1.23 GiB" / "456.7 MiB" / "12.3 KiB"
std::string format_bytes(double bytes);

}  // namespace rpu::cli
