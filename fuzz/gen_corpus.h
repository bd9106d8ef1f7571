// gen_corpus's parts: the seeds of each fuzz target (one function per
// target, one file each: gen_corpus_<target>.cc) and the inputs they share
// (gen_corpus_inputs.cc): seed files, CreateSessionRequests of each solver,
// script steps, and a slice of each kind with operations that give it a
// state. gen_corpus.cc's main runs them in order.
//
//   SetCorpusDir("fuzz/corpus");
//   SessionScript script;
//   *script.add_steps() = CreateStep(Create("lbfgs", {-1.2, 1.0}));
//   *script.add_steps() = Evaluate(20);
//   Write("session_requests", "lbfgs", script);  // .../seed-lbfgs
#ifndef OPTD_FUZZ_GEN_CORPUS_H_
#define OPTD_FUZZ_GEN_CORPUS_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fuzz_input.pb.h"
#include "google/protobuf/message.h"

namespace optd::fuzz::corpus {

// The seeds of each target, written under the corpus directory.
void SessionRequests();       // session_requests: each solver, other RPCs
void BatchSessionRequests();  // session_requests: bounds and batch layers
void StoredSession();         // stored_session
void SliceOps();              // slice_ops
void VectorCodec();           // vector_codec

// Seed files.

// Where Write() puts the seeds (the program's argument, e.g. fuzz/corpus).
void SetCorpusDir(const std::string& dir);
// Writes `input`, serialized, to <corpus dir>/<target>/seed-<name>.
void Write(const std::string& target, const std::string& name,
           const google::protobuf::Message& input);
// The bytes of the file at `path` (empty when it cannot be read).
std::string ReadFile(const std::filesystem::path& path);

// Sessions.

// A CreateSessionRequest for `x0` and `solver`: "lbfgs", "adam", "adamw",
// "tr_exact", "tr_cg", "tr_cg_fd", "tr_lsr1" or "tr_lbfgs", each with a few
// options set away from their defaults.
v1::CreateSessionRequest Create(const std::string& solver,
                                std::vector<double> x0);
Step CreateStep(const v1::CreateSessionRequest& create);
// `repeat` evaluations of fuzz_input.proto's Objective (offset 3), told in
// `encoding`.
Step Evaluate(uint32_t repeat, double scale = 1, double center = 1,
              double wave = 0.5,
              v1::VectorEncoding encoding = v1::VECTOR_ENCODING_VALUES);
// lower <= x <= upper on `create` (an empty side: unset).
void SetBounds(v1::CreateSessionRequest* create, std::vector<double> lower,
               std::vector<double> upper);
// An evaluation as `worker`, holding up to `max_trials`, telling the
// `pick`-th trial it holds.
Step WorkerEvaluate(uint32_t repeat, const std::string& worker,
                    int32_t max_trials = 1, uint32_t pick = 0);
// A GetSession with x and the trials after id `after`.
Step GetWithTrials(uint64_t after = 0);
Step WorkerAsk(const std::string& worker, int32_t max_trials);

// Slices.

// A slice operation with `scalars` and, if data_elements > 0, that many
// doubles (0.5, 1.0, 1.5, ...) as its data.
v1::SliceOpRequest Op(v1::SliceOp kind, std::vector<double> scalars = {},
                      int data_elements = 0);

// A slice of each kind and operations that give it a state (slice_ops
// seeds, and the slice checkpoints of the stored_session seeds).
struct SliceKindOps {
  std::string name;
  v1::SliceKind kind;
  std::vector<v1::SliceOpRequest> ops;
  // What the kind's CreateSliceRequest sets besides the common fields
  // (Adafactor's layers, the data-parallel workers); may be empty.
  std::function<void(v1::CreateSliceRequest*)> configure;
};
constexpr int kSliceElements = 8;

std::vector<SliceKindOps> SliceKinds();

}  // namespace optd::fuzz::corpus

#endif  // OPTD_FUZZ_GEN_CORPUS_H_
