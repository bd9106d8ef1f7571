// slice_ops_fuzzer: the replica side of sharded sessions (slice_host.h).
//
// Feeds: the input bytes, parsed as optd.fuzz.SliceScript (fuzz_input.proto:
// a list of optd.v1 CreateSlice / ApplySliceOps / DeleteSlice requests of the
// internal Shard service and PutSlice / GetSlice requests of the public
// one), into an in-memory SliceHost, in order, as ShardService and
// OptimizerService call it. Every vector operation of the L-BFGS,
// trust-region and Adam slices (solvers/*_slice.h) runs on the input's
// scalars, data and staged vectors.
//
// Checks: every error is a clean status (fuzz/harness.h); ASan/UBSan/LSan.
// CreateSlice requests larger than 4096 elements or memory 16 are skipped:
// a slice's size is bounded by the home replica that asks for it, not here.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/harness.h"
#include "fuzz_input.pb.h"
#include "server/codec/vectors.h"
#include "server/sharding/slice_host.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  optd::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace optd;
  fuzz::SliceScript script;
  if (!script.ParseFromArray(data, static_cast<int>(size))) return -1;
  server::SliceHost host(/*replica_index=*/0);
  v1::CreateSliceRequest last;  // the last slice created
  uint64_t seq = 0;
  for (const fuzz::SliceCall& call : script.calls()) {
    switch (call.call_case()) {
      case fuzz::SliceCall::kCreate: {
        v1::CreateSliceRequest create = call.create();
        if (call.same_key()) *create.mutable_key() = last.key();
        if (create.end() - create.begin() > 4096 || create.memory() > 16) break;
        absl::Status status = host.Create(create);
        fuzz::CheckClean(status, "CreateSlice");
        if (status.ok()) {
          last = create;
          seq = 0;
        }
        break;
      }
      case fuzz::SliceCall::kApply: {
        v1::SliceOpBatch batch = call.apply();
        if (call.same_key()) *batch.mutable_key() = last.key();
        if (call.next_seq()) {
          for (v1::SliceOpRequest& op : *batch.mutable_ops()) op.set_seq(++seq);
        }
        v1::SliceOpResponse answer;
        fuzz::CheckClean(host.Apply(batch, &answer), "ApplySliceOps");
        break;
      }
      case fuzz::SliceCall::kPut: {
        v1::PutSliceRequest put = call.put();
        if (call.same_key()) {
          put.set_session_id(last.key().session_id());
          put.set_shard(last.key().shard());
        }
        if (call.fit_length()) {
          absl::StatusOr<ConstVectorView> view =
              server::DecodeVector(put.values(), "values");
          const int64_t n = last.end() - last.begin();
          if (view.ok() && n >= 0 && n <= 4096) {
            std::string bytes(static_cast<size_t>(8 * n), '\0');
            for (int64_t i = 0; i < n; ++i) {
              const double v =
                  view->size() > 0 ? view->Get(i % view->size()) : 0;
              std::memcpy(bytes.data() + 8 * i, &v, 8);
            }
            put.mutable_values()->Clear();
            put.mutable_values()->set_f64(std::move(bytes));
          }
        }
        fuzz::CheckClean(host.Stage(put).status(), "PutSlice");
        break;
      }
      case fuzz::SliceCall::kGet: {
        v1::GetSliceRequest get = call.get();
        if (call.same_key()) {
          get.set_session_id(last.key().session_id());
          get.set_shard(last.key().shard());
        }
        v1::GetSliceResponse answer;
        fuzz::CheckClean(host.ReadPublished(get, &answer), "GetSlice");
        break;
      }
      case fuzz::SliceCall::kDelete: {
        v1::DeleteSliceRequest del = call.delete_();
        if (call.same_key()) *del.mutable_key() = last.key();
        host.Delete(del.key(), del.purge());
        break;
      }
      case fuzz::SliceCall::CALL_NOT_SET:
        break;
    }
  }
  return 0;
}
