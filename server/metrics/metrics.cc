#include "server/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

// Misuse of the registry is a bug in optd: say which metric and stop.
[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "optd metrics: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

bool IsMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(absl::string_view name) {
  return IsMetricName(name) && name.find(':') == absl::string_view::npos;
}

// Text format 0.0.4: HELP escapes backslash and newline; label values also
// the double quote.
void AppendEscaped(std::string* out, absl::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

void AtomicAdd(std::atomic<double>& value, double delta) {
  double old = value.load(std::memory_order_relaxed);
  while (!value.compare_exchange_weak(old, old + delta,
                                      std::memory_order_relaxed)) {
  }
}

// Appends one sample line: `family.name` + `suffix`, the labels (plus
// `extra_label`="`extra_value`" when `extra_label` is not empty) and the
// value.
void AppendSample(std::string* out, const FamilySnapshot& family,
                  absl::string_view suffix,
                  const std::vector<std::string>& label_values,
                  absl::string_view extra_label, absl::string_view extra_value,
                  double value) {
  absl::StrAppend(out, family.name, suffix);
  if (!label_values.empty() || !extra_label.empty()) {
    out->push_back('{');
    for (size_t i = 0; i < label_values.size(); ++i) {
      absl::StrAppend(out, i > 0 ? "," : "", family.label_names[i], "=\"");
      AppendEscaped(out, label_values[i], /*quote=*/true);
      out->push_back('"');
    }
    if (!extra_label.empty()) {
      absl::StrAppend(out, label_values.empty() ? "" : ",", extra_label, "=\"");
      AppendEscaped(out, extra_value, /*quote=*/true);
      out->push_back('"');
    }
    out->push_back('}');
  }
  absl::StrAppend(out, " ", FormatMetricValue(value), "\n");
}

template <typename A, typename B>
bool LexicographicLess(const A& a, const B& b) {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(),
      [](absl::string_view x, absl::string_view y) { return x < y; });
}

}  // namespace

void AppendExpositionText(const FamilySnapshot& family, std::string* out) {
  if (!family.help.empty()) {
    absl::StrAppend(out, "# HELP ", family.name, " ");
    AppendEscaped(out, family.help, /*quote=*/false);
    out->push_back('\n');
  }
  absl::StrAppend(out, "# TYPE ", family.name, " ", family.type, "\n");
  for (const MetricSample& sample : family.samples) {
    if (family.type != "histogram") {
      AppendSample(out, family, "", sample.label_values, "", "", sample.value);
      continue;
    }
    for (size_t i = 0; i < family.bounds.size(); ++i) {
      AppendSample(out, family, "_bucket", sample.label_values, "le",
                   FormatMetricValue(family.bounds[i]),
                   sample.bucket_counts[i]);
    }
    const uint64_t count = sample.bucket_counts.back();
    AppendSample(out, family, "_bucket", sample.label_values, "le", "+Inf",
                 count);
    AppendSample(out, family, "_sum", sample.label_values, "", "", sample.sum);
    AppendSample(out, family, "_count", sample.label_values, "", "", count);
  }
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) {
    Die(absl::StrCat("ExponentialBuckets(start=", start, ", factor=", factor,
                     ", count=", count,
                     ") needs start > 0, factor > 1 and count >= 1"));
  }
  std::vector<double> bounds(count);
  for (int i = 0; i < count; ++i) bounds[i] = start * std::pow(factor, i);
  return bounds;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto scientific = std::to_chars(buffer, buffer + sizeof(buffer), value,
                                  std::chars_format::scientific);
  const char* e = std::find(buffer, scientific.ptr, 'e');
  int exponent = 0;
  std::from_chars(e + (e[1] == '+' ? 2 : 1), scientific.ptr, exponent);
  if (exponent < -4 || exponent > 20)
    return std::string(buffer, scientific.ptr);
  auto fixed = std::to_chars(buffer, buffer + sizeof(buffer), value,
                             std::chars_format::fixed);
  return std::string(buffer, fixed.ptr);
}

void Counter::Add(double delta) {
  if (!(delta >= 0)) return;
  AtomicAdd(value_, delta);
}

void Gauge::Add(double delta) { AtomicAdd(value_, delta); }

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds->size() + 1)) {
  for (size_t i = 0; i <= bounds_->size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  // The first bound b with value <= b; NaN compares false: +Inf bucket.
  const size_t bucket =
      std::lower_bound(bounds_->begin(), bounds_->end(), value) -
      bounds_->begin();
  counts_[std::isnan(value) ? bounds_->size() : bucket].fetch_add(
      1, std::memory_order_relaxed);
  AtomicAdd(sum_, value);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> cumulative(bounds_->size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i < cumulative.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    cumulative[i] = total;
  }
  return cumulative;
}

bool LabelValuesLess::operator()(LabelValues a, LabelValues b) const {
  return LexicographicLess(a, b);
}
bool LabelValuesLess::operator()(const std::vector<std::string>& a,
                                 const std::vector<std::string>& b) const {
  return a < b;
}
bool LabelValuesLess::operator()(const std::vector<std::string>& a,
                                 LabelValues b) const {
  return LexicographicLess(a, b);
}
bool LabelValuesLess::operator()(LabelValues a,
                                 const std::vector<std::string>& b) const {
  return LexicographicLess(a, b);
}

MetricFamily::MetricFamily(std::string name, std::string help,
                           std::vector<std::string> label_names,
                           absl::string_view type)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      type_(type) {
  if (!IsMetricName(name_)) {
    Die(absl::StrCat("metric name \"", name_,
                     "\" does not match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& label : label_names_) {
    if (!IsLabelName(label) || absl::StartsWith(label, "__")) {
      Die(absl::StrCat("metric ", name_, ": label name \"", label,
                       "\" does not match [a-zA-Z_][a-zA-Z0-9_]* or starts "
                       "with the reserved \"__\""));
    }
    if (!seen.insert(label).second) {
      Die(absl::StrCat("metric ", name_, ": label name \"", label,
                       "\" appears twice"));
    }
  }
}

FamilySnapshot MetricFamily::Snapshot() const {
  FamilySnapshot snapshot;
  snapshot.name = name_;
  snapshot.help = help_;
  snapshot.type = type_;
  snapshot.label_names = label_names_;
  Collect(&snapshot);
  return snapshot;
}

void MetricFamily::AppendText(std::string* out) const {
  AppendExpositionText(Snapshot(), out);
}

void MetricFamily::CheckArity(LabelValues values) const {
  if (values.size() == label_names_.size()) return;
  Die(absl::StrCat("metric ", name_, " has ", label_names_.size(), " labels (",
                   absl::StrJoin(label_names_, ","), ") but got ",
                   values.size(), " values (", absl::StrJoin(values, ","),
                   ")"));
}

template <typename Child>
Child& ChildFamily<Child>::WithLabels(LabelValues values) {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = children_.find(values);
    if (it != children_.end()) return *it->second;
  }
  CheckArity(values);
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = children_.try_emplace(
      std::vector<std::string>(values.begin(), values.end()), nullptr);
  if (inserted) it->second = NewChild();
  return *it->second;
}

template <typename Child>
void ChildFamily<Child>::ForEachChild(
    const std::function<void(const std::vector<std::string>&, const Child&)>&
        visit) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [values, child] : children_) visit(values, *child);
}

template class ChildFamily<Counter>;
template class ChildFamily<Gauge>;
template class ChildFamily<Histogram>;

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : ChildFamily(std::move(name), std::move(help), std::move(label_names),
                  "counter") {
  if (this->label_names().empty()) WithLabels({});
}

std::unique_ptr<Counter> CounterFamily::NewChild() const {
  return std::make_unique<Counter>();
}

void CounterFamily::Collect(FamilySnapshot* snapshot) const {
  ForEachChild([&](const std::vector<std::string>& values, const Counter& c) {
    snapshot->samples.push_back({.label_values = values, .value = c.Value()});
  });
}

GaugeFamily::GaugeFamily(std::string name, std::string help,
                         std::vector<std::string> label_names)
    : ChildFamily(std::move(name), std::move(help), std::move(label_names),
                  "gauge") {
  if (this->label_names().empty()) WithLabels({});
}

std::unique_ptr<Gauge> GaugeFamily::NewChild() const {
  return std::make_unique<Gauge>();
}

void GaugeFamily::Collect(FamilySnapshot* snapshot) const {
  ForEachChild([&](const std::vector<std::string>& values, const Gauge& g) {
    snapshot->samples.push_back({.label_values = values, .value = g.Value()});
  });
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names,
                                 std::vector<double> bounds)
    : ChildFamily(std::move(name), std::move(help), std::move(label_names),
                  "histogram"),
      bounds_([&] {
        if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) {
          bounds.pop_back();
        }
        return std::move(bounds);
      }()) {
  for (const std::string& label : this->label_names()) {
    if (label == "le") {
      Die(absl::StrCat("histogram ", this->name(),
                       ": the label name \"le\" is reserved for buckets"));
    }
  }
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) ||
        (i > 0 && !(bounds_[i - 1] < bounds_[i]))) {
      Die(absl::StrCat("histogram ", this->name(), ": bucket bound ", i, " (",
                       FormatMetricValue(bounds_[i]),
                       ") is not finite or not above the one before"));
    }
  }
  if (this->label_names().empty()) WithLabels({});
}

std::unique_ptr<Histogram> HistogramFamily::NewChild() const {
  return std::make_unique<Histogram>(&bounds_);
}

void HistogramFamily::Collect(FamilySnapshot* snapshot) const {
  snapshot->bounds = bounds_;
  ForEachChild([&](const std::vector<std::string>& values,
                   const Histogram& histogram) {
    snapshot->samples.push_back({.label_values = values,
                                 .bucket_counts = histogram.CumulativeCounts(),
                                 .sum = histogram.Sum()});
  });
}

CallbackFamily::CallbackFamily(std::string name, std::string help,
                               std::vector<std::string> label_names,
                               absl::string_view type, Callback callback)
    : MetricFamily(std::move(name), std::move(help), std::move(label_names),
                   type),
      callback_(std::move(callback)) {}

void CallbackFamily::Collect(FamilySnapshot* snapshot) const {
  std::vector<LabeledValue> samples = callback_();
  const auto wrong_arity = [&](const LabeledValue& sample) {
    return sample.label_values.size() != label_names().size();
  };
  const auto dropped =
      std::remove_if(samples.begin(), samples.end(), wrong_arity);
  if (dropped != samples.end()) {
    spdlog::warn(
        "metric {}: dropped {} samples whose label values do not "
        "match its {} labels",
        name(), samples.end() - dropped, label_names().size());
    samples.erase(dropped, samples.end());
  }
  std::stable_sort(samples.begin(), samples.end(),
                   [](const LabeledValue& a, const LabeledValue& b) {
                     return a.label_values < b.label_values;
                   });
  for (LabeledValue& sample : samples) {
    if (!snapshot->samples.empty() &&
        sample.label_values == snapshot->samples.back().label_values) {
      continue;
    }
    snapshot->samples.push_back({.label_values = std::move(sample.label_values),
                                 .value = sample.value});
  }
}

template <typename Family>
Family* MetricsRegistry::Add(std::unique_ptr<Family> family) {
  absl::MutexLock lock(&mu_);
  for (const auto& existing : families_) {
    if (existing->name() == family->name()) {
      Die(absl::StrCat("metric ", family->name(), " is registered twice"));
    }
  }
  Family* added = family.get();
  families_.push_back(std::move(family));
  return added;
}

CounterFamily* MetricsRegistry::RegisterCounter(
    std::string name, std::string help, std::vector<std::string> label_names) {
  return Add(std::make_unique<CounterFamily>(std::move(name), std::move(help),
                                             std::move(label_names)));
}

GaugeFamily* MetricsRegistry::RegisterGauge(
    std::string name, std::string help, std::vector<std::string> label_names) {
  return Add(std::make_unique<GaugeFamily>(std::move(name), std::move(help),
                                           std::move(label_names)));
}

HistogramFamily* MetricsRegistry::RegisterHistogram(
    std::string name, std::string help, std::vector<std::string> label_names,
    std::vector<double> bounds) {
  return Add(std::make_unique<HistogramFamily>(std::move(name), std::move(help),
                                               std::move(label_names),
                                               std::move(bounds)));
}

CallbackFamily* MetricsRegistry::RegisterGaugeCallback(
    std::string name, std::string help, std::vector<std::string> label_names,
    CallbackFamily::Callback callback) {
  return Add(std::make_unique<CallbackFamily>(std::move(name), std::move(help),
                                              std::move(label_names), "gauge",
                                              std::move(callback)));
}

CallbackFamily* MetricsRegistry::RegisterCounterCallback(
    std::string name, std::string help, std::vector<std::string> label_names,
    CallbackFamily::Callback callback) {
  return Add(std::make_unique<CallbackFamily>(std::move(name), std::move(help),
                                              std::move(label_names), "counter",
                                              std::move(callback)));
}

std::vector<FamilySnapshot> MetricsRegistry::Snapshot() const {
  // Families are never removed, so their pointers outlive the lock, and
  // callbacks run without it.
  std::vector<const MetricFamily*> families;
  {
    absl::MutexLock lock(&mu_);
    families.reserve(families_.size());
    for (const auto& family : families_) families.push_back(family.get());
  }
  std::vector<FamilySnapshot> snapshots;
  snapshots.reserve(families.size());
  for (const MetricFamily* family : families) {
    snapshots.push_back(family->Snapshot());
  }
  return snapshots;
}

std::string MetricsRegistry::ExpositionText() const {
  std::string out;
  for (const FamilySnapshot& family : Snapshot()) {
    AppendExpositionText(family, &out);
  }
  return out;
}

}  // namespace optd::server
