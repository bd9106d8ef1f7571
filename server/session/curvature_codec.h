// Curvature sessions' proto <-> solver conversions (CreateSessionRequest
// .curvature, Session.curvature, Summary.curvature), kept apart from
// codecs.h's so that the curvature diagnostics are in one place.
//
//   OPTD_ASSIGN_OR_RETURN(CurvatureOptions options,
//                         CurvatureOptionsFromProto(request.curvature()));
//
// Thread-safety: pure functions.
#ifndef OPTD_SERVER_SESSION_CURVATURE_CODEC_H_
#define OPTD_SERVER_SESSION_CURVATURE_CODEC_H_

#include "absl/status/statusor.h"
#include "optd/v1/options.pb.h"
#include "optd/v1/sessions.pb.h"
#include "solvers/curvature/curvature_solver.h"
#include "solvers/curvature/lanczos.h"

namespace optd::server {

// CurvatureOptionsFromProto()
//
// Unset fields take the defaults documented in options.proto; the relative
// step resolves to cbrt(eps) for SOURCE_GRADIENT_DIFFERENCE (so that
// Session.curvature shows the number). INVALID_ARGUMENT naming the field
// ("curvature.max_steps"), its value and its range.
absl::StatusOr<CurvatureOptions> CurvatureOptionsFromProto(
    const v1::CurvatureOptions& proto);
// Every field set.
v1::CurvatureOptions CurvatureOptionsToProto(const CurvatureOptions& options);

// CurvatureResultToProto()
//
// Summary.curvature from the solver's estimate.
void CurvatureResultToProto(const SpectrumEstimate& estimate,
                            v1::CurvatureResult* out);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_CURVATURE_CODEC_H_
