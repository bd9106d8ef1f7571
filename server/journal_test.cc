#include "server/journal.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/testing/rosenbrock.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::Values;
using ::optd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/journal_test_", getpid(), "_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = dir_ + "/s.journal";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::string Header() {
    v1::SessionSnapshot header;
    header.set_format_version(1);
    header.mutable_create()->set_session_id("s");
    *header.mutable_create()->mutable_x0() = Values({1.0, 2.0});
    header.mutable_create()->mutable_lbfgs();
    return FrameRecord(header.SerializeAsString());
  }

  static std::string Tell(uint64_t trial, double value) {
    v1::TellRequest tell;
    tell.set_trial_id(trial);
    tell.set_value(value);
    *tell.mutable_gradient() = Values({value, -value});
    return EncodeTellRecord(tell, absl::FromUnixMillis(1700000000000 + trial));
  }

  // Reads path_, collecting the trial ids told.
  absl::StatusOr<JournalHeader> Read(std::vector<uint64_t>* trials) {
    return ReadJournal(
        path_, [](const v1::SessionSnapshot&) { return absl::OkStatus(); },
        [&](int64_t index, const v1::SnapshotTell& tell) {
          EXPECT_EQ(index, static_cast<int64_t>(trials->size()));
          trials->push_back(tell.tell().trial_id());
          return absl::OkStatus();
        });
  }

  std::string dir_;
  std::string path_;
};

TEST_F(JournalTest, RoundTripsHeaderAndTellsWithTheirTimes) {
  absl::StatusOr<JournalFile> file = JournalFile::Create(path_, Header());
  ASSERT_OK(file);
  ASSERT_OK(file->Append(Tell(1, 3.5) + Tell(2, 2.5)));
  ASSERT_OK(file->Sync());
  EXPECT_EQ(file->size(), static_cast<int64_t>(ReadAll(path_).size()));

  std::vector<v1::SnapshotTell> tells;
  v1::SessionSnapshot header;
  absl::StatusOr<JournalHeader> read = ReadJournal(
      path_,
      [&](const v1::SessionSnapshot& h) {
        header = h;
        return absl::OkStatus();
      },
      [&](int64_t, const v1::SnapshotTell& tell) {
        tells.push_back(tell);
        return absl::OkStatus();
      });
  ASSERT_OK(read);
  EXPECT_EQ(read->tells, 2);
  EXPECT_EQ(read->torn_tail_bytes, 0);
  EXPECT_EQ(read->valid_bytes, file->size());
  EXPECT_EQ(header.create().session_id(), "s");
  ASSERT_EQ(tells.size(), 2u);
  EXPECT_EQ(tells[1].tell().trial_id(), 2u);
  EXPECT_EQ(tells[1].tell().value(), 2.5);
  EXPECT_EQ(tells[1].tell().gradient().values(1), -2.5);
  EXPECT_EQ(tells[1].time().seconds(), 1700000000);
  EXPECT_EQ(tells[1].time().nanos(), 2000000);
}

TEST_F(JournalTest, ATornFinalRecordIsDroppedAndCutOnReopen) {
  {
    absl::StatusOr<JournalFile> file = JournalFile::Create(path_, Header());
    ASSERT_OK(file);
    ASSERT_OK(file->Append(Tell(1, 1.0)));
  }
  const std::string whole = ReadAll(path_);
  const std::string third = Tell(2, 2.0);
  // Every cut inside the last record (header bytes included) is a torn tail.
  for (size_t keep : {size_t{1}, size_t{7}, size_t{8}, third.size() - 1}) {
    WriteAll(path_, whole + third.substr(0, keep));
    std::vector<uint64_t> trials;
    absl::StatusOr<JournalHeader> read = Read(&trials);
    ASSERT_OK(read);
    EXPECT_EQ(trials, std::vector<uint64_t>{1}) << keep;
    EXPECT_EQ(read->torn_tail_bytes, static_cast<int64_t>(keep));
    EXPECT_EQ(read->valid_bytes, static_cast<int64_t>(whole.size()));
  }
  // Reopening cuts the tail, and appends follow the last whole record.
  std::vector<uint64_t> trials;
  absl::StatusOr<JournalHeader> read = Read(&trials);
  ASSERT_OK(read);
  absl::StatusOr<JournalFile> file =
      JournalFile::OpenForAppend(path_, read->valid_bytes);
  ASSERT_OK(file);
  ASSERT_OK(file->Append(Tell(2, 2.0)));
  trials.clear();
  ASSERT_OK(Read(&trials));
  EXPECT_EQ(trials, (std::vector<uint64_t>{1, 2}));
}

TEST_F(JournalTest, AFlippedByteAnywhereIsDamageNamingTheRecord) {
  {
    absl::StatusOr<JournalFile> file = JournalFile::Create(path_, Header());
    ASSERT_OK(file);
    ASSERT_OK(file->Append(Tell(1, 1.0) + Tell(2, 2.0) + Tell(3, 3.0)));
  }
  const std::string whole = ReadAll(path_);
  const size_t header_end = kJournalMagic.size() + Header().size();
  const size_t record = Tell(1, 1.0).size();
  struct Case {
    size_t offset;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {0, "does not start with"},
      {header_end - 3, "(record 0 at byte 8)"},
      {header_end + record + 20,
       absl::StrCat("checksum mismatch (record 2 at byte ", header_end + record,
                    ")")},
  };
  for (const Case& c : cases) {
    std::string damaged = whole;
    damaged[c.offset] ^= 0x20;
    WriteAll(path_, damaged);
    std::vector<uint64_t> trials;
    EXPECT_THAT(Read(&trials),
                StatusIs(absl::StatusCode::kDataLoss,
                         AllOf(HasSubstr(path_), HasSubstr("damaged"),
                               HasSubstr(c.expected))))
        << "byte " << c.offset;
  }
}

// A power loss can leave the final record whole-length but unwritten (zeros)
// or half-written (bad checksum): never acknowledged, so dropped as a tail.
TEST_F(JournalTest, AnUnreadableFinalRecordOrZeroTailIsATornTail) {
  {
    absl::StatusOr<JournalFile> file = JournalFile::Create(path_, Header());
    ASSERT_OK(file);
    ASSERT_OK(file->Append(Tell(1, 1.0) + Tell(2, 2.0)));
  }
  const std::string whole = ReadAll(path_);
  const size_t last = Tell(2, 2.0).size();
  std::string flipped = whole;
  flipped[whole.size() - 1] ^= 0x20;
  WriteAll(path_, flipped);
  std::vector<uint64_t> trials;
  absl::StatusOr<JournalHeader> read = Read(&trials);
  ASSERT_OK(read);
  EXPECT_EQ(trials, std::vector<uint64_t>{1});
  EXPECT_EQ(read->torn_tail_bytes, static_cast<int64_t>(last));
  EXPECT_TRUE(read->torn_tail_checksum);

  for (size_t zeros : {size_t{8}, size_t{100}, size_t{5000}}) {
    WriteAll(path_, whole + std::string(zeros, '\0'));
    trials.clear();
    read = Read(&trials);
    ASSERT_OK(read);
    EXPECT_EQ(trials, (std::vector<uint64_t>{1, 2})) << zeros;
    EXPECT_EQ(read->torn_tail_bytes, static_cast<int64_t>(zeros));
  }
  // An empty record followed by anything but zeros is damage.
  WriteAll(path_, whole + std::string(8, '\0') + "x");
  trials.clear();
  EXPECT_THAT(Read(&trials), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("an empty record")));
}

TEST_F(JournalTest, AnIncompleteHeaderIsDamageNotATornTail) {
  const std::string header = Header();
  WriteAll(path_, std::string(kJournalMagic) + header.substr(0, 5));
  std::vector<uint64_t> trials;
  EXPECT_THAT(Read(&trials),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("the header record is incomplete")));
  WriteAll(path_, "OPT");
  EXPECT_THAT(Read(&trials), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("does not start with")));
}

TEST_F(JournalTest, AnUnknownFormatVersionIsRefused) {
  v1::SessionSnapshot header;
  header.set_format_version(2);
  ASSERT_OK(JournalFile::Create(path_, FrameRecord(header.SerializeAsString()))
                .status());
  std::vector<uint64_t> trials;
  EXPECT_THAT(Read(&trials), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("format_version 2 is not 1")));
}

TEST_F(JournalTest, ACallbackErrorStopsTheReadAndNamesTheRecord) {
  {
    absl::StatusOr<JournalFile> file = JournalFile::Create(path_, Header());
    ASSERT_OK(file);
    ASSERT_OK(file->Append(Tell(1, 1.0) + Tell(7, 2.0)));
  }
  int seen = 0;
  absl::StatusOr<JournalHeader> read = ReadJournal(
      path_, [](const v1::SessionSnapshot&) { return absl::OkStatus(); },
      [&](int64_t, const v1::SnapshotTell& tell) {
        ++seen;
        if (tell.tell().trial_id() == 7) {
          return absl::FailedPreconditionError("trial 7 was never issued");
        }
        return absl::OkStatus();
      });
  EXPECT_THAT(read, StatusIs(absl::StatusCode::kFailedPrecondition,
                             AllOf(HasSubstr("tell 2 at byte"),
                                   HasSubstr("(trial 7) does not replay"),
                                   HasSubstr("never issued"))));
  EXPECT_EQ(seen, 2);
}

TEST_F(JournalTest, ReadJournalHeaderReadsRecordZeroOnly) {
  {
    absl::StatusOr<JournalFile> file = JournalFile::Create(path_, Header());
    ASSERT_OK(file);
    ASSERT_OK(file->Append(Tell(1, 1.0) + Tell(2, 2.0)));
  }
  // Damage in the first tell: a full read refuses the file, the header alone
  // is still read (a checkpoint rewrites the journal from it).
  std::string bytes = ReadAll(path_);
  bytes[kJournalMagic.size() + Header().size() + 20] ^= 0x20;
  WriteAll(path_, bytes);
  std::vector<uint64_t> trials;
  EXPECT_THAT(Read(&trials), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("checksum mismatch")));
  absl::StatusOr<v1::SessionSnapshot> header = ReadJournalHeader(path_);
  ASSERT_OK(header);
  EXPECT_EQ(header->create().session_id(), "s");
}

TEST_F(JournalTest, CreateReplacesAtomicallyAndRemoveDeletes) {
  ASSERT_OK(JournalFile::Create(path_, Header() + Tell(1, 1.0)).status());
  ASSERT_OK(JournalFile::Create(path_, Header()).status());
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
  std::vector<uint64_t> trials;
  ASSERT_OK(Read(&trials));
  EXPECT_TRUE(trials.empty());
  ASSERT_OK(RemoveFileDurably(path_));
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_OK(RemoveFileDurably(path_));  // already gone: fine
  EXPECT_THAT(Read(&trials),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

}  // namespace
}  // namespace optd::server
