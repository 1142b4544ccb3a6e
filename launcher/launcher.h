#pragma once

// mlspace-launch: decodes a launch spec from its command line, starts the
// command it describes and supervises it (see docs/launch-protocol.md).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/core/result.h"
#include "controller/launchspec/launch_spec.h"

namespace mlspace::launcher {

// Reserved exit codes: the launcher's own failures, in a range a normal
// command rarely uses. Anything else is the command's own exit status, or
// 128+N when it died of signal N.
inline constexpr int kExitUsage = 200;           // no spec flags, bad launcher option
inline constexpr int kExitBadFlags = 201;        // unknown/duplicate flag, missing part...
inline constexpr int kExitBadBase64 = 202;       // spec parts are not base64
inline constexpr int kExitChecksum = 203;        // --spec-sha256 does not match
inline constexpr int kExitBadJson = 204;         // decoded spec is not JSON
inline constexpr int kExitUnknownVersion = 205;  // --spec-version other than 0 or 1
inline constexpr int kExitInvalidSpec = 206;     // wrong types, bad env name, NUL bytes
inline constexpr int kExitNotFound = 207;        // executable missing or not executable
inline constexpr int kExitChdir = 208;           // cannot chdir to work_dir
inline constexpr int kExitSpawn = 209;           // fork/exec or another system failure
inline constexpr int kExitFiles = 210;           // a spec file refused or not written
inline constexpr int kExitMissingEnv = 211;      // env_from/content_env variable not set

int ExitCodeFor(launchspec::ErrorKind kind);

// The path to exec: `name` itself when it contains a '/', else the first
// executable regular file named `name` in the ':'-separated `path_env`
// (nullptr: the default "/bin:/usr/bin"). Errors never print PATH.
Result<std::string> ResolveExecutable(const std::string& name, const char* path_env);

// "NAME=value" strings: the inherited environment (a NULL-terminated array)
// without the names the spec sets, then the spec's entries in order.
std::vector<std::string> MergeEnv(const char* const* inherited,
                                  const std::vector<std::pair<std::string, std::string>>& env);

// The value of `name` in "NAME=value" strings, or nullptr.
const char* FindEnv(const std::vector<std::string>& env, std::string_view name);

// Writes the spec's files (version 2) before the command starts. Relative
// paths are under `work_dir` (the launcher's working directory after chdir);
// "~/..." and absolute paths must be under `home` or `work_dir`. Parent
// directories are created (0755); each one, once it exists, must resolve
// (symlinks followed) inside one of the two roots, so a symlink cannot lead
// a write elsewhere. The file is written to a temporary name in its
// directory, given `mode` exactly (umask ignored) and renamed into place (a
// symlink in the file's own place is replaced, never followed). A secret
// content is base64 in `env` under the file's content_env. A version 3
// `write` of keep leaves an existing file alone (one note on stderr); append
// adds the content's missing lines to it (keeping its mode), both under a
// flock of the directory. Errors are one line
// naming the file (index and path), never its content; files before the
// failing one stay written.
Status WriteSpecFiles(const std::vector<launchspec::FileSpec>& files,
                      const std::vector<std::string>& env, const std::string& work_dir,
                      const std::string& home);

// The whole program; returns the process exit code.
int Main(int argc, char** argv);

}  // namespace mlspace::launcher
