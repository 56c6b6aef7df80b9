// Augmentation's variants (src/convert/augment.h): a variant changes only the last user message,
// only in names and digit runs the cluster fills in more than one way at that slot, with values
// the cluster has at that slot; placeholders, common words (a verb, an object) and a sentence's
// first word never change; no variant repeats
// a source or another variant; the same seed gives the same variants. read_augmented reads back
// what write_augmented wrote.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "convert/augment.h"
#include "convert/evaluate.h"
#include "convert/split.h"
#include "core/error.h"

namespace rpu::convert {
namespace {

using json = nlohmann::ordered_json;

const char* kNames[] = {"Leo", "Mia", "Sam", "Zoe", "Ava"};
const char* kVerbs[] = {"buys", "finds", "gets"};
const char* kThings[] = {"apples", "shells", "coins"};

LoggedCall call(int64_t id, int name, int a, int verb, int b, int thing) {
  LoggedCall c;
  c.id = id;
  const std::string user = "Today " + std::string(kNames[name]) + " has " + std::to_string(a) + " " + kThings[thing] +
                           ". Ask <PERSON_1> at <EMAIL_1>. Then " + kNames[name] + " " + kVerbs[verb] + " " +
                           std::to_string(b) + " more. How many " + kThings[thing] + " now?";
  c.messages = json::array({{{"role", "system"}, {"content", "You solve word problems."}},
                            {{"role", "user"}, {"content", "Earlier question"}},
                            {{"role", "assistant"}, {"content", "Earlier answer"}},
                            {{"role", "user"}, {"content", user}}});
  c.answer = {{"role", "assistant"}, {"content", "The answer is " + std::to_string(a + b) + "."}};
  c.from_teacher = true;
  return c;
}

std::vector<LoggedCall> cluster() {
  std::vector<LoggedCall> calls;
  for (int i = 0; i < 40; ++i) calls.push_back(call(i + 1, i % 5, 10 + (i * 7) % 90, i % 3, 1 + (i * 3) % 9, (i / 5) % 3));
  return calls;
}

std::vector<const LoggedCall*> pointers(const std::vector<LoggedCall>& calls) {
  std::vector<const LoggedCall*> out;
  for (const LoggedCall& c : calls) out.push_back(&c);
  return out;
}

// The user message as its slots: the words and digit runs, in order.
std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  const std::regex token("<[A-Z_0-9]+>|[A-Za-z]+|[0-9]+");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), token); it != std::sregex_iterator(); ++it) {
    out.push_back(it->str());
  }
  return out;
}

TEST(ConvertAugment, VariantsSwapOnlySlotValuesTheClusterHas) {
  const std::vector<LoggedCall> calls = cluster();
  const std::vector<LoggedCall> variants = vary_calls(pointers(calls), 3, 0.5, 7);
  ASSERT_GT(variants.size(), calls.size() * 2) << "most sources yield their 3 variants";
  ASSERT_LE(variants.size(), calls.size() * 3);
  // Per word position of the fixed sentence shape: the values the sources have there.
  std::map<size_t, std::set<std::string>> seen_at;
  for (const LoggedCall& c : calls) {
    const auto w = words(c.messages[3]["content"].get<std::string>());
    for (size_t i = 0; i < w.size(); ++i) seen_at[i].insert(w[i]);
  }
  std::set<std::string> keys;
  for (const LoggedCall& c : calls) keys.insert(request_key(c.messages, c.tools));
  size_t changed_numbers = 0, changed_words = 0;
  for (const LoggedCall& v : variants) {
    EXPECT_FALSE(v.from_teacher);
    EXPECT_TRUE(v.answer.is_null());
    EXPECT_TRUE(keys.insert(request_key(v.messages, v.tools)).second) << "a repeat: " << v.messages.dump();
    ASSERT_EQ(v.messages.size(), 4u);
    EXPECT_EQ(v.messages[0], calls[0].messages[0]) << "the system prompt never changes";
    EXPECT_EQ(v.messages[1]["content"], "Earlier question") << "only the last user message changes";
    const auto w = words(v.messages[3]["content"].get<std::string>());
    ASSERT_EQ(w.size(), seen_at.size()) << v.messages[3]["content"];
    for (size_t i = 0; i < w.size(); ++i) {
      EXPECT_TRUE(seen_at[i].count(w[i])) << "'" << w[i] << "' was never at word " << i;
    }
    EXPECT_EQ(w[6], "<PERSON_1>");
    EXPECT_EQ(w[8], "<EMAIL_1>");
    EXPECT_EQ(w[13], "more") << "a slot filled one way only never changes";
  }
  // Which kinds of slot varied, each variant against its source (the call it differs from in
  // the fewest words): digit runs and names only.
  for (const LoggedCall& v : variants) {
    const auto w = words(v.messages[3]["content"].get<std::string>());
    std::vector<std::string> source;
    size_t fewest = w.size() + 1;
    for (const LoggedCall& c : calls) {
      const auto s = words(c.messages[3]["content"].get<std::string>());
      size_t differ = 0;
      for (size_t i = 0; i < w.size(); ++i) differ += w[i] != s[i];
      if (differ < fewest) fewest = differ, source = s;
    }
    bool number = false, name = false;
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i] == source[i]) continue;
      const auto first = static_cast<unsigned char>(w[i][0]);
      (std::isdigit(first) ? number : name) = true;
      EXPECT_TRUE(std::isdigit(first) || (std::isupper(first) && i > 0)) << "only numbers and names change: " << w[i];
    }
    changed_numbers += number;
    changed_words += name;
  }
  EXPECT_GT(changed_numbers, 0u);
  EXPECT_GT(changed_words, 0u);
}

TEST(ConvertAugment, TheSameSeedGivesTheSameVariantsAndNoneRepeatsASource) {
  const std::vector<LoggedCall> calls = cluster();
  const auto a = vary_calls(pointers(calls), 2, 0.5, 11), b = vary_calls(pointers(calls), 2, 0.5, 11);
  const auto c = vary_calls(pointers(calls), 2, 0.5, 12);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].messages, b[i].messages);
  bool differs = a.size() != c.size();
  for (size_t i = 0; !differs && i < a.size(); ++i) differs = a[i].messages != c[i].messages;
  EXPECT_TRUE(differs) << "another seed, other variants";
  EXPECT_TRUE(vary_calls(pointers(calls), 0, 0.5, 1).empty());
  // Each variant knows its source.
  for (const LoggedCall& v : a) {
    const auto source = std::find_if(calls.begin(), calls.end(), [&](const LoggedCall& c) { return c.id == v.source_id; });
    ASSERT_NE(source, calls.end());
    EXPECT_EQ(v.tools, source->tools);
  }
}

// Scores weigh a held-out call and its variants as one call.
TEST(ConvertAugment, FamilyWeightsCountEachHeldOutCallOnce) {
  std::vector<CallScore> calls(5);
  const int64_t families[] = {5, 5, 5, 7, 9};
  for (size_t i = 0; i < calls.size(); ++i) calls[i].family = families[i];
  const std::vector<double> w = family_weights(calls);
  ASSERT_EQ(w.size(), 5u);
  EXPECT_DOUBLE_EQ(w[0], 1.0 / 3);
  EXPECT_DOUBLE_EQ(w[2], 1.0 / 3);
  EXPECT_DOUBLE_EQ(w[3], 1.0);
  EXPECT_DOUBLE_EQ(w[0] + w[1] + w[2] + w[3] + w[4], 3.0);
}

TEST(ConvertAugment, ACallWithNothingToSwapYieldsNoVariant) {
  std::vector<LoggedCall> calls(3, call(1, 0, 10, 0, 2, 0));  // one request, three times
  calls[1].id = 2;
  calls[2].id = 3;
  EXPECT_TRUE(vary_calls(pointers(calls), 4, 1.0, 1).empty()) << "every slot has one value only";
  LoggedCall parts = calls[0];
  parts.messages[3]["content"] = json::array({{{"type", "text"}, {"text", "Leo has 3 apples."}}});
  EXPECT_TRUE(vary_calls({&parts, &calls[0]}, 4, 1.0, 1).empty()) << "content parts are not varied";
}

TEST(ConvertAugment, WrittenCallsReadBackByCluster) {
  const std::vector<LoggedCall> calls = cluster();
  std::map<int, std::vector<LoggedCall>> by_cluster{{3, {calls[0], calls[1]}}, {8, {calls[2]}}};
  by_cluster[3][1].source_id = 42;
  const std::string path =
      (std::filesystem::temp_directory_path() / ("rpu_augment_" + std::to_string(::getpid()) + ".jsonl")).string();
  write_augmented(path, by_cluster);
  const auto back = read_augmented(path);
  ASSERT_EQ(back.size(), 2u);
  ASSERT_EQ(back.at(3).size(), 2u);
  EXPECT_EQ(back.at(3)[1].messages, calls[1].messages);
  EXPECT_EQ(back.at(3)[1].answer, calls[1].answer);
  EXPECT_TRUE(back.at(8)[0].from_teacher);
  EXPECT_LT(back.at(8)[0].id, 0) << "never a log row's id";
  EXPECT_EQ(back.at(3)[1].source_id, 42);
  std::ofstream(path, std::ios::app) << "{\"cluster\": 3, \"messages\": []}\n";  // no answer
  try {
    read_augmented(path);
    ADD_FAILURE() << "a line without an answer was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(":4: not an augmented call"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
  EXPECT_THROW(read_augmented(path), Error);
}

}  // namespace
}  // namespace rpu::convert
