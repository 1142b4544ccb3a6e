#include "controller/launchspec/launch_spec.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/core/json_text.h"
#include "controller/core/rapidjson_include.h"
#include "controller/launchspec/internal.h"

namespace mlspace::launchspec {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kVersionFlag = "spec-version";
constexpr std::string_view kNumPartsFlag = "spec-num-parts";
constexpr std::string_view kNumChunksFlag = "spec-num-chunks";
constexpr std::string_view kPartPrefix = "spec-part-";
constexpr std::string_view kChunkPrefix = "spec-chunk-";
constexpr std::string_view kShaFlag = "spec-sha256";
constexpr std::string_view kShaSumFlag = "spec-sha256sum";

// Flags as found on the command line; views point into the caller's args.
struct RawFlags {
  std::optional<std::string_view> version;
  std::optional<std::string_view> num_parts;
  std::optional<std::string_view> sha256;
  std::vector<std::pair<std::uint64_t, std::string_view>> parts;  // index, text
};

// Decimal without sign or leading zeros; nullopt otherwise.
std::optional<std::uint64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// "--key" for messages; quoted and escaped unless short and plain.
std::string FlagName(std::string_view key) {
  const bool plain = key.size() <= 64 && std::all_of(key.begin(), key.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                     });
  std::string name = "--";
  name.append(key);
  return plain ? name : Quote(name, 64);
}

bool IsSpecKey(std::string_view key) {
  return key == kVersionFlag || key == kNumPartsFlag || key == kNumChunksFlag || key == kShaFlag ||
         key == kShaSumFlag || key.starts_with(kPartPrefix) || key.starts_with(kChunkPrefix);
}

// Records the first error, keeps scanning (so a version error can win).
struct FlagScanner {
  RawFlags flags;
  Status first_error;
  std::set<std::uint64_t> seen_parts;

  void Fail(const std::string& detail) {
    if (first_error.ok()) first_error = KindError(ErrorKind::kFlags, detail);
  }

  void SetOnce(std::optional<std::string_view>& slot, std::string_view key,
               std::string_view value) {
    if (slot) {
      Fail("--" + std::string(key) + " given twice (or in both spellings)");
      return;
    }
    slot = value;
  }

  void Add(std::string_view key, std::string_view value) {
    if (key == kVersionFlag) return SetOnce(flags.version, key, value);
    if (key == kNumPartsFlag || key == kNumChunksFlag) return SetOnce(flags.num_parts, key, value);
    if (key == kShaFlag || key == kShaSumFlag) return SetOnce(flags.sha256, key, value);
    std::string_view index_text;
    if (key.starts_with(kPartPrefix)) {
      index_text = key.substr(kPartPrefix.size());
    } else if (key.starts_with(kChunkPrefix)) {
      index_text = key.substr(kChunkPrefix.size());
    } else {
      return Fail("unknown flag " + FlagName(key));
    }
    auto index = ParseDecimal(index_text);
    if (!index || *index > UINT32_MAX) {
      return Fail("bad part index in " + FlagName(key));
    }
    if (!seen_parts.insert(*index).second) {
      return Fail("part " + std::to_string(*index) + " given twice (or in both spellings)");
    }
    flags.parts.emplace_back(*index, value);
  }
};

Result<RawFlags> ScanFlags(std::span<const std::string_view> args) {
  FlagScanner scanner;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view token = args[i];
    if (!token.starts_with("--") || token.size() == 2) {
      scanner.Fail("unexpected argument #" + std::to_string(i + 1) +
                   " (expected --spec-... flags)");
      continue;
    }
    token.remove_prefix(2);
    const std::size_t eq = token.find('=');
    if (eq != std::string_view::npos) {
      scanner.Add(token.substr(0, eq), token.substr(eq + 1));
      continue;
    }
    if (!IsSpecKey(token)) {
      scanner.Fail("unknown flag " + FlagName(token));
      continue;
    }
    // `--key value`: a value never starts with "--" (base64, digits, hex).
    if (i + 1 >= args.size() || args[i + 1].starts_with("--")) {
      scanner.Fail(FlagName(token) + " needs a value");
      continue;
    }
    scanner.Add(token, args[++i]);
  }
  // An unknown version explains every other oddity: report it first.
  if (scanner.flags.version && *scanner.flags.version != "0" && *scanner.flags.version != "1" &&
      *scanner.flags.version != "2" && *scanner.flags.version != "3") {
    return KindError(ErrorKind::kVersion,
                     Quote(*scanner.flags.version, 24) + " (supported: 0 to 3)");
  }
  if (!scanner.first_error.ok()) return scanner.first_error;
  if (!scanner.flags.version) return KindError(ErrorKind::kFlags, "missing --spec-version");
  return std::move(scanner.flags);
}

// The parts in index order, after checking that exactly 0..n-1 exist. They
// are never joined: checksum, check and decode read them in place.
Result<std::vector<std::string_view>> OrderedParts(RawFlags& flags) {
  if (!flags.num_parts) return KindError(ErrorKind::kFlags, "missing --spec-num-parts");
  auto num = ParseDecimal(*flags.num_parts);
  if (!num || *num == 0 || *num > kMaxParts) {
    return KindError(ErrorKind::kFlags, "--spec-num-parts must be in 1.." +
                                            std::to_string(kMaxParts) + ", got " +
                                            Quote(*flags.num_parts, 24));
  }
  std::sort(flags.parts.begin(), flags.parts.end());
  for (std::uint64_t i = 0; i < *num; ++i) {
    if (i >= flags.parts.size() || flags.parts[i].first != i) {
      return KindError(ErrorKind::kFlags, "missing part " + std::to_string(i) + " of " +
                                              std::to_string(*num) + " (--spec-part-" +
                                              std::to_string(i) + ")");
    }
  }
  if (flags.parts.size() > *num) {
    return KindError(ErrorKind::kFlags, "unexpected part " +
                                            std::to_string(flags.parts[*num].first) +
                                            ": --spec-num-parts is " + std::to_string(*num));
  }
  std::vector<std::string_view> parts;
  parts.reserve(flags.parts.size());
  for (const auto& part : flags.parts) parts.push_back(part.second);
  return parts;
}

Status VerifyChecksum(const RawFlags& flags, std::span<const std::string_view> parts,
                      std::size_t total) {
  if (!flags.sha256) return OkStatus();
  const std::string_view expected = *flags.sha256;
  if (expected.size() != 64 || !IsHex(expected)) {
    return KindError(ErrorKind::kFlags,
                     "--spec-sha256 must be 64 hex digits, got " + Quote(expected, 24));
  }
  const std::string actual = Sha256HexOfParts(parts);
  const bool same = std::equal(expected.begin(), expected.end(), actual.begin(), actual.end(),
                               [](char a, char b) { return ToLowerAscii(a) == b; });
  if (same) return OkStatus();
  std::string want(expected.substr(0, 12));
  std::transform(want.begin(), want.end(), want.begin(), ToLowerAscii);
  return KindError(ErrorKind::kChecksum, "expected sha256 " + want + "..., got " +
                                             actual.substr(0, 12) + "... over " +
                                             std::to_string(total) + " base64 characters");
}

std::string_view JsonTypeName(const Json& j) { return j.type_name(); }

// nlohmann's message without its "last read: '...'" excerpt, which may quote
// env values.
std::string ParseErrorReason(const nlohmann::json::parse_error& e) {
  std::string what = e.what();
  if (auto colon = what.find(": ", what.find("parse error")); colon != std::string::npos) {
    what.erase(0, colon + 2);
  }
  if (auto last = what.find("; last read: '"); last != std::string::npos) {
    auto expected = what.rfind("'; expected");
    what.erase(last, expected == std::string::npos || expected < last ? std::string::npos
                                                                      : expected + 1 - last);
  }
  return what;
}

Status TypeError(std::string_view field, std::string_view want, const Json& got) {
  return KindError(ErrorKind::kSpec, std::string(field) + " must be " + std::string(want) +
                                         ", got " + std::string(JsonTypeName(got)));
}

// "0644" -> 0644: one to four octal digits, at most 0777.
std::optional<unsigned> ParseMode(std::string_view text) {
  if (text.empty() || text.size() > 4) return std::nullopt;
  unsigned mode = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + static_cast<unsigned>(c - '0');
  }
  if (mode > 0777) return std::nullopt;
  return mode;
}

// The optional array of strings `key` of a document, appended to `out`;
// errors name the key or the element ("args[2]").
Status StringArrayFromDocument(const Json& doc, const std::string& key,
                               std::vector<std::string>& out) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return OkStatus();
  if (!it->is_array()) return TypeError("\"" + key + "\"", "an array of strings", *it);
  out.reserve(out.size() + it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    const Json& item = (*it)[i];
    if (!item.is_string()) return TypeError(key + "[" + std::to_string(i) + "]", "a string", item);
    out.push_back(item.get_ref<const std::string&>());
  }
  return OkStatus();
}

std::string_view FileWriteText(FileWrite write) {
  switch (write) {
    case FileWrite::kAppendLines:
      return "append";
    case FileWrite::kKeepExisting:
      return "keep";
    case FileWrite::kReplace:
      break;
  }
  return "replace";
}

std::optional<FileWrite> ParseFileWrite(std::string_view text) {
  for (FileWrite w : {FileWrite::kReplace, FileWrite::kAppendLines, FileWrite::kKeepExisting}) {
    if (text == FileWriteText(w)) return w;
  }
  return std::nullopt;
}

// The version 2 fields (env_from, files) of a document, and version 3's
// "write" of each file.
Status V2FieldsFromDocument(const Json& doc, int version, LaunchSpec& spec) {
  if (Status s = StringArrayFromDocument(doc, "env_from", spec.env_from); !s.ok()) return s;
  if (auto files = doc.find("files"); files != doc.end() && !files->is_null()) {
    if (!files->is_array()) return TypeError("\"files\"", "an array of objects", *files);
    for (std::size_t i = 0; i < files->size(); ++i) {
      const Json& f = (*files)[i];
      const std::string where = "files[" + std::to_string(i) + "]";
      if (!f.is_object()) return TypeError(where, "an object", f);
      FileSpec file;
      auto path = f.find("path");
      if (path == f.end()) return KindError(ErrorKind::kSpec, where + ": missing \"path\"");
      if (!path->is_string()) return TypeError(where + ".path", "a string", *path);
      file.path = path->get_ref<const std::string&>();
      auto content = f.find("content");
      auto content_env = f.find("content_env");
      const bool has_content = content != f.end() && !content->is_null();
      const bool has_env = content_env != f.end() && !content_env->is_null();
      if (has_content && has_env) {
        return KindError(ErrorKind::kSpec, where + ": both \"content\" and \"content_env\"");
      }
      if (has_content) {
        if (!content->is_string()) return TypeError(where + ".content", "a string", *content);
        file.content = content->get_ref<const std::string&>();
      }
      if (has_env) {
        if (!content_env->is_string()) {
          return TypeError(where + ".content_env", "a string", *content_env);
        }
        file.content_env = content_env->get_ref<const std::string&>();
        if (file.content_env.empty()) {
          return KindError(ErrorKind::kSpec, where + ".content_env is empty");
        }
      }
      if (auto mode = f.find("mode"); mode != f.end() && !mode->is_null()) {
        if (!mode->is_string()) return TypeError(where + ".mode", "an octal string", *mode);
        auto parsed = ParseMode(mode->get_ref<const std::string&>());
        if (!parsed) {
          return KindError(ErrorKind::kSpec, where + ".mode must be octal 0..0777, got " +
                                                 Quote(mode->get_ref<const std::string&>(), 8));
        }
        file.mode = *parsed;
      }
      if (auto write = f.find("write"); version >= 3 && write != f.end() && !write->is_null()) {
        if (!write->is_string()) return TypeError(where + ".write", "a string", *write);
        auto parsed = ParseFileWrite(write->get_ref<const std::string&>());
        if (!parsed) {
          return KindError(ErrorKind::kSpec,
                           where + ".write must be \"replace\", \"append\" or \"keep\", got " +
                               Quote(write->get_ref<const std::string&>(), 16));
        }
        file.write = *parsed;
      }
      spec.files.push_back(std::move(file));
    }
  }
  return OkStatus();
}

Result<LaunchSpec> SpecFromDocument(const Json& doc, int version) {
  if (!doc.is_object()) return TypeError("the document", "an object", doc);
  LaunchSpec spec;
  auto exe = doc.find("executable");
  if (exe == doc.end()) return KindError(ErrorKind::kSpec, "missing \"executable\"");
  if (!exe->is_string()) return TypeError("\"executable\"", "a string", *exe);
  spec.executable = exe->get_ref<const std::string&>();

  if (Status s = StringArrayFromDocument(doc, "args", spec.args); !s.ok()) return s;
  if (auto env = doc.find("env"); env != doc.end() && !env->is_null()) {
    if (!env->is_object()) return TypeError("\"env\"", "an object of strings", *env);
    spec.env.reserve(env->size());
    for (const auto& [name, value] : env->items()) {
      if (!value.is_string()) {
        return TypeError("env " + Quote(name), "a string", value);
      }
      spec.env.emplace_back(name, value.get_ref<const std::string&>());
    }
  }
  if (auto dir = doc.find("work_dir"); dir != doc.end() && !dir->is_null()) {
    if (!dir->is_string()) return TypeError("\"work_dir\"", "a string or null", *dir);
    spec.work_dir = dir->get_ref<const std::string&>();
  }
  if (auto shell = doc.find("shell"); shell != doc.end() && !shell->is_null()) {
    if (!shell->is_boolean()) return TypeError("\"shell\"", "a boolean or null", *shell);
    spec.shell = shell->get<bool>();
  }
  if (version >= 2) MLSPACE_RETURN_IF_ERROR(V2FieldsFromDocument(doc, version, spec));
  // Other keys (the seed client's "image", future additions) are ignored.
  return spec;
}

bool IsEnvNameChar(char c, bool first) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '.' || c == '-') {
    return true;
  }
  return !first && c >= '0' && c <= '9';
}

bool IsEnvName(std::string_view name) {
  bool ok = !name.empty();
  for (std::size_t i = 0; ok && i < name.size(); ++i) ok = IsEnvNameChar(name[i], i == 0);
  return ok;
}

bool HasDotDotComponent(std::string_view path) {
  std::size_t begin = 0;
  while (begin <= path.size()) {
    std::size_t end = path.find('/', begin);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(begin, end - begin) == "..") return true;
    begin = end + 1;
  }
  return false;
}

}  // namespace

Status KindError(ErrorKind kind, std::string_view detail) {
  std::string message(ErrorKindPrefix(kind));
  message += ": ";
  message += detail;
  return Status(kind == ErrorKind::kChecksum  ? StatusCode::kDataLoss
                : kind == ErrorKind::kVersion ? StatusCode::kFailedPrecondition
                                              : StatusCode::kInvalidArgument,
                std::move(message));
}

std::string DescribeByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[u >> 4] + kHex[u & 0xf];
}

std::string Quote(std::string_view text, std::size_t max_chars) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == max_chars) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(text[i]);
    if (u >= 0x20 && u < 0x7f && u != '"' && u != '\\') {
      out += text[i];
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  out += '"';
  return out;
}

std::string_view ErrorKindPrefix(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone:
      return "";
    case ErrorKind::kFlags:
      return "bad flags";
    case ErrorKind::kBase64:
      return "bad base64";
    case ErrorKind::kChecksum:
      return "checksum mismatch";
    case ErrorKind::kJson:
      return "bad JSON";
    case ErrorKind::kVersion:
      return "unknown spec version";
    case ErrorKind::kSpec:
      return "invalid spec";
  }
  return "";
}

ErrorKind KindOf(const Status& status) {
  if (status.ok()) return ErrorKind::kNone;
  for (ErrorKind kind : {ErrorKind::kFlags, ErrorKind::kBase64, ErrorKind::kChecksum,
                         ErrorKind::kJson, ErrorKind::kVersion, ErrorKind::kSpec}) {
    const std::string_view prefix = ErrorKindPrefix(kind);
    const std::string_view message = status.message();
    if (message.size() > prefix.size() + 1 && message.starts_with(prefix) &&
        message.substr(prefix.size(), 2) == ": ") {
      return kind;
    }
  }
  return ErrorKind::kNone;
}

namespace {

// Printable ASCII without '"' and '\\': nlohmann would write it unchanged.
// Branch-free so it vectorises; the encoder sees megabyte strings.
bool IsPlainJsonText(std::string_view text) {
  unsigned bad = 0;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    bad |= (u < 0x20 || u > 0x7e || u == '"' || u == '\\') ? 1u : 0u;
  }
  return bad == 0;
}

// A JSON string exactly as nlohmann's dump writes it (ensure_ascii off,
// invalid UTF-8 replaced), copying plain text without nlohmann's
// per-character escaping.
void AppendJsonString(std::string& out, const std::string& text) {
  if (IsPlainJsonText(text)) {
    out += '"';
    out += text;
    out += '"';
  } else {
    out += Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

// 0644 -> "0644".
std::string ModeText(unsigned mode) {
  std::string text = "0000";
  for (int i = 3; i >= 0; --i) {
    text[static_cast<std::size_t>(i)] = static_cast<char>('0' + (mode & 7));
    mode >>= 3;
  }
  return text;
}

bool HasRepeatedEnvName(const LaunchSpec& spec) {
  std::set<std::string_view> names;
  for (const auto& entry : spec.env) {
    if (!names.insert(entry.first).second) return true;
  }
  return false;
}

// ToJson through nlohmann's document model: the definition of the format,
// used when a name repeats (ordered_json keeps one entry per name).
std::string ToJsonThroughDocument(const LaunchSpec& spec) {
  Json doc = Json::object();
  doc["executable"] = spec.executable;
  doc["args"] = spec.args;
  Json env = Json::object();
  for (const auto& [name, value] : spec.env) env[name] = value;
  doc["env"] = std::move(env);
  // null rather than absent: the seed launcher requires the key.
  doc["work_dir"] = spec.work_dir.empty() ? Json(nullptr) : Json(spec.work_dir);
  if (spec.shell) doc["shell"] = true;
  if (!spec.env_from.empty()) doc["env_from"] = spec.env_from;
  if (!spec.files.empty()) {
    Json files = Json::array();
    for (const FileSpec& f : spec.files) {
      Json file = Json::object();
      file["path"] = f.path;
      if (f.content_env.empty()) {
        file["content"] = f.content;
      } else {
        file["content_env"] = f.content_env;
      }
      file["mode"] = ModeText(f.mode);
      if (f.write != FileWrite::kReplace) file["write"] = FileWriteText(f.write);
      files.push_back(std::move(file));
    }
    doc["files"] = std::move(files);
  }
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string ToJson(const LaunchSpec& spec) {
  // Version 2 fields are rare and small next to a megabyte command line.
  if (HasRepeatedEnvName(spec) || SpecVersionFor(spec) >= 2) return ToJsonThroughDocument(spec);
  std::size_t size = 64 + spec.executable.size() + spec.work_dir.size();
  for (const auto& arg : spec.args) size += arg.size() + 3;
  for (const auto& [name, value] : spec.env) size += name.size() + value.size() + 6;
  std::string out;
  out.reserve(size);
  out += "{\"executable\":";
  AppendJsonString(out, spec.executable);
  out += ",\"args\":[";
  for (std::size_t i = 0; i < spec.args.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(out, spec.args[i]);
  }
  out += "],\"env\":{";
  for (std::size_t i = 0; i < spec.env.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(out, spec.env[i].first);
    out += ':';
    AppendJsonString(out, spec.env[i].second);
  }
  // null rather than absent: the seed launcher requires the key.
  out += "},\"work_dir\":";
  if (spec.work_dir.empty()) {
    out += "null";
  } else {
    AppendJsonString(out, spec.work_dir);
  }
  if (spec.shell) out += ",\"shell\":true";
  out += '}';
  return out;
}

std::string ReferenceToJson(const LaunchSpec& spec) { return ToJsonThroughDocument(spec); }

std::string ToMaskedJson(const LaunchSpec& spec) {
  Json doc = Json::object();
  doc["executable"] = spec.executable;
  doc["args"] = spec.args;
  Json env = Json::object();
  for (const auto& entry : spec.env) env[entry.first] = "***";
  doc["env"] = std::move(env);
  doc["work_dir"] = spec.work_dir.empty() ? Json(nullptr) : Json(spec.work_dir);
  doc["shell"] = spec.shell;
  if (!spec.env_from.empty()) doc["env_from"] = spec.env_from;
  if (!spec.files.empty()) {
    Json files = Json::array();
    for (const FileSpec& f : spec.files) {
      Json file = Json::object();
      file["path"] = f.path;
      if (f.content_env.empty()) {
        file["content"] = f.content;
      } else {
        file["content_env"] = f.content_env;
        file["content"] = "***";
      }
      file["mode"] = ModeText(f.mode);
      if (f.write != FileWrite::kReplace) file["write"] = FileWriteText(f.write);
      files.push_back(std::move(file));
    }
    doc["files"] = std::move(files);
  }
  return doc.dump(2, ' ', false, Json::error_handler_t::replace);
}

int SpecVersionFor(const LaunchSpec& spec) {
  for (const FileSpec& f : spec.files) {
    if (f.write != FileWrite::kReplace) return 3;
  }
  return spec.env_from.empty() && spec.files.empty() ? 1 : 2;
}

Result<LaunchSpec> FromJson(std::string_view json, int version) {
  std::string buffer;
  buffer.reserve(json.size() + 16);
  buffer.assign(json);
  if (auto fast = FastFromJson(buffer, version)) return std::move(*fast);
  return ReferenceFromJson(json, version);
}

Result<LaunchSpec> ReferenceFromJson(std::string_view json, int version) {
  Json doc;
  try {
    doc = Json::parse(json.begin(), json.end());
  } catch (const nlohmann::json::parse_error& e) {
    return KindError(ErrorKind::kJson, ParseErrorReason(e) + " at offset " +
                                           std::to_string(e.byte == 0 ? 0 : e.byte - 1) + " of " +
                                           std::to_string(json.size()) + " bytes");
  } catch (const std::exception& e) {
    return KindError(ErrorKind::kJson, "cannot parse " + std::to_string(json.size()) + " bytes");
  }
  return SpecFromDocument(doc, version);
}

Status Validate(const LaunchSpec& spec) {
  auto has_nul = [](std::string_view s) { return s.find('\0') != std::string_view::npos; };
  if (spec.executable.empty()) return KindError(ErrorKind::kSpec, "\"executable\" is empty");
  if (has_nul(spec.executable)) {
    return KindError(ErrorKind::kSpec, "\"executable\" contains a NUL byte");
  }
  for (std::size_t i = 0; i < spec.args.size(); ++i) {
    if (has_nul(spec.args[i])) {
      return KindError(ErrorKind::kSpec, "args[" + std::to_string(i) + "] contains a NUL byte");
    }
  }
  if (has_nul(spec.work_dir)) {
    return KindError(ErrorKind::kSpec, "\"work_dir\" contains a NUL byte");
  }
  std::set<std::string_view> names;
  for (const auto& [name, value] : spec.env) {
    if (!IsEnvName(name)) return KindError(ErrorKind::kSpec, "invalid env name " + Quote(name));
    if (!names.insert(name).second) {
      return KindError(ErrorKind::kSpec, "env " + Quote(name) + " given twice");
    }
    if (has_nul(value)) {
      return KindError(ErrorKind::kSpec,
                       "the value of env " + Quote(name) + " contains a NUL byte");
    }
  }
  for (const std::string& name : spec.env_from) {
    if (!IsEnvName(name)) {
      return KindError(ErrorKind::kSpec, "invalid env_from name " + Quote(name));
    }
    if (!names.insert(name).second) {
      return KindError(ErrorKind::kSpec, "env " + Quote(name) + " given twice");
    }
  }
  if (spec.files.size() > kMaxFiles) {
    return KindError(ErrorKind::kSpec, std::to_string(spec.files.size()) + " files (at most " +
                                           std::to_string(kMaxFiles) + ")");
  }
  for (std::size_t i = 0; i < spec.files.size(); ++i) {
    const FileSpec& f = spec.files[i];
    const std::string where = "files[" + std::to_string(i) + "]";
    if (f.path.empty()) return KindError(ErrorKind::kSpec, where + ".path is empty");
    if (has_nul(f.path)) return KindError(ErrorKind::kSpec, where + ".path contains a NUL byte");
    if (HasDotDotComponent(f.path)) {
      return KindError(ErrorKind::kSpec, where + ".path " + Quote(f.path, 200) + " has a \"..\"");
    }
    if (f.path.back() == '/') {
      return KindError(ErrorKind::kSpec,
                       where + ".path " + Quote(f.path, 200) + " names a directory");
    }
    if (f.mode > 0777) return KindError(ErrorKind::kSpec, where + ".mode is over 0777");
    if (!f.content_env.empty() && !IsEnvName(f.content_env)) {
      return KindError(ErrorKind::kSpec,
                       where + ".content_env " + Quote(f.content_env) + " is not a variable name");
    }
  }
  return OkStatus();
}

std::map<std::string, std::string> EncodeFlags(const LaunchSpec& spec) {
  const std::string text = Base64Encode(ToJson(spec));
  std::map<std::string, std::string> flags;
  const std::size_t num_parts =
      std::max<std::size_t>(1, (text.size() + kMaxPartChars - 1) / kMaxPartChars);
  flags[std::string(kVersionFlag)] = std::to_string(SpecVersionFor(spec));
  flags[std::string(kNumPartsFlag)] = std::to_string(num_parts);
  for (std::size_t i = 0; i < num_parts; ++i) {
    flags[std::string(kPartPrefix) + std::to_string(i)] =
        text.substr(std::min(text.size(), i * kMaxPartChars), kMaxPartChars);
  }
  flags[std::string(kShaFlag)] = Sha256Hex(text);
  return flags;
}

std::vector<std::string> FlagsToArgv(const std::map<std::string, std::string>& flags) {
  std::vector<std::string> argv;
  argv.reserve(flags.size());
  for (const auto& [key, value] : flags) {
    std::string arg;
    arg.reserve(key.size() + value.size() + 3);
    arg.append("--").append(key).append("=").append(value);
    argv.push_back(std::move(arg));
  }
  return argv;
}

Result<LaunchSpec> DecodeArgv(const std::vector<std::string>& args) {
  const std::vector<std::string_view> views(args.begin(), args.end());
  return DecodeArgs(views);
}

Result<LaunchSpec> DecodeArgs(std::span<const std::string_view> args) {
  MLSPACE_ASSIGN_OR_RETURN(RawFlags flags, ScanFlags(args));
  MLSPACE_ASSIGN_OR_RETURN(const std::vector<std::string_view> parts, OrderedParts(flags));
  std::size_t total = 0;
  for (std::string_view part : parts) total += part.size();
  MLSPACE_RETURN_IF_ERROR(VerifyChecksum(flags, parts, total));
  if (auto problem = FindBase64ProblemInParts(parts)) {
    // Name the part a bad character sits in; a length problem is global.
    std::string where = " (" + std::to_string(total) + " characters)";
    if (problem->part < parts.size()) {
      where = " at offset " + std::to_string(problem->offset) + " of part " +
              std::to_string(problem->part);
    }
    return KindError(ErrorKind::kBase64, problem->reason + where);
  }
  MLSPACE_ASSIGN_OR_RETURN(std::string json, DecodeCheckedBase64Parts(parts));
  // 0 reads like 1.
  const int version = *flags.version == "3" ? 3 : *flags.version == "2" ? 2 : 1;
  std::optional<Result<LaunchSpec>> fast = FastFromJson(json, version);
  if (!fast) {
    // The fast reader consumed the buffer; decode again for nlohmann (rare:
    // errors, numbers, some escapes, version 2 files).
    MLSPACE_ASSIGN_OR_RETURN(json, DecodeCheckedBase64Parts(parts));
    fast = ReferenceFromJson(json, version);
  }
  MLSPACE_ASSIGN_OR_RETURN(LaunchSpec spec, std::move(*fast));
  MLSPACE_RETURN_IF_ERROR(Validate(spec));
  return spec;
}

// --- the fast JSON reader ----------------------------------------------------
//
// The launcher's fast JSON reader (FastFromJson). nlohmann's lexer appends
// to a std::string one character at a time, which made it half of mlspace-launch's CPU for a
// 1 MB spec. RapidJSON parses the decoded buffer in place (strings are
// unescaped where they lie, unescaped runs are skipped 16 bytes at a time), so
// the only copy left is the one into LaunchSpec.
//
// nlohmann stays the reference reader: FromJson's results and error messages
// are defined by it. The fast path only answers for documents it reads exactly
// as nlohmann would; everything else goes to nlohmann (see NeedsReference).
// A differential test (tests/launchspec) checks the two agree.

namespace {

using Value = rapidjson::Value;  // the fast reader's DOM

// Cases where RapidJSON and nlohmann could disagree, so nlohmann decides:
// - a NUL byte: RapidJSON's in-place reader takes it as the end of input;
// - an escape \uDC00..\uDFFF: RapidJSON 1.1 turns a lone low surrogate into
//   bytes nlohmann rejects. Any "\u" followed by [dD][c-fC-F] counts (an
//   escaped backslash before a 'u' may match too: that only costs speed).
//   Other \u escapes (the encoder writes them for control characters) are
//   read alike by both.
bool NeedsReference(std::string_view json) {
  return std::memchr(json.data(), '\0', json.size()) != nullptr || MayHaveLowSurrogateEscape(json);
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

std::optional<Result<LaunchSpec>> FastFromJson(std::string& json, int version) {
  if (NeedsReference(json)) return std::nullopt;
  const JsonTextBytes bytes = ClassifyJsonBytes(json);
  // Control bytes the SIMD scan would miss: nlohmann decides. (With
  // non-ASCII text the flag may be inexact, but that text takes the
  // validating path below, which checks them.)
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
  // Version 2 fields are read by nlohmann only (small, rare).
  if (version >= 2 && doc.IsObject() && (doc.HasMember("env_from") || doc.HasMember("files"))) {
    return std::nullopt;
  }
  return SpecFromValue(doc);
}

}  // namespace mlspace::launchspec
