// gen_corpus's seeds of vector_codec_fuzzer: a Vector in each encoding, and
// one with two encodings and an odd length.
#include <string>

#include "fuzz/gen_corpus.h"

namespace optd::fuzz::corpus {

void VectorCodec() {
  v1::Vector values;
  for (double v : {1.0, -2.5, 1e300}) values.add_values(v);
  Write("vector_codec", "values", values);
  v1::Vector f64;
  f64.set_f64(std::string("\0\0\0\0\0\0\xf0\x3f\0\0\0\0\0\0\xf8\x7f", 16));
  Write("vector_codec", "f64", f64);
  v1::Vector f32;
  f32.set_f32(std::string("\0\0\x80\x3f\0\0\x80\x7f", 8));
  Write("vector_codec", "f32", f32);
  v1::Vector both = values;
  both.set_f32(std::string(3, 'x'));
  Write("vector_codec", "both_odd", both);
}

}  // namespace optd::fuzz::corpus
