// The byte encoding of solver states (Solver::SaveState and the slices'
// SaveState): 8-byte little-endian words (int64 as two's complement, double
// as its IEEE-754 binary64 bits) and runs of doubles, whatever the host's
// byte order. Reading checks every length before it copies or allocates, so
// bytes from anywhere (an import, a damaged file, a fuzzer) are read without
// overrunning: a read past the end, or a word out of its range, records the
// first problem and every later read returns 0.
//
//   std::string out;
//   StateWriter w(&out);
//   w.Tag("optd.lbfgs.v1");
//   w.I64(pairs);
//   w.F64s(x.data(), x.size());
//
//   StateReader r(out);
//   if (!r.Tag("optd.lbfgs.v1")) return ...;
//   const int64_t pairs = r.Count("pairs", 0, memory);   // 0 on a problem
//   if (!r.ok()) return r.Error("the optd.lbfgs.v1 state");
//
// Thread-safety: plain values.
#ifndef OPTD_SOLVERS_CORE_STATE_BYTES_H_
#define OPTD_SOLVERS_CORE_STATE_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace optd {

// Abseil 20220623's string_view is its own type: for StrCat.
inline absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// Appends n doubles as little-endian binary64 (8n bytes).
void AppendF64s(const double* values, size_t n, std::string* out);
// Reads n doubles from the 8n little-endian bytes at `bytes`.
void LoadF64s(const char* bytes, size_t n, double* out);

// header + vectors * elements * 8, the size of a state of `vectors` vectors
// of `elements` doubles each after a header; -1 when it would not fit in an
// int64 (or an argument is negative).
int64_t StateSize(int64_t header, int64_t vectors, int64_t elements);

class StateWriter {
 public:
  // Appends to *out.
  explicit StateWriter(std::string* out) : out_(out) {}

  void Tag(std::string_view tag) { out_->append(tag.data(), tag.size()); }
  void U64(uint64_t value);
  // Overwrites the word at byte `at` of the output.
  void U64At(size_t at, uint64_t value);
  void I64(int64_t value) { U64(static_cast<uint64_t>(value)); }
  void F64(double value);
  void Flag(bool value) { U64(value ? 1 : 0); }
  void F64s(const double* values, size_t n) { AppendF64s(values, n, out_); }
  // The elements in Eigen's (column-major) storage order; the sizes are
  // not written.
  void F64s(const Eigen::MatrixXd& m) {
    F64s(m.data(), static_cast<size_t>(m.size()));
  }
  void F64s(const Eigen::VectorXd& v) {
    F64s(v.data(), static_cast<size_t>(v.size()));
  }

 private:
  std::string* out_;
};

class StateReader {
 public:
  explicit StateReader(std::string_view in) : in_(in) {}
  // Reads `in`, a part that starts at byte `origin` of a larger state: the
  // errors count bytes from the start of that state.
  StateReader(std::string_view in, size_t origin) : in_(in), origin_(origin) {}

  // Whether every read so far found its bytes and its range.
  bool ok() const { return error_.empty(); }
  // INVALID_ARGUMENT "<what> <the first problem>", e.g. "the optd.lbfgs.v1
  // state ends at byte 96; 8 bytes were expected at byte 96".
  absl::Status Error(absl::string_view what) const;
  size_t offset() const { return offset_; }
  size_t remaining() const { return in_.size() - offset_; }

  // Consumes `tag` when the bytes go on with it; otherwise records the
  // problem and returns false.
  bool Tag(std::string_view tag);
  uint64_t U64();
  int64_t I64();
  double F64();
  // A word that must be 0 or 1.
  bool Flag(absl::string_view name);
  // A word in [lo, hi], named in the error; lo when it is not.
  int64_t Count(absl::string_view name, int64_t lo, int64_t hi);
  // n doubles into out[0..n); false (nothing read) when fewer remain.
  bool F64s(double* out, size_t n);
  // A rows x cols matrix or a vector of n (column-major), resized only once
  // its bytes are known to be there; false (*m unchanged) otherwise.
  bool F64s(int64_t rows, int64_t cols, Eigen::MatrixXd* m);
  bool F64s(int64_t n, Eigen::VectorXd* v);
  // The next n bytes, or the rest; empty (and an error) when fewer remain.
  std::string_view Take(size_t n);
  std::string_view Rest();
  // Records a problem found by the caller (the first one is kept).
  void Fail(std::string message);

 private:
  bool Need(size_t n);

  std::string_view in_;
  size_t origin_ = 0;
  size_t offset_ = 0;
  std::string error_;
};

// The sections of an L-BFGS or trust-region state (lbfgs.h, trust_region.h):
// the tag, the controller section's length as a word, the controller
// section, and the vectors section (the rest: the vectors' portable state,
// slice_state.h).
struct StateSections {
  std::string_view controller;
  std::string_view vectors;
  // Bytes before the vectors section.
  size_t vectors_offset = 0;
};
// INVALID_ARGUMENT for a state that does not start with `tag`, or whose
// controller length runs past its end.
absl::StatusOr<StateSections> SplitStateSections(std::string_view state,
                                                 std::string_view tag);
// Writes such a state's tag and controller section: the constructor appends
// the tag and a length word, the caller appends the controller section,
// EndController() fills in its length; the vectors section follows.
class StateSectionsWriter {
 public:
  StateSectionsWriter(std::string_view tag, std::string* out);
  void EndController();

 private:
  std::string* out_;
  size_t length_at_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_CORE_STATE_BYTES_H_
