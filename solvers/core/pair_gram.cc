#include "solvers/core/pair_gram.h"

namespace optd {

PairGram PairGram::WithPair(const NewPairProducts& pair, int memory,
                            const Eigen::VectorXd& sg,
                            const Eigen::VectorXd& yg) const {
  const int k = pairs();
  // Grow by the new pair (index k), then drop the oldest when full.
  const int drop = k == memory ? 1 : 0;
  const int k2 = k + 1 - drop;
  PairGram next;
  next.ss.resize(k2, k2);
  next.sy.resize(k2, k2);
  next.yy.resize(k2, k2);
  next.sg.resize(k2);
  next.yg.resize(k2);
  for (int a = 0; a < k2; ++a) {
    const int i = a + drop;  // index among the k + 1 pairs
    for (int b = 0; b < k2; ++b) {
      const int j = b + drop;
      if (i < k && j < k) {
        next.ss(a, b) = ss(i, j);
        next.sy(a, b) = sy(i, j);
        next.yy(a, b) = yy(i, j);
      } else if (i == k && j == k) {
        next.ss(a, b) = pair.ss;
        next.sy(a, b) = pair.sy;
        next.yy(a, b) = pair.yy;
      } else if (i == k) {  // the new pair against old pair j
        next.ss(a, b) = pair.s_s(j);
        next.sy(a, b) = pair.s_y(j);  // s_new . y_j
        next.yy(a, b) = pair.y_y(j);
      } else {  // old pair i against the new one
        next.ss(a, b) = pair.s_s(i);
        next.sy(a, b) = pair.y_s(i);  // s_i . y_new
        next.yy(a, b) = pair.y_y(i);
      }
    }
    next.sg(a) = sg(i);
    next.yg(a) = yg(i);
  }
  next.gg = gg;
  return next;
}

void WritePairGram(const PairGram& gram, StateWriter& w) {
  w.I64(gram.pairs());
  w.F64s(gram.ss);
  w.F64s(gram.sy);
  w.F64s(gram.yy);
  w.F64s(gram.sg);
  w.F64s(gram.yg);
  w.F64(gram.gg);
}

PairGram ReadPairGram(int k, StateReader& r) {
  PairGram gram;
  r.F64s(k, k, &gram.ss);
  r.F64s(k, k, &gram.sy);
  r.F64s(k, k, &gram.yy);
  r.F64s(k, &gram.sg);
  r.F64s(k, &gram.yg);
  gram.gg = r.F64();
  return gram;
}

}  // namespace optd
