// Portability hygiene at the source level (issue 17), beside test_isa_hygiene.cpp's disassembly:
// the rpu binary must build for and run on any x86-64 or ARM64 CPU, so
//   - x86 intrinsics appear only in the x86 kernel sets (src/kernels/avx2, src/kernels/avx512,
//     the trainer's bf16 panels included);
//   - ARM intrinsics only in src/kernels/neon;
//   - instruction sets are switched on per function (`#pragma GCC target`, `#pragma clang
//     attribute`, target attributes) only in those files, plus src/train/gemm.h's target_clones
//     (GCC's multi-versioning, chosen by an ifunc at load);
//   - no file is compiled with an instruction-set flag (-mavx2, -march=..., ...): such a flag
//     would let inline code from headers be emitted with that instruction set (CMakeLists.txt).
// The oracles are the source tree itself and the build's compile_commands.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "test_util.h"

namespace rpu {
namespace {

namespace fs = std::filesystem;

const std::regex& x86_intrinsic() {
  static const std::regex re(
      R"(#\s*include\s*<\w*intrin\.h>|\b_mm(256|512)?_\w+\s*\(|\b__m(64|128|256|512)\w*\b|\b__mmask(8|16|32|64)\b)");
  return re;
}

const std::regex& arm_intrinsic() {
  static const std::regex re(
      R"(#\s*include\s*<arm_(neon|sve|acle|fp16|bf16)\.h>|\b(u?int|float|bfloat|poly)(8|16|32|64)x\d+(x[234])?_t\b|\bv(ld|st)[1-4]q?_\w+\s*\(|\bv(dot|mmla|usmmla)q?_\w+\s*\()");
  return re;
}

const std::regex& isa_switch() {
  static const std::regex re(R"(#\s*pragma\s+(GCC\s+target|clang\s+attribute)|\btarget(_clones)?\s*\(\s*")");
  return re;
}

bool under_any(const std::string& relative, const std::vector<std::string>& allowed) {
  for (const std::string& prefix : allowed) {
    if (relative.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

struct Finding {
  std::string where, line;
};

// Every C/C++ source of the checkout (build folders, .git and node_modules left out) whose
// line matches `marker` outside the `allowed` prefixes. This file names the markers and is skipped.
std::vector<Finding> scan_sources(const std::regex& marker, const std::vector<std::string>& allowed, size_t& files_seen) {
  const fs::path root(RPU_SOURCE_DIR);
  static const std::regex cxx_file(R"(\.(c|cc|cpp|h|hpp|inc)$)");
  std::vector<Finding> found;
  files_seen = 0;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && (name.rfind("build", 0) == 0 || name[0] == '.' || name == "node_modules")) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file() || !std::regex_search(name, cxx_file) || name == "test_portability_hygiene.cpp") continue;
    ++files_seen;
    const std::string relative = fs::relative(it->path(), root).generic_string();
    if (under_any(relative, allowed)) continue;
    std::ifstream in(it->path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (std::regex_search(line, marker)) found.push_back({relative + ":" + std::to_string(number), line});
    }
  }
  return found;
}

std::string describe(const std::vector<Finding>& found) {
  std::string report;
  for (size_t i = 0; i < found.size() && i < 20; ++i) report += "  " + found[i].where + ": " + found[i].line + "\n";
  return report;
}

const std::vector<std::string> kX86Homes = {"src/kernels/avx2/", "src/kernels/avx512/"};
const std::vector<std::string> kArmHomes = {"src/kernels/neon/"};

TEST(PortabilityHygiene, X86IntrinsicsOnlyInTheX86KernelSets) {
  size_t files = 0;
  const std::vector<Finding> found = scan_sources(x86_intrinsic(), kX86Homes, files);
  ASSERT_GT(files, 300u) << "too few sources found under " << RPU_SOURCE_DIR;
  EXPECT_TRUE(found.empty()) << "x86 intrinsics outside src/kernels/{avx2,avx512}:\n" << describe(found);
}

TEST(PortabilityHygiene, ArmIntrinsicsOnlyInTheNeonKernelSets) {
  size_t files = 0;
  const std::vector<Finding> found = scan_sources(arm_intrinsic(), kArmHomes, files);
  ASSERT_GT(files, 300u);
  EXPECT_TRUE(found.empty()) << "ARM intrinsics outside src/kernels/neon:\n" << describe(found);
}

TEST(PortabilityHygiene, InstructionSetsAreSwitchedOnOnlyInKernelSetFiles) {
  std::vector<std::string> homes = kX86Homes;
  homes.insert(homes.end(), kArmHomes.begin(), kArmHomes.end());
  homes.push_back("src/train/gemm.h");  // target_clones (GCC only), resolved at load
  size_t files = 0;
  const std::vector<Finding> found = scan_sources(isa_switch(), homes, files);
  ASSERT_GT(files, 300u);
  EXPECT_TRUE(found.empty()) << "instruction-set pragmas or target attributes outside the kernel sets:\n"
                             << describe(found);
}

TEST(PortabilityHygiene, TheSourceScannersRecogniseTheirMarkers) {
  EXPECT_TRUE(std::regex_search("#include <immintrin.h>", x86_intrinsic()));
  EXPECT_TRUE(std::regex_search("  const __m256 a = _mm256_loadu_ps(p);", x86_intrinsic()));
  EXPECT_TRUE(std::regex_search("x = _mm_add_epi32(a, b);", x86_intrinsic()));
  EXPECT_TRUE(std::regex_search("const __mmask16 m = 3;", x86_intrinsic()));
  EXPECT_FALSE(std::regex_search("size_t __max = 0; int _mmap_count;", x86_intrinsic()));
  EXPECT_TRUE(std::regex_search("#include <arm_neon.h>", arm_intrinsic()));
  EXPECT_TRUE(std::regex_search("int8x16_t q = vld1q_s8(p);", arm_intrinsic()));
  EXPECT_TRUE(std::regex_search("acc = vdotq_s32(acc, a, b);", arm_intrinsic()));
  EXPECT_FALSE(std::regex_search("uint8_t x; int16_t y;", arm_intrinsic()));
  EXPECT_TRUE(std::regex_search("#pragma GCC target(\"avx2,fma\")", isa_switch()));
  EXPECT_TRUE(std::regex_search("#pragma clang attribute push(__attribute__((target(\"avx2\"))), apply_to = function)",
                                isa_switch()));
  EXPECT_TRUE(std::regex_search("__attribute__((target_clones(\"arch=x86-64-v3\", \"default\")))", isa_switch()));
  EXPECT_FALSE(std::regex_search("#pragma GCC unroll 8", isa_switch()));
  EXPECT_FALSE(std::regex_search("route_to_target(request);", isa_switch()));
}

// Instruction-set and CPU-selection flags of gcc and clang on x86 and ARM.
bool selects_instruction_set(const std::string& command) {
  static const std::regex flag(
      R"((^|\s)-m(arch|cpu|tune|fpu)=|(^|\s)-m(no-)?(avx\w*|sse[\d.]*\w*|ssse3|fma\w*|f16c|bmi2?|lzcnt|popcnt|amx\w*|gfni|vaes|vpclmulqdq)(\s|$))");
  return std::regex_search(command, flag);
}

TEST(PortabilityHygiene, NoSourceIsCompiledWithAnInstructionSetFlag) {
  EXPECT_TRUE(selects_instruction_set("c++ -O3 -mavx2 -c a.cpp"));
  EXPECT_TRUE(selects_instruction_set("c++ -march=native -c a.cpp"));
  EXPECT_TRUE(selects_instruction_set("g++ -mcpu=cortex-a76 -c a.cpp"));
  EXPECT_FALSE(selects_instruction_set("c++ -O3 -Wall -Wextra -MD -MT a.o -c src/kernels/avx2/set.cpp"));

  // compile_commands.json (CMAKE_EXPORT_COMPILE_COMMANDS) sits beside the rpu binary.
  const fs::path commands_path = fs::path(RPU_BINARY).parent_path() / "compile_commands.json";
  ASSERT_TRUE(fs::exists(commands_path)) << commands_path;
  const nlohmann::json commands = nlohmann::json::parse(test::read_file(commands_path.string()));
  ASSERT_GT(commands.size(), 100u);
  std::vector<std::string> flagged;
  for (const nlohmann::json& entry : commands) {
    std::string command;
    if (entry.contains("command")) {
      command = entry["command"].get<std::string>();
    } else {
      for (const nlohmann::json& argument : entry["arguments"]) command += " " + argument.get<std::string>();
    }
    if (selects_instruction_set(command)) flagged.push_back(entry["file"].get<std::string>() + ": " + command);
  }
  std::string report;
  for (size_t i = 0; i < flagged.size() && i < 10; ++i) report += "  " + flagged[i] + "\n";
  EXPECT_TRUE(flagged.empty()) << flagged.size() << " sources compiled with an instruction-set flag:\n" << report;
}

}  // namespace
}  // namespace rpu
