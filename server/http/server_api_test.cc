#include "server/http/server_api.h"

#include <limits>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/metrics/metrics.h"

namespace optd::server {
namespace {

using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(ServerSnapshotJson, IsJsonWithEscapedTextAndNonFiniteValuesAsStrings) {
  MetricsRegistry registry;
  GaugeFamily* gauge =
      registry.RegisterGauge("optd_g", "Say \"hi\"\\n\\\\ then\ttab", {"k"});
  gauge->Set({"a\"b"}, kInf);
  gauge->Set({"c"}, -kInf);
  gauge->Set({"d"}, 1e-5);
  registry.RegisterCounter("optd_unused_total", "Unused.", {"k"});
  const std::string json = ServerSnapshotJson(
      registry.Snapshot(), absl::FromUnixMillis(1767003000250), "");
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok())
      << json;
  EXPECT_EQ(parsed.fields().at("timeUnixSeconds").number_value(),
            1767003000.25);
  EXPECT_THAT(json, HasSubstr("\"timeUnixSeconds\":1767003000.25,"));
  const auto& metrics = parsed.fields().at("metrics").list_value();
  ASSERT_EQ(metrics.values_size(), 2);
  EXPECT_EQ(metrics.values(0).struct_value().fields().at("help").string_value(),
            "Say \"hi\"\\n\\\\ then\ttab");
  EXPECT_THAT(json,
              HasSubstr("{\"labels\":{\"k\":\"a\\\"b\"},\"value\":\"+Inf\"}"));
  EXPECT_THAT(json, HasSubstr("{\"labels\":{\"k\":\"c\"},\"value\":\"-Inf\"}"));
  EXPECT_THAT(json, HasSubstr("{\"labels\":{\"k\":\"d\"},\"value\":1e-05}"));
  // A family with labels and no sample yet.
  EXPECT_THAT(json, HasSubstr("\"name\":\"optd_unused_total\",\"type\":"
                              "\"counter\",\"help\":\"Unused.\","
                              "\"samples\":[]}"));
}

TEST(ServerSnapshotJson, ATenantKeepsOnlyItsOwnTenantSamples) {
  MetricsRegistry registry;
  GaugeFamily* memory = registry.RegisterGauge("optd_tenant_memory_bytes",
                                               "Memory.", {"tenant", "kind"});
  memory->Set({"alice", "state"}, 1);
  memory->Set({"bob", "state"}, 2);
  memory->Set({"-", "state"}, 3);
  registry.RegisterGauge("optd_other", "Other.", {"kind"})->Set({"x"}, 4);
  const std::vector<FamilySnapshot> families = registry.Snapshot();
  const std::string alice =
      ServerSnapshotJson(families, absl::UnixEpoch(), "alice");
  EXPECT_THAT(alice, HasSubstr("\"samples\":[{\"labels\":{\"tenant\":"
                               "\"alice\",\"kind\":\"state\"},\"value\":1}]"));
  EXPECT_THAT(alice, HasSubstr("{\"labels\":{\"kind\":\"x\"},\"value\":4}"));
  const std::string all = ServerSnapshotJson(families, absl::UnixEpoch(), "");
  EXPECT_THAT(all, HasSubstr("\"bob\""));
  EXPECT_THAT(all, HasSubstr("\"-\""));
}

}  // namespace
}  // namespace optd::server
