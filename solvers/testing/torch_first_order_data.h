// The torch 1.13 reference trajectories of tests/data/torch_first_order/
// (made by tests/data/gen_torch_first_order.py): SGD, RMSprop, Adagrad,
// Adamax, NAdam, RAdam and Lion runs on the gradient sequence of
// torch_adam_data.h. Used by the kernel test and by solver tests.
//
//   absl::StatusOr<TorchRun> run = LoadTorchFirstOrderRun(
//       TorchFirstOrderRunPath(OPTD_TEST_DATA_DIR, "rmsprop_centered_f32"));
//   // run->hyper.method == ElementwiseMethod::kRmsprop, run->lr, ...
#ifndef OPTD_SOLVERS_TESTING_TORCH_FIRST_ORDER_DATA_H_
#define OPTD_SOLVERS_TESTING_TORCH_FIRST_ORDER_DATA_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/testing/torch_adam_data.h"

namespace optd::testing {

// One file of tests/data/torch_first_order (layout in
// gen_torch_first_order.py), with its hyperparameters as an AdamHyper.
absl::StatusOr<TorchRun> LoadTorchFirstOrderRun(const std::string& path);
// The 38 run names, e.g. "sgd_nesterov_wd_f64" (gen_torch_first_order.py's
// RUNS, each _f64 and _f32).
std::vector<std::string> FirstOrderRunNames();
// data_dir + "/torch_first_order/" + name + ".bin".
std::string TorchFirstOrderRunPath(const std::string& data_dir,
                                   const std::string& name);

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_TORCH_FIRST_ORDER_DATA_H_
