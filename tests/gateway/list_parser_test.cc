// The client's single-pass list-answer reader (http::ParseListAnswer) against
// the reference DOM parser (ParseListJobsResponse): same jobs, same errors,
// on generated answers, hand-written edge cases and random mutations.

#include "controller/gateway/http/list_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "controller/gateway/gateway_json.h"

namespace mlspace::gateway::http {
namespace {

using nlohmann::json;

std::string Describe(const Result<ListPage>& r) {
  if (!r.ok()) return "error: " + r.status().message();
  std::string s = "count=" + std::to_string(r->count) + " jobs=" + std::to_string(r->jobs.size());
  for (const auto& j : r->jobs) {
    s += "\n  [" + j.name + "|" + std::string(RemoteStatusName(j.status)) + "|" + j.region + "|" +
         j.job_desc + "|" + j.instance_type + "|" +
         (j.created ? std::to_string(j.created->time_since_epoch().count()) : "-") + "|" +
         (j.completed ? std::to_string(j.completed->time_since_epoch().count()) : "-") + "]";
  }
  return s;
}

void ExpectSame(const std::string& body) {
  const auto fast = ParseListAnswer(body);
  const auto ref = ParseListJobsResponse(body);
  ASSERT_EQ(Describe(fast), Describe(ref)) << "body: " << body.substr(0, 400);
}

std::string RandomText(std::mt19937& rng) {
  static const std::vector<std::string> kPieces = {"a",
                                                   "Z",
                                                   "9",
                                                   " ",
                                                   "\"",
                                                   "\\",
                                                   "/",
                                                   "\n",
                                                   "\t",
                                                   std::string(1, '\x01'),
                                                   "\xd0\x9f",
                                                   "\xe2\x82\xac",
                                                   "\xf0\x9f\x98\x80",
                                                   "mlspace:",
                                                   "ns/job",
                                                   "gen=3",
                                                   ""};
  std::string s;
  const int n = std::uniform_int_distribution<int>(0, 12)(rng);
  for (int i = 0; i < n; ++i) s += kPieces[rng() % kPieces.size()];
  return s;
}

json RandomItem(std::mt19937& rng) {
  static const std::vector<std::string> kStatuses = {"Running", "Pending", "Completed", "Failed",
                                                     "Stopped", "weird",   "running"};
  json item = {{"uid", "u"},
               {"job_name", "lm-mpi-job-" + std::to_string(rng() % 100000)},
               {"status", kStatuses[rng() % kStatuses.size()]},
               {"region", RandomText(rng)},
               {"instance_type", "a100.1gpu"},
               {"job_desc", RandomText(rng)},
               {"created_dt", "2026-11-27T10:00:0" + std::to_string(rng() % 10) + "Z"},
               {"updated_dt", nullptr},
               {"completed_dt", nullptr},
               {"cost", 1.5e3},
               {"gpu_count", 8},
               {"nested", {{"a", {1, 2, {{"b", nullptr}}}}, {"t", true}, {"f", false}}}};
  switch (rng() % 8) {
    case 0:
      item["completed_dt"] = "2026-11-27 12:00:00";  // no zone: read as UTC
      break;
    case 1:
      item["completed_dt"] = "2026-11-27T12:00:00.250+03:00";
      break;
    case 2:
      item["created_dt"] = "yesterday";  // unparseable: not set
      break;
    case 3:
      item["region"] = 42;  // not a string: empty
      break;
    case 4:
      item.erase("job_desc");
      break;
    case 5:
      item["created_dt"] = "";
      break;
    default:
      break;
  }
  return item;
}

TEST(ListParserTest, AgreesWithTheReferenceOnGeneratedAnswers) {
  std::mt19937 rng(20261127);
  for (int round = 0; round < 300; ++round) {
    json jobs = json::array();
    const int n = std::uniform_int_distribution<int>(0, 20)(rng);
    for (int i = 0; i < n; ++i) jobs.push_back(RandomItem(rng));
    json body = {{"count", n + static_cast<int>(rng() % 3)},
                 {"jobs", jobs},
                 {"status", "ok"},
                 {"error_code", 0}};
    ExpectSame(body.dump());
    ExpectSame(body.dump(2));                               // whitespace everywhere
    ExpectSame(body.dump(-1, ' ', /*ensure_ascii=*/true));  // \u escapes, surrogate pairs
    if (HasFatalFailure()) return;
  }
}

TEST(ListParserTest, AgreesWithTheReferenceOnEdgeCases) {
  const std::vector<std::string> bodies = {
      R"({"count":0,"jobs":[]})",
      R"({"jobs":[],"count":0})",
      R"(  {"count" : 1 , "jobs" : [ { "job_name" : "a" , "status" : "Running" } ] }  )",
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running","job_name":"b"}]})",
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running"}],"jobs":[]})",
      R"({"count":1,"count":2,"jobs":[]})",
      R"({"count":-0,"jobs":[]})",
      R"({"count":1.0,"jobs":[]})",
      R"({"count":1e2,"jobs":[]})",
      R"({"count":"1","jobs":[]})",
      R"({"count":null,"jobs":[]})",
      R"({"jobs":[]})",
      R"({"count":1})",
      R"({"count":1,"jobs":{}})",
      R"({"count":1,"jobs":[1]})",
      R"({"count":1,"jobs":[{"status":"Running"}]})",
      R"({"count":1,"jobs":[{"job_name":5,"status":"Running"}]})",
      R"({"count":1,"jobs":[{"job_name":"a"}]})",
      R"({"count":2,"jobs":[{"job_name":"a"},[]]})",
      R"({"count":2,"jobs":[[],{"job_name":"a"}]})",
      R"({"count":1,"jobs":[{"job_name":"a\u00e9\ud83d\ude00\/\b\f\n\r\t\"\\","status":"Running"}]})",
      R"({"count":1,"jobs":[{"job_name":"\ud83d","status":"Running"}]})",
      R"({"count":1,"jobs":[{"job_name":"\ude00","status":"Running"}]})",
      R"({"count":1,"jobs":[{"job_name":"\u12g4","status":"Running"}]})",
      R"({"count":1,"jobs":[{"job_name":"\x","status":"Running"}]})",
      "{\"count\":1,\"jobs\":[{\"job_name\":\"a\tb\",\"status\":\"Running\"}]}",
      "{\"count\":1,\"jobs\":[{\"job_name\":\"\xc3\x28\",\"status\":\"Running\"}]}",
      "{\"count\":1,\"jobs\":[{\"job_name\":\"\xe0\x80\xaf\",\"status\":\"Running\"}]}",
      "{\"count\":1,\"jobs\":[{\"job_name\":\"\xed\xa0\x80\",\"status\":\"Running\"}]}",
      "{\"count\":1,\"jobs\":[{\"job_name\":\"\xf4\x90\x80\x80\",\"status\":\"Running\"}]}",
      "{\"count\":1,\"jobs\":[{\"job_name\":\"\xf0\x9f\x98\x80\",\"status\":\"Running\"}]}",
      R"({"count":01,"jobs":[]})",
      R"({"count":1,"jobs":[],})",
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running",}]})",
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running"},]})",
      R"({"count":1,"jobs":[]}x)",
      R"({"count":1,"jobs":[]}{})",
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running","x":tru}]})",
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running","x":-}]})",
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running","x":1.}]})",
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running","x":1e}]})",
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running","x":[1,2,]}]})",
      R"({count:1,"jobs":[]})",
      R"([{"count":1}])",
      R"("text")",
      "",
      "   ",
      "null",
      "{",
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running","created_dt":"2026-11-27 10:00:00","completed_dt":"2026-11-27T10:00:00+01:00"}]})",
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running","created_dt":null,"completed_dt":7}]})",
  };
  for (const auto& b : bodies) {
    SCOPED_TRACE(b);
    ExpectSame(b);
  }
  std::string deep =
      R"({"count":0,"jobs":[],"x":)" + std::string(200, '[') + std::string(200, ']') + "}";
  ExpectSame(deep);
}

// 3,000 bodies, each `base` with 1-3 random edits (replace, erase 1-3 bytes,
// insert; NUL inserts too when `nul_inserts`) using bytes from `alphabet`:
// the parser and the reference must agree on every one, and the mutations
// must reach both outcomes so the agreement means something.
void ExpectSameOnMutations(const std::string& base, std::string_view alphabet, bool nul_inserts,
                           uint32_t seed) {
  std::mt19937 rng(seed);
  int both_ok = 0;
  int both_failed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string b = base;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % b.size();
      switch (rng() % (nul_inserts ? 4 : 3)) {
        case 0:
          b[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          b.erase(pos, 1 + rng() % 3);
          break;
        case 3:
          b.insert(pos, 1, '\0');
          break;
        default:
          b.insert(pos, 1, alphabet[rng() % alphabet.size()]);
      }
      if (b.empty()) b = "{";
    }
    const auto fast = ParseListAnswer(b);
    ExpectSame(b);
    if (::testing::Test::HasFatalFailure()) return;
    (fast.ok() ? both_ok : both_failed)++;
  }
  EXPECT_GT(both_ok, 50);
  EXPECT_GT(both_failed, 500);
}

TEST(ListParserTest, AgreesWithTheReferenceOnMutatedAnswers) {
  std::mt19937 rng(7);
  json jobs = json::array();
  for (int i = 0; i < 4; ++i) jobs.push_back(RandomItem(rng));
  const std::string base = json{{"count", 4}, {"jobs", jobs}}.dump(-1, ' ', true);
  static constexpr char kBytes[] = "{}[]\",:\\u0aeE+-.tfn \x01\x80\xc3";
  ExpectSameOnMutations(base, std::string_view(kBytes, sizeof kBytes - 1), false, 7);
}

// Where RapidJSON 1.1 (the reader under ParseListAnswer) and nlohmann (the
// reference) read text differently, ParseListAnswer has an explicit check;
// each case here exercises one. Bodies without a byte >= 0x80 take RapidJSON's
// SIMD path, the others the validating one: both are covered.
TEST(ListParserTest, AgreesWithTheReferenceWhereRapidJsonDiffers) {
  const std::string item = R"({"job_name":"a","status":"Running"})";
  const auto with_field = [&](const std::string& value) {
    return R"({"count":1,"jobs":[{"job_name":"a","status":"Running","x":)" + value + "}]}";
  };
  const auto with_name = [&](const std::string& raw) {
    return R"({"count":1,"jobs":[{"job_name":")" + raw + R"(","status":"Running"}]})";
  };
  std::vector<std::string> bodies = {
      // A UTF-8 byte order mark: nlohmann skips one at the very start only.
      "\xEF\xBB\xBF{\"count\":1,\"jobs\":[" + item + "]}",
      " \xEF\xBB\xBF{\"count\":1,\"jobs\":[]}",
      "\xEF\xBB\xBF\xEF\xBB\xBF{\"count\":1,\"jobs\":[]}",
      "\xEF\xBB{\"count\":1,\"jobs\":[]}",
      "\xEF\xBB\xBF",
      // Raw NUL bytes: outside a string both readers take one for the end of
      // the text; inside a string it is an unescaped control character.
      std::string("{\"count\":1,\"jobs\":[]}\0", 22),
      std::string("{\"count\":1,\"jobs\":[]}\0garbage", 29),
      std::string("\0{\"count\":1,\"jobs\":[]}", 22),
      with_name(std::string("a\0b", 3)),
      std::string("{\"count\":1\0,\"jobs\":[]}", 22),
      std::string("{\"count\":1,\"jobs\":[]} \0 \xff", 25),
      // Escaped NULs are fine, in values and keys.
      with_name("a\\u0000b"),
      R"({"count":1,"jobs":[{"job_name\u0000":"a","status":"Running"}]})",
      // Lone low surrogates (RapidJSON 1.1 encodes them; nlohmann rejects),
      // in a kept field, a skipped one, a key, nested, and in non-ASCII text.
      with_name("\\uDC00"),
      with_name("x\\udfff"),
      with_field(R"("\udc80")"),
      with_field(R"({"a":["\uDFFF"]})"),
      R"({"count":1,"\udc00":1,"jobs":[]})",
      with_name("\xc3\xa9\\udc00"),
      // Paired surrogates, and a "\u" that is an escaped backslash and a 'u'.
      with_name("\\uD83D\\uDE00"),
      with_name("\\\\uDC00"),
      with_name("\xc3\xa9\\ud83d\\ude00"),
      with_name("\\ud83d\\ud83d"),
      with_name("\\ud83d"),
      with_name("\\ud83dx"),
      // Raw control bytes 0x1a..0x1f: Debian's RapidJSON 1.1 SSE2 string scan
      // lets them through; ASCII-only and non-ASCII bodies.
      with_name("a\x1a"),
      with_name("\x1f"),
      with_name("a\x19"),
      with_name("\x7f"),
      with_name("\xc3\xa9\x1e"),
      with_field("\"\x1c\""),
      R"({"count":1,"jobs":[{"job_name":"a","status":"Running","x":"é)" + std::string(1, '\x1d') +
          R"("}]})",
      // Integers at the edges of int64/uint64: nlohmann keeps 2^63..2^64-1
      // as unsigned (count wraps like get<int64_t>()); beyond, a float.
      R"({"count":9223372036854775807,"jobs":[]})",
      R"({"count":9223372036854775808,"jobs":[]})",
      R"({"count":18446744073709551615,"jobs":[]})",
      R"({"count":18446744073709551616,"jobs":[]})",
      R"({"count":-9223372036854775808,"jobs":[]})",
      R"({"count":-9223372036854775809,"jobs":[]})",
      R"({"count":4294967296,"jobs":[]})",
      R"({"count":-2147483649,"jobs":[]})",
      R"({"count":-1,"jobs":[]})",
      R"({"count":1E+0,"jobs":[]})",
      // Doubles: nlohmann rejects a number strtod makes infinite.
      with_field("1e308"),
      with_field("1e309"),
      with_field("-1e309"),
      with_field("10e308"),
      with_field("0.1e309"),
      with_field("1.7976931348623157e308"),
      with_field("1.7976931348623158e308"),
      with_field("1.7976931348623159e308"),
      with_field("-1.7976931348623159e308"),
      with_field("1e-400"),
      with_field("4.9e-324"),
      with_field("2.4e-324"),
      with_field("1e99999999999999999999"),
      with_field("1e-99999999999999999999"),
      with_field("0." + std::string(1000, '0') + "1e1000"),
      with_field("1" + std::string(400, '0') + "e-300"),  // RapidJSON: "too big"
      with_field("1" + std::string(400, '0')),
      with_field("-1" + std::string(308, '0')),
      with_field("1" + std::string(308, '0')),
      with_field("2" + std::string(308, '0')),
      with_field("0." + std::string(2000, '7')),
      R"({"count":1e400,"jobs":[]})",
      "1e400",
      // Whitespace JSON does not allow, and what is left after the document.
      "{\"count\":1,\"jobs\":[]}\f",
      "{\"count\":1,\"jobs\":[]}\v",
      "\r\n\t {\"count\":1,\"jobs\":[]}\r\n\t ",
      "{\"count\":1,\"jobs\":[]}\xc2\xa0",
      // Roots that are not objects.
      "1",
      "-0",
      "true",
      "[]",
      "\"\\udc00\"",
      "\"\xc3\xa9\"",
  };
  // Nesting far deeper than any stack-bound reader survives: nlohmann has no
  // depth limit, so neither may the fast reader (RapidJSON runs iteratively).
  for (const int depth : {600, 100000}) {
    bodies.push_back(with_field(std::string(depth, '[') + std::string(depth, ']')));
    bodies.push_back(with_field(std::string(depth, '[') + std::string(depth - 1, ']')));
    std::string objects;
    for (int i = 0; i < depth; ++i) objects += "{\"a\":";
    objects += "1";
    objects += std::string(depth, '}');
    bodies.push_back(with_field(objects));
  }
  for (const auto& b : bodies) {
    SCOPED_TRACE(b.substr(0, 120));
    ExpectSame(b);
  }
}

// The fast reader's own answers for the cases above, not only agreement.
TEST(ListParserTest, ReadsEscapesAndEdgeNumbersItself) {
  auto page = ParseListAnswer(
      R"({"count":18446744073709551615,"jobs":[{"job_name":"a\u0000b\ud83d\ude00","status":"Running","x":1e308}]})");
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(page->count, -1);
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].name, std::string("a\0b\xf0\x9f\x98\x80", 7));

  page = ParseListAnswer("\xEF\xBB\xBF{\"count\":2,\"jobs\":[]}");
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(page->count, 2);

  // As nlohmann does, a NUL byte after the document ends the text.
  page = ParseListAnswer(std::string("{\"count\":3,\"jobs\":[]}\0junk", 26));
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(page->count, 3);

  for (const std::string& bad :
       {std::string(R"({"count":1,"jobs":[{"job_name":"\udc00","status":"Running"}]})"),
        std::string("{\"count\":1,\"jobs\":[\0]}", 22),
        std::string("{\"count\":1,\"jobs\":[{\"job_name\":\"\x1f\",\"status\":\"Running\"}]}"),
        std::string(R"({"count":1,"jobs":[],"x":1e309})")}) {
    SCOPED_TRACE(bad);
    page = ParseListAnswer(bad);
    ASSERT_FALSE(page.ok());
    EXPECT_EQ(page.status().message(), "list answer: answer is not JSON");
  }
}

// Mutations of a body with non-ASCII text (the validating path) and bytes
// aimed at the differences above.
TEST(ListParserTest, AgreesWithTheReferenceOnMutatedNonAsciiAnswers) {
  std::mt19937 rng(11);
  json jobs = json::array();
  for (int i = 0; i < 4; ++i) {
    json item = RandomItem(rng);
    item["job_desc"] = "задача \xf0\x9f\x98\x80 " + std::to_string(i);
    item["big"] = 18446744073709551615u;
    jobs.push_back(item);
  }
  const std::string base = json{{"count", 4}, {"jobs", jobs}}.dump();
  static const char kBytes[] =
      "{}[]\",:\\udDcCeE0189+-.tfn \x01\x1a\x1f\x7f\x80\xa0\xbf\xc3\xed\xef\xf0\xf4";
  ExpectSameOnMutations(base, std::string_view(kBytes, sizeof kBytes - 1), true, 11);
}

TEST(ListParserTest, ReadsTheEmulatorsSixThousandJobAnswerShape) {
  std::vector<RemoteJob> jobs(6000);
  for (size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].name = "sj-" + std::to_string(i);
    jobs[i].status = RemoteStatus::kRunning;
    jobs[i].region = "SR006";
    jobs[i].job_desc = "mlspace:nlp/job-" + std::to_string(i) + ":gen=1";
    jobs[i].instance_type = "a100.8gpu";
    jobs[i].created = TimePoint(std::chrono::seconds(1'795'000'000 + static_cast<int64_t>(i)));
  }
  const std::string body = ListJobsResponseToJson(6000, jobs).dump();
  auto page = ParseListAnswer(body);
  ASSERT_TRUE(page.ok()) << page.status().message();
  ASSERT_EQ(page->jobs.size(), 6000u);
  EXPECT_EQ(page->count, 6000);
  EXPECT_EQ(page->jobs[5999].name, "sj-5999");
  EXPECT_EQ(page->jobs[5999].job_desc, "mlspace:nlp/job-5999:gen=1");
  EXPECT_EQ(page->jobs[5999].created, jobs[5999].created);
  ExpectSame(body);
}

}  // namespace
}  // namespace mlspace::gateway::http
