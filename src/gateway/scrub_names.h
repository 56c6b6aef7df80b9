// Person-name and street-address detectors of the scrubber (scrub_names.cpp), and the helper
// that registers a detector. Internal to src/gateway.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "gateway/scrub.h"

namespace rpu::gateway {

void add_detector(std::vector<std::unique_ptr<Scrubber::Detector>>& out, PiiType type, std::string_view regex,
                  int group, std::function<bool(std::string_view, size_t&, size_t&)> accept);
void add_person_detectors(std::vector<std::unique_ptr<Scrubber::Detector>>& out);
void add_address_detectors(std::vector<std::unique_ptr<Scrubber::Detector>>& out);
// Whether `word` is in the first-name list (data/pii/first_names.txt).
bool is_first_name(std::string_view word);

}  // namespace rpu::gateway
