#include "controller/launchspec/launch_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "controller/launchspec/internal.h"

namespace mlspace::launchspec {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Flags = std::map<std::string, std::string>;
using Args = std::vector<std::string>;

constexpr char kSecret[] = "S3CR3T-env-value";

LaunchSpec SampleSpec() {
  LaunchSpec spec;
  spec.executable = "/usr/bin/python3";
  spec.args = {"train.py", "--lr", "0.1", "a b \"c\" 'd'", ""};
  spec.env = {{"TOKEN", kSecret}, {"MLSPACE_RUN", "1"}};
  spec.work_dir = "/home/jovyan/project";
  return spec;
}

// Appends one valid UTF-8 code point (never NUL, never a surrogate).
void AppendCodePoint(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Random text of about `bytes` bytes: ASCII incl. quotes, backslashes and
// control characters, plus 2-, 3- and 4-byte code points.
std::string RandomText(std::mt19937_64& rng, std::size_t bytes) {
  std::string out;
  out.reserve(bytes + 4);
  std::uniform_int_distribution<int> kind(0, 9);
  while (out.size() < bytes) {
    switch (kind(rng)) {
      case 0:
        AppendCodePoint(out, std::uniform_int_distribution<std::uint32_t>(1, 0x1F)(rng));
        break;
      case 1:
        AppendCodePoint(out, std::uniform_int_distribution<std::uint32_t>(0x80, 0x7FF)(rng));
        break;
      case 2:
        AppendCodePoint(out, std::uniform_int_distribution<std::uint32_t>(0xE000, 0xFFFD)(rng));
        break;
      case 3:
        AppendCodePoint(out, std::uniform_int_distribution<std::uint32_t>(0x10000, 0x10FFFF)(rng));
        break;
      case 4:
        out += "\"\\' $`"[std::uniform_int_distribution<int>(0, 5)(rng)];
        break;
      default:
        AppendCodePoint(out, std::uniform_int_distribution<std::uint32_t>(0x20, 0x7E)(rng));
    }
  }
  return out;
}

std::string RandomEnvName(std::mt19937_64& rng, std::size_t index) {
  static constexpr char kFirst[] = "ABCXYZabcxyz_.-";
  std::string name(1, kFirst[std::uniform_int_distribution<int>(0, 14)(rng)]);
  return name + "V" + std::to_string(index);
}

// A spec whose strings add up to about `bytes` bytes, spread over `args` args.
LaunchSpec RandomSpec(std::mt19937_64& rng, std::size_t bytes, std::size_t num_args,
                      std::size_t num_env) {
  LaunchSpec spec;
  spec.executable = "/bin/" + RandomText(rng, 8);
  const std::size_t per_string = bytes / (num_args + num_env + 1);
  for (std::size_t i = 0; i < num_args; ++i) spec.args.push_back(RandomText(rng, per_string));
  for (std::size_t i = 0; i < num_env; ++i) {
    spec.env.emplace_back(RandomEnvName(rng, i), RandomText(rng, per_string));
  }
  if (rng() % 2) spec.work_dir = "/tmp/" + RandomText(rng, 12);
  spec.shell = rng() % 4 == 0;
  return spec;
}

// The same flags in the daskol/mlspace spelling, as `--key value` pairs.
Args SeedSpelling(const Flags& flags) {
  Args args;
  for (const auto& [key, value] : flags) {
    std::string k = key;
    if (k == "spec-num-parts") k = "spec-num-chunks";
    if (k == "spec-sha256") k = "spec-sha256sum";
    if (k.starts_with("spec-part-")) k = "spec-chunk-" + k.substr(10);
    args.push_back("--" + k);
    args.push_back(value);
  }
  return args;
}

void ExpectRoundTripAnyVersion(const LaunchSpec& spec, std::mt19937_64& rng) {
  const Flags flags = EncodeFlags(spec);
  ASSERT_EQ(flags.at("spec-version"), std::to_string(SpecVersionFor(spec)));
  const std::size_t parts = std::stoul(flags.at("spec-num-parts"));
  std::size_t total = 0;
  for (std::size_t i = 0; i < parts; ++i) {
    const std::string& part = flags.at("spec-part-" + std::to_string(i));
    ASSERT_LE(part.size(), kMaxPartChars);
    ASSERT_FALSE(part.empty());
    total += part.size();
  }
  ASSERT_EQ(flags.size(), parts + 3);
  ASSERT_EQ(parts, (total + kMaxPartChars - 1) / kMaxPartChars);

  Args argv = FlagsToArgv(flags);
  auto decoded = DecodeArgv(argv);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(*decoded == spec);

  std::shuffle(argv.begin(), argv.end(), rng);
  decoded = DecodeArgv(argv);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(*decoded == spec);

  // Seed spelling, `--k v`, pairs shuffled.
  Args seed = SeedSpelling(flags);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::size_t i = 0; i < seed.size(); i += 2) pairs.emplace_back(seed[i], seed[i + 1]);
  std::shuffle(pairs.begin(), pairs.end(), rng);
  seed.clear();
  for (auto& [k, v] : pairs) {
    seed.push_back(k);
    seed.push_back(v);
  }
  decoded = DecodeArgv(seed);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(*decoded == spec);
}

void ExpectRoundTrip(const LaunchSpec& spec, std::mt19937_64& rng) {
  ASSERT_EQ(SpecVersionFor(spec), 1);
  ExpectRoundTripAnyVersion(spec, rng);
}

TEST(LaunchSpecTest, RoundTripsSample) {
  std::mt19937_64 rng(1);
  ExpectRoundTrip(SampleSpec(), rng);
}

TEST(LaunchSpecTest, RoundTripsMinimalSpec) {
  std::mt19937_64 rng(2);
  LaunchSpec spec;
  spec.executable = "x";
  ExpectRoundTrip(spec, rng);
  const Flags flags = EncodeFlags(spec);
  EXPECT_EQ(flags.at("spec-num-parts"), "1");
}

TEST(LaunchSpecTest, RoundTripsRandomSpecsFromEmptyToTwoMegabytes) {
  std::mt19937_64 rng(20261127);
  const std::size_t sizes[] = {0,     1,     10,     100,    1000,    65535 / 2, 49151,
                               49152, 65535, 100000, 300000, 1 << 20, 2 << 20};
  for (std::size_t bytes : sizes) {
    for (int round = 0; round < (bytes > 100000 ? 1 : 6); ++round) {
      const std::size_t num_args = std::uniform_int_distribution<std::size_t>(0, 40)(rng);
      const std::size_t num_env = std::uniform_int_distribution<std::size_t>(0, 10)(rng);
      SCOPED_TRACE("bytes=" + std::to_string(bytes) + " args=" + std::to_string(num_args));
      ExpectRoundTrip(RandomSpec(rng, bytes, num_args, num_env), rng);
    }
  }
}

TEST(LaunchSpecTest, RoundTripsManyArgs) {
  std::mt19937_64 rng(3);
  LaunchSpec spec;
  spec.executable = "/bin/true";
  for (int i = 0; i < 20000; ++i) spec.args.push_back(i % 7 == 0 ? "" : std::to_string(i));
  ExpectRoundTrip(spec, rng);
}

TEST(LaunchSpecTest, EncodedPartsConcatenateToTheHashedBase64OfCompactJson) {
  const LaunchSpec spec = SampleSpec();
  const Flags flags = EncodeFlags(spec);
  const std::string json = ToJson(spec);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_THAT(json, HasSubstr("\"work_dir\":\"/home/jovyan/project\""));
  const std::string b64 = Base64Encode(json);
  EXPECT_EQ(flags.at("spec-part-0"), b64);
  EXPECT_EQ(flags.at("spec-sha256"), Sha256Hex(b64));
  EXPECT_EQ(FlagsToArgv(flags)[0], "--spec-num-parts=1");
}

TEST(LaunchSpecTest, EmptyWorkDirIsEncodedAsNullForTheSeedLauncher) {
  LaunchSpec spec;
  spec.executable = "x";
  EXPECT_EQ(ToJson(spec), R"({"executable":"x","args":[],"env":{},"work_dir":null})");
  spec.shell = true;
  EXPECT_THAT(ToJson(spec), HasSubstr(R"("shell":true)"));
}

TEST(LaunchSpecTest, Base64AndSha256MatchKnownVectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  for (const char* s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto decoded = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, s);
  }
  std::string binary;
  for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
  EXPECT_EQ(*Base64Decode(Base64Encode(binary)), binary);
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(LaunchSpecTest, Base64DecodeRejectsNonCanonicalText) {
  for (const char* bad : {"Zg=", "Zg", "Z===", "Zg=a", "=Zg=", "Zm9v\n", " Zm9v", "Zm-v", "Zm_v"}) {
    auto decoded = Base64Decode(bad);
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(KindOf(decoded.status()), ErrorKind::kBase64) << decoded.status().message();
  }
}

// The seed client cuts base64 into len/65535+1 chunks: when the length is a
// multiple of 65535 the last chunk is empty. Version 0, no checksum.
TEST(LaunchSpecTest, AcceptsSeedClientOutputWithTrailingEmptyChunk) {
  LaunchSpec spec;
  spec.executable = "/bin/echo";
  // Base64 of 3 * 65535 JSON bytes is 4 * 65535 characters: four full chunks.
  spec.args = {""};
  spec.args[0].assign(3 * kMaxPartChars - ToJson(spec).size(), 'x');
  const std::string b64 = Base64Encode(ToJson(spec));
  ASSERT_EQ(b64.size(), 4 * kMaxPartChars);
  Args args = {"--spec-version", "0", "--spec-num-chunks", "5"};
  for (std::size_t i = 0; i < 5; ++i) {
    args.push_back("--spec-chunk-" + std::to_string(i));
    args.push_back(b64.substr(std::min(b64.size(), i * kMaxPartChars), kMaxPartChars));
  }
  ASSERT_EQ(args.back(), "");
  auto decoded = DecodeArgv(args);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, spec);
}

TEST(LaunchSpecTest, AcceptsUppercaseChecksumAndIgnoresUnknownKeys) {
  const std::string json =
      R"({"executable":"run","args":null,"env":null,"work_dir":null,"shell":false,)"
      R"("image":"cr.ai.cloud.ru/img:1","future":{"x":[1,2]}})";
  const std::string b64 = Base64Encode(json);
  std::string sha = Sha256Hex(b64);
  std::transform(sha.begin(), sha.end(), sha.begin(), [](char c) {
    return static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
  });
  auto decoded = DecodeArgv(
      {"--spec-sha256=" + sha, "--spec-part-0=" + b64, "--spec-num-parts=1", "--spec-version=1"});
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->executable, "run");
  EXPECT_TRUE(decoded->args.empty());
  EXPECT_FALSE(decoded->shell);
}

TEST(LaunchSpecTest, ShellTrueIsDecoded) {
  auto decoded = FromJson(R"({"executable":"echo $0","args":["a"],"shell":true})");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->shell);
}

TEST(LaunchSpecTest, EnvOrderIsPreserved) {
  LaunchSpec spec;
  spec.executable = "x";
  spec.env = {{"Z", "1"}, {"A", "2"}, {"M", "3"}};
  auto decoded = FromJson(ToJson(spec));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->env, spec.env);
}

// --- bad input: one case per row of the error table -------------------------

struct BadCase {
  std::string name;
  Args args;
  ErrorKind kind;
  std::string message_part;
};

Args Encoded(const std::string& json, bool with_sha = true) {
  const std::string b64 = Base64Encode(json);
  Args args = {"--spec-version=1", "--spec-num-parts=1", "--spec-part-0=" + b64};
  if (with_sha) args.push_back("--spec-sha256=" + Sha256Hex(b64));
  return args;
}

Args EncodedSpec(const LaunchSpec& spec) { return FlagsToArgv(EncodeFlags(spec)); }

std::vector<BadCase> BadCases() {
  const std::string secret_json =
      std::string(R"({"executable":"x","env":{"TOKEN":")") + kSecret + R"("})";
  const Args good = EncodedSpec(SampleSpec());  // num-parts, part-0, sha256, version
  const std::string part0 = good[1];
  const std::string sha = good[2];
  const std::string three_parts_b64 = Base64Encode(secret_json + std::string(200000, ' '));
  std::vector<BadCase> cases = {
      {"NoArgs", {}, ErrorKind::kFlags, "missing --spec-version"},
      {"UnknownFlag",
       {good[0], part0, sha, good[3], "--spec-color=red"},
       ErrorKind::kFlags,
       "unknown flag --spec-color"},
      {"PositionalArgument",
       {good[0], part0, "stray", good[3]},
       ErrorKind::kFlags,
       "unexpected argument #3"},
      {"BareDashes", {"--", good[0], part0, good[3]}, ErrorKind::kFlags, "unexpected argument #1"},
      {"VersionTwice",
       {good[0], part0, good[3], "--spec-version=1"},
       ErrorKind::kFlags,
       "--spec-version given twice"},
      {"NumPartsInBothSpellings",
       {good[0], "--spec-num-chunks=1", part0, good[3]},
       ErrorKind::kFlags,
       "given twice"},
      {"ValueMissingAtEnd",
       {good[0], part0, "--spec-version"},
       ErrorKind::kFlags,
       "--spec-version needs a value"},
      {"ValueMissingBeforeFlag",
       {"--spec-version", good[0], part0},
       ErrorKind::kFlags,
       "--spec-version needs a value"},
      {"MissingNumParts", {part0, good[3]}, ErrorKind::kFlags, "missing --spec-num-parts"},
      {"ZeroParts",
       {"--spec-num-parts=0", part0, good[3]},
       ErrorKind::kFlags,
       "--spec-num-parts must be in 1..65536, got \"0\""},
      {"NonNumericParts",
       {"--spec-num-parts=two", part0, good[3]},
       ErrorKind::kFlags,
       "got \"two\""},
      {"LeadingZeroParts",
       {"--spec-num-parts=01", part0, good[3]},
       ErrorKind::kFlags,
       "got \"01\""},
      {"TooManyParts",
       {"--spec-num-parts=65537", part0, good[3]},
       ErrorKind::kFlags,
       "got \"65537\""},
      {"MissingPart",
       {"--spec-version=1", "--spec-num-parts=3",
        "--spec-part-0=" + three_parts_b64.substr(0, kMaxPartChars),
        "--spec-part-2=" + three_parts_b64.substr(2 * kMaxPartChars)},
       ErrorKind::kFlags,
       "missing part 1 of 3 (--spec-part-1)"},
      {"ExtraPart",
       {good[0], part0, "--spec-part-1=QUJD", good[3]},
       ErrorKind::kFlags,
       "unexpected part 1: --spec-num-parts is 1"},
      {"BadPartIndex",
       {good[0], part0, "--spec-part-x=QUJD", good[3]},
       ErrorKind::kFlags,
       "bad part index in --spec-part-x"},
      {"PartIndexWithNewline",
       {good[0], part0, "--spec-part-0\n1=QUJD", good[3]},
       ErrorKind::kFlags,
       "bad part index in \"--spec-part-0\\x0a1\""},
      {"LeadingZeroPartIndex",
       {good[0], part0, "--spec-part-00=QUJD", good[3]},
       ErrorKind::kFlags,
       "bad part index"},
      {"PartInBothSpellings",
       {good[0], part0, "--spec-chunk-0=QUJD", good[3]},
       ErrorKind::kFlags,
       "part 0 given twice"},
      {"MalformedChecksum",
       {good[0], part0, "--spec-sha256=abc", good[3]},
       ErrorKind::kFlags,
       "--spec-sha256 must be 64 hex digits, got \"abc\""},
      {"ChecksumMismatch",
       {good[0], part0, "--spec-sha256=" + std::string(64, '0'), good[3]},
       ErrorKind::kChecksum,
       "expected sha256 000000000000..., got " + sha.substr(14, 12)},
      {"UnknownVersion",
       {good[0], part0, sha, "--spec-version=4"},
       ErrorKind::kVersion,
       "\"4\" (supported: 0 to 3)"},
      {"EmptyVersion", {good[0], part0, sha, "--spec-version="}, ErrorKind::kVersion, "\"\""},
      {"UnknownVersionWinsOverUnknownFlag",
       {"--spec-shiny=1", "--spec-version=7"},
       ErrorKind::kVersion,
       "\"7\""},
      {"Base64BadCharacterNamesPart",
       {"--spec-version=1", "--spec-num-parts=2", "--spec-part-0=QUJD", "--spec-part-1=QU*D"},
       ErrorKind::kBase64,
       "invalid character '*' at offset 2 of part 1"},
      {"Base64BadLength",
       {"--spec-version=1", "--spec-num-parts=1", "--spec-part-0=QUJDR"},
       ErrorKind::kBase64,
       "length 5 is not a multiple of 4"},
      {"Base64PaddingInTheMiddle",
       {"--spec-version=1", "--spec-num-parts=2", "--spec-part-0=QQ==", "--spec-part-1=QUJD"},
       ErrorKind::kBase64,
       "padding '=' before the end at offset 2 of part 0"},
      {"TruncatedJsonDoesNotLeakEnv", Encoded(secret_json.substr(0, secret_json.size() - 2)),
       ErrorKind::kJson, "missing closing quote at offset 50 of 50 bytes"},
      {"JsonGarbageWithOffset", Encoded(R"({"executable": nope})"), ErrorKind::kJson,
       "invalid literal at offset 16 of 20 bytes"},
      {"NotJsonAtAll", Encoded(""), ErrorKind::kJson, "of 0 bytes"},
      {"JsonInvalidUtf8", Encoded("{\"executable\":\"\xff\"}"), ErrorKind::kJson, "UTF-8"},
      {"DocumentNotObject", Encoded(R"(["x"])"), ErrorKind::kSpec,
       "the document must be an object, got array"},
      {"MissingExecutable", Encoded(R"({"args":[]})"), ErrorKind::kSpec, "missing \"executable\""},
      {"ExecutableNotString", Encoded(R"({"executable":1})"), ErrorKind::kSpec,
       "\"executable\" must be a string, got number"},
      {"EmptyExecutable", Encoded(R"({"executable":""})"), ErrorKind::kSpec,
       "\"executable\" is empty"},
      {"ArgsNotArray", Encoded(R"({"executable":"x","args":"a b"})"), ErrorKind::kSpec,
       "\"args\" must be an array of strings, got string"},
      {"ArgNotString", Encoded(R"({"executable":"x","args":["a",2]})"), ErrorKind::kSpec,
       "args[1] must be a string, got number"},
      {"ArgWithNul", Encoded(R"({"executable":"x","args":["a\u0000b"]})"), ErrorKind::kSpec,
       "args[0] contains a NUL byte"},
      {"EnvNotObject", Encoded(R"({"executable":"x","env":["A=1"]})"), ErrorKind::kSpec,
       "\"env\" must be an object of strings, got array"},
      {"EnvValueNotString", Encoded(R"({"executable":"x","env":{"A":1}})"), ErrorKind::kSpec,
       "env \"A\" must be a string, got number"},
      {"EnvNameStartsWithDigit",
       Encoded(std::string(R"({"executable":"x","env":{"1A":")") + kSecret + "\"}}"),
       ErrorKind::kSpec, "invalid env name \"1A\""},
      {"EnvNameWithEquals",
       Encoded(std::string(R"({"executable":"x","env":{"A=B":")") + kSecret + "\"}}"),
       ErrorKind::kSpec, "invalid env name \"A=B\""},
      {"EnvNameEmpty", Encoded(R"({"executable":"x","env":{"":"v"}})"), ErrorKind::kSpec,
       "invalid env name \"\""},
      {"EnvValueWithNul", Encoded(R"({"executable":"x","env":{"A":"v\u0000S3CR3T-env-value"}})"),
       ErrorKind::kSpec, "the value of env \"A\" contains a NUL byte"},
      {"WorkDirNotString", Encoded(R"({"executable":"x","work_dir":7})"), ErrorKind::kSpec,
       "\"work_dir\" must be a string or null, got number"},
      {"ShellAsPath", Encoded(R"({"executable":"x","shell":"/bin/bash"})"), ErrorKind::kSpec,
       "\"shell\" must be a boolean or null, got string"},
  };
  return cases;
}

class BadInputTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInputTest, FailsWithOneLineNamingTheProblem) {
  const BadCase& c = GetParam();
  auto decoded = DecodeArgv(c.args);
  ASSERT_FALSE(decoded.ok());
  const Status status = decoded.status();
  const std::string& message = status.message();
  EXPECT_EQ(KindOf(status), c.kind) << message;
  EXPECT_TRUE(message.starts_with(std::string(ErrorKindPrefix(c.kind)) + ": ")) << message;
  EXPECT_THAT(message, HasSubstr(c.message_part));
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_THAT(message, Not(HasSubstr(kSecret)));
  EXPECT_THAT(message, Not(HasSubstr("last read")));
}

INSTANTIATE_TEST_SUITE_P(AllCases, BadInputTest, ::testing::ValuesIn(BadCases()),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(LaunchSpecTest, ValidateRejectsDuplicateEnvNamesWithoutPrintingValues) {
  LaunchSpec spec = SampleSpec();
  spec.env.emplace_back("TOKEN", "other-secret");
  Status s = Validate(spec);
  EXPECT_EQ(KindOf(s), ErrorKind::kSpec);
  EXPECT_THAT(s.message(), HasSubstr("env \"TOKEN\" given twice"));
  EXPECT_THAT(s.message(), Not(HasSubstr(kSecret)));
  EXPECT_THAT(s.message(), Not(HasSubstr("other-secret")));
  EXPECT_TRUE(Validate(SampleSpec()).ok());
}

TEST(LaunchSpecTest, ValidateAcceptsKubernetesStyleEnvNames) {
  LaunchSpec spec;
  spec.executable = "x";
  spec.env = {{"_A", ""}, {"a.b-c", "1"}, {"X9", "2"}, {".hidden", "3"}};
  EXPECT_TRUE(Validate(spec).ok()) << Validate(spec).ToString();
}

TEST(LaunchSpecTest, MaskedJsonHidesEnvValues) {
  const std::string json = ToMaskedJson(SampleSpec());
  EXPECT_THAT(json, Not(HasSubstr(kSecret)));
  EXPECT_THAT(json, HasSubstr("\"TOKEN\": \"***\""));
  EXPECT_THAT(json, HasSubstr("\"MLSPACE_RUN\": \"***\""));
  EXPECT_THAT(json, HasSubstr("train.py"));
}

TEST(LaunchSpecTest, KindOfIgnoresForeignStatuses) {
  EXPECT_EQ(KindOf(OkStatus()), ErrorKind::kNone);
  EXPECT_EQ(KindOf(InvalidArgumentError("bad flags but not ours")), ErrorKind::kNone);
  EXPECT_EQ(KindOf(InvalidArgumentError("bad flags: x")), ErrorKind::kFlags);
}

TEST(LaunchSpecTest, QuoteEscapesAndTruncates) {
  EXPECT_EQ(Quote("a\"b\n"), "\"a\\x22b\\x0a\"");
  EXPECT_EQ(Quote("abcdef", 3), "\"abc...\"");
}

// --- the fast JSON reader against the reference (nlohmann) -------------------

// A JSON fragment for anything the spec may hold: strings (with escapes,
// non-ASCII, invalid UTF-8), literals, numbers, nested containers, and
// objects with repeated keys.
std::string RandomJsonValue(std::mt19937_64& rng, int depth) {
  static const char* const kAtoms[] = {"null",
                                       "true",
                                       "false",
                                       "0",
                                       "-1",
                                       "1e400",
                                       "1.5",
                                       "18446744073709551616",
                                       "\"\"",
                                       "\"a\\u0041\\n\"",
                                       "\"\\uD83D\\uDE00\"",
                                       "\"\\udc00\"",
                                       "\"\\uD800\"",
                                       "\"\xc3\xa9\xe2\x82\xac\"",
                                       "\"\xed\xa0\x80\"",
                                       "\"\xc0\xaf\"",
                                       "\"\xf4\x90\x80\x80\"",
                                       "\"\\\\u00dc\"",
                                       "\"x\\u0000y\""};
  const int kind = std::uniform_int_distribution<int>(0, depth > 3 ? 1 : 4)(rng);
  if (kind == 0)
    return kAtoms[std::uniform_int_distribution<std::size_t>(0, std::size(kAtoms) - 1)(rng)];
  if (kind == 1) return "\"" + RandomText(rng, rng() % 12) + "\"";  // may hold raw control chars
  const int n = std::uniform_int_distribution<int>(0, 4)(rng);
  std::string out;
  if (kind == 2) {
    out = "[";
    for (int i = 0; i < n; ++i) out += (i ? "," : "") + RandomJsonValue(rng, depth + 1);
    return out + "]";
  }
  static const char* const kKeys[] = {"executable", "args", "env", "work_dir", "shell",
                                      "image",      "A",    "B",   "PATH",     "1A"};
  out = "{";
  for (int i = 0; i < n; ++i) {
    out += i ? "," : "";
    out += "\"" + std::string(kKeys[rng() % std::size(kKeys)]) +
           "\":" + RandomJsonValue(rng, depth + 1);
  }
  return out + "}";
}

// A document close to a spec: the known keys (some repeated, some with the
// wrong type), sometimes damaged byte-wise.
std::string RandomSpecDocument(std::mt19937_64& rng) {
  std::string doc;
  if (rng() % 3 == 0) {
    doc = ToJson(RandomSpec(rng, rng() % 200, rng() % 4, rng() % 4));
  } else {
    doc = "{";
    const int n = std::uniform_int_distribution<int>(1, 7)(rng);
    for (int i = 0; i < n; ++i) {
      static const char* const kKeys[] = {"executable", "args",  "env",
                                          "work_dir",   "shell", "image"};
      const std::string key = kKeys[rng() % std::size(kKeys)];
      std::string value;
      if (key == "args" && rng() % 2) {
        value = "[\"a\",\"" + RandomText(rng, 5) + "\"]";
      } else if (key == "env" && rng() % 2) {
        value = R"({"A":"1","B":"2","A":"3"})";
      } else if (rng() % 2) {
        value = "\"" + RandomText(rng, 6) + "\"";
      } else {
        value = RandomJsonValue(rng, 1);
      }
      doc += (i ? "," : "") + std::string(rng() % 4 == 0 ? " " : "") + "\"" + key + "\":" + value;
    }
    doc += "}";
  }
  const int damage = std::uniform_int_distribution<int>(0, 9)(rng);
  if (damage < 3 && !doc.empty()) {
    const std::size_t at = rng() % doc.size();
    switch (damage) {
      case 0:
        doc[at] = static_cast<char>(rng() % 256);
        break;
      case 1:
        doc.erase(at, 1 + rng() % 3);
        break;
      case 2:
        doc.resize(at);
        break;
    }
  } else if (damage == 3) {
    doc += rng() % 2 ? " \n\t" : "x";
  }
  return doc;
}

std::string Describe(const Result<LaunchSpec>& r) {
  if (!r.ok()) return "error: " + r.status().message();
  return "spec: " + ToJson(*r) + (r->shell ? " shell" : "");
}

TEST(LaunchSpecTest, FastJsonReaderAgreesWithNlohmannOrDefersToIt) {
  std::mt19937_64 rng(20261127);
  int fast_ok = 0;
  int fast_error = 0;
  int deferred = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string doc = RandomSpecDocument(rng);
    std::string buffer = doc;
    const auto fast = FastFromJson(buffer);
    const Result<LaunchSpec> reference = ReferenceFromJson(doc);
    const Result<LaunchSpec> public_answer = FromJson(doc);
    ASSERT_EQ(Describe(public_answer), Describe(reference)) << Quote(doc, 400);
    if (!fast) {
      ++deferred;
      continue;
    }
    ASSERT_EQ(Describe(*fast), Describe(reference)) << Quote(doc, 400);
    ++(fast->ok() ? fast_ok : fast_error);
  }
  // The fast path must answer a good share, with specs and spec errors alike.
  std::printf("fast path: %d specs, %d errors; deferred to nlohmann: %d\n", fast_ok, fast_error,
              deferred);
  EXPECT_GT(fast_ok, 1000);
  EXPECT_GT(fast_error, 500);
  EXPECT_GT(deferred, 500);
}

TEST(LaunchSpecTest, FastJsonReaderKeepsFirstPositionAndLastValueOfRepeatedKeys) {
  std::string doc =
      R"({"executable":"a","env":{"B":"1","A":"2","B":"3"},"executable":"b","args":["x"]})";
  const auto fast = FastFromJson(doc);
  ASSERT_TRUE(fast.has_value());
  ASSERT_TRUE(fast->ok()) << fast->status().ToString();
  EXPECT_EQ((*fast)->executable, "b");
  const std::vector<std::pair<std::string, std::string>> env = {{"B", "3"}, {"A", "2"}};
  EXPECT_EQ((*fast)->env, env);
}

TEST(LaunchSpecTest, FastJsonReaderDefersNulBytesNumbersAndLowSurrogates) {
  for (std::string doc :
       {std::string(R"({"executable":"x"})") + '\0' + "junk",
        std::string(R"({"executable":"x","image":1})"), std::string(R"({"executable":"\udc00"})"),
        std::string("{\"executable\":\"x\x1a\"}")}) {
    std::string buffer = doc;
    EXPECT_FALSE(FastFromJson(buffer).has_value()) << Quote(doc);
    EXPECT_EQ(Describe(FromJson(doc)), Describe(ReferenceFromJson(doc))) << Quote(doc);
  }
  EXPECT_FALSE(FromJson(R"({"executable":"\udc00"})").ok());
  EXPECT_FALSE(FromJson("{\"executable\":\"x\x1a\"}").ok());
  // Other escapes (the encoder's, for control characters) stay on the fast
  // path and read as nlohmann reads them.
  std::string doc = R"({"executable":"a\u0001\u00e9\n\/"})";
  const auto fast = FastFromJson(doc);
  ASSERT_TRUE(fast.has_value());
  ASSERT_TRUE(fast->ok()) << fast->status().ToString();
  EXPECT_EQ((*fast)->executable, "a\x01\xc3\xa9\n/");
}

TEST(LaunchSpecTest, ToJsonWritesExactlyWhatNlohmannWrites) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 2000; ++i) {
    LaunchSpec spec = RandomSpec(rng, rng() % 300, rng() % 5, rng() % 4);
    if (i % 3 == 0) {  // plain ASCII only: the copying path
      for (auto& arg : spec.args) {
        for (char& c : arg) c = static_cast<char>('a' + static_cast<unsigned char>(c) % 26);
      }
    }
    if (i % 7 == 0 && !spec.args.empty()) spec.args[0] += "\xff\xc3";            // invalid UTF-8
    if (i % 11 == 0 && !spec.env.empty()) spec.env.push_back(spec.env.front());  // repeated
    if (i % 13 == 0) spec.work_dir.clear();
    ASSERT_EQ(ToJson(spec), ReferenceToJson(spec)) << i;
  }
}

// The decoder reads the parts in place: 4-character groups, padding and a
// bad character may sit anywhere relative to part boundaries.
TEST(LaunchSpecTest, DecodesPartsOfAnySizeAndNamesThePartOfABadCharacter) {
  std::mt19937_64 rng(5);
  for (int round = 0; round < 300; ++round) {
    const LaunchSpec spec = RandomSpec(rng, rng() % 120, rng() % 3, rng() % 2);
    const std::string b64 = Base64Encode(ToJson(spec));
    std::vector<std::string> parts;
    for (std::size_t at = 0; at < b64.size();) {
      const std::size_t n = std::min<std::size_t>(rng() % 10, b64.size() - at);  // 0: empty part
      parts.push_back(b64.substr(at, n));
      at += n;
    }
    if (rng() % 4 == 0) parts.emplace_back();  // the seed client's trailing empty chunk
    auto argv_for = [&](const std::vector<std::string>& ps, const std::string& text) {
      Args argv = {"--spec-version=1", "--spec-num-parts=" + std::to_string(ps.size()),
                   "--spec-sha256=" + Sha256Hex(text)};
      for (std::size_t i = 0; i < ps.size(); ++i) {
        argv.push_back("--spec-part-" + std::to_string(i) + "=" + ps[i]);
      }
      return argv;
    };
    auto decoded = DecodeArgv(argv_for(parts, b64));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_TRUE(*decoded == spec);

    // A bad character at a random place of the body (never in the padding).
    const std::size_t body = b64.size() - (b64.ends_with("==") ? 2 : b64.ends_with("=") ? 1 : 0);
    std::size_t at = rng() % body;
    std::size_t k = 0;
    while (at >= parts[k].size()) at -= parts[k++].size();
    std::vector<std::string> bad = parts;
    bad[k][at] = '*';
    std::string bad_text;
    for (const auto& part : bad) bad_text += part;
    decoded = DecodeArgv(argv_for(bad, bad_text));
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().message(), "bad base64: invalid character '*' at offset " +
                                              std::to_string(at) + " of part " + std::to_string(k));
  }
}

TEST(LaunchSpecTest, DecodeArgsOverViewsMatchesDecodeArgv) {
  std::mt19937_64 rng(7);
  const Args argv = FlagsToArgv(EncodeFlags(RandomSpec(rng, 300000, 5, 3)));
  const std::vector<std::string_view> views(argv.begin(), argv.end());
  auto a = DecodeArgv(argv);
  auto b = DecodeArgs(views);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(*a == *b);
}

}  // namespace
}  // namespace mlspace::launchspec

namespace mlspace::launchspec {
namespace {

LaunchSpec V2Spec() {
  LaunchSpec spec = SampleSpec();
  spec.env = {{"MLSPACE_RUN", "1"}};
  spec.env_from = {"WANDB_API_KEY", "HF_TOKEN"};
  spec.files = {{"conf/train.yaml", "lr: 0.1\n", "", 0644},
                {"~/.netrc", "", "MLSPACE_FILE_1", 0600},
                {"/home/jovyan/empty", "", "", 0400}};
  return spec;
}

// Flags as a given version with the document written by hand.
Args ArgsFor(const std::string& version, const std::string& json) {
  LaunchSpec any;
  any.executable = "x";
  Flags flags = EncodeFlags(any);
  const std::string b64 = Base64Encode(json);
  flags["spec-version"] = version;
  flags["spec-part-0"] = b64;
  flags["spec-sha256"] = Sha256Hex(b64);
  return FlagsToArgv(flags);
}

TEST(LaunchSpecV2Test, SpecWithEnvFromOrFilesIsVersion2AndRoundTrips) {
  const LaunchSpec spec = V2Spec();
  const Flags flags = EncodeFlags(spec);
  EXPECT_EQ(flags.at("spec-version"), "2");
  ASSERT_TRUE(Validate(spec).ok()) << Validate(spec).ToString();
  auto decoded = DecodeArgv(FlagsToArgv(flags));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(*decoded == spec);
  // Both the seed spelling and shuffled flags read version 2 alike.
  std::mt19937_64 rng(2);
  ExpectRoundTripAnyVersion(spec, rng);
  EXPECT_EQ(ToJson(spec), ReferenceToJson(spec));
}

TEST(LaunchSpecV2Test, SpecWithoutThemStaysVersion1ForOlderLaunchers) {
  EXPECT_EQ(EncodeFlags(SampleSpec()).at("spec-version"), "1");
  EXPECT_EQ(ToJson(SampleSpec()).find("env_from"), std::string::npos);
  EXPECT_EQ(ToJson(SampleSpec()).find("files"), std::string::npos);
}

TEST(LaunchSpecV2Test, Version0And1IgnoreTheVersion2Fields) {
  const std::string doc = R"({"executable":"x","env":{"A":"1"},"work_dir":null,"env_from":["B"],)"
                          R"("files":[{"path":"f","content":"c"}]})";
  for (const std::string version : {"0", "1"}) {
    auto decoded = DecodeArgv(ArgsFor(version, doc));
    ASSERT_TRUE(decoded.ok()) << version << decoded.status().ToString();
    EXPECT_TRUE(decoded->env_from.empty()) << version;
    EXPECT_TRUE(decoded->files.empty()) << version;
  }
  auto v2 = DecodeArgv(ArgsFor("2", doc));
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v2->env_from, std::vector<std::string>{"B"});
  ASSERT_EQ(v2->files.size(), 1u);
  EXPECT_EQ(v2->files[0].content, "c");
  EXPECT_EQ(v2->files[0].mode, 0644u);
  // Even a malformed "files" is just an unknown key below version 2.
  EXPECT_TRUE(DecodeArgv(ArgsFor("1", R"({"executable":"x","files":7})")).ok());
}

TEST(LaunchSpecV2Test, Version2FieldErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"executable":"x","env_from":"A"})", "\"env_from\" must be an array of strings"},
      {R"({"executable":"x","env_from":[1]})", "env_from[0] must be a string"},
      {R"({"executable":"x","files":[{"content":"c"}]})", "files[0]: missing \"path\""},
      {R"({"executable":"x","files":[{"path":"a","content":"c","content_env":"E"}]})",
       "files[0]: both \"content\" and \"content_env\""},
      {R"({"executable":"x","files":[{"path":"a","mode":"0999"}]})",
       "files[0].mode must be octal 0..0777"},
      {R"({"executable":"x","files":[{"path":"a","mode":420}]})",
       "files[0].mode must be an octal string"},
      {R"({"executable":"x","files":[{"path":"a/../../b"}]})", "has a \"..\""},
      {R"({"executable":"x","files":[{"path":""}]})", "files[0].path is empty"},
      {R"({"executable":"x","files":[{"path":"d/"}]})", "names a directory"},
      {R"({"executable":"x","files":[{"path":"a","content_env":"1X"}]})", "not a variable name"},
      {R"({"executable":"x","env":{"A":"1"},"env_from":["A"]})", "env \"A\" given twice"},
  };
  for (const auto& [doc, want] : cases) {
    auto decoded = DecodeArgv(ArgsFor("2", doc));
    ASSERT_FALSE(decoded.ok()) << doc;
    EXPECT_EQ(KindOf(decoded.status()), ErrorKind::kSpec) << doc;
    EXPECT_THAT(decoded.status().message(), HasSubstr(want)) << doc;
  }
}

TEST(LaunchSpecV3Test, KeepOrAppendMakesVersion3AndRoundTrips) {
  LaunchSpec spec = V2Spec();
  spec.files[1].write = FileWrite::kKeepExisting;
  spec.files[2].write = FileWrite::kAppendLines;
  const Flags flags = EncodeFlags(spec);
  EXPECT_EQ(flags.at("spec-version"), "3");
  auto decoded = DecodeArgv(FlagsToArgv(flags));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(*decoded == spec);
  EXPECT_EQ(ToJson(spec), ReferenceToJson(spec));
  EXPECT_THAT(ToJson(spec), HasSubstr(R"("write":"keep")"));
  EXPECT_THAT(ToMaskedJson(spec), HasSubstr(R"("write": "append")"));
  // Replace is the default and is never written: version 2 stays version 2.
  EXPECT_THAT(ToJson(V2Spec()), Not(HasSubstr("write")));
}

TEST(LaunchSpecV3Test, Version2IgnoresWriteAndVersion3ChecksIt) {
  const std::string doc = R"({"executable":"x","files":[{"path":"f","write":"append"}]})";
  auto v2 = DecodeArgv(ArgsFor("2", doc));
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v2->files.at(0).write, FileWrite::kReplace);
  auto v3 = DecodeArgv(ArgsFor("3", doc));
  ASSERT_TRUE(v3.ok()) << v3.status().ToString();
  EXPECT_EQ(v3->files.at(0).write, FileWrite::kAppendLines);
  for (const auto& [bad, want] : std::vector<std::pair<std::string, std::string>>{
           {R"({"executable":"x","files":[{"path":"f","write":"merge"}]})",
            R"(files[0].write must be "replace", "append" or "keep", got "merge")"},
           {R"({"executable":"x","files":[{"path":"f","write":1}]})",
            "files[0].write must be a string"}}) {
    auto decoded = DecodeArgv(ArgsFor("3", bad));
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(KindOf(decoded.status()), ErrorKind::kSpec) << bad;
    EXPECT_THAT(decoded.status().message(), HasSubstr(want)) << bad;
  }
}

TEST(LaunchSpecV2Test, MaskedJsonHidesSecretFileContentAndHasNoSecretValues) {
  LaunchSpec spec = V2Spec();
  const std::string masked = ToMaskedJson(spec);
  EXPECT_THAT(masked, HasSubstr("\"content_env\": \"MLSPACE_FILE_1\""));
  EXPECT_THAT(masked, HasSubstr("\"content\": \"***\""));
  EXPECT_THAT(masked, HasSubstr("\"mode\": \"0600\""));
  EXPECT_THAT(masked, HasSubstr("WANDB_API_KEY"));
  EXPECT_THAT(masked, HasSubstr("lr: 0.1"));  // inline content is not secret
}

}  // namespace
}  // namespace mlspace::launchspec
