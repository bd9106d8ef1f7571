// Views of dense vectors as they arrive from (and leave for) the wire: packed
// doubles, or raw little-endian float64 / float32 bytes that need not be
// aligned. Solvers copy through these views into their own slice storage, so
// no per-element conversion happens outside the one copy each vector needs.
//
//   ConstVectorView g = ConstVectorView::Float32(bytes.data(), bytes.size() /
//   4); for (int64_t i = 0; i < g.size(); ++i) sum += g.Get(i);
//
// Thread-safety: views are plain values; the viewed memory must outlive them.
#ifndef OPTD_SOLVERS_CORE_VECTOR_VIEW_H_
#define OPTD_SOLVERS_CORE_VECTOR_VIEW_H_

#include <cstdint>
#include <cstring>

namespace optd {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "optd's raw vector encodings assume a little-endian host");

enum class ScalarType { kFloat64, kFloat32 };

// ConstVectorView: `size` elements of `type` at `data` (any alignment).
class ConstVectorView {
 public:
  ConstVectorView() = default;
  static ConstVectorView Float64(const void* data, int64_t size) {
    return ConstVectorView(data, ScalarType::kFloat64, size);
  }
  static ConstVectorView Float32(const void* data, int64_t size) {
    return ConstVectorView(data, ScalarType::kFloat32, size);
  }

  // The elements [origin, origin + part.size()) of a whole vector whose other
  // elements are elsewhere: a shard's slice as it arrives from the home
  // replica, indexed by global position (slices copy their range out of it).
  // size() is origin + part.size(); only indices >= origin may be read.
  static ConstVectorView Window(const ConstVectorView& part, int64_t origin) {
    ConstVectorView view(part.data_, part.type_, origin + part.size_);
    view.origin_ = origin;
    return view;
  }

  // A vector of `size` elements that is not here: a sharded session's
  // clients sent its slices to the replicas directly (server/, direct data
  // path). Only the server's sharded vectors accept it; it has no data.
  static ConstVectorView OnSlices(int64_t size) {
    return ConstVectorView(nullptr, ScalarType::kFloat64, size);
  }
  bool on_slices() const { return data_ == nullptr && size_ > 0; }

  int64_t size() const { return size_; }
  ScalarType type() const { return type_; }
  const void* data() const { return data_; }

  // Element i widened to double.
  double Get(int64_t i) const {
    i -= origin_;
    if (type_ == ScalarType::kFloat64) {
      double v;
      std::memcpy(&v, static_cast<const char*>(data_) + 8 * i, 8);
      return v;
    }
    float v;
    std::memcpy(&v, static_cast<const char*>(data_) + 4 * i, 4);
    return v;
  }

  // Copies elements [begin, begin + count) into `out`, converted to T.
  template <typename T>
  void CopyTo(int64_t begin, int64_t count, T* out) const;

  // The elements [begin, begin + count) as a view.
  ConstVectorView Subview(int64_t begin, int64_t count) const {
    const int64_t width = type_ == ScalarType::kFloat64 ? 8 : 4;
    return ConstVectorView(
        static_cast<const char*>(data_) + width * (begin - origin_), type_,
        count);
  }

 private:
  ConstVectorView(const void* data, ScalarType type, int64_t size)
      : data_(data), type_(type), size_(size) {}
  const void* data_ = nullptr;
  ScalarType type_ = ScalarType::kFloat64;
  int64_t size_ = 0;
  // Global index of the element at data_ (Window()).
  int64_t origin_ = 0;
};

// MutableVectorView: `size` writable elements of `type` at `data`.
class MutableVectorView {
 public:
  MutableVectorView() = default;
  static MutableVectorView Float64(void* data, int64_t size) {
    return MutableVectorView(data, ScalarType::kFloat64, size);
  }
  static MutableVectorView Float32(void* data, int64_t size) {
    return MutableVectorView(data, ScalarType::kFloat32, size);
  }
  // As ConstVectorView::Window: writes to [origin, origin + part.size())
  // land in `part`.
  static MutableVectorView Window(const MutableVectorView& part,
                                  int64_t origin) {
    MutableVectorView view(part.data_, part.type_, origin + part.size_);
    view.origin_ = origin;
    return view;
  }
  // As ConstVectorView::OnSlices: the output stays on the replicas, which
  // serve it to clients directly.
  static MutableVectorView OnSlices(int64_t size) {
    return MutableVectorView(nullptr, ScalarType::kFloat64, size);
  }
  bool on_slices() const { return data_ == nullptr && size_ > 0; }
  int64_t size() const { return size_; }
  ScalarType type() const { return type_; }
  void* data() const { return data_; }

  // Writes `count` elements from `in` at [begin, begin + count), converting
  // (float32 output rounds to nearest).
  template <typename T>
  void CopyFrom(int64_t begin, int64_t count, const T* in) const;

 private:
  MutableVectorView(void* data, ScalarType type, int64_t size)
      : data_(data), type_(type), size_(size) {}
  void* data_ = nullptr;
  ScalarType type_ = ScalarType::kFloat64;
  int64_t size_ = 0;
  int64_t origin_ = 0;
};

template <typename T>
void ConstVectorView::CopyTo(int64_t begin, int64_t count, T* out) const {
  if (count == 0) return;  // an empty slice may have out == nullptr
  if (type_ == ScalarType::kFloat64) {
    const char* src = static_cast<const char*>(data_) + 8 * (begin - origin_);
    if constexpr (sizeof(T) == 8) {
      std::memcpy(out, src, 8 * count);
    } else {
      for (int64_t i = 0; i < count; ++i) {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        out[i] = static_cast<T>(v);
      }
    }
  } else {
    const char* src = static_cast<const char*>(data_) + 4 * (begin - origin_);
    if constexpr (sizeof(T) == 4) {
      std::memcpy(out, src, 4 * count);
    } else {
      for (int64_t i = 0; i < count; ++i) {
        float v;
        std::memcpy(&v, src + 4 * i, 4);
        out[i] = static_cast<T>(v);
      }
    }
  }
}

template <typename T>
void MutableVectorView::CopyFrom(int64_t begin, int64_t count,
                                 const T* in) const {
  if (count == 0) return;  // an empty slice may have in == nullptr
  if (type_ == ScalarType::kFloat64) {
    char* dst = static_cast<char*>(data_) + 8 * (begin - origin_);
    if constexpr (sizeof(T) == 8) {
      std::memcpy(dst, in, 8 * count);
    } else {
      for (int64_t i = 0; i < count; ++i) {
        const double v = in[i];
        std::memcpy(dst + 8 * i, &v, 8);
      }
    }
  } else {
    char* dst = static_cast<char*>(data_) + 4 * (begin - origin_);
    if constexpr (sizeof(T) == 4) {
      std::memcpy(dst, in, 4 * count);
    } else {
      for (int64_t i = 0; i < count; ++i) {
        const float v = static_cast<float>(in[i]);
        std::memcpy(dst + 4 * i, &v, 4);
      }
    }
  }
}

}  // namespace optd

#endif  // OPTD_SOLVERS_CORE_VECTOR_VIEW_H_
