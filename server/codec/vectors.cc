#include "server/codec/vectors.h"

#include "absl/strings/str_cat.h"

namespace optd::server {
namespace {

absl::Status InvalidArgument(absl::string_view a, absl::string_view b = "",
                             absl::string_view c = "",
                             absl::string_view d = "") {
  return absl::InvalidArgumentError(absl::StrCat(a, b, c, d));
}

}  // namespace

absl::StatusOr<ConstVectorView> DecodeVector(const v1::Vector& vector,
                                             absl::string_view field) {
  std::vector<absl::string_view> set;
  if (vector.values_size() > 0) set.push_back("values");
  if (!vector.f64().empty()) set.push_back("f64");
  if (!vector.f32().empty()) set.push_back("f32");
  if (set.size() > 1) {
    const std::string names =
        set.size() == 2 ? absl::StrCat("both ", set[0], " and ", set[1])
                        : absl::StrCat(set[0], ", ", set[1], " and ", set[2]);
    return InvalidArgument(field, " sets ", names,
                           "; set exactly one encoding");
  }
  if (vector.values_size() > 0) {
    return ConstVectorView::Float64(vector.values().data(),
                                    vector.values_size());
  }
  if (!vector.f64().empty()) {
    const size_t bytes = vector.f64().size();
    if (bytes % 8 != 0) {
      return InvalidArgument(absl::StrCat(field, ".f64 has ", bytes, " bytes"),
                             "; float64 data needs a multiple of 8");
    }
    return ConstVectorView::Float64(vector.f64().data(), bytes / 8);
  }
  if (!vector.f32().empty()) {
    const size_t bytes = vector.f32().size();
    if (bytes % 4 != 0) {
      return InvalidArgument(absl::StrCat(field, ".f32 has ", bytes, " bytes"),
                             "; float32 data needs a multiple of 4");
    }
    return ConstVectorView::Float32(vector.f32().data(), bytes / 4);
  }
  return ConstVectorView();
}

absl::Status ValidateEncoding(v1::VectorEncoding encoding,
                              absl::string_view field) {
  if (!v1::VectorEncoding_IsValid(encoding)) {
    return InvalidArgument(
        absl::StrCat(field, " is ", static_cast<int>(encoding)),
        "; use VECTOR_ENCODING_VALUES, _F64, _F32 or leave it unspecified");
  }
  return absl::OkStatus();
}

v1::VectorEncoding ResolveEncoding(v1::VectorEncoding requested,
                                   v1::VectorEncoding session_default) {
  if (requested != v1::VECTOR_ENCODING_UNSPECIFIED) return requested;
  if (session_default != v1::VECTOR_ENCODING_UNSPECIFIED)
    return session_default;
  return v1::VECTOR_ENCODING_VALUES;
}

}  // namespace optd::server
