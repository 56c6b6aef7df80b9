// No AVX outside the kernel sets. The rpu binary must run on any x86-64: only the functions of
// the per-ISA kernel sets (namespaces rpu::avx2 and rpu::avx512, the trainer's bf16 panels
// included, chosen after a CPU check) may contain AVX, AVX-512 or BMI instructions (and clones
// GCC's target_clones dispatches at load). The oracle is the binary itself, disassembled with
// binutils' objdump: every other function is scanned for VEX/EVEX-encoded instructions (AT&T
// mnemonics starting with 'v'), ymm/zmm/mask registers, mask instructions and BMI1/2.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <string>
#include <vector>

#include "test_util.h"

namespace rpu {
namespace {

struct Violation {
  std::string function, instruction;
};

// True when an instruction line (mnemonic and operands, AT&T syntax) needs more than SSE2.
bool needs_extension(const std::string& mnemonic, const std::string& operands) {
  static const std::regex wide_register(R"(%[yz]mm\d|%k[0-7]\b)");
  static const std::regex mask_op(R"(^k(mov|and|andn|or|xor|xnor|not|test|ortest|shift[lr]|add|unpck)[bwdq]?)");
  static const std::regex bmi(R"(^(andn|bextr|blsi|blsmsk|blsr|bzhi|mulx|pdep|pext|rorx|sarx|shlx|shrx)\b)");
  if (mnemonic.size() > 1 && mnemonic[0] == 'v' && mnemonic.rfind("verr", 0) != 0 && mnemonic.rfind("verw", 0) != 0) {
    return true;
  }
  return std::regex_search(operands, wide_register) || std::regex_search(mnemonic, mask_op) ||
         std::regex_search(mnemonic, bmi);
}

// The kernel sets, and clones made by GCC's function multi-versioning (target_clones, used by
// the trainer's GEMM): an ifunc resolver picks those clones from the CPU's features at load.
bool is_dispatched(const std::string& function) {
  static const std::regex clone(R"(\[clone \.(arch_x86_64_v[234]|avx|avx2|avx512\w*|fma)\])");
  return function.find("rpu::avx2::") != std::string::npos || function.find("rpu::avx512::") != std::string::npos ||
         std::regex_search(function, clone);
}

// Scans `objdump -d -C` of `binary`; returns the first instruction of each offending function.
std::vector<Violation> scan(const std::string& binary, size_t& functions_seen) {
  const std::string command = "objdump -d -C --no-show-raw-insn '" + binary + "' 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  if (pipe == nullptr) return {};
  static const std::regex header(R"(^[0-9a-f]+ <(.*)>:$)");
  std::vector<Violation> found;
  std::string function, line;
  bool reported = false;
  char buffer[8192];
  functions_seen = 0;
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) {
    line.assign(buffer);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    std::smatch m;
    if (!line.empty() && line[0] != ' ' && std::regex_match(line, m, header)) {
      function = m[1];
      reported = false;
      ++functions_seen;
      continue;
    }
    const size_t tab = line.find('\t');  // "  401000:\tmnemonic operands"
    if (reported || tab == std::string::npos || line.find(':') > tab || is_dispatched(function)) continue;
    const std::string text = line.substr(tab + 1);
    const size_t space = text.find(' ');
    const std::string mnemonic = text.substr(0, space);
    const std::string operands = space == std::string::npos ? "" : text.substr(space);
    if (needs_extension(mnemonic, operands)) {
      found.push_back({function, text});
      reported = true;
    }
  }
  EXPECT_EQ(pclose(pipe), 0) << "objdump failed on " << binary;
  return found;
}

TEST(IsaHygieneTest, OnlyKernelSetsUseAvxOrBmi) {
  size_t functions = 0;
  const std::vector<Violation> found = scan(RPU_BINARY, functions);
  ASSERT_GT(functions, 1000u) << "objdump listed too few functions of " << RPU_BINARY;
  std::string report;
  for (size_t i = 0; i < found.size() && i < 20; ++i) report += "  " + found[i].function + ": " + found[i].instruction + "\n";
  EXPECT_TRUE(found.empty()) << found.size() << " functions outside rpu::avx2 / rpu::avx512 need AVX or BMI:\n"
                             << report;
}

TEST(IsaHygieneTest, TheScannerRecognisesExtensions) {
  EXPECT_TRUE(needs_extension("vmovups", " (%rdi),%ymm0"));
  EXPECT_TRUE(needs_extension("vpxor", " %xmm1,%xmm1,%xmm1"));  // VEX-encoded even on xmm
  EXPECT_TRUE(needs_extension("vzeroupper", ""));
  EXPECT_TRUE(needs_extension("kmovw", " %k1,%eax"));
  EXPECT_TRUE(needs_extension("shlx", " %rax,%rbx,%rcx"));
  EXPECT_FALSE(needs_extension("movups", " (%rdi),%xmm0"));
  EXPECT_FALSE(needs_extension("pxor", " %xmm1,%xmm1"));
  EXPECT_FALSE(needs_extension("tzcnt", " %eax,%eax"));  // rep bsf, which objdump names tzcnt
  EXPECT_FALSE(needs_extension("mov", " %rax,%rbx"));
  EXPECT_TRUE(is_dispatched("rpu::avx512::matmul_int8(...)"));
  EXPECT_TRUE(is_dispatched("f(long) [clone .arch_x86_64_v4]"));
  EXPECT_FALSE(is_dispatched("f(long) [clone .constprop.0]"));
  EXPECT_FALSE(is_dispatched("std::vector<float, std::allocator<float> >::_M_default_append(unsigned long)"));
}

}  // namespace
}  // namespace rpu
