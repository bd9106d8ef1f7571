// MetricsRegistry: Prometheus metrics (counters, gauges, histograms) and
// their text exposition, format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/). No metrics
// library: what optd needs is small, and this keeps the hot path to one
// atomic operation. MetricsHttpServer (metrics_http_server.h) serves it.
//
// A family has a name, a help text and label names fixed at registration;
// its children are looked up by label values, created on first use and live
// as long as the registry, so label values must come from small sets
// (solver kinds, RPC methods, status codes; never session ids). Callers on
// a hot path look a child up once and keep the reference:
//
//   MetricsRegistry registry;
//   CounterFamily* errors = registry.RegisterCounter(
//       "optd_rpc_errors_total", "RPCs that failed, by method and code.",
//       {"method", "code"});
//   errors->Add({"Tell", "INVALID_ARGUMENT"});          // looks the child up
//   Counter& tell_ok = errors->WithLabels({"Tell", "OK"});  // cache this...
//   tell_ok.Add();                                      // ...one atomic add
//   HistogramFamily* steps = registry.RegisterHistogram(
//       "optd_step_duration_seconds", "Solver step latency.", {"solver"},
//       DefaultLatencyBuckets());
//   steps->WithLabels({"lbfgs"}).Observe(0.0031);
//   registry.RegisterGaugeCallback(
//       "optd_sessions", "Sessions by state.", {"state"}, [&] {
//         return std::vector<LabeledValue>{{{"active"}, 3}, {{"done"}, 12}};
//       });
//   std::string text = registry.ExpositionText();
//   std::vector<FamilySnapshot> families = registry.Snapshot();  // for JSON
//
// Snapshot() is the same walk as ExpositionText() as data (one
// FamilySnapshot per family, samples as numbers), for renderers of other
// formats such as the dashboard's JSON (server/http/server_api.h).
//
// Exposition is stable, so tests compare text: families in registration
// order, children sorted by label values, values in the shortest form that
// reads back exactly (integers without a decimal point, "+Inf", "-Inf",
// "NaN"). A family without labels always shows its one sample (0 at first);
// one with labels shows only the children used so far.
//
// Misuse is a programming error and the process dies with a message naming
// the metric (like CHECK, or Prometheus' Go client's MustRegister): an
// invalid metric or label name, a name registered twice, a reserved label
// name ("le" in a histogram, names starting with "__"), bucket bounds that
// do not increase, or a lookup with the wrong number of label values. Names
// are constants in optd's code, so a test that registers them catches all
// of these. Values are not misuse: a negative or NaN counter increment is
// ignored (counters only go up), and a callback's sample with the wrong
// number of label values is dropped and logged.
//
// The metrics optd registers are listed in service_metrics.h (names follow
// the Prometheus conventions: base units, `_total` for counters, `_seconds`
// and `_bytes`; rates such as steps per second are the query's job:
// rate(optd_steps_total[1m])).
//
// Thread-safety: thread-safe. Updates to a child are lock-free; creating a
// child, registering a family and rendering the text take mutexes.
#ifndef OPTD_SERVER_METRICS_METRICS_H_
#define OPTD_SERVER_METRICS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace optd::server {

// Label values, in the order of the family's label names. Written as a
// braced list: {"Tell", "OK"} or {method, code}.
using LabelValues = absl::Span<const absl::string_view>;

// Content-Type of ExpositionText() over HTTP.
inline constexpr char kExpositionContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// DefaultLatencyBuckets()
//
// Upper bounds in seconds for latency histograms: 100 µs to 60 s, in the
// 1-2.5-5 steps of the Go client's defaults (which stop at 10 s; a step of
// a large sharded session or a durable tell can take longer).
std::vector<double> DefaultLatencyBuckets();

// ExponentialBuckets()
//
// `count` bounds start, start·factor, start·factor², ...
// REQUIRES: start > 0, factor > 1, count >= 1.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// FormatMetricValue()
//
// A sample value as the exposition writes it: shortest digits that read
// back exactly, fixed notation for decimal exponents -4 to 20 (so integers
// have no decimal point), scientific otherwise (1e-05, 1e+21); "+Inf",
// "-Inf", "NaN".
std::string FormatMetricValue(double value);

// MetricSample
//
// One child of a family at a Snapshot(): its label values (in the order of
// the family's label names) and its value, or a histogram's buckets and sum.
struct MetricSample {
  std::vector<std::string> label_values;
  // A counter's or gauge's value; 0 for a histogram.
  double value = 0;
  // Histograms only: observations <= each of FamilySnapshot::bounds, then
  // the total (the +Inf bucket, which is also the count): bounds.size() + 1
  // cumulative counts. Empty for a counter or gauge.
  std::vector<uint64_t> bucket_counts;
  // Histograms only: the sum of the observations.
  double sum = 0;
};

// FamilySnapshot
//
// A family and its samples at one moment, as ExpositionText() renders them:
// samples sorted by label values.
struct FamilySnapshot {
  std::string name;
  std::string help;
  // "counter", "gauge" or "histogram".
  std::string type;
  std::vector<std::string> label_names;
  // Histograms only: the finite bucket upper bounds (the +Inf bucket is
  // implicit).
  std::vector<double> bounds;
  std::vector<MetricSample> samples;
};

// AppendExpositionText()
//
// Appends `family`'s # HELP and # TYPE lines and its samples in the text
// format 0.0.4.
void AppendExpositionText(const FamilySnapshot& family, std::string* out);

// Counter
//
// A monotonically increasing count (one child of a CounterFamily).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Counter::Add()
  //
  // Adds `delta`; a negative or NaN `delta` is ignored.
  void Add(double delta = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Gauge
//
// A value that goes up and down (one child of a GaugeFamily).
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  // Gauge::Add()
  //
  // Adds `delta`, which may be negative.
  void Add(double delta);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Histogram
//
// Counts observations into buckets with fixed upper bounds, and keeps their
// sum (one child of a HistogramFamily). An observation v falls in the first
// bucket whose bound b has v <= b, or in the implicit +Inf bucket.
class Histogram {
 public:
  // `bounds` (increasing, finite) must outlive the histogram.
  explicit Histogram(const std::vector<double>* bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Histogram::Observe()
  //
  // Counts `value`; NaN goes to the +Inf bucket (and makes the sum NaN).
  void Observe(double value);

  // Histogram::CumulativeCounts()
  //
  // Observations <= each bound, then the total (the +Inf bucket), which is
  // also the histogram's _count: one number per bucket, bounds().size() + 1.
  std::vector<uint64_t> CumulativeCounts() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  const std::vector<double>* const bounds_;
  // Per bucket (not cumulative), bounds_->size() + 1 of them; the _count is
  // their total, so that it always equals the +Inf bucket in a scrape.
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// MetricFamily
//
// What families have in common: name, help, label names and a snapshot of
// their samples. Families are created by a MetricsRegistry, which owns them.
class MetricFamily {
 public:
  virtual ~MetricFamily() = default;
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // MetricFamily::Snapshot()
  //
  // The family and its samples now.
  FamilySnapshot Snapshot() const;

  // MetricFamily::AppendText()
  //
  // AppendExpositionText(Snapshot(), out).
  void AppendText(std::string* out) const;

 protected:
  // `type` is the exposition's TYPE: "counter", "gauge" or "histogram".
  MetricFamily(std::string name, std::string help,
               std::vector<std::string> label_names, absl::string_view type);

  // Dies unless `values` has one value per label name.
  void CheckArity(LabelValues values) const;

 private:
  // Fills `snapshot`'s samples (and a histogram's bounds).
  virtual void Collect(FamilySnapshot* snapshot) const = 0;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::string type_;
};

// Orders label value lists lexicographically; compares std::vector<string>
// keys with LabelValues lookups without copying.
struct LabelValuesLess {
  using is_transparent = void;
  bool operator()(LabelValues a, LabelValues b) const;
  bool operator()(const std::vector<std::string>& a,
                  const std::vector<std::string>& b) const;
  bool operator()(const std::vector<std::string>& a, LabelValues b) const;
  bool operator()(LabelValues a, const std::vector<std::string>& b) const;
};

// ChildFamily<Child>
//
// A family whose children are Counter, Gauge or Histogram objects kept by
// label values (CounterFamily, GaugeFamily, HistogramFamily).
template <typename Child>
class ChildFamily : public MetricFamily {
 public:
  // ChildFamily::WithLabels()
  //
  // The child for `values` (one per label name), created at first use. The
  // reference stays valid as long as the registry.
  Child& WithLabels(LabelValues values) ABSL_LOCKS_EXCLUDED(mu_);

 protected:
  using MetricFamily::MetricFamily;
  virtual std::unique_ptr<Child> NewChild() const = 0;
  // Calls `visit` on each child in label value order.
  void ForEachChild(const std::function<void(const std::vector<std::string>&,
                                             const Child&)>& visit) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Child>, LabelValuesLess>
      children_ ABSL_GUARDED_BY(mu_);
};

// CounterFamily
class CounterFamily final : public ChildFamily<Counter> {
 public:
  CounterFamily(std::string name, std::string help,
                std::vector<std::string> label_names);
  // CounterFamily::Add()
  //
  // WithLabels(values).Add(delta): for rare events; cache the child where
  // it is hot.
  void Add(LabelValues values, double delta = 1) {
    WithLabels(values).Add(delta);
  }

 private:
  std::unique_ptr<Counter> NewChild() const override;
  void Collect(FamilySnapshot* snapshot) const override;
};

// GaugeFamily
class GaugeFamily final : public ChildFamily<Gauge> {
 public:
  GaugeFamily(std::string name, std::string help,
              std::vector<std::string> label_names);
  void Set(LabelValues values, double value) { WithLabels(values).Set(value); }
  void Add(LabelValues values, double delta) { WithLabels(values).Add(delta); }

 private:
  std::unique_ptr<Gauge> NewChild() const override;
  void Collect(FamilySnapshot* snapshot) const override;
};

// HistogramFamily
class HistogramFamily final : public ChildFamily<Histogram> {
 public:
  // `bounds`: see MetricsRegistry::RegisterHistogram().
  HistogramFamily(std::string name, std::string help,
                  std::vector<std::string> label_names,
                  std::vector<double> bounds);
  void Observe(LabelValues values, double value) {
    WithLabels(values).Observe(value);
  }
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::unique_ptr<Histogram> NewChild() const override;
  void Collect(FamilySnapshot* snapshot) const override;

  const std::vector<double> bounds_;
};

// LabeledValue
//
// One sample of a callback family: label values in the order of the
// family's label names, and the value.
struct LabeledValue {
  std::vector<std::string> label_values;
  double value = 0;
};

// CallbackFamily
//
// A gauge or counter family whose samples a callback computes at each
// scrape (sessions by state, memory per tenant, a counter kept elsewhere).
// The callback runs on the scraping thread with no registry lock held; it
// must be thread-safe and must not call ExpositionText(). Samples are sorted
// by label values; of samples with the same label values the first is kept.
class CallbackFamily final : public MetricFamily {
 public:
  using Callback = std::function<std::vector<LabeledValue>()>;
  CallbackFamily(std::string name, std::string help,
                 std::vector<std::string> label_names, absl::string_view type,
                 Callback callback);

 private:
  void Collect(FamilySnapshot* snapshot) const override;

  const Callback callback_;
};

// MetricsRegistry
//
// Owns metric families and renders them. Register* return families that
// live as long as the registry; they die on misuse (see the overview).
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
  // [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__"; `help` is free text.
  CounterFamily* RegisterCounter(std::string name, std::string help,
                                 std::vector<std::string> label_names = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  GaugeFamily* RegisterGauge(std::string name, std::string help,
                             std::vector<std::string> label_names = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  // MetricsRegistry::RegisterHistogram()
  //
  // `bounds`: finite, strictly increasing bucket upper bounds; a last +Inf
  // is dropped (the +Inf bucket is always there). "le" is reserved.
  HistogramFamily* RegisterHistogram(std::string name, std::string help,
                                     std::vector<std::string> label_names,
                                     std::vector<double> bounds)
      ABSL_LOCKS_EXCLUDED(mu_);
  CallbackFamily* RegisterGaugeCallback(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        CallbackFamily::Callback callback)
      ABSL_LOCKS_EXCLUDED(mu_);
  // MetricsRegistry::RegisterCounterCallback()
  //
  // The callback's values must never decrease for the same labels.
  CallbackFamily* RegisterCounterCallback(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          CallbackFamily::Callback callback)
      ABSL_LOCKS_EXCLUDED(mu_);

  // MetricsRegistry::ExpositionText()
  //
  // Every family in registration order, in the text format 0.0.4: each
  // Snapshot() family through AppendExpositionText().
  std::string ExpositionText() const ABSL_LOCKS_EXCLUDED(mu_);

  // MetricsRegistry::Snapshot()
  //
  // Every family in registration order, with its samples now (callbacks
  // run, as for ExpositionText()).
  std::vector<FamilySnapshot> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  template <typename Family>
  Family* Add(std::unique_ptr<Family> family) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace optd::server

#endif  // OPTD_SERVER_METRICS_METRICS_H_
