#include "kernels/kernels.h"

#include <cstdlib>

#include "core/error.h"

namespace rpu {

std::vector<const KernelSet*> available_kernels() { return {&reference_kernels()}; }

const KernelSet& find_kernels(const std::string& name) {
  std::string names;
  for (const KernelSet* set : available_kernels()) {
    if (name == set->name) return *set;
    names += (names.empty() ? "" : ", ") + std::string(set->name);
  }
  fail("kernel set '{}' is not available on this CPU (available: {})", name, names);
}

const KernelSet& active_kernels() {
  static const KernelSet& chosen = [] () -> const KernelSet& {
    if (const char* forced = std::getenv("RPU_KERNELS"); forced != nullptr && *forced != '\0') {
      return find_kernels(forced);
    }
    return *available_kernels().back();
  }();
  return chosen;
}

}  // namespace rpu
