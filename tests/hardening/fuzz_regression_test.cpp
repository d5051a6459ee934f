// What the fuzz targets (tests/fuzz/) found, kept: each input that crashed a parser, tripped a
// sanitizer or escaped as the wrong kind of error is fed to the program as a user would give it, and
// must end in exactly one clear error line. The inputs live in regressions/ beside this file.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "hardening_util.h"

namespace layoutdb::hardening {
namespace {

const char* kModel = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";

std::string Input(const std::string& name) { return (SourceDir() / "tests/hardening/regressions" / name).string(); }

class FuzzRegression : public ::testing::Test {
 protected:
  // Expects exactly one error line, "layoutdb: error: " + `what`.
  void ExpectRefused(const std::vector<std::string>& args, const std::string& what) {
    const Result r = Layoutdb(args);
    EXPECT_TRUE(OneErrorLine(r)) << r.out;
    EXPECT_EQ(ErrorText(r), what);
  }
  // An ONNX file (regressions/`name`) that `select` and `run` both refuse with "model 'F': " + `why`.
  void ExpectModelRefused(const std::string& name, const std::string& why) {
    const std::string model = Input(name);
    const std::string want = fmt::format("model '{}': {}", model, why);
    ExpectRefused({"select", model, "--db", QuickDb()}, want);
    ExpectRefused({"run", model, "--db", QuickDb()}, want);
  }
  TempDir dir_;
};

// Spec parser: a float beyond int64_t where the schema wants an integer (1e80 as a kernel size) was
// cast to int64_t while being validated: undefined behaviour (UBSan, db/json_schema.cpp).
TEST_F(FuzzRegression, SpecWithAHugeFloatForAnInteger) {
  const std::string spec = Input("spec-huge-float-integer.json");
  ExpectRefused({"sweep", "--db", dir_.File("x.db"), "--spec", spec, "--dry-run"},
                fmt::format("sweep spec {}: /problems/0/grid/kh/0: expected integer or string, got number "
                            "(sweep.schema.json)",
                            spec));
  EXPECT_FALSE(fs::exists(dir_.File("x.db")));
}

// Spec parser: a number beyond double (1113e1111108) made nlohmann throw out_of_range, which escaped
// as "[json.exception.out_of_range.406] ..." without naming the spec.
TEST_F(FuzzRegression, SpecWithANumberBeyondDouble) {
  const std::string spec = Input("spec-number-overflow.json");
  ExpectRefused({"sweep", "--db", dir_.File("x.db"), "--spec", spec, "--dry-run"},
                fmt::format("sweep spec {}: not valid JSON: [json.exception.out_of_range.406] number overflow "
                            "parsing '1113e1111108'",
                            spec));
}

// Spec parser (found reading the code the fuzzer pointed at): a whole number beyond int for a count of
// the measure block (warmup 1e18) was cast to int: undefined behaviour.
TEST_F(FuzzRegression, SpecWithACountBeyondInt) {
  const std::string spec = Input("spec-huge-warmup.json");
  ExpectRefused({"sweep", "--db", dir_.File("x.db"), "--spec", spec, "--dry-run"},
                fmt::format("sweep spec {}: /measure/warmup: 1e+18 is too large (at most 2147483647)", spec));
}

// Spec parser: a property name holding a newline (and a bell) was quoted as it was, so the error ran
// over two lines (fuzz_spec, stop 15's CI run); names are now escaped as JSON escapes them.
TEST_F(FuzzRegression, SpecWithANewlineInAPropertyName) {
  const std::string spec = Input("spec-newline-in-a-property-name.json");
  ExpectRefused({"sweep", "--db", dir_.File("x.db"), "--spec", spec, "--dry-run"},
                fmt::format("sweep spec {}: /: unexpected property 'tr\\nx\\u0007' (sweep.schema.json)", spec));
  EXPECT_FALSE(fs::exists(dir_.File("x.db")));
}

// Problem keys: a key of a spec holding backslashes and a newline was quoted raw, twice (the key, then
// its op), so the error ran over two lines (fuzz_spec, stop 33); a key is printable ASCII or refused.
TEST_F(FuzzRegression, SpecWithANewlineInAProblemKey) {
  const std::string spec = Input("spec-newline-in-a-problem-key.json");
  ExpectRefused({"sweep", "--db", dir_.File("x.db"), "--spec", spec, "--dry-run"},
                fmt::format("sweep spec {}: /problems/0/keys/0 (group 'conv-real'): bad problem key "
                            "'co\\\\\\\\\\nv2d:mb1ic3ih224iw224oc32kh3kw3sh2sw2ph1pw1g1': byte 0x0a at offset 4 "
                            "(a key is printable ASCII)",
                            spec));
  EXPECT_FALSE(fs::exists(dir_.File("x.db")));
}

// ONNX importer: a Split of a scalar read its axis 0 past the end of an empty shape (UBSan: reference
// binding to null pointer, selector/onnx_fold.cpp); a scalar has no axis.
TEST_F(FuzzRegression, OnnxSplitOfAScalar) {
  ExpectModelRefused("onnx-split-of-a-scalar.onnx", "node 0 (Split ''): axis 0 out of range for rank 0");
}

// ONNX importer: a Conv with a zero stride passes the ONNX checker, and libonnx's conv/pool shape
// inference divides by it (SIGFPE in onnx::convPoolShapeInference1). Windows must be positive.
TEST_F(FuzzRegression, OnnxConvWithAZeroStride) {
  ExpectModelRefused("onnx-conv-zero-stride.onnx", "node 0 (Conv ''): strides [1,0] must be positive");
}

// ONNX importer: an unknown operator whose declared output shape is [4,72065,62,19595788287,...]: its
// element count overflowed int64 when the importer costed it (UBSan: signed integer overflow in
// TensorInfo::Elems). An impossible shape is refused.
TEST_F(FuzzRegression, OnnxDeclaredShapeBeyondInt64) {
  ExpectModelRefused("onnx-declared-shape-overflow.onnx",
                     "value '2': shape [4,72065,62,19595788287,23,40,66,13170,38,62] has more than 2^48 elements");
}

// ONNX importer: a ConvTranspose whose weights (a graph input) have rank 2 beside a rank-4 input
// passes the checker, and libonnx's convTransposeShapeInference reads past the weights' dims (SIGSEGV).
TEST_F(FuzzRegression, OnnxConvTransposeWithWeightsOfAnotherRank) {
  ExpectModelRefused("onnx-convtranspose-weights-rank.onnx",
                     "node 0 (ConvTranspose ''): weights 'W' of rank 2 for an input of rank 4");
}

// ONNX importer: a LayerNormalization (opset 17) of a scalar graph input: libonnx's inference indexed
// the empty shape with axis -1 (SIGSEGV). Its axis must lie within the input's rank.
TEST_F(FuzzRegression, OnnxLayerNormOfAScalar) {
  ExpectModelRefused("onnx-layernorm-of-a-scalar.onnx",
                     "node 0 (LayerNormalization ''): axis -1 out of range for an input of rank 0");
}

// ONNX importer: a Pad whose pads come from a float Constant of 9.97e35: the importer cast it to
// int64 (UBSan: outside the range of representable values, selector/onnx_fold.h).
TEST_F(FuzzRegression, OnnxFloatShapeValueBeyondInt64) {
  ExpectModelRefused("onnx-float-shape-out-of-range.onnx",
                     "node 4 (Pad 'x3'): a float value used as an integer is out of range: 9.96921e+35");
}

// ONNX importer: an Unsqueeze whose data input is named "" (ONNX's "optional input not given") and
// whose axes are a constant was folded, reading its absent input (UBSan: reference binding to null
// pointer, selector/onnx_fold_eval.cpp; fuzz_onnx_import, stop 33). An input an operator needs is
// refused when missing.
TEST_F(FuzzRegression, OnnxUnsqueezeWithAnEmptyDataInput) {
  ExpectModelRefused("onnx-unsqueeze-with-an-empty-data-input.onnx",
                     "node 0 (Unsqueeze ''): input 0 is missing (the operator needs it)");
}

// Plan reader: a float where an integer belongs (index 1e300) was cast to int by nlohmann: undefined
// behaviour (UBSan: 1e+300 is outside the range of representable values of type 'int').
TEST_F(FuzzRegression, PlanWithAFloatForAnIndex) {
  const std::string plan = Input("plan-float-index.json");
  ExpectRefused({"run", kModel, "--plan", plan}, fmt::format("plan {}: index is not an integer: 1e+300", plan));
}

}  // namespace
}  // namespace layoutdb::hardening
