#include "controller/cli/args.h"

#include <gtest/gtest.h>

namespace mlspace::cli {
namespace {

Result<CommandLine> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "mlspacectl");
  return ParseCommandLine(args);
}

TEST(ArgsTest, KubectlSpellings) {
  auto cl = Parse({"-n", "team", "get", "train", "-oyaml", "--selector=a=b", "-A", "-w"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->command, "get");
  EXPECT_EQ(cl->args, std::vector<std::string>{"train"});
  EXPECT_EQ(cl->Get("namespace"), "team");
  EXPECT_EQ(cl->Get("output"), "yaml");
  EXPECT_EQ(cl->Get("selector"), "a=b");
  EXPECT_TRUE(cl->GetBool("all-namespaces"));
  EXPECT_TRUE(cl->GetBool("watch"));
  EXPECT_FALSE(cl->GetBool("no-headers"));

  auto eq = Parse({"get", "-n=ns2", "-o", "wide", "--watch=false"});
  ASSERT_TRUE(eq.ok());
  EXPECT_EQ(eq->Get("namespace"), "ns2");
  EXPECT_EQ(eq->Get("output"), "wide");
  EXPECT_FALSE(eq->GetBool("watch"));
}

TEST(ArgsTest, RepeatedAndOptionalValues) {
  auto cl =
      Parse({"apply", "-f", "a.yaml", "--filename=dir", "-f", "-", "--dry-run", "--server-side"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->GetAll("filename"), (std::vector<std::string>{"a.yaml", "dir", "-"}));
  EXPECT_EQ(cl->Get("dry-run"), "client");  // bare --dry-run is kubectl's client
  auto server = Parse({"apply", "-f", "x", "--dry-run=server"});
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(server->Get("dry-run"), "server");
  // -f is --follow for logs, a file elsewhere.
  auto logs = Parse({"logs", "train", "-f", "--tail", "5", "--attempt=2"});
  ASSERT_TRUE(logs.ok()) << logs.status().ToString();
  EXPECT_TRUE(logs->GetBool("follow"));
  EXPECT_EQ(logs->Get("tail"), "5");
  EXPECT_EQ(logs->Get("attempt"), "2");
}

TEST(ArgsTest, UsageErrorsNameTheCulprit) {
  auto unknown = Parse({"get", "--bogus"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "unknown flag --bogus for \"get\" (see mlspacectl get --help)");
  auto short_unknown = Parse({"describe", "x", "-o", "yaml"});
  ASSERT_FALSE(short_unknown.ok());
  EXPECT_NE(short_unknown.status().message().find("unknown flag -o for \"describe\""),
            std::string::npos);
  auto no_value = Parse({"get", "-n"});
  ASSERT_FALSE(no_value.ok());
  EXPECT_NE(no_value.status().message().find("flag -n needs a value"), std::string::npos);
  auto command = Parse({"explode"});
  ASSERT_FALSE(command.ok());
  EXPECT_NE(command.status().message().find("unknown command \"explode\""), std::string::npos);
  auto missing = Parse({"describe"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("\"describe\" needs an argument"), std::string::npos);
  auto extra = Parse({"get", "a", "b"});
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.status().message().find("unexpected argument \"b\""), std::string::npos);
  auto bad_bool = Parse({"get", "--watch=maybe"});
  ASSERT_FALSE(bad_bool.ok());
  EXPECT_NE(bad_bool.status().message().find("--watch \"maybe\""), std::string::npos);
  EXPECT_FALSE(Parse({}).ok());
}

TEST(ArgsTest, HelpAndVersion) {
  auto help = Parse({"wait", "--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_TRUE(help->help);
  EXPECT_EQ(help->command, "wait");
  std::string text = HelpText("wait");
  EXPECT_NE(text.find("--for condition=TYPE"), std::string::npos) << text;
  EXPECT_NE(text.find("--server URL"), std::string::npos) << text;
  auto version = Parse({"--version"});
  ASSERT_TRUE(version.ok());
  EXPECT_TRUE(version->version);
  std::string top = HelpText("");
  for (const auto& c : Commands()) EXPECT_NE(top.find("  " + c.name), std::string::npos) << c.name;
}

}  // namespace
}  // namespace mlspace::cli
