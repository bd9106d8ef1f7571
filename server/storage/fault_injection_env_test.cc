#include "server/storage/fault_injection_env.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;
using Op = FaultInjectionEnv::Op;
using Loss = FaultInjectionEnv::Loss;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class FaultInjectionEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/fault_env_", getpid(), "_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A file holding `synced` then `unsynced`, the first part synced.
  std::unique_ptr<WritableFile> Write(const std::string& path,
                                      const std::string& synced,
                                      const std::string& unsynced) {
    absl::StatusOr<std::unique_ptr<WritableFile>> file =
        env_.NewWritableFile(path);
    EXPECT_OK(file);
    EXPECT_OK((*file)->Append(synced));
    EXPECT_OK((*file)->Sync());
    EXPECT_OK(env_.SyncDir(dir_));
    EXPECT_OK((*file)->Append(unsynced));
    return *std::move(file);
  }

  FaultInjectionEnv env_;
  std::string dir_;
};

TEST_F(FaultInjectionEnvTest, TheKthOperationFailsOnceOrFromThenOn) {
  const std::string path = dir_ + "/f";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<WritableFile> file,
                       env_.NewWritableFile(path));
  env_.Fail(Op::kAppend, ENOSPC, /*skip=*/2);
  EXPECT_OK(file->Append("a"));
  EXPECT_OK(file->Append("b"));
  EXPECT_THAT(file->Append("c"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("No space left on device")));
  EXPECT_OK(file->Append("d"));  // once
  env_.Fail(Op::kSync, EIO, 0, /*sticky=*/true);
  EXPECT_THAT(file->Sync(), StatusIs(absl::StatusCode::kInternal,
                                     HasSubstr("Input/output error")));
  EXPECT_THAT(file->Sync(),
              StatusIs(absl::StatusCode::kInternal, ::testing::_));
  env_.ClearFaults();
  EXPECT_OK(file->Sync());
  EXPECT_EQ(ReadAll(path), "abd");
  EXPECT_EQ(env_.faults_fired(), 3);
  // Only paths that contain the given part.
  env_.Fail(Op::kAppend, EIO, 0, true, "/wal/");
  EXPECT_OK(file->Append("e"));
}

TEST_F(FaultInjectionEnvTest, APartialWriteLeavesItsFirstHalf) {
  const std::string path = dir_ + "/f";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<WritableFile> file,
                       env_.NewWritableFile(path));
  env_.Fail(Op::kAppend, ENOSPC, 0, false, "", /*partial=*/true);
  EXPECT_FALSE(file->Append("abcdef").ok());
  EXPECT_EQ(ReadAll(path), "abc");
}

TEST_F(FaultInjectionEnvTest, ASpaceLimitFillsUpLikeADisk) {
  const std::string path = dir_ + "/f";
  std::ofstream(dir_ + "/existing") << std::string(60, 'x');
  env_.SetSpaceLimit(dir_, 100);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<WritableFile> file,
                       env_.NewWritableFile(path));
  EXPECT_OK(file->Append(std::string(30, 'a')));
  EXPECT_THAT(file->Append(std::string(30, 'b')),
              StatusIs(absl::StatusCode::kResourceExhausted, ::testing::_));
  // What fits was written, as a full file system does.
  EXPECT_EQ(ReadAll(path), std::string(30, 'a') + std::string(10, 'b'));
  // Removing a file makes room.
  ASSERT_OK(env_.RemoveFile(dir_ + "/existing"));
  EXPECT_OK(file->Append(std::string(30, 'c')));
}

TEST_F(FaultInjectionEnvTest, PowerLossDropsTearsOrGarblesWhatWasNotSynced) {
  const std::string synced = "SYNCED-DATA";
  const std::string unsynced(6000, 'u');
  for (Loss loss : {Loss::kKeep, Loss::kDrop, Loss::kTear, Loss::kGarbage}) {
    const std::string path = absl::StrCat(dir_, "/f", static_cast<int>(loss));
    Write(path, synced, unsynced);
    env_.PowerLoss(loss, 3);
    const std::string after = ReadAll(path);
    ASSERT_GE(after.size(), synced.size());
    EXPECT_EQ(after.substr(0, synced.size()), synced);
    switch (loss) {
      case Loss::kKeep:
        EXPECT_EQ(after, synced + unsynced);
        break;
      case Loss::kDrop:
        EXPECT_EQ(after, synced);
        break;
      case Loss::kTear:
        EXPECT_LE(after.size(), synced.size() + unsynced.size());
        EXPECT_EQ(after, (synced + unsynced).substr(0, after.size()));
        break;
      case Loss::kGarbage:
        EXPECT_EQ(after.size(), synced.size() + unsynced.size());
        EXPECT_NE(after, synced + unsynced);
        // Real bytes stay around the garbage.
        EXPECT_NE(after.find(std::string(100, 'u')), std::string::npos);
        break;
    }
    // The machine is off until it is on again.
    EXPECT_THAT(env_.NewWritableFile(path + "-new").status(),
                StatusIs(absl::StatusCode::kInternal, HasSubstr("lost power")));
    env_.PowerOn();
  }
}

// After a failed sync, what it was to write is gone at the next power loss,
// even if a later sync returned OK (Linux drops the failed pages).
TEST_F(FaultInjectionEnvTest, AFailedSyncLosesItsBytesWhateverLaterSyncsSay) {
  const std::string path = dir_ + "/f";
  std::unique_ptr<WritableFile> file = Write(path, "A", "BB");
  env_.Fail(Op::kSync, EIO);
  EXPECT_FALSE(file->Sync().ok());
  ASSERT_OK(file->Append("CC"));
  ASSERT_OK(file->Sync());
  env_.PowerLoss(Loss::kDrop, 1);
  EXPECT_EQ(ReadAll(path), std::string("A\0\0CC", 5));
}

// Creations, renames and removals not followed by a directory sync are
// undone by a power loss.
TEST_F(FaultInjectionEnvTest, PowerLossUndoesDirectoryChangesNotSynced) {
  const std::string kept = dir_ + "/kept", renamed = dir_ + "/renamed",
                    fresh = dir_ + "/fresh", removed = dir_ + "/removed";
  Write(kept, "old", "");
  Write(removed, "gone", "");
  Write(renamed + ".tmp", "new", "");
  ASSERT_OK(env_.RenameFile(renamed + ".tmp", kept));  // replaces "old"
  ASSERT_OK(env_.RemoveFile(removed));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<WritableFile> file,
                       env_.NewWritableFile(fresh));
  ASSERT_OK(file->Append("x"));
  ASSERT_OK(file->Sync());
  env_.PowerLoss(Loss::kDrop, 1);
  EXPECT_EQ(ReadAll(kept), "old");
  EXPECT_EQ(ReadAll(removed), "gone");
  EXPECT_FALSE(std::filesystem::exists(fresh));
  env_.PowerOn();
  // Synced, they stay.
  ASSERT_OK(env_.RemoveFile(removed));
  ASSERT_OK(env_.SyncDir(dir_));
  env_.PowerLoss(Loss::kDrop, 1);
  EXPECT_FALSE(std::filesystem::exists(removed));
}

TEST_F(FaultInjectionEnvTest, AHookSeesEveryOperationBeforeItRuns) {
  std::vector<std::string> seen;
  env_.SetHook([&](Op op, const std::string& path) {
    seen.push_back(
        absl::StrCat(static_cast<int>(op), " ",
                     std::filesystem::path(path).filename().string()));
  });
  std::unique_ptr<WritableFile> file = Write(dir_ + "/f", "a", "b");
  ASSERT_OK(env_.NewReadableFile(dir_ + "/f").status());
  env_.SetHook(nullptr);
  const std::string sync_dir =
      absl::StrCat("5 ", std::filesystem::path(dir_).filename().string());
  EXPECT_THAT(seen, ::testing::ElementsAre("2 f", "0 f", "1 f", sync_dir, "0 f",
                                           "6 f"));
  // CorruptFile damages bytes in place, as a bad disk does.
  ASSERT_OK(CorruptFile(dir_ + "/f", 1, 1, 'Z'));
  EXPECT_EQ(ReadAll(dir_ + "/f"), "aZ");
}

}  // namespace
}  // namespace optd::server
