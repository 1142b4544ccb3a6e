#include "controller/metrics/text_format.h"

#include <charconv>
#include <cmath>

namespace mlspace::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricType;

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Histogram:
      return "histogram";
    case MetricType::Summary:
      return "summary";
    case MetricType::Untyped:
      return "untyped";
  }
  return "untyped";
}

// name{labels[,extra_name="extra_value"]} value\n
void AppendSample(std::string_view name, std::string_view suffix,
                  const std::vector<ClientMetric::Label>& labels, std::string_view extra_name,
                  std::string_view extra_value, double value, std::string* out) {
  out->append(name);
  out->append(suffix);
  if (!labels.empty() || !extra_name.empty()) {
    out->push_back('{');
    bool first = true;
    for (const auto& l : labels) {
      if (!first) out->push_back(',');
      first = false;
      out->append(l.name);
      out->append("=\"");
      AppendLabelValue(l.value, out);
      out->push_back('"');
    }
    if (!extra_name.empty()) {
      if (!first) out->push_back(',');
      out->append(extra_name);
      out->append("=\"");
      out->append(extra_value);
      out->push_back('"');
    }
    out->push_back('}');
  }
  out->push_back(' ');
  AppendValue(value, out);
  out->push_back('\n');
}

std::string FormatValue(double v) {
  std::string s;
  AppendValue(v, &s);
  return s;
}

}  // namespace

void AppendLabelValue(std::string_view value, std::string* out) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      default:
        out->push_back(c);
    }
  }
}

void AppendValue(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[64];
  std::to_chars_result r;
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<long long>(value));
  } else {
    r = std::to_chars(buf, buf + sizeof(buf), value);
  }
  out->append(buf, r.ptr);
}

void AppendHeader(std::string_view name, std::string_view help, MetricType type, std::string* out) {
  out->append("# HELP ");
  out->append(name);
  out->push_back(' ');
  for (char c : help) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
  out->append("\n# TYPE ");
  out->append(name);
  out->push_back(' ');
  out->append(TypeName(type));
  out->push_back('\n');
}

void AppendText(const std::vector<prometheus::MetricFamily>& families, std::string* out) {
  for (const auto& f : families) {
    if (f.metric.empty()) continue;
    AppendHeader(f.name, f.help, f.type, out);
    for (const auto& m : f.metric) {
      switch (f.type) {
        case MetricType::Counter:
          AppendSample(f.name, "", m.label, "", "", m.counter.value, out);
          break;
        case MetricType::Gauge:
          AppendSample(f.name, "", m.label, "", "", m.gauge.value, out);
          break;
        case MetricType::Histogram: {
          for (const auto& b : m.histogram.bucket) {
            AppendSample(f.name, "_bucket", m.label, "le", FormatValue(b.upper_bound),
                         static_cast<double>(b.cumulative_count), out);
          }
          AppendSample(f.name, "_sum", m.label, "", "", m.histogram.sample_sum, out);
          AppendSample(f.name, "_count", m.label, "", "",
                       static_cast<double>(m.histogram.sample_count), out);
          break;
        }
        case MetricType::Summary: {
          for (const auto& q : m.summary.quantile) {
            AppendSample(f.name, "", m.label, "quantile", FormatValue(q.quantile), q.value, out);
          }
          AppendSample(f.name, "_sum", m.label, "", "", m.summary.sample_sum, out);
          AppendSample(f.name, "_count", m.label, "", "",
                       static_cast<double>(m.summary.sample_count), out);
          break;
        }
        case MetricType::Untyped:
          AppendSample(f.name, "", m.label, "", "", m.untyped.value, out);
          break;
      }
    }
  }
}

}  // namespace mlspace::metrics
