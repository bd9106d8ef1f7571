// vector_codec_fuzzer: the two decoders of optd.v1.Vector against each other.
//
// Feeds: the input bytes, parsed as an optd.v1.Vector (an input that does
// not parse is skipped), into the server's DecodeVector
// (server/codec/vectors.h: a view into the message, used for every x0,
// gradient, Hessian and slice) and the client's DecodeVector
// (client/vector_codec.h: what the C++ client does with every trial point).
//
// Checks: both accept or both refuse (INVALID_ARGUMENT / DATA_LOSS with a
// message); when they accept, the same number of elements with the same
// bits; VectorSize agrees; and re-encoding the decoded elements in each
// encoding decodes to the same bits again (float32 after rounding).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/vector_codec.h"
#include "fuzz/harness.h"
#include "optd/v1/optimizer.pb.h"
#include "server/codec/vectors.h"

namespace {

bool SameBits(double a, double b) { return std::memcmp(&a, &b, 8) == 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace optd;
  v1::Vector vector;
  if (!vector.ParseFromArray(data, static_cast<int>(size))) return -1;
  absl::StatusOr<ConstVectorView> server = server::DecodeVector(vector, "v");
  absl::StatusOr<std::vector<double>> client = client::DecodeVector(vector);
  fuzz::Require(
      server.ok() == client.ok(),
      absl::StrCat("decoders disagree: server ", server.status().ToString(),
                   ", client ", client.status().ToString()));
  fuzz::Require(client::VectorSize(vector) ==
                    (client.ok() ? static_cast<int64_t>(client->size()) : -1),
                "VectorSize disagrees with DecodeVector");
  if (!server.ok()) {
    fuzz::Require(
        server.status().code() == absl::StatusCode::kInvalidArgument &&
            !server.status().message().empty(),
        server.status().ToString());
    fuzz::Require(client.status().code() == absl::StatusCode::kDataLoss &&
                      !client.status().message().empty(),
                  client.status().ToString());
    return 0;
  }
  fuzz::Require(server->size() == static_cast<int64_t>(client->size()),
                "decoders disagree on the size");
  for (int64_t i = 0; i < server->size(); ++i) {
    fuzz::Require(SameBits(server->Get(i), (*client)[i]),
                  absl::StrCat("decoders disagree on element ", i));
  }
  for (v1::VectorEncoding encoding :
       {v1::VECTOR_ENCODING_VALUES, v1::VECTOR_ENCODING_F64,
        v1::VECTOR_ENCODING_F32}) {
    const v1::Vector encoded = client::Encode(*client, encoding);
    absl::StatusOr<ConstVectorView> again = server::DecodeVector(encoded, "v");
    fuzz::Require(again.ok() && again->size() == server->size(),
                  "a re-encoded vector does not decode");
    for (int64_t i = 0; i < again->size(); ++i) {
      const double want =
          encoding == v1::VECTOR_ENCODING_F32
              ? static_cast<double>(static_cast<float>((*client)[i]))
              : (*client)[i];
      fuzz::Require(SameBits(again->Get(i), want),
                    absl::StrCat("re-encoded element ", i, " changed"));
    }
  }
  return 0;
}
