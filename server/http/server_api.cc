#include "server/http/server_api.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace optd::server {

void AppendJsonString(std::string* out, absl::string_view text) {
  out->push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out->append(escaped);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

namespace {

// A number as a JSON number, or "NaN", "+Inf", "-Inf" as strings.
void AppendJsonNumber(std::string* out, double value) {
  const std::string text = FormatMetricValue(value);
  if (std::isfinite(value)) {
    out->append(text);
  } else {
    AppendJsonString(out, text);
  }
}

// Whether `sample` is shown to `tenant` (see ServerSnapshotJson()).
bool Visible(const FamilySnapshot& family, const MetricSample& sample,
             absl::string_view tenant) {
  if (tenant.empty()) return true;
  for (size_t i = 0; i < family.label_names.size(); ++i) {
    if (family.label_names[i] == "tenant" && sample.label_values[i] != tenant) {
      return false;
    }
  }
  return true;
}

void AppendSample(std::string* out, const FamilySnapshot& family,
                  const MetricSample& sample) {
  out->append("{\"labels\":{");
  for (size_t i = 0; i < family.label_names.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(out, family.label_names[i]);
    out->push_back(':');
    AppendJsonString(out, sample.label_values[i]);
  }
  out->push_back('}');
  if (family.type != "histogram") {
    out->append(",\"value\":");
    AppendJsonNumber(out, sample.value);
    out->push_back('}');
    return;
  }
  absl::StrAppend(out, ",\"count\":", sample.bucket_counts.back(), ",\"sum\":");
  AppendJsonNumber(out, sample.sum);
  out->append(",\"buckets\":[");
  for (size_t i = 0; i < sample.bucket_counts.size(); ++i) {
    out->append(i > 0 ? ",{\"le\":" : "{\"le\":");
    if (i < family.bounds.size()) {
      AppendJsonNumber(out, family.bounds[i]);
    } else {
      AppendJsonString(out, "+Inf");
    }
    absl::StrAppend(out, ",\"count\":", sample.bucket_counts[i], "}");
  }
  out->append("]}");
}

}  // namespace

std::string ServerSnapshotJson(const std::vector<FamilySnapshot>& families,
                               absl::Time now, absl::string_view tenant) {
  std::string out = "{\"timeUnixSeconds\":";
  // Microseconds divided once: ToDoubleSeconds() of a Duration this long
  // rounds off more than its last digit.
  AppendJsonNumber(&out, static_cast<double>(absl::ToUnixMicros(now)) / 1e6);
  out.append(",\"metrics\":[");
  for (size_t f = 0; f < families.size(); ++f) {
    const FamilySnapshot& family = families[f];
    out.append(f > 0 ? ",{\"name\":" : "{\"name\":");
    AppendJsonString(&out, family.name);
    out.append(",\"type\":");
    AppendJsonString(&out, family.type);
    out.append(",\"help\":");
    AppendJsonString(&out, family.help);
    out.append(",\"samples\":[");
    bool first = true;
    for (const MetricSample& sample : family.samples) {
      if (!Visible(family, sample, tenant)) continue;
      if (!first) out.push_back(',');
      first = false;
      AppendSample(&out, family, sample);
    }
    out.append("]}");
  }
  out.append("]}");
  return out;
}

}  // namespace optd::server
