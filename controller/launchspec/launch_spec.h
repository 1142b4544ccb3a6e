#pragma once

// The launch wire format (DESIGN.md section 6): how the controller hands a
// command to mlspace-launch through the Gateway's `flags` object.
//
//   spec  = compact JSON {"executable","args","env","work_dir"[,"shell"]
//           [,"env_from"][,"files"]}   (the last two: version 2)
//   b64   = base64(spec)                    (standard alphabet, padded)
//   parts = b64 split into chunks of at most kMaxPartChars characters
//   flags = spec-version=V, spec-num-parts=N, spec-part-0..N-1, spec-sha256
//
// V is the lowest version that carries the spec: 1, or 2 when it has
// env_from or files (so a launcher that knows only 0 and 1 keeps running
// every spec it can run, and refuses, exit 205, one it would misread).
// Secret values are never in the spec: they travel in the request's
// env_variables, and the spec names them (env_from, a file's content_env).
//
// The service passes each flag as `--key=value`. The decoder also accepts the
// daskol/mlspace spelling (spec-num-chunks, spec-chunk-N, spec-sha256sum),
// `--key value` as well as `--key=value`, flags in any order, and versions
// "0", "1" and "2". See docs/launch-protocol.md.

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/core/result.h"
#include "controller/core/status.h"

namespace mlspace::launchspec {

// How mlspace-launch treats a file that already exists (version 3; a
// version 2 spec always replaces).
enum class FileWrite {
  kReplace,  // write the content, replacing what is there ("replace")
  // Add each line of the content the file does not already hold, after its
  // own lines ("append"): a line another job or the user put there stays.
  kAppendLines,
  // Write only when nothing is at the path ("keep"): a user's own file is
  // never replaced.
  kKeepExisting,
};

// A file mlspace-launch writes before it starts the command (version 2).
struct FileSpec {
  // Relative: under the working directory. "~/..." or absolute: under the
  // user's home (or the working directory). Never "..".
  std::string path;
  // The content, or, when content_env is set, the name of the launcher's
  // environment variable holding base64(content) (secret contents; the
  // variable is removed from the command's environment).
  std::string content;
  std::string content_env;
  unsigned mode = 0644;                   // permission bits, <= 0777; written as "0644"
  FileWrite write = FileWrite::kReplace;  // "write", version 3

  friend bool operator==(const FileSpec&, const FileSpec&) = default;
};

// Limits on spec.files, checked by the controller at validation (the same
// values in api/types.h) and again by the launcher before writing (exit
// 210). The files ride in the flags (inline, as base64) or in environment
// strings (secret contents), and exec(2) takes about 2 MiB of argv+envp in
// all (ARG_MAX) next to up to 512 KiB of command and env; one environment
// string is capped at 131,072 bytes (MAX_ARG_STRLEN), and 64 KiB of secret
// content is 87,384 base64 characters.
inline constexpr std::size_t kMaxFileBytes = 512 << 10;        // one file
inline constexpr std::size_t kMaxSecretFileBytes = 64 << 10;   // content_env
inline constexpr std::size_t kMaxFilesTotalBytes = 512 << 10;  // all files
inline constexpr std::size_t kMaxFiles = 64;

struct LaunchSpec {
  std::string executable;
  std::vector<std::string> args;
  // Applied over the launcher's inherited environment, in this order.
  std::vector<std::pair<std::string, std::string>> env;
  // Empty: stay in the launcher's working directory.
  std::string work_dir;
  // True: run `/bin/sh -c <executable> <args...>` (args become $0, $1, ...).
  bool shell = false;
  // Version 2: names of variables that must be in the launcher's
  // environment (secret values sent as the request's env_variables). The
  // command inherits them; a missing one fails the launch (exit 211).
  std::vector<std::string> env_from;
  // Version 2: files written, in order, before the command starts.
  std::vector<FileSpec> files;

  friend bool operator==(const LaunchSpec&, const LaunchSpec&) = default;
};

// Linux limits one argument to 131,072 bytes; parts stay well below it.
inline constexpr std::size_t kMaxPartChars = 65535;
// Upper bound on spec-num-parts accepted by the decoder (4 GiB of base64).
inline constexpr std::size_t kMaxParts = 65536;
// The newest version; EncodeFlags writes it only for specs that need it
// (SpecVersionFor), DecodeArgv accepts 0 to 3. Versions 0 and 1 ignore
// "env_from" and "files" like any other unknown key; version 2 ignores a
// file's "write" (an older launcher given a version 3 spec refuses it as an
// unknown version instead of replacing a file it was asked to keep).
inline constexpr int kSpecVersion = 3;

// 3 when a file is not plainly replaced, 2 when the spec has env_from or
// files, else 1.
int SpecVersionFor(const LaunchSpec& spec);

// What went wrong while decoding, so a caller (the launcher) can map it to an
// exit code. Every error Status produced by this library starts with the
// kind's prefix followed by ": " (e.g. "checksum mismatch: expected ...").
enum class ErrorKind {
  kNone,      // not an error of this library
  kFlags,     // "bad flags": unknown/duplicate flag, missing value or part
  kBase64,    // "bad base64"
  kChecksum,  // "checksum mismatch"
  kJson,      // "bad JSON": not parseable
  kVersion,   // "unknown spec version"
  kSpec,      // "invalid spec": well-formed JSON that is not a valid spec
};

std::string_view ErrorKindPrefix(ErrorKind kind);
ErrorKind KindOf(const Status& status);

// The Gateway `flags` object for a spec: keys without leading dashes. The
// spec should pass Validate(); strings that are not valid UTF-8 are encoded
// with U+FFFD replacement characters.
std::map<std::string, std::string> EncodeFlags(const LaunchSpec& spec);

// `--key=value` arguments, as the service puts them on the command line.
std::vector<std::string> FlagsToArgv(const std::map<std::string, std::string>& flags);

// Decodes, verifies (checksum when present) and validates a spec from command
// line arguments (without argv[0]). Errors are one line, name what is wrong and
// never contain env values.
Result<LaunchSpec> DecodeArgv(const std::vector<std::string>& args);
// The same over views (the launcher passes its argv without copying it).
Result<LaunchSpec> DecodeArgs(std::span<const std::string_view> args);

// Structural checks that need no filesystem: non-empty executable, no NUL
// bytes, env names like Kubernetes' ([A-Za-z_.-][A-Za-z0-9_.-]*, not starting
// with a digit), no name given twice (env and env_from together); files:
// non-empty path without NUL or ".." component, mode <= 0777, content_env a
// valid name, at most kMaxFiles. Errors are of kind kSpec. Sizes and where a
// path leads are the launcher's to check (exit 210).
Status Validate(const LaunchSpec& spec);

// The compact JSON document of the wire format (the input of base64).
std::string ToJson(const LaunchSpec& spec);
// The spec from that JSON document (kinds kJson and kSpec; not validated),
// read as version `version` (below 2: env_from and files are ignored).
Result<LaunchSpec> FromJson(std::string_view json, int version = kSpecVersion);
// Indented JSON for humans (`mlspace-launch --print-spec`): env values and
// the content of secret files "***" (env_from lists names only).
std::string ToMaskedJson(const LaunchSpec& spec);

// A printable rendering of untrusted text for one-line error messages: in
// double quotes, bytes outside printable ASCII (and '"', '\\') as \xNN, cut
// after max_chars with "...".
std::string Quote(std::string_view text, std::size_t max_chars = 48);

// OpenSSL-backed helpers, exposed for tests and the encoder's callers.
std::string Base64Encode(std::string_view data);
// Strict: standard alphabet, padded, no whitespace. Errors of kind kBase64.
Result<std::string> Base64Decode(std::string_view text);
// Lowercase hex SHA-256.
std::string Sha256Hex(std::string_view data);

}  // namespace mlspace::launchspec
