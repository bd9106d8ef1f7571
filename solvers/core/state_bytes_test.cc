#include "solvers/core/state_bytes.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

TEST(StateBytes, WordsAreLittleEndianAndReadBack) {
  std::string out;
  StateWriter w(&out);
  w.Tag("tag");
  w.U64(0x0102030405060708);
  w.I64(-2);
  w.F64(1.0);  // 0x3ff0000000000000
  w.Flag(true);
  const double xs[] = {0.5, -0.0};
  w.F64s(xs, 2);
  ASSERT_EQ(out.size(), 3u + 8 * 6);
  EXPECT_EQ(out.substr(3, 8), std::string("\x08\x07\x06\x05\x04\x03\x02\x01"));
  EXPECT_EQ(out.substr(3 + 16, 8), std::string("\0\0\0\0\0\0\xf0\x3f", 8));

  StateReader r(out);
  EXPECT_TRUE(r.Tag("tag"));
  EXPECT_EQ(r.U64(), 0x0102030405060708u);
  EXPECT_EQ(r.I64(), -2);
  EXPECT_EQ(r.F64(), 1.0);
  EXPECT_TRUE(r.Flag("flag"));
  double back[2];
  EXPECT_TRUE(r.F64s(back, 2));
  EXPECT_EQ(back[0], 0.5);
  EXPECT_TRUE(std::signbit(back[1]));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  // Past the end: an error, and zeros from then on.
  EXPECT_EQ(r.U64(), 0u);
  EXPECT_THAT(r.Error("the state"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the state ends at byte 51; 8 bytes were "
                                 "expected at byte 51")));
}

TEST(StateBytes, ReaderChecksRangesAndSizesBeforeAllocating) {
  std::string out;
  StateWriter w(&out);
  for (int64_t v : {int64_t{5}, int64_t{2}, int64_t{1} << 40}) w.I64(v);
  StateReader counts(out, 100);
  EXPECT_EQ(counts.Count("pairs", 0, 10), 5);
  EXPECT_FALSE(counts.Flag("flag"));
  EXPECT_THAT(counts.Error("it"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("it has flag = 2 at byte 108; a flag is 0 "
                                 "or 1")));
  StateReader big(out);
  big.I64();
  big.I64();
  EXPECT_EQ(big.Count("rows", 0, 10), 0);
  EXPECT_THAT(big.Error("it"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("rows = 1099511627776 at byte 16")));
  // Sizes that would overflow 8n, or need more bytes than there are.
  Eigen::MatrixXd m(1, 1);
  StateReader matrix(out);
  EXPECT_FALSE(matrix.F64s(int64_t{1} << 40, int64_t{1} << 40, &m));
  EXPECT_EQ(m.size(), 1);
  StateReader doubles(out);
  double d;
  EXPECT_FALSE(doubles.F64s(&d, std::numeric_limits<size_t>::max() / 4));
  EXPECT_FALSE(doubles.ok());
  EXPECT_EQ(StateSize(10, 3, std::numeric_limits<int64_t>::max() / 8), -1);
  EXPECT_EQ(StateSize(10, 3, 4), 10 + 8 * 3 * 4);
  EXPECT_EQ(StateSize(10, 3, 0), 10);
}

TEST(StateBytes, SectionsAreTheTagALengthAndTheRest) {
  std::string out;
  StateSectionsWriter sections("tag", &out);
  StateWriter(&out).I64(7);
  sections.EndController();
  out += "vectors";
  ASSERT_OK_AND_ASSIGN(StateSections s, SplitStateSections(out, "tag"));
  EXPECT_EQ(s.controller.size(), 8u);
  EXPECT_EQ(s.vectors, "vectors");
  EXPECT_EQ(s.vectors_offset, 3u + 8 + 8);
  EXPECT_THAT(SplitStateSections(out.substr(0, 12), "tag"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("controller section of 8 bytes, past its "
                                 "end at byte 12")));
  EXPECT_THAT(SplitStateSections(out, "other"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not start with the tag \"other\"")));
}

}  // namespace
}  // namespace optd
