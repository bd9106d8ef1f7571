// The files of a data directory as an optd.fuzz.StoredSessions input
// (fuzz_input.proto) describes them: stored_session_fuzzer writes them, and
// gen_corpus builds them to find where a seed's damage lands. A file is its
// `raw` bytes when set; otherwise its records are framed with good checksums
// (server::FrameRecord), as version 1 or, with Sealing.v2, version 2 with
// sync marks (server::RecordFileHead, server::FrameSyncMark: journal.h has
// the one definition of the format), and then damaged (Corruption).
//
// Thread-safety: thread-compatible (no state).
#ifndef OPTD_FUZZ_STORED_FILES_H_
#define OPTD_FUZZ_STORED_FILES_H_

#include <cstdint>
#include <string>

#include "fuzz_input.pb.h"
#include "optd/v1/shard.pb.h"

namespace optd::fuzz {

// <data_dir>/sessions/<name>.journal: record 0 the header, then the tells,
// then raw_records.
std::string JournalBytes(const JournalFile& journal);
// <data_dir>/wal/<sequence>.wal: one record per WalRecord (wal.h).
std::string WalBytes(const WalFile& wal);
// A staged-slice file: record 0 the header, then the puts.
std::string StagedBytes(const StagedFile& staged);
// A slice checkpoint of the slice `create` creates: record 0 the header (or
// SliceCheckpoints::Identity(create)), record 1 the state, then
// raw_records.
std::string CheckpointBytes(const CheckpointFile& checkpoint,
                            const v1::CreateSliceRequest& create);

// A file name the input picked, kept inside its directory (no '/', NUL,
// "." or "..", at most 100 bytes).
std::string SafeName(std::string name);
// Where SliceHost looks for the staged vectors of the slice `create`
// creates, and for its checkpoint `tells` (slice_host.cc StagedPath,
// slice_checkpoint.cc): <data_dir>/slices/<session>.<shard>.<incarnation
// %016x>.staged and ...<incarnation>.<tells %020d>.ckpt, the session id
// passed through SafeName.
std::string StagedPath(const std::string& data_dir,
                       const v1::CreateSliceRequest& create);
std::string CheckpointPath(const std::string& data_dir,
                           const v1::CreateSliceRequest& create,
                           uint64_t tells);

}  // namespace optd::fuzz

#endif  // OPTD_FUZZ_STORED_FILES_H_
