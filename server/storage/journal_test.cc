#include "server/storage/journal.h"

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
#include "server/storage/fault_injection_env.h"
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
        Env::Default(), path_,
        [](const v1::SessionSnapshot&) { return absl::OkStatus(); },
        [&](int64_t index, const v1::SnapshotTell& tell) {
          EXPECT_EQ(index, static_cast<int64_t>(trials->size()));
          trials->push_back(tell.tell().trial_id());
          return absl::OkStatus();
        });
  }

  // A journal of `tells` tells, each appended and synced on its own (a sync
  // mark before every append but the first).
  void WriteSynced(int tells) {
    ASSERT_OK_AND_ASSIGN(JournalFile file,
                         JournalFile::Create(Env::Default(), path_, Header()));
    for (int i = 1; i <= tells; ++i) {
      ASSERT_OK(file.Append(Tell(i, i)));
      ASSERT_OK(file.Sync());
    }
  }

  // Byte offsets of the tell records of path_, in order.
  std::vector<int64_t> TellOffsets() {
    std::vector<int64_t> offsets;
    EXPECT_OK(
        ReadRecords(Env::Default(), path_, kJournalFamily, true,
                    [&](int64_t index, int64_t offset, absl::string_view) {
                      if (index > 0) offsets.push_back(offset);
                      return absl::OkStatus();
                    })
            .status());
    return offsets;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(JournalTest, RoundTripsHeaderAndTellsWithTheirTimes) {
  ASSERT_OK_AND_ASSIGN(JournalFile file,
                       JournalFile::Create(Env::Default(), path_, Header()));
  ASSERT_OK(file.Append(Tell(1, 3.5) + Tell(2, 2.5)));
  ASSERT_OK(file.Sync());
  EXPECT_EQ(file.size(), static_cast<int64_t>(ReadAll(path_).size()));
  // Synced, then sealed by a sync mark (8 + 24 bytes).
  EXPECT_EQ(file.synced() + 32, file.size());
  EXPECT_EQ(ReadAll(path_).substr(0, 8), "OPTDJNL2");

  std::vector<v1::SnapshotTell> tells;
  v1::SessionSnapshot header;
  absl::StatusOr<JournalHeader> read = ReadJournal(
      Env::Default(), path_,
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
  EXPECT_EQ(read->valid_bytes, file.size());
  EXPECT_EQ(read->read.version, 2);
  EXPECT_EQ(header.create().session_id(), "s");
  ASSERT_EQ(tells.size(), 2u);
  EXPECT_EQ(tells[1].tell().trial_id(), 2u);
  EXPECT_EQ(tells[1].tell().value(), 2.5);
  EXPECT_EQ(tells[1].tell().gradient().values(1), -2.5);
  EXPECT_EQ(tells[1].time().seconds(), 1700000000);
  EXPECT_EQ(tells[1].time().nanos(), 2000000);
}

TEST_F(JournalTest, ATornTailIsDroppedAndCutOnReopen) {
  WriteSynced(1);
  const std::string whole = ReadAll(path_);
  const std::string tell = Tell(2, 2.0);
  // Every cut inside the last record (header bytes included) is a torn tail.
  for (size_t keep : {size_t{1}, size_t{7}, size_t{8}, tell.size() - 1}) {
    WriteAll(path_, whole + tell.substr(0, keep));
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
  ASSERT_OK_AND_ASSIGN(
      JournalFile file,
      JournalFile::OpenForAppend(Env::Default(), path_, read->read));
  ASSERT_OK(file.Append(Tell(2, 2.0)));
  trials.clear();
  ASSERT_OK(Read(&trials));
  EXPECT_EQ(trials, (std::vector<uint64_t>{1, 2}));
}

// Garbage, then valid-looking records, after the last sync: pages written out
// of order by a power loss. Nothing after the last sync was acknowledged, so
// the whole unsynced part goes, the valid-looking records with it.
TEST_F(JournalTest, GarbageFollowedByRecordsAfterTheLastSyncIsATornTail) {
  ASSERT_OK_AND_ASSIGN(JournalFile file,
                       JournalFile::Create(Env::Default(), path_, Header()));
  ASSERT_OK(file.Append(Tell(1, 1.0)));
  ASSERT_OK(file.Sync());
  const int64_t synced = file.size();
  // Three unsynced appends (one group commit and two more).
  ASSERT_OK(file.Append(Tell(2, 2.0) + Tell(3, 3.0)));
  ASSERT_OK(file.Append(Tell(4, 4.0)));
  ASSERT_OK(file.Append(Tell(5, 5.0)));
  const std::string whole = ReadAll(path_);
  for (const bool zeros : {true, false}) {
    std::string spoiled = whole;
    // A page of the first unsynced append never reached the disk.
    for (int64_t i = synced + 30; i < synced + 60; ++i) {
      spoiled[i] = zeros ? '\0' : static_cast<char>(i * 37);
    }
    WriteAll(path_, spoiled);
    std::vector<uint64_t> trials;
    absl::StatusOr<JournalHeader> read = Read(&trials);
    ASSERT_OK(read);
    EXPECT_EQ(trials, std::vector<uint64_t>{1});
    EXPECT_GT(read->torn_tail_bytes, 0);
    EXPECT_LE(read->valid_bytes, synced + 60);
  }
}

// Damage before a sync mark that vouches for it is in synced records: DATA_LOSS
// naming the record and the unreadable byte range, never a silent cut.
TEST_F(JournalTest, DamageToSyncedRecordsIsDataLossNamingTheRange) {
  WriteSynced(4);
  const std::string whole = ReadAll(path_);
  const std::vector<int64_t> offsets = TellOffsets();
  ASSERT_EQ(offsets.size(), 4u);
  for (int damaged : {0, 1, 2}) {
    std::string bytes = whole;
    bytes[offsets[damaged] + 20] ^= 0x20;
    WriteAll(path_, bytes);
    std::vector<uint64_t> trials;
    EXPECT_THAT(
        Read(&trials),
        StatusIs(
            absl::StatusCode::kDataLoss,
            AllOf(HasSubstr(path_), HasSubstr("damaged"),
                  HasSubstr(absl::StrCat("checksum mismatch; bytes [",
                                         offsets[damaged], ", ")),
                  HasSubstr("of records that were synced are unreadable"),
                  HasSubstr(absl::StrCat("(record ", damaged + 1, " at byte ",
                                         offsets[damaged], ")")))))
        << damaged;
  }
  // 512 zero bytes across records 2 and 3: damage too.
  std::string zeroed = whole;
  for (int64_t i = offsets[1] + 5; i < offsets[1] + 517 && i < offsets[3];
       ++i) {
    zeroed[i] = '\0';
  }
  WriteAll(path_, zeroed);
  std::vector<uint64_t> trials;
  EXPECT_THAT(Read(&trials),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("were synced")));
  // The last synced record is sealed too.
  std::string last = whole;
  last[offsets[3] + 20] ^= 0x20;
  WriteAll(path_, last);
  trials.clear();
  EXPECT_THAT(Read(&trials),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("were synced")));
  // Damage after the last seal is in what was never synced: a torn tail.
  WriteAll(path_, whole + Tell(5, 5.0));
  std::string unsynced = ReadAll(path_);
  unsynced[whole.size() + 20] ^= 0x20;
  WriteAll(path_, unsynced);
  trials.clear();
  ASSERT_OK_AND_ASSIGN(JournalHeader read, Read(&trials));
  EXPECT_EQ(trials, (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(read.torn_tail_bytes, static_cast<int64_t>(Tell(5, 5.0).size()));
}

// With skip_damage (the write-ahead log) the read steps over damaged synced
// records to the next sync mark and goes on.
TEST_F(JournalTest, SkipDamageStepsOverTheRangeAndReadsOn) {
  WriteSynced(4);
  const std::vector<int64_t> offsets = TellOffsets();
  std::string bytes = ReadAll(path_);
  bytes[offsets[1] + 20] ^= 0x20;
  WriteAll(path_, bytes);
  std::vector<int64_t> seen;
  ASSERT_OK_AND_ASSIGN(RecordsRead read,
                       ReadRecords(
                           Env::Default(), path_, kJournalFamily, true,
                           [&](int64_t, int64_t offset, absl::string_view) {
                             seen.push_back(offset);
                             return absl::OkStatus();
                           },
                           -1, /*skip_damage=*/true));
  ASSERT_EQ(read.damaged.size(), 1u);
  EXPECT_EQ(read.damaged[0].first, offsets[1]);
  EXPECT_GT(read.damaged[0].second, offsets[1]);
  EXPECT_LT(read.damaged[0].second, offsets[2]);  // the mark before tell 3
  // The header, tell 1, then tells 3 and 4.
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[1], offsets[0]);
  EXPECT_EQ(seen[2], offsets[2]);
  EXPECT_EQ(seen[3], offsets[3]);
}

// A gradient whose bytes imitate a sync mark does not vouch for anything:
// the mark carries the file's secret salt.
TEST_F(JournalTest, ARecordImitatingASyncMarkIsNotOne) {
  ASSERT_OK_AND_ASSIGN(JournalFile file,
                       JournalFile::Create(Env::Default(), path_, Header()));
  ASSERT_OK(file.Append(Tell(1, 1.0)));
  ASSERT_OK(file.Sync());
  const int64_t synced = file.size();
  // An unsynced tell whose payload holds a mark with another salt that says
  // everything up to 2^40 was synced.
  std::string fake = "OPTDSYNC";
  fake += std::string(8, 'x');
  fake += std::string("\0\0\0\0\0\x01\0\0", 8);
  v1::TellRequest tell;
  tell.set_trial_id(2);
  tell.mutable_gradient()->set_f64(FrameRecord(fake));
  ASSERT_OK(file.Append(Tell(2, 2.0) + EncodeTellRecord(tell, absl::Now())));
  std::string bytes = ReadAll(path_);
  bytes[synced + 30] ^= 0x20;
  WriteAll(path_, bytes);
  std::vector<uint64_t> trials;
  ASSERT_OK(Read(&trials));
  EXPECT_EQ(trials, std::vector<uint64_t>{1});
}

// RecordFileHead and FrameSyncMark are the format JournalFile writes: a file
// built from them is the file Create, Append and Sync made, byte for byte,
// and a mark claiming bytes past itself vouches for nothing.
TEST_F(JournalTest, RecordFileHeadAndFrameSyncMarkBuildWhatJournalFileWrites) {
  WriteSynced(2);
  const std::string whole = ReadAll(path_);
  ASSERT_OK_AND_ASSIGN(RecordsRead read,
                       ReadRecords(Env::Default(), path_, kJournalFamily, true,
                                   [](int64_t, int64_t, absl::string_view) {
                                     return absl::OkStatus();
                                   }));
  ASSERT_EQ(read.salt.size(), kSaltBytes);
  std::string built = RecordFileHead(kJournalFamily, read.salt);
  EXPECT_EQ(built.size(), 16u);
  EXPECT_EQ(built.substr(0, 8), "OPTDJNL2");
  built += Header();
  built += FrameSyncMark(read.salt, static_cast<int64_t>(built.size()));
  for (int i = 1; i <= 2; ++i) {
    built += Tell(i, i);
    built += FrameSyncMark(read.salt, static_cast<int64_t>(built.size()));
  }
  EXPECT_EQ(built, whole);

  // Tell 1 damaged, then a mark claiming more than the bytes before it: it
  // does not vouch, so the damage is a torn tail.
  const std::vector<int64_t> offsets = TellOffsets();
  std::string lying = RecordFileHead(kJournalFamily, read.salt) + Header();
  lying += FrameSyncMark(read.salt, static_cast<int64_t>(lying.size()));
  const int64_t tell1 = static_cast<int64_t>(lying.size());
  EXPECT_EQ(tell1, offsets[0]);
  lying += Tell(1, 1);
  lying[tell1 + 20] ^= 0x20;
  lying += FrameSyncMark(read.salt, static_cast<int64_t>(lying.size()) + 1);
  WriteAll(path_, lying);
  std::vector<uint64_t> trials;
  ASSERT_OK_AND_ASSIGN(JournalHeader header, Read(&trials));
  EXPECT_TRUE(trials.empty());
  EXPECT_EQ(header.torn_tail_bytes, static_cast<int64_t>(lying.size()) - tell1);
  // The same mark claiming exactly its own offset vouches: DATA_LOSS.
  lying.resize(lying.size() - FrameSyncMark(read.salt, 0).size());
  lying += FrameSyncMark(read.salt, static_cast<int64_t>(lying.size()));
  WriteAll(path_, lying);
  trials.clear();
  EXPECT_THAT(Read(&trials),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("were synced")));
}

TEST_F(JournalTest, AFailedSyncBreaksTheFileForGood) {
  FaultInjectionEnv env;
  ASSERT_OK_AND_ASSIGN(JournalFile file,
                       JournalFile::Create(&env, path_, Header()));
  ASSERT_OK(file.Append(Tell(1, 1.0)));
  env.Fail(FaultInjectionEnv::Op::kSync, EIO);
  EXPECT_THAT(file.Sync(), StatusIs(absl::StatusCode::kInternal,
                                    HasSubstr("Input/output error")));
  EXPECT_TRUE(file.broken());
  // The fault is gone, but the file is not written again: a failed fdatasync
  // cannot be retried into success.
  EXPECT_THAT(file.Append(Tell(2, 2.0)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("fdatasync")));
  EXPECT_THAT(file.Sync(), StatusIs(absl::StatusCode::kInternal, ::testing::_));
}

TEST_F(JournalTest, AFailedWriteLeavesNothingBehind) {
  FaultInjectionEnv env;
  ASSERT_OK_AND_ASSIGN(JournalFile file,
                       JournalFile::Create(&env, path_, Header()));
  ASSERT_OK(file.Append(Tell(1, 1.0)));
  ASSERT_OK(file.Sync());
  const int64_t size = file.size();
  env.Fail(FaultInjectionEnv::Op::kAppend, ENOSPC, /*skip=*/0,
           /*sticky=*/false, /*path_contains=*/"", /*partial=*/true);
  EXPECT_THAT(file.Append(Tell(2, 2.0)),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("No space left on device")));
  EXPECT_FALSE(file.broken());
  EXPECT_EQ(file.size(), size);
  EXPECT_EQ(static_cast<int64_t>(ReadAll(path_).size()), size);
  // Once there is room, appends go on where the file was.
  ASSERT_OK(file.Append(Tell(2, 2.0)));
  ASSERT_OK(file.Sync());
  std::vector<uint64_t> trials;
  ASSERT_OK(Read(&trials));
  EXPECT_EQ(trials, (std::vector<uint64_t>{1, 2}));
}

TEST_F(JournalTest, AnIncompleteHeaderIsDamageNotATornTail) {
  const std::string header = Header();
  WriteAll(path_, std::string(kJournalMagic) + header.substr(0, 5));
  std::vector<uint64_t> trials;
  EXPECT_THAT(Read(&trials), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("the header record is bad")));
  WriteAll(path_, std::string(kJournalMagic));
  EXPECT_THAT(Read(&trials),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("the header record is missing")));
  WriteAll(path_, "OPT");
  EXPECT_THAT(Read(&trials), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("does not start with")));
  WriteAll(path_, "OPTDJNL2abc");
  EXPECT_THAT(Read(&trials), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("salt is incomplete")));
}

TEST_F(JournalTest, AnUnknownFormatVersionIsRefused) {
  v1::SessionSnapshot header;
  header.set_format_version(2);
  ASSERT_OK(JournalFile::Create(Env::Default(), path_,
                                FrameRecord(header.SerializeAsString()))
                .status());
  std::vector<uint64_t> trials;
  EXPECT_THAT(Read(&trials), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("format_version 2 is not 1")));
  WriteAll(path_, "OPTDJNL3" + std::string(8, 's') + Header());
  EXPECT_THAT(Read(&trials), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("does not start with")));
}

// Record 0 is a snapshot without tells (the tells are the records after
// it). One holding tells was not written by optd: recovery ignored them,
// and an export passed them on as tells the session never replayed, a
// snapshot that did not import (found by the stored_session fuzzer:
// fuzz/regressions/stored_session/journal-header-holds-tells).
TEST_F(JournalTest, AHeaderHoldingTellsIsDamage) {
  v1::SessionSnapshot header;
  header.set_format_version(1);
  header.mutable_create()->set_session_id("s");
  header.add_tells();
  ASSERT_OK(JournalFile::Create(
                Env::Default(), path_,
                FrameRecord(header.SerializeAsString()) + Tell(1, 1.0))
                .status());
  std::vector<uint64_t> trials;
  EXPECT_THAT(
      Read(&trials),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr(path_), HasSubstr("the header holds 1 tells"),
                     HasSubstr("(record 0 at byte 16)"))));
  EXPECT_TRUE(trials.empty());
  EXPECT_THAT(ReadJournalHeader(Env::Default(), path_),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("the header holds 1 tells")));
}

TEST_F(JournalTest, ACallbackErrorStopsTheReadAndNamesTheRecord) {
  {
    ASSERT_OK_AND_ASSIGN(JournalFile file,
                         JournalFile::Create(Env::Default(), path_, Header()));
    ASSERT_OK(file.Append(Tell(1, 1.0) + Tell(7, 2.0)));
  }
  int seen = 0;
  absl::StatusOr<JournalHeader> read = ReadJournal(
      Env::Default(), path_,
      [](const v1::SessionSnapshot&) { return absl::OkStatus(); },
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
  WriteSynced(2);
  // Damage in the first tell: a full read refuses the file, the header alone
  // is still read (a checkpoint rewrites the journal from it).
  std::string bytes = ReadAll(path_);
  bytes[TellOffsets()[0] + 20] ^= 0x20;
  WriteAll(path_, bytes);
  std::vector<uint64_t> trials;
  EXPECT_THAT(Read(&trials), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("checksum mismatch")));
  absl::StatusOr<v1::SessionSnapshot> header =
      ReadJournalHeader(Env::Default(), path_);
  ASSERT_OK(header);
  EXPECT_EQ(header->create().session_id(), "s");
}

TEST_F(JournalTest, CreateReplacesAtomicallyAndRemoveDeletes) {
  ASSERT_OK(JournalFile::Create(Env::Default(), path_, Header() + Tell(1, 1.0))
                .status());
  ASSERT_OK(JournalFile::Create(Env::Default(), path_, Header()).status());
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().string(), path_);  // no temporary file left
  }
  std::vector<uint64_t> trials;
  ASSERT_OK(Read(&trials));
  EXPECT_TRUE(trials.empty());
  ASSERT_OK(RemoveFileDurably(Env::Default(), path_));
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_OK(RemoveFileDurably(Env::Default(), path_));  // already gone: fine
  EXPECT_THAT(Read(&trials),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

// ---------------------------------------------------------------------------
// Version 1 files (written before sync marks) are still read, with the rules
// they were written under: only a spoiled final record is a torn tail.

class JournalV1Test : public JournalTest {
 protected:
  void WriteV1(const std::string& records) {
    WriteAll(path_, std::string(kJournalMagic) + Header() + records);
  }
};

TEST_F(JournalV1Test, ReadsAndAppendsWithoutMarks) {
  WriteV1(Tell(1, 1.0));
  std::vector<uint64_t> trials;
  ASSERT_OK_AND_ASSIGN(JournalHeader read, Read(&trials));
  EXPECT_EQ(read.read.version, 1);
  ASSERT_OK_AND_ASSIGN(JournalFile file, JournalFile::OpenForAppend(
                                             Env::Default(), path_, read.read));
  ASSERT_OK(file.Sync());
  ASSERT_OK(file.Append(Tell(2, 2.0)));
  EXPECT_EQ(ReadAll(path_), std::string(kJournalMagic) + Header() +
                                Tell(1, 1.0) + Tell(2, 2.0));
}

TEST_F(JournalV1Test, AFlippedByteBeforeTheLastRecordIsDamage) {
  WriteV1(Tell(1, 1.0) + Tell(2, 2.0) + Tell(3, 3.0));
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

TEST_F(JournalV1Test, AnUnreadableFinalRecordOrZeroTailIsATornTail) {
  WriteV1(Tell(1, 1.0) + Tell(2, 2.0));
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

}  // namespace
}  // namespace optd::server
