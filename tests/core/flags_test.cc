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
  EXPECT_NE(h.find("--poll-interval DURATION\n"), std::string::npos);
  EXPECT_NE(h.find("--api-bind-address HOST:PORT\n"), std::string::npos);
  EXPECT_NE(h.find("--workers N\n"), std::string::npos);
  EXPECT_NE(h.find("--prune-max-fraction N\n"), std::string::npos);
  EXPECT_NE(h.find("--prune\n"), std::string::npos);            // a bool takes no value
  EXPECT_NE(h.find("--manifests VALUE\n"), std::string::npos);  // no placeholder given
  EXPECT_NE(h.find("--version\n"), std::string::npos);
  EXPECT_NE(h.find("(default 30s)"), std::string::npos);
  EXPECT_NE(h.find("(default 127.0.0.1:8081)"), std::string::npos);
}

TEST(FlagsTest, VersionStopsTheParse) {
  Config c;
  FlagSet f = MakeFlags(c);
  ASSERT_TRUE(ParseArgs(f, {"--version", "--wrkers=2"}).ok());
  EXPECT_TRUE(f.version_requested());
  EXPECT_FALSE(f.help_requested());
}

TEST(FlagsTest, PlaceholdersChoicesAndSections) {
  std::string dir, format = "text";
  FlagSet f("prog", "test program", "");
  f.Section("Storage");
  f.String("state-dir", &dir, "DIR", "where state lives");
  f.Choice("log-format", &format, {"text", "json"}, "log format");
  std::string h = f.Help();
  EXPECT_NE(h.find("Storage:\n  --state-dir DIR\n"), std::string::npos) << h;
  EXPECT_NE(h.find("--log-format text|json\n      log format (default text)"), std::string::npos)
      << h;
  // No env prefix: no "settable as" sentence.
  EXPECT_EQ(h.find("settable"), std::string::npos);
  EXPECT_EQ(ParseArgs(f, {"--log-format=yaml"}).message(),
            "--log-format \"yaml\": expected one of text|json");
  ASSERT_TRUE(ParseArgs(f, {"--log-format", "json", "--state-dir=/s"}).ok());
  EXPECT_EQ(format, "json");
  EXPECT_EQ(dir, "/s");
}

TEST(FlagsTest, AliasesAreAcceptedAndHidden) {
  int running = 4;
  FlagSet f("prog", "test program", "MLSPACE_");
  f.Int("local-max-running", &running, "jobs at once", 1, 10);
  f.Alias("max-running", "local-max-running");
  ASSERT_TRUE(ParseArgs(f, {"--max-running=7"}).ok());
  EXPECT_EQ(running, 7);
  EXPECT_TRUE(f.IsSet("local-max-running"));
  // Errors name the spelling that was used.
  EXPECT_EQ(ParseArgs(f, {"--max-running", "0"}).message(),
            "--max-running \"0\": must be between 1 and 10");
  EXPECT_EQ(f.Help().find("max-running N"), f.Help().find("local-max-running N") + 6);
  EXPECT_EQ(f.Help().find("--max-running"), std::string::npos);
  // The alias has no environment variable of its own.
  int r2 = 4;
  FlagSet f2("prog", "test program", "MLSPACE_");
  f2.Int("local-max-running", &r2, "jobs at once", 1, 10);
  f2.Alias("max-running", "local-max-running");
  ASSERT_TRUE(ParseArgs(f2, {}, {{"MLSPACE_MAX_RUNNING", "9"}}).ok());
  EXPECT_EQ(r2, 4);
}

TEST(FlagsTest, ValueIsQuotedOnceInErrors) {
  Config c;
  FlagSet f = MakeFlags(c);
  // ParseDuration's own message starts with `duration "5": `.
  EXPECT_EQ(ParseArgs(f, {"--poll-interval=5"}).message(),
            "--poll-interval \"5\": missing unit (examples: 500ms, 30s, 5m, 1h30m)");
  EXPECT_EQ(ParseArgs(f, {"--api-bind-address", "8080"}).message(),
            "--api-bind-address \"8080\": missing port (expected host:port or :port)");
  std::string rule;
  FlagSet g("prog", "test program", "");
  g.Func("fault-429", "RULE", "429s", [](std::string_view v) -> Status {
    return InvalidArgumentError("\"" + std::string(v) + "\" is not a rule: want 0..1");
  });
  EXPECT_EQ(ParseArgs(g, {"--fault-429=2"}).message(),
            "--fault-429 \"2\": is not a rule: want 0..1");
}

}  // namespace
}  // namespace mlspace
