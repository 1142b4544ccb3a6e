// Not a test of its own: check_skips_test.sh runs it to get real GoogleTest
// reports with one passed and one skipped test for scripts/check_skips.py.

#include <gtest/gtest.h>

TEST(SkipFixture, Passes) { EXPECT_EQ(1 + 1, 2); }

TEST(SkipFixture, Skips) { GTEST_SKIP() << "fixture skip reason"; }
