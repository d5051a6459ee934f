// The operator table against the database's vocabulary: every family a row names is a known problem
// op (with a known algorithm), every family and algorithm the database measures has a row (so import
// maps it and the C API names it), anchors take post-ops exactly where db's FusesPostOps says so, and
// every post-op a row names is in KnownPostOps.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "layoutdb/problem.h"
#include "selector/op_table.h"

namespace layoutdb::selector {
namespace {

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(OpTable, EveryOnnxOpHasOneRow) {
  std::set<std::string_view> seen;
  for (const OpRow& r : OpTable()) {
    EXPECT_FALSE(r.onnx.empty());
    EXPECT_TRUE(seen.insert(r.onnx).second) << r.onnx << " has two rows";
    EXPECT_EQ(FindOp(r.onnx), &r) << r.onnx;
    EXPECT_EQ(FindOp(r.onnx, "ai.onnx"), &r) << r.onnx;
    EXPECT_EQ(FindOp(r.onnx, "com.microsoft"), nullptr) << r.onnx << ": another domain is not ONNX's";
  }
  EXPECT_EQ(FindOp("NoSuchOp"), nullptr);
}

TEST(OpTable, EveryFamilyIsAKnownProblemOpWithAKnownAlgorithm) {
  for (const OpRow& r : OpTable()) {
    if (r.family.empty()) {
      EXPECT_EQ(r.work == Work::kProblem, false) << r.onnx << ": no family, so no problem to cost by";
      continue;
    }
    ASSERT_TRUE(Contains(KnownOps(), r.family)) << r.onnx << ": family " << r.family;
    const auto& algs = KnownAlgs(r.family);
    if (algs.empty()) {
      // A family without algorithms takes none.
      EXPECT_TRUE(r.alg.empty()) << r.onnx << ": " << r.family << " has no algorithms";
    } else if (!r.alg.empty()) {  // empty: the node's attributes choose (Resize's mode, Transpose's perm)
      EXPECT_TRUE(Contains(algs, r.alg)) << r.onnx << ": " << r.family << ":" << r.alg;
    }
    EXPECT_EQ(r.work, Work::kProblem) << r.onnx;
  }
}

TEST(OpTable, EveryMeasuredFamilyAndAlgorithmHasARow) {
  for (const auto& op : KnownOps()) {
    const auto& algs = KnownAlgs(op);
    if (algs.empty()) {
      EXPECT_FALSE(OnnxOpOf(op, "").empty()) << "no ONNX op maps to " << op;
      continue;
    }
    for (const auto& a : algs) {
      const std::string_view onnx = OnnxOpOf(op, a);
      ASSERT_FALSE(onnx.empty()) << "no ONNX op maps to " << op << ":" << a;
      EXPECT_EQ(FindOp(onnx)->family, op);
      EXPECT_TRUE(FindOp(onnx)->alg == a || FindOp(onnx)->alg.empty()) << onnx;
    }
  }
  // The first row names a shared family and alg: MatMul (not a batched Gemm), MaxPool.
  EXPECT_EQ(OnnxOpOf("matmul", ""), "MatMul");
  EXPECT_EQ(OnnxOpOf("ip", ""), "Gemm");
  EXPECT_EQ(OnnxOpOf("pool", "max"), "MaxPool");
  EXPECT_EQ(OnnxOpOf("eltwise", "relu"), "Relu");
  EXPECT_EQ(OnnxOpOf("eltwise", "no-such-alg"), "");
}

TEST(OpTable, AnchorsAndPostOpsAgreeWithTheDatabase) {
  for (const OpRow& r : OpTable()) {
    if (r.fusion == Fusion::kAnchor) {
      EXPECT_TRUE(IsAnchorOp(std::string(r.onnx))) << r.onnx;
      if (!r.family.empty()) {
        EXPECT_EQ(r.takes_post_ops, FusesPostOps(r.family)) << r.onnx << " (" << r.family << ")";
      }
      EXPECT_TRUE(r.post_op.empty()) << r.onnx << ": an anchor is no post-op";
      continue;
    }
    EXPECT_FALSE(IsAnchorOp(std::string(r.onnx))) << r.onnx;
    EXPECT_FALSE(r.takes_post_ops) << r.onnx << ": only anchors take post-ops";
    if (r.family == "conv2d" || r.family == "matmul" || r.family == "ip")
      ADD_FAILURE() << r.onnx << ": a post-op anchor family on a non-anchor row";
    if (!r.post_op.empty()) {
      EXPECT_TRUE(Contains(KnownPostOps(), r.post_op)) << r.onnx << ": post-op " << r.post_op;
    }
    if (r.fusion == Fusion::kUnary && r.family == "eltwise") {
      EXPECT_EQ(r.post_op, r.alg) << r.onnx << ": a measured activation fuses as its own algorithm";
    }
    if (r.fusion == Fusion::kBinary) {
      EXPECT_FALSE(r.post_op.empty()) << r.onnx;
      EXPECT_EQ(r.kernel, Kernel::kBinary) << r.onnx;
    }
    if (r.fusion == Fusion::kFold) {
      EXPECT_TRUE(r.post_op.empty()) << r.onnx << ": folding adds no post-op";
    }
    if (r.fusion == Fusion::kNone) {
      EXPECT_TRUE(r.post_op.empty()) << r.onnx;
    }
  }
  // Every eltwise algorithm the post-op grammar knows is some activation's post-op.
  for (const auto& a : KnownAlgs("eltwise")) {
    bool found = false;
    for (const OpRow& r : OpTable()) found |= r.fusion == Fusion::kUnary && r.post_op == a;
    EXPECT_TRUE(found) << "post-op " << a << " has no activation row";
  }
}

TEST(OpTable, LayoutAndWorkRulesAreCoherent) {
  for (const OpRow& r : OpTable()) {
    // A view is free and computes nothing; only views are free.
    EXPECT_EQ(r.order == Order::kView, r.work == Work::kFree) << r.onnx;
    EXPECT_EQ(r.order == Order::kView, r.kernel == Kernel::kView) << r.onnx;
    EXPECT_EQ(IsViewOp(r.onnx), r.order == Order::kView) << r.onnx;
    // The runtime keys its eltwise, binary and reduction algorithms by `alg`.
    if (r.kernel == Kernel::kEltwise || r.kernel == Kernel::kBinary || r.kernel == Kernel::kReduce) {
      EXPECT_FALSE(r.alg.empty()) << r.onnx;
    }
    EXPECT_EQ(KernelOf(r.onnx), r.kernel) << r.onnx;
    EXPECT_EQ(TakesPostOps(r.onnx), r.fusion == Fusion::kAnchor && r.takes_post_ops) << r.onnx;
  }
  double flops = -1, bytes = -1;
  WorkOf(FindOp("Reshape"), 100, 100, &flops, &bytes);
  EXPECT_EQ(flops, 0);
  EXPECT_EQ(bytes, 0);
  WorkOf(FindOp("Transpose"), 100, 100, &flops, &bytes);
  EXPECT_EQ(flops, 100);
  EXPECT_EQ(bytes, 800);
  WorkOf(nullptr, 10, 5, &flops, &bytes);  // an unknown op: elementwise
  EXPECT_EQ(flops, 5);
  EXPECT_EQ(bytes, 60);
  // Memory-bound families are those the cost model scales by bytes.
  EXPECT_FALSE(IsMemoryBoundFamily("conv2d"));
  EXPECT_FALSE(IsMemoryBoundFamily("matmul"));
  EXPECT_TRUE(IsMemoryBoundFamily("eltwise"));
  EXPECT_TRUE(IsMemoryBoundFamily("pool"));
  EXPECT_FALSE(IsMemoryBoundFamily("no-such-family"));
}

}  // namespace
}  // namespace layoutdb::selector
