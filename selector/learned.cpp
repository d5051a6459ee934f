#include "learned.h"

#include <fmt/format.h>
#include <xgboost/c_api.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace layoutdb::selector {
namespace {

void Check(int rc, const char* what) {
  if (rc != 0) throw std::runtime_error(fmt::format("xgboost: {}: {}", what, XGBGetLastError()));
}

// A DMatrix owned for the scope.
struct Matrix {
  DMatrixHandle h = nullptr;
  Matrix(const float* data, size_t rows, size_t cols, const std::vector<bool>& categorical) {
    Check(XGDMatrixCreateFromMat(data, rows, cols, std::numeric_limits<float>::quiet_NaN(), &h),
          "create matrix");
    std::vector<const char*> types;
    for (bool c : categorical) types.push_back(c ? "c" : "q");
    Check(XGDMatrixSetStrFeatureInfo(h, "feature_type", types.data(), types.size()), "feature types");
  }
  ~Matrix() {
    if (h) XGDMatrixFree(h);
  }
  Matrix(const Matrix&) = delete;
  Matrix& operator=(const Matrix&) = delete;
};

}  // namespace

TreeEnsemble::~TreeEnsemble() {
  for (void* b : boosters_) XGBoosterFree(b);
}

std::unique_ptr<TreeEnsemble> TreeEnsemble::Train(const std::vector<float>& x, size_t cols,
                                                  const std::vector<bool>& categorical,
                                                  const std::vector<float>& y,
                                                  const std::vector<int>& fold, int folds,
                                                  const Options& o, std::vector<double>* heldout,
                                                  const std::vector<float>* heldout_x) {
  const size_t rows = y.size();
  if (cols == 0 || x.size() != rows * cols || fold.size() != rows || categorical.size() != cols)
    throw std::invalid_argument("TreeEnsemble::Train: inconsistent sizes");
  if (heldout_x && heldout_x->size() != x.size())
    throw std::invalid_argument("TreeEnsemble::Train: held-out features of another shape");
  const std::vector<float>& hx = heldout_x ? *heldout_x : x;
  std::unique_ptr<TreeEnsemble> e(new TreeEnsemble());
  e->cols_ = cols;
  e->categorical_ = categorical;
  if (heldout) heldout->assign(rows, std::numeric_limits<double>::quiet_NaN());
  for (int k = 0; k < folds; ++k) {
    std::vector<float> tx, ty, vx;
    std::vector<size_t> vrows;
    for (size_t i = 0; i < rows; ++i) {
      const float* r = &x[i * cols];
      if (fold[i] == k) {
        vx.insert(vx.end(), &hx[i * cols], &hx[i * cols] + cols);
        vrows.push_back(i);
      } else {
        tx.insert(tx.end(), r, r + cols);
        ty.push_back(y[i]);
      }
    }
    if (ty.empty()) continue;
    Matrix train(tx.data(), ty.size(), cols, categorical);
    Check(XGDMatrixSetFloatInfo(train.h, "label", ty.data(), ty.size()), "labels");
    BoosterHandle b = nullptr;
    Check(XGBoosterCreate(&train.h, 1, &b), "create booster");
    e->boosters_.push_back(b);
    const std::string depth = std::to_string(o.depth), eta = fmt::format("{}", o.eta),
                      mcw = fmt::format("{}", o.min_child_weight);
    for (auto [name, value] : {std::pair<const char*, const char*>{"tree_method", "hist"},
                               {"objective", "reg:pseudohubererror"},
                               {"max_depth", depth.c_str()},
                               {"eta", eta.c_str()},
                               {"min_child_weight", mcw.c_str()},
                               {"max_cat_to_onehot", "16"},
                               {"nthread", "1"},
                               {"base_score", "0"},
                               {"huber_slope", "0.1"},
                               {"seed", "7"},
                               {"verbosity", "0"}})
      Check(XGBoosterSetParam(b, name, value), "set parameter");
    for (int it = 0; it < o.rounds; ++it) Check(XGBoosterUpdateOneIter(b, it, train.h), "train");
    if (heldout && !vrows.empty()) {
      Matrix valid(vx.data(), vrows.size(), cols, categorical);
      bst_ulong n = 0;
      const float* out = nullptr;
      Check(XGBoosterPredict(b, valid.h, 0, 0, 0, &n, &out), "predict");
      for (size_t j = 0; j < vrows.size() && j < n; ++j) (*heldout)[vrows[j]] = out[j];
    }
  }
  if (e->boosters_.empty()) return nullptr;
  return e;
}

TreeEnsemble::Prediction TreeEnsemble::Predict(const float* row) const {
  Matrix m(row, 1, cols_, categorical_);
  double sum = 0, sum2 = 0;
  for (void* b : boosters_) {
    bst_ulong n = 0;
    const float* out = nullptr;
    Check(XGBoosterPredict(b, m.h, 0, 0, 0, &n, &out), "predict");
    const double v = n ? out[0] : 0;
    sum += v, sum2 += v * v;
  }
  const double k = static_cast<double>(boosters_.size());
  Prediction p;
  p.mean = sum / k;
  p.sd = k > 1 ? std::sqrt(std::max(0.0, (sum2 - sum * sum / k) / (k - 1))) : 0;
  return p;
}

}  // namespace layoutdb::selector
