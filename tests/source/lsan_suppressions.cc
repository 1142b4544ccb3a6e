// libgit2 1.5 leaks pcre2 match data in its config regexp search
// (git_remote_lookup / git_remote_create). GitRemoteSource does those only in
// Open, once per source, so only leaks under Open are suppressed: a leak on
// the per-fetch path (Refresh) still fails the ASan run.
extern "C" __attribute__((visibility("default"))) const char* __lsan_default_suppressions() {
  return "leak:mlspace::source::GitRemoteSource::Open\n"
         "leak:mlspace::source::GitManifestWriter::Open\n";
}

// libgit2 is built without frame pointers: the fast unwinder cannot reach
// Open through it, so the suppression above needs the slow one.
extern "C" __attribute__((visibility("default"))) const char* __asan_default_options() {
  return "fast_unwind_on_malloc=0";
}
