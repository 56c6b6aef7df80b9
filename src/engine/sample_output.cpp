#include "engine/sample_output.h"

#include <algorithm>

namespace rpu {

SampleOutput::SampleOutput(const Tokenizer& tokenizer, std::vector<std::string> stop, bool at_text_start)
    : stream_(tokenizer, at_text_start), stop_(std::move(stop)) {
  std::erase_if(stop_, [](const std::string& s) { return s.empty(); });
}

bool SampleOutput::push(int32_t token, std::string& text) {
  held_ += stream_.push(token);
  // The earliest complete stop string ends the sample.
  size_t stop_at = std::string::npos;
  for (const std::string& stop : stop_) stop_at = std::min(stop_at, held_.find(stop));
  if (stop_at != std::string::npos) {
    text += held_.substr(0, stop_at);
    held_.clear();
    return true;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const std::string& stop : stop_) {
    for (size_t len = std::min(stop.size() - 1, held_.size()); len > keep; --len) {
      if (held_.compare(held_.size() - len, len, stop, 0, len) == 0) {
        keep = len;
        break;
      }
    }
  }
  text += held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return false;
}

std::string SampleOutput::finish() {
  std::string rest = std::move(held_) + stream_.flush();
  held_.clear();
  return rest;
}

}  // namespace rpu
