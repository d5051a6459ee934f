// A small gradient-boosted tree ensemble (XGBoost's C API) for the cost model: K boosters, each
// trained with one fold of the rows held out. The out-of-fold predictions measure how well the model
// predicts problems it has not seen (CostModel keeps it or kNN by that); at a new problem the members'
// mean is the estimate and their spread its uncertainty. Internal to selector/.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace layoutdb::selector {

class TreeEnsemble {
 public:
  struct Options {
    // Chosen on a default sweep measured on a loaded machine (bench_select): deeper trees, faster
    // learning or smaller leaves fitted the measurements' stalls and predicted held-out points worse.
    int rounds = 60;   // boosting rounds per member
    int depth = 3;     // maximum tree depth
    double eta = 0.1;  // learning rate
    double min_child_weight = 10;
  };
  // The loss is pseudo-Huber on the target with a slope of 0.1 (log units): a measurement that
  // absorbed a scheduler stall (2x, 10x) pulls a leaf as much as one 10% off, not quadratically more.
  // The boosting starts from 0 (base_score): targets are corrections around 0.
  // `x`: rows x cols, row-major, NaN for a missing value; `categorical[c]`: column c holds category
  // codes (0, 1, ...); `y`: the targets; `fold[i]` in [0, folds): the member that does not see row i.
  // `heldout` (when given) receives each row's prediction by the member that did not see it, made from
  // `heldout_x` (same shape as x; x itself when null): the features a prediction would see.
  // Throws std::runtime_error with XGBoost's message when training fails.
  static std::unique_ptr<TreeEnsemble> Train(const std::vector<float>& x, size_t cols,
                                             const std::vector<bool>& categorical,
                                             const std::vector<float>& y, const std::vector<int>& fold,
                                             int folds, const Options& options,
                                             std::vector<double>* heldout = nullptr,
                                             const std::vector<float>* heldout_x = nullptr);
  ~TreeEnsemble();
  TreeEnsemble(const TreeEnsemble&) = delete;
  TreeEnsemble& operator=(const TreeEnsemble&) = delete;

  struct Prediction {
    double mean = 0;  // mean of the members' predictions
    double sd = 0;    // their standard deviation
  };
  // One row of `cols` features. Not thread-safe (callers serialise).
  Prediction Predict(const float* row) const;
  size_t Members() const { return boosters_.size(); }

 private:
  TreeEnsemble() = default;
  size_t cols_ = 0;
  std::vector<bool> categorical_;
  std::vector<void*> boosters_;  // BoosterHandle
};

}  // namespace layoutdb::selector
