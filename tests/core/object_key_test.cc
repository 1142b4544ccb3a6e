#include "controller/core/object_key.h"

#include <gtest/gtest.h>

#include <unordered_set>

namespace mlspace {
namespace {

TEST(ObjectKeyTest, ParsesWithAndWithoutNamespace) {
  auto k = ObjectKey::Parse("nlp/llama-sft");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->namespace_name, "nlp");
  EXPECT_EQ(k->name, "llama-sft");
  auto d = ObjectKey::Parse("hello");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->ToString(), "default/hello");
}

TEST(ObjectKeyTest, RejectsNonDns1123) {
  EXPECT_FALSE(ObjectKey::Parse("Bad/name").ok());
  EXPECT_FALSE(ObjectKey::Parse("ns/-x").ok());
  EXPECT_FALSE(ObjectKey::Parse("ns/").ok());
  EXPECT_FALSE(ObjectKey::Parse(std::string(64, 'a')).ok());
  EXPECT_TRUE(IsDns1123Label(std::string(63, 'a')));
  EXPECT_FALSE(IsDns1123Label("a_b"));
}

TEST(ObjectKeyTest, HashAndOrder) {
  std::unordered_set<ObjectKey> set{{"a", "x"}, {"a", "x"}, {"b", "x"}};
  EXPECT_EQ(set.size(), 2u);
  EXPECT_LT((ObjectKey{"a", "z"}), (ObjectKey{"b", "a"}));
}

}  // namespace
}  // namespace mlspace
