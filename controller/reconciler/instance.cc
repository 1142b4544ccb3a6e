#include "controller/reconciler/instance.h"

#include <cctype>
#include <cstdint>
#include <cstdio>

#include "controller/reconciler/marker.h"

namespace mlspace::reconciler {
namespace {

// FNV-1a, 64 bits: stable across builds and platforms (std::hash is not),
// and only needs to tell apart sources that share a readable name.
uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// "https://user:token@host/org/repo.git/" → "host/org/repo";
// "git@host:org/repo.git" → "host:org/repo"; paths stay paths.
std::string CanonicalSource(std::string_view s) {
  std::string out(s);
  size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    size_t host = scheme + 3;
    size_t path = out.find('/', host);
    size_t at = out.rfind('@', path == std::string::npos ? out.size() : path);
    if (at != std::string::npos && at >= host) out.erase(host, at + 1 - host);
    out.erase(0, host);
  } else if (size_t at = out.find('@'); at != std::string::npos && out.find(':') > at &&
                                        out.find('/') > at && out.find(':') != std::string::npos) {
    out.erase(0, at + 1);  // scp-like user@host:path
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (out.size() > 4 && out.compare(out.size() - 4, 4, ".git") == 0) out.resize(out.size() - 4);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

std::string DefaultInstance(std::string_view source) {
  constexpr size_t kReadable = 30;
  std::string canon = CanonicalSource(source);
  size_t cut = canon.find_last_of("/:");
  std::string_view last =
      cut == std::string::npos ? std::string_view(canon) : std::string_view(canon).substr(cut + 1);
  std::string readable;
  for (char ch : last) {
    unsigned char c = static_cast<unsigned char>(ch);
    char lower = static_cast<char>(std::tolower(c));
    bool ok = (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9');
    if (ok) {
      readable += lower;
    } else if (!readable.empty() && readable.back() != '-') {
      readable += '-';
    }
    if (readable.size() >= kReadable) break;
  }
  while (!readable.empty() && readable.back() == '-') readable.pop_back();
  char hash[9];
  std::snprintf(hash, sizeof hash, "%08x", static_cast<unsigned>(Fnv1a64(canon) & 0xffffffffu));
  return (readable.empty() ? std::string("mlspace") : readable) + "-" + hash;
}

Status CheckInstanceFlag(std::string_view flag) {
  if (flag.empty() || IsValidInstance(flag)) return OkStatus();
  return InvalidArgumentError("--instance \"" + std::string(flag) +
                              "\": must be a DNS-1123 label (lowercase letters, digits and '-', "
                              "starting and ending alphanumeric, at most 63 characters)");
}

Result<store::StoreIdentity> ResolveInstance(store::StateStore& store, std::string_view flag,
                                             std::string_view source, std::string_view where) {
  MLSPACE_RETURN_IF_ERROR(CheckInstanceFlag(flag));
  MLSPACE_ASSIGN_OR_RETURN(store::StoreIdentity id, store.Identity());
  if (!id.instance.empty()) {
    if (!flag.empty() && flag != id.instance) {
      return FailedPreconditionError(
          "--instance \"" + std::string(flag) + "\" contradicts instance \"" + id.instance +
          "\" recorded in the state store " + std::string(where) +
          " (its jobs' markers name it); keep --instance " + id.instance +
          " (or drop the flag), or to rename, start --instance " + std::string(flag) +
          " with a new --state-dir once the jobs of " + id.instance + " have finished");
    }
    return id;
  }
  std::string name = flag.empty() ? DefaultInstance(source) : std::string(flag);
  MLSPACE_RETURN_IF_ERROR(store.RecordInstance(name));
  id.instance = name;
  return id;
}

}  // namespace mlspace::reconciler
