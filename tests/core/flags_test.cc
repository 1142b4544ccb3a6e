#include "controller/core/flags.h"

#include <gtest/gtest.h>

#include <map>

namespace mlspace {
namespace {

using std::chrono::seconds;

struct Config {
  std::string manifests;
  int workers = 4;
  double fraction = 0.5;
  bool prune = true;
  Duration poll = seconds(30);
  HostPort api{"127.0.0.1", 8081};
};

FlagSet MakeFlags(Config& c) {
  FlagSet f("prog", "test program");
  f.String("manifests", &c.manifests, "manifests dir");
  f.Int("workers", &c.workers, "workers", 1, 64);
  f.Double("prune-max-fraction", &c.fraction, "fraction", 0, 1);
  f.Bool("prune", &c.prune, "prune");
  f.Dur("poll-interval", &c.poll, "poll");
  f.Address("api-bind-address", &c.api, "api");
  return f;
}

Status ParseArgs(FlagSet& f, std::vector<const char*> args,
                 std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "prog");
  return f.Parse(static_cast<int>(args.size()), args.data(), [&env](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(FlagsTest, BothSpellingsAndTypes) {
  Config c;
  FlagSet f = MakeFlags(c);
  ASSERT_TRUE(ParseArgs(f, {"--manifests", "/m", "--workers=8", "--prune=false", "--poll-interval",
                            "5s", "--api-bind-address=:0", "--prune-max-fraction", "0.25"})
                  .ok());
  EXPECT_EQ(c.manifests, "/m");
  EXPECT_EQ(c.workers, 8);
  EXPECT_FALSE(c.prune);
  EXPECT_EQ(c.poll, seconds(5));
  EXPECT_EQ(c.api.port, 0);
  EXPECT_DOUBLE_EQ(c.fraction, 0.25);
  EXPECT_TRUE(f.IsSet("workers"));
}

TEST(FlagsTest, EnvironmentThenCommandLineWins) {
  Config c;
  FlagSet f = MakeFlags(c);
  ASSERT_TRUE(
      ParseArgs(f, {"--workers", "2"}, {{"MLSPACE_WORKERS", "9"}, {"MLSPACE_MANIFESTS", "/env"}})
          .ok());
  EXPECT_EQ(c.workers, 2);
  EXPECT_EQ(c.manifests, "/env");
  EXPECT_EQ(f.EnvName("api-bind-address"), "MLSPACE_API_BIND_ADDRESS");
}

TEST(FlagsTest, ErrorsNameTheFlag) {
  Config c;
  FlagSet f = MakeFlags(c);
  EXPECT_EQ(ParseArgs(f, {"--workers", "0"}).message(),
            "--workers \"0\": must be between 1 and 64");
  EXPECT_EQ(ParseArgs(f, {"--wrkers=2"}).message(), "unknown flag --wrkers (see --help)");
  EXPECT_EQ(ParseArgs(f, {"--manifests"}).message(), "flag --manifests needs a value");
  EXPECT_NE(ParseArgs(f, {"--poll-interval=5"}).message().find("--poll-interval \"5\""),
            std::string::npos);
  Config c2;
  FlagSet f2 = MakeFlags(c2);
  EXPECT_EQ(ParseArgs(f2, {}, {{"MLSPACE_WORKERS", "x"}}).message(),
            "MLSPACE_WORKERS \"x\": expected an integer");
}

TEST(FlagsTest, HelpListsFlagsWithDefaults) {
  Config c;
  FlagSet f = MakeFlags(c);
  ASSERT_TRUE(ParseArgs(f, {"--help"}).ok());
  EXPECT_TRUE(f.help_requested());
  std::string h = f.Help();
  EXPECT_NE(h.find("--poll-interval VALUE"), std::string::npos);
  EXPECT_NE(h.find("(default 30s)"), std::string::npos);
  EXPECT_NE(h.find("(default 127.0.0.1:8081)"), std::string::npos);
}

}  // namespace
}  // namespace mlspace
