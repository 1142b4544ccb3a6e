// The launcher's fast JSON reader. nlohmann's lexer appends to a std::string
// one character at a time, which made it half of mlspace-launch's CPU for a
// 1 MB spec. RapidJSON parses the decoded buffer in place (strings are
// unescaped where they lie, unescaped runs are skipped 16 bytes at a time), so
// the only copy left is the one into LaunchSpec.
//
// nlohmann stays the reference reader: FromJson's results and error messages
// are defined by it. The fast path only answers for documents it reads exactly
// as nlohmann would; everything else goes to nlohmann (see NeedsReference).
// A differential test (tests/launchspec) checks the two agree.

// SSE2 is part of x86-64; RapidJSON uses it to skip unescaped string runs.
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "controller/launchspec/internal.h"
#include "controller/launchspec/launch_spec.h"

namespace mlspace::launchspec {

namespace {

using Value = rapidjson::Value;

// Cases where RapidJSON and nlohmann could disagree, so nlohmann decides:
// - a NUL byte: RapidJSON's in-place reader takes it as the end of input;
// - an escape \uDC00..\uDFFF: RapidJSON 1.1 turns a lone low surrogate into
//   bytes nlohmann rejects. Any "\u" followed by [dD][c-fC-F] counts (an
//   escaped backslash before a 'u' may match too: that only costs speed).
//   Other \u escapes (the encoder writes them for control characters) are
//   read alike by both.
bool NeedsReference(std::string_view json) {
  if (std::memchr(json.data(), '\0', json.size()) != nullptr) return true;
  for (std::size_t at = json.find("\\u"); at != std::string_view::npos;
       at = json.find("\\u", at + 2)) {
    if (at + 3 >= json.size()) return true;
    const char c1 = json[at + 2];
    const char c2 = json[at + 3];
    if ((c1 == 'd' || c1 == 'D') && ((c2 >= 'c' && c2 <= 'f') || (c2 >= 'C' && c2 <= 'F'))) {
      return true;
    }
  }
  return false;
}

struct ByteClasses {
  bool non_ascii = false;
  // 0x1a..0x1f: Debian's RapidJSON 1.1.0 SSE2 string scan compares against
  // 0x19 instead of 0x1f and lets these raw control characters into strings,
  // which JSON (and nlohmann) reject.
  bool missed_control = false;
};

ByteClasses ClassifyBytes(std::string_view text) {
  unsigned high = 0;
  unsigned control = 0;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    high |= u;
    control |= static_cast<unsigned char>(u - 0x1a) < 6 ? 1u : 0u;
  }
  return {high >= 0x80, control != 0};
}

std::string_view TypeName(const Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "boolean";
    case rapidjson::kObjectType:
      return "object";
    case rapidjson::kArrayType:
      return "array";
    case rapidjson::kStringType:
      return "string";
    case rapidjson::kNumberType:
      return "number";
  }
  return "unknown";
}

std::string_view View(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

// Numbers decide nothing in a valid spec, but the two readers differ on
// their edges (overflow, precision): any number sends the document to
// nlohmann. The walk is iterative, as deep nesting is attacker-controlled.
bool HasNumber(const Value& root) {
  std::vector<const Value*> stack = {&root};
  while (!stack.empty()) {
    const Value* v = stack.back();
    stack.pop_back();
    if (v->IsNumber()) return true;
    if (v->IsArray()) {
      for (const Value& item : v->GetArray()) {
        if (item.IsNumber()) return true;
        if (item.IsArray() || item.IsObject()) stack.push_back(&item);
      }
    } else if (v->IsObject()) {
      for (const auto& member : v->GetObject()) {
        if (member.value.IsNumber()) return true;
        if (member.value.IsArray() || member.value.IsObject()) stack.push_back(&member.value);
      }
    }
  }
  return false;
}

Status TypeError(std::string_view field, std::string_view want, const Value& got) {
  return KindError(ErrorKind::kSpec, std::string(field) + " must be " + std::string(want) +
                                         ", got " + std::string(TypeName(got)));
}

// The members of an object as nlohmann's ordered_json keeps them: a key given
// twice keeps its first position and its last value.
std::vector<std::pair<std::string_view, const Value*>> Members(const Value& object) {
  std::vector<std::pair<std::string_view, const Value*>> members;
  members.reserve(object.MemberCount());
  std::unordered_map<std::string_view, std::size_t> index;
  for (const auto& member : object.GetObject()) {
    const std::string_view name = View(member.name);
    auto [it, inserted] = index.emplace(name, members.size());
    if (inserted) {
      members.emplace_back(name, &member.value);
    } else {
      members[it->second].second = &member.value;
    }
  }
  return members;
}

// Mirrors SpecFromDocument (launch_spec.cc) check for check.
Result<LaunchSpec> SpecFromValue(const Value& doc) {
  if (!doc.IsObject()) return TypeError("the document", "an object", doc);
  const Value* exe = nullptr;
  const Value* args = nullptr;
  const Value* env = nullptr;
  const Value* dir = nullptr;
  const Value* shell = nullptr;
  for (const auto& member : doc.GetObject()) {
    const std::string_view name = View(member.name);
    if (name == "executable") {
      exe = &member.value;
    } else if (name == "args") {
      args = &member.value;
    } else if (name == "env") {
      env = &member.value;
    } else if (name == "work_dir") {
      dir = &member.value;
    } else if (name == "shell") {
      shell = &member.value;
    }
  }
  LaunchSpec spec;
  if (exe == nullptr) return KindError(ErrorKind::kSpec, "missing \"executable\"");
  if (!exe->IsString()) return TypeError("\"executable\"", "a string", *exe);
  spec.executable.assign(View(*exe));

  if (args != nullptr && !args->IsNull()) {
    if (!args->IsArray()) return TypeError("\"args\"", "an array of strings", *args);
    spec.args.reserve(args->Size());
    for (rapidjson::SizeType i = 0; i < args->Size(); ++i) {
      const Value& arg = (*args)[i];
      if (!arg.IsString()) return TypeError("args[" + std::to_string(i) + "]", "a string", arg);
      spec.args.emplace_back(View(arg));
    }
  }
  if (env != nullptr && !env->IsNull()) {
    if (!env->IsObject()) return TypeError("\"env\"", "an object of strings", *env);
    const auto members = Members(*env);
    spec.env.reserve(members.size());
    for (const auto& [name, value] : members) {
      if (!value->IsString()) return TypeError("env " + Quote(name), "a string", *value);
      spec.env.emplace_back(std::string(name), std::string(View(*value)));
    }
  }
  if (dir != nullptr && !dir->IsNull()) {
    if (!dir->IsString()) return TypeError("\"work_dir\"", "a string or null", *dir);
    spec.work_dir.assign(View(*dir));
  }
  if (shell != nullptr && !shell->IsNull()) {
    if (!shell->IsBool()) return TypeError("\"shell\"", "a boolean or null", *shell);
    spec.shell = shell->GetBool();
  }
  return spec;
}

}  // namespace

std::optional<Result<LaunchSpec>> FastFromJson(std::string& json) {
  if (NeedsReference(json)) return std::nullopt;
  const ByteClasses bytes = ClassifyBytes(json);
  if (bytes.missed_control) return std::nullopt;
  // The SSE2 scan reads aligned 16-byte blocks and may pass the terminator;
  // keep those bytes inside the allocation.
  json.reserve(json.size() + 16);
  constexpr unsigned kFlags = rapidjson::kParseInsituFlag | rapidjson::kParseIterativeFlag;
  rapidjson::Document doc;
  if (!bytes.non_ascii) {
    doc.ParseInsitu<kFlags>(json.data());
  } else {
    // Validation disables the SIMD scan, so only text that needs it pays.
    doc.ParseInsitu<kFlags | rapidjson::kParseValidateEncodingFlag>(json.data());
  }
  // The buffer is now unescaped in place: on any doubt the caller re-reads
  // its own copy, never this one.
  if (doc.HasParseError() || HasNumber(doc)) return std::nullopt;
  return SpecFromValue(doc);
}

}  // namespace mlspace::launchspec
