// The steps of one L-BFGS-B iteration (Byrd, Lu, Nocedal & Zhu, "A limited
// memory algorithm for bound constrained optimization", SIAM J. Sci. Comput.
// 16 (1995) 1190-1208; L-BFGS-B 3.0, Morales & Nocedal, ACM TOMS 38 (2011)),
// as the Fortran lbfgsb.f that scipy 1.10 ships splits them, on the
// controller's side: the per-element work is LbfgsbVectors' (one
// LbfgsbSlice per slice), the O(m^2) work and the scalars are here.
//
//   Cauchy           `cauchy`: the generalized Cauchy point (paper §4) along
//                    the projected steepest descent path; the breakpoints
//                    are visited in (t, index) order, merged from the
//                    slices (BreakpointMerge); the Fortran's heapsort
//                    (hpsolb) visits tied breakpoints in heap order instead
//   Freev            `freev`: free and active sets at the Cauchy point
//   Formk            `formk`: the LEL' factors of the 2m x 2m matrix K of
//                    the reduced (subspace) Newton system (paper §5.1)
//   SubspaceMinimize `cmprlb` + `subsm`: r = -Z'(g + B (xcp - x)), the
//                    subspace Newton step, projected into the box and
//                    backtracked (the 3.0 change, Morales & Nocedal 2011 §2)
//
// Index sets are 0-based; the active, projgr and lnsrlb loops are
// LbfgsbSlice's.
#ifndef OPTD_SOLVERS_LBFGSB_LBFGSB_STEPS_H_
#define OPTD_SOLVERS_LBFGSB_LBFGSB_STEPS_H_

#include <cstdint>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "solvers/lbfgsb/lbfgsb_compact.h"
#include "solvers/lbfgsb/lbfgsb_vectors.h"

namespace optd::lbfgsb {

// lbfgsb.f's nbd: which sides of a variable are finite.
enum BoundKind : int {
  kUnbounded = 0,
  kLowerOnly = 1,
  kBothSides = 2,
  kUpperOnly = 3
};

// Breakpoints fetched from a slice at a time by BreakpointMerge: the first
// batch of a slice's stream, then twice the last, up to the largest. A
// search that stops after a few breakpoints fetches few; one that walks far
// (a fetch from a replica is a round trip) fetches O(log) batches. The
// controller holds at most K batches of the largest size.
inline constexpr int kBreakpointBatch = 64;
inline constexpr int kMaxBreakpointBatch = 8192;

// The K-way merge of the slices' breakpoint streams, each ordered by
// (t, index): yields every breakpoint of the session in (t, index) order,
// fetching a slice's next batch when its buffer runs out (`batch` first,
// doubling up to kMaxBreakpointBatch; the order does not depend on the batch
// sizes). REQUIRES: CauchyStart since the last change of the iterate.
class BreakpointMerge {
 public:
  BreakpointMerge(LbfgsbVectors* vectors, int batch);
  // The next breakpoint (valid until the next call), or nullptr when every
  // stream is exhausted.
  absl::StatusOr<const BreakpointRecord*> Next();

 private:
  struct Stream {
    std::vector<BreakpointRecord> buffer;
    size_t next = 0;
    int64_t fetched = 0;
    int batch = 0;  // the size of the next fetch
    bool exhausted = false;
  };
  LbfgsbVectors* vectors_;
  int batch_;
  std::vector<Stream> streams_;
};

// The controller's work vectors of the Cauchy search (2m each); c = W'(xcp -
// x) is its output for the reduced gradient.
struct CauchyWork {
  explicit CauchyWork(int m);
  Eigen::VectorXd p, c, wbp, v;
};

// cauchy: the generalized Cauchy point z = xcp from x in the vectors, which
// update iwhere. nseg is the number of segments explored. False when bmv met
// a singular system (mainlb then refreshes the memory).
absl::StatusOr<bool> Cauchy(LbfgsbVectors* vectors, const LbfgsbMemory& memory,
                            double sbgnrm, double epsmch, CauchyWork* work,
                            int* nseg);

// The sizes of the free set at the Cauchy point and of its changes since the
// last iteration (freev's nfree / nenter / n - ileave).
struct FreeSet {
  int64_t nfree = 0;
  int64_t nenter = 0;
  int64_t nleave = 0;
};
// freev: returns wrk, whether K must be formed again. The first free set (no
// Freev yet) is every variable.
absl::StatusOr<bool> Freev(LbfgsbVectors* vectors, int64_t iter,
                           bool constrained, bool updated, FreeSet* set);

// formk: the factors of K in the upper triangle of wn (2m x 2m). wn1 (2m x
// 2m, kept between calls) holds the inner products Y'ZZ'Y, S'AA'S and
// L_a + R_z, updated as pairs arrive (`updated`: the memory got a pair since
// the last call) and as variables enter and leave the free set; the vectors
// compute the sums (LbfgsbSlice::FormkSums). False when a Cholesky
// factorization fails.
absl::StatusOr<bool> Formk(LbfgsbVectors* vectors, const LbfgsbMemory& memory,
                           bool updated, Eigen::MatrixXd* wn1,
                           Eigen::MatrixXd* wn);

// cmprlb then subsm: moves z (the Cauchy point on entry) to the projected
// subspace Newton point, from c of Cauchy and the K factors wn. wa and wv
// (2m each) are work. False when bmv or a solve with K met a singular
// system. REQUIRES: a free variable and a pair.
absl::StatusOr<bool> SubspaceMinimize(LbfgsbVectors* vectors,
                                      const LbfgsbMemory& memory,
                                      bool constrained,
                                      const Eigen::VectorXd& c,
                                      const Eigen::MatrixXd& wn,
                                      Eigen::VectorXd* wa, Eigen::VectorXd* wv);

}  // namespace optd::lbfgsb

#endif  // OPTD_SOLVERS_LBFGSB_LBFGSB_STEPS_H_
