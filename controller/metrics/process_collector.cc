#include "controller/metrics/process_collector.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <sstream>

#include "controller/metrics/metrics.h"

namespace mlspace::metrics {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

double ReadBootTime() {
  std::istringstream in(ReadFile("/proc/stat"));
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

// Counts /proc/self/fd entries, not counting the directory stream's own fd.
double CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;
}

prometheus::MetricFamily One(const char* name, const char* help, prometheus::MetricType type,
                             double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

bool ParseProcStat(const std::string& stat, double boot_time_seconds, long ticks_per_second,
                   long page_size, ProcessStats* out) {
  // The command name (field 2) is in parentheses and may contain spaces and
  // ')' itself, so fields are counted from the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos || ticks_per_second <= 0) return false;
  std::istringstream in(stat.substr(close + 1));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  std::string tok;
  while (in >> tok) f.push_back(tok);
  // Fields 14 utime, 15 stime, 22 starttime, 23 vsize, 24 rss.
  if (f.size() < 22) return false;
  try {
    double utime = std::stod(f[14 - 3]);
    double stime = std::stod(f[15 - 3]);
    double start = std::stod(f[22 - 3]);
    double vsize = std::stod(f[23 - 3]);
    double rss = std::stod(f[24 - 3]);
    out->cpu_seconds = (utime + stime) / static_cast<double>(ticks_per_second);
    out->start_time_seconds = boot_time_seconds + start / static_cast<double>(ticks_per_second);
    out->virtual_memory_bytes = vsize;
    out->resident_memory_bytes = rss * static_cast<double>(page_size);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

ProcessCollector::ProcessCollector()
    : boot_time_seconds_(ReadBootTime()),
      ticks_per_second_(sysconf(_SC_CLK_TCK)),
      page_size_(sysconf(_SC_PAGESIZE)) {}

bool ProcessCollector::Read(ProcessStats* out) const {
  ProcessStats s;
  if (!ParseProcStat(ReadFile("/proc/self/stat"), boot_time_seconds_, ticks_per_second_, page_size_,
                     &s)) {
    return false;
  }
  s.open_fds = CountOpenFds();
  rlimit lim{};
  s.max_fds = getrlimit(RLIMIT_NOFILE, &lim) == 0 ? static_cast<double>(lim.rlim_cur) : -1;
  *out = s;
  return true;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  ProcessStats s;
  if (!Read(&s)) return {};
  std::vector<prometheus::MetricFamily> out;
  out.push_back(One("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                    MetricType::Counter, s.cpu_seconds));
  if (s.open_fds >= 0) {
    out.push_back(
        One("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, s.open_fds));
  }
  if (s.max_fds >= 0) {
    out.push_back(One("process_max_fds", "Maximum number of open file descriptors.",
                      MetricType::Gauge, s.max_fds));
  }
  out.push_back(One("process_resident_memory_bytes", "Resident memory size in bytes.",
                    MetricType::Gauge, s.resident_memory_bytes));
  out.push_back(One("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                    MetricType::Gauge, s.virtual_memory_bytes));
  out.push_back(One("process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
                    s.start_time_seconds));
  return out;
}

const std::vector<FamilyDesc>& ProcessCollector::Families() {
  using prometheus::MetricType;
  static const std::vector<FamilyDesc> kFamilies = {
      {"process_cpu_seconds_total", MetricType::Counter, {}},
      {"process_open_fds", MetricType::Gauge, {}},
      {"process_max_fds", MetricType::Gauge, {}},
      {"process_resident_memory_bytes", MetricType::Gauge, {}},
      {"process_virtual_memory_bytes", MetricType::Gauge, {}},
      {"process_start_time_seconds", MetricType::Gauge, {}},
  };
  return kFamilies;
}

}  // namespace mlspace::metrics
