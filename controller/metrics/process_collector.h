#pragma once

#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace mlspace::metrics {

struct FamilyDesc;

// Figures of one process as the Go client's process collector reports them.
struct ProcessStats {
  double cpu_seconds = 0;  // user + system time
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;             // soft RLIMIT_NOFILE
  double start_time_seconds = 0;  // Unix time
};

// Parses the contents of /proc/<pid>/stat and /proc/stat's btime line.
// Returns false (leaving `out` untouched) when `stat` is malformed.
bool ParseProcStat(const std::string& stat, double boot_time_seconds, long ticks_per_second,
                   long page_size, ProcessStats* out);

// process_* families read from /proc/self at every Collect(), so values are
// fresh per scrape without a background thread. Thread-safe (stateless).
// A family whose source cannot be read is left out rather than reported as 0.
class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector();
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Reads the current figures; false when /proc/self/stat is unreadable.
  bool Read(ProcessStats* out) const;

  static const std::vector<FamilyDesc>& Families();

 private:
  double boot_time_seconds_;
  long ticks_per_second_;
  long page_size_;
};

}  // namespace mlspace::metrics
