// Fuzzes the manifest parser (ParseManifestFile) with arbitrary bytes as a
// .yaml file: YAML syntax, aliases, nesting, scalars, and then validation
// and defaulting. Every input must give documents of a known kind with
// one-line messages; a valid job must round-trip through the codec with the
// same spec and hash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controller/api/codec.h"
#include "controller/api/manifest.h"

namespace api = mlspace::api;

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

bool OneLine(const std::string& s) { return s.find('\n') == std::string::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  api::ParseResult r = api::ParseManifestFile("fuzz/input.yaml", input);
  Check(r.path == "fuzz/input.yaml");
  for (const auto& d : r.documents) {
    switch (d.kind) {
      case api::ManifestDocument::Kind::kJob: {
        Check(d.job.has_value() && d.errors.empty());
        Check(d.key.has_value() && *d.key == d.job->key());
        Check(d.job->spec_hash == api::SpecHash(d.job->spec));
        auto again = api::ParseObject(api::ToJson(*d.job), "roundtrip");
        Check(again.ok());
        Check(again->spec == d.job->spec);
        Check(again->spec_hash == d.job->spec_hash);
        break;
      }
      case api::ManifestDocument::Kind::kInvalid:
        Check(!d.job.has_value() && !d.errors.empty());
        for (const auto& e : d.errors) Check(e.rfind("fuzz/input.yaml", 0) == 0 && OneLine(e));
        break;
      case api::ManifestDocument::Kind::kIgnored:
        Check(!d.warning.empty() && OneLine(d.warning));
        break;
    }
  }
  auto set = api::Assemble({std::make_shared<const api::ParseResult>(std::move(r))});
  (void)set;
  return 0;
}
