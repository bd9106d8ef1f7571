#include "server/metrics/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optd::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(MetricsText, FormatsValuesShortestWithIntegersAsIntegers) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(3), "3");
  EXPECT_EQ(FormatMetricValue(-42), "-42");
  EXPECT_EQ(FormatMetricValue(1e6), "1000000");
  EXPECT_EQ(FormatMetricValue(123456789012), "123456789012");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(2.5), "2.5");
  EXPECT_EQ(FormatMetricValue(0.0001), "0.0001");
  EXPECT_EQ(FormatMetricValue(1e-5), "1e-05");
  EXPECT_EQ(FormatMetricValue(1e21), "1e+21");
  EXPECT_EQ(FormatMetricValue(kInf), "+Inf");
  EXPECT_EQ(FormatMetricValue(-kInf), "-Inf");
  EXPECT_EQ(FormatMetricValue(kNaN), "NaN");
}

TEST(MetricsText, CountersWithLabelsAreSortedAndEscaped) {
  MetricsRegistry registry;
  CounterFamily* errors = registry.RegisterCounter(
      "optd_rpc_errors_total", "RPCs that failed.", {"method", "code"});
  errors->Add({"Tell", "INVALID_ARGUMENT"}, 2);
  errors->Add({"Ask", "NOT_FOUND"});
  errors->Add({"Tell", "A \"quoted\\\" \nvalue"}, 0.5);
  EXPECT_EQ(registry.ExpositionText(),
            "# HELP optd_rpc_errors_total RPCs that failed.\n"
            "# TYPE optd_rpc_errors_total counter\n"
            "optd_rpc_errors_total{method=\"Ask\",code=\"NOT_FOUND\"} 1\n"
            "optd_rpc_errors_total{method=\"Tell\",code=\"A \\\"quoted\\\\\\\" "
            "\\nvalue\"} 0.5\n"
            "optd_rpc_errors_total{method=\"Tell\",code=\"INVALID_ARGUMENT\"} "
            "2\n");
}

TEST(MetricsText, HelpEscapesBackslashAndNewlineButNotQuotes) {
  MetricsRegistry registry;
  registry.RegisterGauge("g", "a \"b\" c\\d\ne");
  EXPECT_EQ(registry.ExpositionText(),
            "# HELP g a \"b\" c\\\\d\\ne\n"
            "# TYPE g gauge\n"
            "g 0\n");
}

TEST(MetricsText, FamiliesInRegistrationOrderUnlabeledShowZero) {
  MetricsRegistry registry;
  registry.RegisterGauge("zeta", "");
  registry.RegisterCounter("alpha_total", "Alpha.");
  registry.RegisterGauge("labeled", "Nothing used yet.", {"tenant"});
  EXPECT_EQ(registry.ExpositionText(),
            "# TYPE zeta gauge\n"
            "zeta 0\n"
            "# HELP alpha_total Alpha.\n"
            "# TYPE alpha_total counter\n"
            "alpha_total 0\n"
            "# HELP labeled Nothing used yet.\n"
            "# TYPE labeled gauge\n");
}

TEST(MetricsText, GaugesSetAddAndGoNegative) {
  MetricsRegistry registry;
  GaugeFamily* memory =
      registry.RegisterGauge("optd_tenant_memory_bytes", "Bytes.", {"tenant"});
  memory->Set({"b"}, 1 << 20);
  memory->Add({"a"}, 5);
  memory->Add({"a"}, -7.25);
  Gauge& c = memory->WithLabels({"c"});
  c.Set(kInf);
  EXPECT_EQ(&c, &memory->WithLabels({"c"}));
  EXPECT_EQ(registry.ExpositionText(),
            "# HELP optd_tenant_memory_bytes Bytes.\n"
            "# TYPE optd_tenant_memory_bytes gauge\n"
            "optd_tenant_memory_bytes{tenant=\"a\"} -2.25\n"
            "optd_tenant_memory_bytes{tenant=\"b\"} 1048576\n"
            "optd_tenant_memory_bytes{tenant=\"c\"} +Inf\n");
}

TEST(MetricsText, HistogramBucketsAreCumulativeWithSumAndCount) {
  MetricsRegistry registry;
  HistogramFamily* steps =
      registry.RegisterHistogram("optd_step_duration_seconds", "Step latency.",
                                 {"solver"}, {0.001, 0.1, 1});
  Histogram& lbfgs = steps->WithLabels({"lbfgs"});
  lbfgs.Observe(0.0005);
  lbfgs.Observe(0.001);  // le: on the bound counts in that bucket
  lbfgs.Observe(0.5);
  lbfgs.Observe(3);
  steps->Observe({"adam"}, 0.05);
  EXPECT_EQ(
      registry.ExpositionText(),
      "# HELP optd_step_duration_seconds Step latency.\n"
      "# TYPE optd_step_duration_seconds histogram\n"
      "optd_step_duration_seconds_bucket{solver=\"adam\",le=\"0.001\"} 0\n"
      "optd_step_duration_seconds_bucket{solver=\"adam\",le=\"0.1\"} 1\n"
      "optd_step_duration_seconds_bucket{solver=\"adam\",le=\"1\"} 1\n"
      "optd_step_duration_seconds_bucket{solver=\"adam\",le=\"+Inf\"} 1\n"
      "optd_step_duration_seconds_sum{solver=\"adam\"} 0.05\n"
      "optd_step_duration_seconds_count{solver=\"adam\"} 1\n"
      "optd_step_duration_seconds_bucket{solver=\"lbfgs\",le=\"0.001\"} "
      "2\n"
      "optd_step_duration_seconds_bucket{solver=\"lbfgs\",le=\"0.1\"} 2\n"
      "optd_step_duration_seconds_bucket{solver=\"lbfgs\",le=\"1\"} 3\n"
      "optd_step_duration_seconds_bucket{solver=\"lbfgs\",le=\"+Inf\"} 4\n"
      "optd_step_duration_seconds_sum{solver=\"lbfgs\"} 3.5015\n"
      "optd_step_duration_seconds_count{solver=\"lbfgs\"} 4\n");
}

TEST(MetricsText, UnlabeledHistogramHasOnlyTheLeLabel) {
  MetricsRegistry registry;
  HistogramFamily* h =
      registry.RegisterHistogram("h_seconds", "H.", {}, {1e-5, 2, kInf});
  EXPECT_THAT(h->bounds(), ElementsAre(1e-5, 2));  // the +Inf is implicit
  h->Observe({}, kNaN);
  EXPECT_EQ(registry.ExpositionText(),
            "# HELP h_seconds H.\n"
            "# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"1e-05\"} 0\n"
            "h_seconds_bucket{le=\"2\"} 0\n"
            "h_seconds_bucket{le=\"+Inf\"} 1\n"
            "h_seconds_sum NaN\n"
            "h_seconds_count 1\n");
}

TEST(MetricsRegistry, HistogramCountsInfinitiesAtTheEnds) {
  const std::vector<double> bounds = {1, 2};
  Histogram h(&bounds);
  h.Observe(-kInf);
  h.Observe(1.5);
  h.Observe(kInf);
  EXPECT_THAT(h.CumulativeCounts(), ElementsAre(1, 2, 3));
}

TEST(MetricsRegistry, CounterIgnoresNegativeAndNaNIncrements) {
  Counter counter;
  counter.Add();
  counter.Add(-5);
  counter.Add(kNaN);
  counter.Add(0.25);
  EXPECT_EQ(counter.Value(), 1.25);
}

TEST(MetricsRegistry, DefaultAndExponentialBuckets) {
  const std::vector<double> latency = DefaultLatencyBuckets();
  EXPECT_EQ(latency.front(), 1e-4);
  EXPECT_EQ(latency.back(), 60);
  EXPECT_TRUE(std::is_sorted(latency.begin(), latency.end()));
  EXPECT_THAT(ExponentialBuckets(0.5, 2, 4), ElementsAre(0.5, 1, 2, 4));
}

TEST(MetricsRegistry, ConcurrentIncrementsAreExact) {
  MetricsRegistry registry;
  CounterFamily* steps =
      registry.RegisterCounter("steps_total", "S.", {"solver"});
  HistogramFamily* latency = registry.RegisterHistogram("latency_seconds", "L.",
                                                        {"solver"}, {0.5, 1.5});
  constexpr int kThreads = 8;
  constexpr int kIncrements = 20000;
  Counter& cached = steps->WithLabels({"lbfgs"});
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads look the children up each time (creating them
      // concurrently), half use the cached one.
      const std::string solver = t % 2 == 0 ? "lbfgs" : "adam";
      for (int i = 0; i < kIncrements; ++i) {
        if (t % 2 == 0) {
          cached.Add();
        } else {
          steps->Add({solver});
        }
        latency->Observe({solver}, i % 2);
      }
    });
  }
  // Scrapes beside the updates must not disturb them.
  for (int i = 0; i < 20; ++i) registry.ExpositionText();
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(cached.Value(), kThreads / 2 * kIncrements);
  EXPECT_EQ(steps->WithLabels({"adam"}).Value(), kThreads / 2 * kIncrements);
  const Histogram& h = latency->WithLabels({"adam"});
  EXPECT_THAT(h.CumulativeCounts(), ElementsAre(kThreads / 4 * kIncrements,
                                                kThreads / 2 * kIncrements,
                                                kThreads / 2 * kIncrements));
  EXPECT_EQ(h.Sum(), kThreads / 4 * kIncrements);
}

TEST(MetricsRegistry, CallbacksRunAtEachScrapeSortedWithoutDuplicates) {
  MetricsRegistry registry;
  int active = 1;
  registry.RegisterGaugeCallback("optd_sessions", "Sessions by state.",
                                 {"state"}, [&] {
                                   return std::vector<LabeledValue>{
                                       {{"done"}, 12},
                                       {{"active"}, double(active)},
                                       {{"done"}, 99},   // duplicate
                                       {{"a", "b"}, 1},  // wrong arity
                                   };
                                 });
  registry.RegisterCounterCallback("evals_total", "E.", {}, [] {
    return std::vector<LabeledValue>{{{}, 7}};
  });
  const std::string tail =
      "optd_sessions{state=\"done\"} 12\n"
      "# HELP evals_total E.\n"
      "# TYPE evals_total counter\n"
      "evals_total 7\n";
  EXPECT_EQ(registry.ExpositionText(),
            "# HELP optd_sessions Sessions by state.\n"
            "# TYPE optd_sessions gauge\n"
            "optd_sessions{state=\"active\"} 1\n" +
                tail);
  active = 4;
  EXPECT_THAT(registry.ExpositionText(),
              HasSubstr("optd_sessions{state=\"active\"} 4\n"));
}

TEST(MetricsSnapshot, CountersAndGaugesWithTheirLabels) {
  MetricsRegistry registry;
  CounterFamily* handled = registry.RegisterCounter(
      "optd_rpc_handled_total", "Calls.", {"method", "code"});
  handled->Add({"Tell", "OK"}, 3);
  handled->Add({"Ask", "OK"});
  registry.RegisterGauge("optd_streams", "Streams.")->Set({}, -2.5);
  const std::vector<FamilySnapshot> families = registry.Snapshot();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, "optd_rpc_handled_total");
  EXPECT_EQ(families[0].type, "counter");
  EXPECT_EQ(families[0].help, "Calls.");
  EXPECT_THAT(families[0].label_names, ElementsAre("method", "code"));
  EXPECT_TRUE(families[0].bounds.empty());
  ASSERT_EQ(families[0].samples.size(), 2u);
  EXPECT_THAT(families[0].samples[0].label_values, ElementsAre("Ask", "OK"));
  EXPECT_EQ(families[0].samples[0].value, 1);
  EXPECT_THAT(families[0].samples[1].label_values, ElementsAre("Tell", "OK"));
  EXPECT_EQ(families[0].samples[1].value, 3);
  EXPECT_TRUE(families[0].samples[1].bucket_counts.empty());
  EXPECT_EQ(families[1].type, "gauge");
  ASSERT_EQ(families[1].samples.size(), 1u);
  EXPECT_TRUE(families[1].samples[0].label_values.empty());
  EXPECT_EQ(families[1].samples[0].value, -2.5);
}

TEST(MetricsSnapshot, HistogramsHaveCumulativeBucketsCountAndSum) {
  MetricsRegistry registry;
  HistogramFamily* latency = registry.RegisterHistogram(
      "optd_rpc_duration_seconds", "Latency.", {"method"}, {0.1, 1, kInf});
  latency->Observe({"Tell"}, 0.05);
  latency->Observe({"Tell"}, 0.5);
  latency->Observe({"Tell"}, 5);
  latency->Observe({"Tell"}, 0.1);
  const std::vector<FamilySnapshot> families = registry.Snapshot();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].type, "histogram");
  EXPECT_THAT(families[0].bounds, ElementsAre(0.1, 1));  // +Inf implicit
  ASSERT_EQ(families[0].samples.size(), 1u);
  const MetricSample& tell = families[0].samples[0];
  EXPECT_THAT(tell.label_values, ElementsAre("Tell"));
  EXPECT_THAT(tell.bucket_counts, ElementsAre(2, 3, 4));
  EXPECT_DOUBLE_EQ(tell.sum, 5.65);
  EXPECT_EQ(tell.value, 0);
}

TEST(MetricsSnapshot, CallbacksSortedWithoutDuplicatesOrWrongArity) {
  MetricsRegistry registry;
  int scrapes = 0;
  registry.RegisterGaugeCallback("optd_sessions", "Sessions.", {"state"}, [&] {
    ++scrapes;
    return std::vector<LabeledValue>{
        {{"RUNNING"}, 2}, {{"FAILED"}, 1}, {{"RUNNING"}, 9}, {{"a", "b"}, 4}};
  });
  registry.RegisterCounterCallback("optd_kept_total", "Kept.", {}, [] {
    return std::vector<LabeledValue>{{{}, 12}};
  });
  const std::vector<FamilySnapshot> families = registry.Snapshot();
  EXPECT_EQ(scrapes, 1);
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].type, "gauge");
  ASSERT_EQ(families[0].samples.size(), 2u);
  EXPECT_THAT(families[0].samples[0].label_values, ElementsAre("FAILED"));
  EXPECT_EQ(families[0].samples[0].value, 1);
  EXPECT_THAT(families[0].samples[1].label_values, ElementsAre("RUNNING"));
  EXPECT_EQ(families[0].samples[1].value, 2);  // the first of equals
  EXPECT_EQ(families[1].type, "counter");
  ASSERT_EQ(families[1].samples.size(), 1u);
  EXPECT_EQ(families[1].samples[0].value, 12);
}

TEST(MetricsSnapshot, NonFiniteValuesAreKept) {
  MetricsRegistry registry;
  GaugeFamily* gauge = registry.RegisterGauge("g", "", {"k"});
  gauge->Set({"inf"}, kInf);
  gauge->Set({"minus"}, -kInf);
  gauge->Set({"nan"}, kNaN);
  registry.RegisterHistogram("h", "", {}, {1})->Observe({}, kNaN);
  const std::vector<FamilySnapshot> families = registry.Snapshot();
  ASSERT_EQ(families[0].samples.size(), 3u);
  EXPECT_EQ(families[0].samples[0].value, kInf);
  EXPECT_EQ(families[0].samples[1].value, -kInf);
  EXPECT_TRUE(std::isnan(families[0].samples[2].value));
  ASSERT_EQ(families[1].samples.size(), 1u);
  EXPECT_THAT(families[1].samples[0].bucket_counts, ElementsAre(0, 1));
  EXPECT_TRUE(std::isnan(families[1].samples[0].sum));
}

TEST(MetricsSnapshot, ExpositionTextRendersTheSnapshot) {
  MetricsRegistry registry;
  registry.RegisterCounter("c_total", "C.", {"k"})->Add({"x"}, 2);
  registry.RegisterHistogram("h", "H.", {}, {1})->Observe({}, 0.5);
  std::string rendered;
  for (const FamilySnapshot& family : registry.Snapshot()) {
    AppendExpositionText(family, &rendered);
  }
  EXPECT_EQ(rendered, registry.ExpositionText());
}

using MetricsRegistryDeathTest = ::testing::Test;

TEST_F(MetricsRegistryDeathTest, InvalidMetricNameDies) {
  MetricsRegistry registry;
  EXPECT_DEATH(registry.RegisterCounter("9lives", "x"),
               "metric name \"9lives\" does not match");
  EXPECT_DEATH(registry.RegisterCounter("", "x"), "metric name \"\"");
  EXPECT_DEATH(registry.RegisterGauge("a-b", "x"), "\"a-b\"");
}

TEST_F(MetricsRegistryDeathTest, InvalidOrReservedLabelNameDies) {
  MetricsRegistry registry;
  EXPECT_DEATH(registry.RegisterCounter("c", "x", {"a:b"}),
               "metric c: label name \"a:b\"");
  EXPECT_DEATH(registry.RegisterCounter("c", "x", {"__name"}),
               "label name \"__name\".*reserved");
  EXPECT_DEATH(registry.RegisterCounter("c", "x", {"m", "m"}),
               "label name \"m\" appears twice");
  EXPECT_DEATH(registry.RegisterHistogram("h", "x", {"le"}, {1}),
               "histogram h: the label name \"le\" is reserved");
}

TEST_F(MetricsRegistryDeathTest, DuplicateNameDies) {
  MetricsRegistry registry;
  registry.RegisterCounter("c_total", "x");
  EXPECT_DEATH(registry.RegisterGauge("c_total", "y"),
               "metric c_total is registered twice");
}

TEST_F(MetricsRegistryDeathTest, BadBucketBoundsDie) {
  MetricsRegistry registry;
  EXPECT_DEATH(
      registry.RegisterHistogram("h", "x", {}, {1, 1}),
      "histogram h: bucket bound 1 \\(1\\) is not finite or not above");
  EXPECT_DEATH(registry.RegisterHistogram("h", "x", {}, {kNaN}),
               "bucket bound 0 \\(NaN\\)");
  EXPECT_DEATH(registry.RegisterHistogram("h", "x", {}, {-kInf, 1}),
               "bucket bound 0 \\(-Inf\\)");
  EXPECT_DEATH(ExponentialBuckets(0, 2, 3), "needs start > 0");
  EXPECT_DEATH(ExponentialBuckets(1, 1, 3), "factor > 1");
  EXPECT_DEATH(ExponentialBuckets(1, 2, 0), "count >= 1");
}

TEST_F(MetricsRegistryDeathTest, WrongNumberOfLabelValuesDies) {
  MetricsRegistry registry;
  CounterFamily* errors =
      registry.RegisterCounter("e_total", "x", {"method", "code"});
  EXPECT_DEATH(errors->Add({"Tell"}),
               "metric e_total has 2 labels \\(method,code\\) but got 1 "
               "values \\(Tell\\)");
}

}  // namespace
}  // namespace optd::server
