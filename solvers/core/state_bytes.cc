#include "solvers/core/state_bytes.h"

#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace optd {
namespace {

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr bool kLittleEndianHost = true;
#else
constexpr bool kLittleEndianHost = false;
#endif

void PutWord(uint64_t bits, char* out) {
  for (int b = 0; b < 8; ++b) out[b] = static_cast<char>(bits >> (8 * b));
}

uint64_t GetWord(const char* in) {
  uint64_t bits = 0;
  for (int b = 0; b < 8; ++b) {
    bits |= static_cast<uint64_t>(static_cast<unsigned char>(in[b])) << (8 * b);
  }
  return bits;
}

}  // namespace

void AppendF64s(const double* values, size_t n, std::string* out) {
  if (n == 0) return;  // `values` may be null (an empty slice's vector)
  const size_t at = out->size();
  out->resize(at + 8 * n);
  char* dst = out->data() + at;
  if constexpr (kLittleEndianHost) {
    std::memcpy(dst, values, 8 * n);
  } else {
    for (size_t i = 0; i < n; ++i) {
      uint64_t bits;
      std::memcpy(&bits, &values[i], 8);
      PutWord(bits, dst + 8 * i);
    }
  }
}

void LoadF64s(const char* bytes, size_t n, double* out) {
  if (n == 0) return;
  if constexpr (kLittleEndianHost) {
    std::memcpy(out, bytes, 8 * n);
  } else {
    for (size_t i = 0; i < n; ++i) {
      const uint64_t bits = GetWord(bytes + 8 * i);
      std::memcpy(&out[i], &bits, 8);
    }
  }
}

int64_t StateSize(int64_t header, int64_t vectors, int64_t elements) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (header < 0 || vectors < 0 || elements < 0) return -1;
  if (vectors == 0 || elements == 0) return header;
  if (elements > (kMax - header) / 8 / vectors) return -1;
  return header + 8 * vectors * elements;
}

void StateWriter::U64(uint64_t value) {
  char word[8];
  PutWord(value, word);
  out_->append(word, 8);
}

void StateWriter::U64At(size_t at, uint64_t value) {
  PutWord(value, out_->data() + at);
}

void StateWriter::F64(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, 8);
  U64(bits);
}

absl::Status StateReader::Error(absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(what, " ", error_));
}

void StateReader::Fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
}

bool StateReader::Need(size_t n) {
  if (!ok()) return false;
  if (remaining() >= n) return true;
  Fail(absl::StrCat("ends at byte ", origin_ + in_.size(), "; ", n,
                    " bytes were expected at byte ", origin_ + offset_));
  return false;
}

bool StateReader::Tag(std::string_view tag) {
  if (!ok()) return false;
  if (remaining() < tag.size() || in_.substr(offset_, tag.size()) != tag) {
    Fail(absl::StrCat("does not start with the tag \"", AbslView(tag), "\""));
    return false;
  }
  offset_ += tag.size();
  return true;
}

uint64_t StateReader::U64() {
  if (!Need(8)) return 0;
  const uint64_t bits = GetWord(in_.data() + offset_);
  offset_ += 8;
  return bits;
}

int64_t StateReader::I64() { return static_cast<int64_t>(U64()); }

double StateReader::F64() {
  const uint64_t bits = U64();
  double value;
  std::memcpy(&value, &bits, 8);
  return value;
}

bool StateReader::Flag(absl::string_view name) {
  const size_t at = offset_;
  const uint64_t word = U64();
  if (word > 1) {
    Fail(absl::StrCat("has ", name, " = ", word, " at byte ", origin_ + at,
                      "; a flag is 0 or 1"));
    return false;
  }
  return word == 1;
}

int64_t StateReader::Count(absl::string_view name, int64_t lo, int64_t hi) {
  const size_t at = offset_;
  const int64_t word = I64();
  if (!ok()) return lo;
  if (word < lo || word > hi) {
    Fail(absl::StrCat("has ", name, " = ", word, " at byte ", origin_ + at,
                      "; it must be in [", lo, ", ", hi, "]"));
    return lo;
  }
  return word;
}

bool StateReader::F64s(double* out, size_t n) {
  if (!ok()) return false;
  if (n > remaining() / 8) {  // 8n itself might overflow
    Fail(absl::StrCat("ends at byte ", origin_ + in_.size(), "; ", n,
                      " doubles were expected at byte ", origin_ + offset_));
    return false;
  }
  LoadF64s(in_.data() + offset_, n, out);
  offset_ += 8 * n;
  return true;
}

std::string_view StateReader::Take(size_t n) {
  if (!Need(n)) return {};
  const std::string_view part = in_.substr(offset_, n);
  offset_ += n;
  return part;
}

std::string_view StateReader::Rest() { return Take(remaining()); }

bool StateReader::F64s(int64_t rows, int64_t cols, Eigen::MatrixXd* m) {
  if (!ok()) return false;
  if (rows < 0 || cols < 0 ||
      (rows > 0 && cols > static_cast<int64_t>(remaining() / 8) / rows)) {
    Fail(absl::StrCat("ends at byte ", origin_ + in_.size(), "; a ", rows,
                      " x ", cols, " matrix was expected at byte ",
                      origin_ + offset_));
    return false;
  }
  m->resize(rows, cols);
  return F64s(m->data(), static_cast<size_t>(rows * cols));
}

bool StateReader::F64s(int64_t n, Eigen::VectorXd* v) {
  if (!ok()) return false;
  if (n < 0 || n > static_cast<int64_t>(remaining() / 8)) {
    Fail(absl::StrCat("ends at byte ", origin_ + in_.size(), "; ", n,
                      " doubles were expected at byte ", origin_ + offset_));
    return false;
  }
  v->resize(n);
  return F64s(v->data(), static_cast<size_t>(n));
}

absl::StatusOr<StateSections> SplitStateSections(std::string_view state,
                                                 std::string_view tag) {
  StateReader r(state);
  r.Tag(tag);
  const uint64_t controller = r.U64();
  if (r.ok() && controller > r.remaining()) {
    r.Fail(absl::StrCat("has a controller section of ", controller,
                        " bytes, past its end at byte ", state.size()));
  }
  if (!r.ok()) {
    return r.Error(absl::StrCat("the ", AbslView(tag), " state"));
  }
  StateSections sections;
  sections.controller = r.Take(static_cast<size_t>(controller));
  sections.vectors_offset = r.offset();
  sections.vectors = r.Rest();
  return sections;
}

StateSectionsWriter::StateSectionsWriter(std::string_view tag, std::string* out)
    : out_(out) {
  StateWriter w(out);
  w.Tag(tag);
  length_at_ = out->size();
  w.U64(0);
}

void StateSectionsWriter::EndController() {
  StateWriter(out_).U64At(length_at_, out_->size() - length_at_ - 8);
}

}  // namespace optd
