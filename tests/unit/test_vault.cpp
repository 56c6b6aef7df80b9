// The reversible vault: what it seals opens with the same key only, and placeholders are
// revealed back to the values the scrubber replaced.
#include <gtest/gtest.h>

#include "gateway/scrub.h"
#include "gateway/vault.h"

namespace rpu::gateway {
namespace {

TEST(Vault, SealsAndOpensWithTheSameKeyOnly) {
  const Vault vault("correct horse battery staple"), other("another key");
  const std::string secret = "jane.doe@example.com";
  const std::string a = vault.seal(secret), b = vault.seal(secret);
  EXPECT_NE(a, b);  // a fresh nonce each time
  EXPECT_EQ(a.find("jane"), std::string::npos);
  EXPECT_EQ(vault.open(a), secret);
  EXPECT_EQ(vault.open(b), secret);
  EXPECT_THROW(other.open(a), VaultError);
  std::string altered = a;
  altered[10] = altered[10] == 'A' ? 'B' : 'A';
  EXPECT_THROW(vault.open(altered), VaultError);
  EXPECT_THROW(vault.open("not base64!"), VaultError);
  EXPECT_EQ(vault.open(vault.seal("")), "");
  EXPECT_THROW(Vault(""), VaultError);
}

TEST(Vault, ARevealedScrubbedTextIsTheOriginal) {
  const Scrubber scrubber;
  ScrubSession session(scrubber);
  const std::string original = "Write to jane.doe@example.com, cc bob@example.org, and jane.doe@example.com again.";
  const std::string scrubbed = session.scrub(original);
  ASSERT_EQ(scrubbed.find("example.com"), std::string::npos);
  std::map<std::string, std::string> mapping;
  for (const auto& [value, placeholder] : session.mapping()) mapping[placeholder] = value;
  const Vault vault("k");
  const auto opened = vault.open_mapping(vault.seal_mapping(mapping));
  EXPECT_EQ(opened, mapping);
  EXPECT_EQ(reveal(scrubbed, opened), original);
  EXPECT_EQ(reveal("<EMAIL_9> and <not a placeholder", opened), "<EMAIL_9> and <not a placeholder");
  EXPECT_EQ(vault.seal_mapping({}), "");
  EXPECT_TRUE(vault.open_mapping("").empty());
}

}  // namespace
}  // namespace rpu::gateway
