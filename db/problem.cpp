#include "layoutdb/problem.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "layoutdb/human.h"

namespace layoutdb {
namespace {

struct ParamSpec {
  const char* name;
  int64_t def;  // default value; kNoDefault when the parameter must be given
};
constexpr int64_t kNoDefault = INT64_MIN;

struct OpSpec {
  const char* op;
  std::vector<std::string> algs;  // empty: the op takes no algorithm
  std::vector<ParamSpec> params;  // canonical order
};

// The transpose algorithms: every non-identity permutation of the 4D view's dims, named `p` and the
// source dim of each destination dim (ONNX's perm), e.g. p0231 (NCHW -> NHWC), p0213 ([b,t,h,d] ->
// [b,h,t,d]).
std::vector<std::string> TransposePerms() {
  std::vector<std::string> v;
  std::string perm = "0123";
  while (std::next_permutation(perm.begin(), perm.end())) v.push_back("p" + perm);
  return v;
}

const std::vector<OpSpec>& OpSpecs() {
  static const std::vector<OpSpec> kOpSpecs = {
      {"conv2d", {},
       {{"mb", kNoDefault}, {"ic", kNoDefault}, {"ih", kNoDefault}, {"iw", kNoDefault},
        {"oc", kNoDefault}, {"kh", kNoDefault}, {"kw", kNoDefault}, {"sh", kNoDefault},
        {"sw", kNoDefault}, {"ph", kNoDefault}, {"pw", kNoDefault}, {"dh", 1}, {"dw", 1},
        {"g", kNoDefault}}},
      {"matmul", {}, {{"mb", kNoDefault}, {"m", kNoDefault}, {"n", kNoDefault}, {"k", kNoDefault}}},
      {"ip", {}, {{"mb", kNoDefault}, {"ic", kNoDefault}, {"oc", kNoDefault}}},
      {"pool", {"max", "avg"},
       {{"mb", kNoDefault}, {"ic", kNoDefault}, {"ih", kNoDefault}, {"iw", kNoDefault},
        {"kh", kNoDefault}, {"kw", kNoDefault}, {"sh", kNoDefault}, {"sw", kNoDefault},
        {"ph", kNoDefault}, {"pw", kNoDefault}}},
      {"eltwise", {"relu", "clip", "hardswish", "hardsigmoid", "sigmoid", "gelu", "tanh", "leakyrelu"},
       {{"mb", kNoDefault}, {"c", kNoDefault}, {"h", kNoDefault}, {"w", kNoDefault}}},
      // bc: the second source's broadcast form (Problem::Src2Dims); 0, full size, is left out of keys.
      {"binary", {"add", "mul"},
       {{"mb", kNoDefault}, {"c", kNoDefault}, {"h", kNoDefault}, {"w", kNoDefault}, {"bc", 0}}},
      {"softmax", {},
       {{"mb", kNoDefault}, {"c", kNoDefault}, {"h", kNoDefault}, {"w", kNoDefault}, {"ax", 1}}},
      {"bnorm", {}, {{"mb", kNoDefault}, {"c", kNoDefault}, {"h", kNoDefault}, {"w", kNoDefault}}},
      {"lnorm", {}, {{"mb", kNoDefault}, {"t", kNoDefault}, {"c", kNoDefault}}},
      // Glue ops. Activations are 4D views (mb c h w) as for eltwise; see problem.h for each family.
      {"concat", {},
       {{"mb", kNoDefault}, {"c", kNoDefault}, {"h", kNoDefault}, {"w", kNoDefault}, {"n", kNoDefault},
        {"ax", 1}}},
      {"resample", {"nearest", "linear"},
       {{"mb", kNoDefault}, {"c", kNoDefault}, {"ih", kNoDefault}, {"iw", kNoDefault}, {"oh", kNoDefault},
        {"ow", kNoDefault}}},
      {"transpose", TransposePerms(),
       {{"mb", kNoDefault}, {"c", kNoDefault}, {"h", kNoDefault}, {"w", kNoDefault}}},
      {"slice", {},
       {{"mb", kNoDefault}, {"c", kNoDefault}, {"h", kNoDefault}, {"w", kNoDefault}, {"oc", kNoDefault},
        {"oh", kNoDefault}, {"ow", kNoDefault}}},
      {"pad", {},
       {{"mb", kNoDefault}, {"c", kNoDefault}, {"h", kNoDefault}, {"w", kNoDefault}, {"pt", kNoDefault},
        {"pb", kNoDefault}, {"pl", kNoDefault}, {"pr", kNoDefault}}},
      {"reduce", {"mean", "sum", "max"},
       {{"mb", kNoDefault}, {"c", kNoDefault}, {"h", kNoDefault}, {"w", kNoDefault}, {"oc", kNoDefault},
        {"oh", kNoDefault}, {"ow", kNoDefault}}},
      {"deconv", {},
       {{"mb", kNoDefault}, {"ic", kNoDefault}, {"ih", kNoDefault}, {"iw", kNoDefault},
        {"oc", kNoDefault}, {"kh", kNoDefault}, {"kw", kNoDefault}, {"sh", kNoDefault},
        {"sw", kNoDefault}, {"ph", kNoDefault}, {"pw", kNoDefault}, {"dh", 1}, {"dw", 1},
        {"g", kNoDefault}}},
      {"prelu", {}, {{"mb", kNoDefault}, {"c", kNoDefault}, {"h", kNoDefault}, {"w", kNoDefault}}},
  };
  return kOpSpecs;
}

const OpSpec& FindOp(std::string_view op, std::string_view context) {
  for (const auto& s : OpSpecs())
    if (op == s.op) return s;
  throw std::invalid_argument(fmt::format("{}: unknown op '{}' (known: {})", context, op,
                                          fmt::join(KnownOps(), ", ")));
}

int64_t OutSize(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  const int64_t ek = (k - 1) * d + 1;
  return (in + 2 * p - ek) / s + 1;
}

// A transposed convolution's output (no output_padding): the input whose convolution gives `in`.
int64_t DeconvOutSize(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in - 1) * s + (k - 1) * d + 1 - 2 * p;
}

}  // namespace

int DtypeSize(std::string_view dtype) {
  if (dtype == "f32") return 4;
  if (dtype == "bf16" || dtype == "f16") return 2;
  if (dtype == "int8") return 1;
  throw std::invalid_argument(fmt::format("unknown dtype '{}' (known: f32, bf16, f16, int8)", dtype));
}

int LayoutChannelBlock(std::string_view layout) {
  if (layout == "nChw8c") return 8;
  if (layout == "nChw16c") return 16;
  if (layout == "nc4hw4") return 4;
  return 1;
}

const std::vector<std::string>& KnownOps() {
  static const std::vector<std::string> kOps = [] {
    std::vector<std::string> v;
    for (const auto& s : OpSpecs()) v.push_back(s.op);
    return v;
  }();
  return kOps;
}

const std::vector<std::string>& KnownAlgs(std::string_view op) {
  return FindOp(op, "KnownAlgs").algs;
}

bool FusesPostOps(std::string_view op) {
  return op == "conv2d" || op == "deconv" || op == "matmul" || op == "ip";
}

namespace {
// The post-ops that are not activations, and their kinds: one list for KnownPostOps and PostOpKindOf.
constexpr std::pair<std::string_view, PostOpKind> kOtherPostOps[] = {
    {"sum", PostOpKind::kSum},       {"add", PostOpKind::kTensor},     {"sub", PostOpKind::kTensor},
    {"mul", PostOpKind::kTensor},    {"div", PostOpKind::kTensor},     {"addc", PostOpKind::kChannel},
    {"subc", PostOpKind::kChannel},  {"mulc", PostOpKind::kChannel},   {"divc", PostOpKind::kChannel}};
}  // namespace

const std::vector<std::string>& KnownPostOps() {
  static const std::vector<std::string> kPostOps = [] {
    std::vector<std::string> v = KnownAlgs("eltwise");
    for (const auto& [name, kind] : kOtherPostOps) v.emplace_back(name);
    return v;
  }();
  return kPostOps;
}

PostOpKind PostOpKindOf(std::string_view name) {
  for (const auto& [other, kind] : kOtherPostOps)
    if (name == other) return kind;
  const auto& algs = KnownAlgs("eltwise");
  return std::find(algs.begin(), algs.end(), name) != algs.end() ? PostOpKind::kActivation : PostOpKind::kUnknown;
}

namespace {
// Activations of one operation per element (a compare and a select or multiply).
bool CheapActivation(std::string_view name) {
  return name == "relu" || name == "clip" || name == "leakyrelu";
}
}  // namespace

Problem Problem::WithPostOps(std::vector<std::string> post_ops) const {
  Problem p = *this;
  p.post_ops_ = std::move(post_ops);
  p.Validate();
  return p;
}

Problem::Problem(std::string op, std::string alg,
                 std::vector<std::pair<std::string, int64_t>> params)
    : op_(std::move(op)), alg_(std::move(alg)) {
  const OpSpec& spec = FindOp(op_, "problem");
  // Put the given parameters into canonical order and fill in defaults.
  for (const auto& ps : spec.params) {
    auto it = std::find_if(params.begin(), params.end(),
                           [&](const auto& p) { return p.first == ps.name; });
    if (it != params.end()) {
      params_.emplace_back(ps.name, it->second);
      params.erase(it);
    } else if (ps.def != kNoDefault) {
      params_.emplace_back(ps.name, ps.def);
    } else {
      throw std::invalid_argument(
          fmt::format("{}: missing parameter '{}'", op_ + (alg_.empty() ? "" : ":" + alg_), ps.name));
    }
  }
  if (!params.empty())
    throw std::invalid_argument(fmt::format("{}: unknown parameter '{}'", op_, params.front().first));
  Validate();
}

bool Problem::Has(std::string_view name) const {
  for (const auto& p : params_)
    if (p.first == name) return true;
  return false;
}

int64_t Problem::Get(std::string_view name) const {
  for (const auto& p : params_)
    if (p.first == name) return p.second;
  throw std::out_of_range(fmt::format("{}: op has no parameter '{}'", op_, name));
}

void Problem::Validate() const {
  const OpSpec& spec = FindOp(op_, "problem");
  auto fail = [&](const std::string& what) {
    // Key() is safe here: it only formats.
    throw std::invalid_argument(fmt::format("{}: {}", Key(), what));
  };
  if (spec.algs.empty() && !alg_.empty()) fail(fmt::format("op '{}' takes no algorithm", op_));
  if (!spec.algs.empty() &&
      std::find(spec.algs.begin(), spec.algs.end(), alg_) == spec.algs.end())
    fail(fmt::format("unknown algorithm '{}' for {} (known: {})", alg_, op_,
                     fmt::join(spec.algs, ", ")));
  for (const auto& [name, v] : params_) {
    const bool may_be_zero = name == "ph" || name == "pw" || name == "ax" || name == "pt" ||
                             name == "pb" || name == "pl" || name == "pr" || name == "bc";
    if (v < 0 || (v == 0 && !may_be_zero)) fail(fmt::format("{} must be positive, got {}", name, v));
  }
  if (op_ == "conv2d") {
    if (Get("ic") % Get("g") || Get("oc") % Get("g"))
      fail(fmt::format("ic {} and oc {} must be multiples of g {}", Get("ic"), Get("oc"), Get("g")));
    if (Oh() <= 0 || Ow() <= 0) fail(fmt::format("output would be {}x{}", Oh(), Ow()));
  }
  if (op_ == "pool") {
    if (Get("ph") >= Get("kh") || Get("pw") >= Get("kw"))
      fail("padding must be smaller than the kernel");
    if (Oh() <= 0 || Ow() <= 0) fail(fmt::format("output would be {}x{}", Oh(), Ow()));
  }
  if ((op_ == "softmax" || op_ == "concat") && Get("ax") > 3)
    fail(fmt::format("ax must be 0..3, got {}", Get("ax")));
  if (op_ == "deconv") {
    if (Get("ic") % Get("g") || Get("oc") % Get("g"))
      fail(fmt::format("ic {} and oc {} must be multiples of g {}", Get("ic"), Get("oc"), Get("g")));
    if (Oh() <= 0 || Ow() <= 0) fail(fmt::format("output would be {}x{}", Oh(), Ow()));
  }
  if (op_ == "concat") {
    if (Get("n") < 2) fail(fmt::format("n (inputs) must be at least 2, got {}", Get("n")));
    const char* dims[4] = {"mb", "c", "h", "w"};
    const int64_t along = Get(dims[Get("ax")]);
    if (along % Get("n"))
      fail(fmt::format("{} {} (the output's size along ax {}) must be a multiple of n {}", dims[Get("ax")],
                       along, Get("ax"), Get("n")));
  }
  if (op_ == "slice") {
    for (const auto& [o, i] : {std::pair{"oc", "c"}, {"oh", "h"}, {"ow", "w"}})
      if (Get(o) > Get(i)) fail(fmt::format("{} {} is larger than {} {}", o, Get(o), i, Get(i)));
    if (Get("oc") == Get("c") && Get("oh") == Get("h") && Get("ow") == Get("w")) fail("slices nothing away");
  }
  if (op_ == "reduce") {
    for (const auto& [o, i] : {std::pair{"oc", "c"}, {"oh", "h"}, {"ow", "w"}})
      if (Get(o) != Get(i) && Get(o) != 1)
        fail(fmt::format("{} must be {} (kept) or 1 (reduced), got {}", o, Get(i), Get(o)));
    if (Get("oc") == Get("c") && Get("oh") == Get("h") && Get("ow") == Get("w")) fail("reduces nothing");
  }
  if (op_ == "binary" && Get("bc") > 2)
    fail(fmt::format("bc must be 0 (full size), 1 (per channel) or 2 (scalar), got {}", Get("bc")));
  if (op_ == "pad" && Get("pt") + Get("pb") + Get("pl") + Get("pr") == 0) fail("pads nothing");
  if (!post_ops_.empty() && !FusesPostOps(op_)) fail(fmt::format("op '{}' takes no post-ops", op_));
  const auto& known = KnownPostOps();
  for (const auto& po : post_ops_)
    if (std::find(known.begin(), known.end(), po) == known.end())
      fail(fmt::format("unknown post-op '{}' (known: {})", po, fmt::join(known, ", ")));
  if (std::count(post_ops_.begin(), post_ops_.end(), "sum") > 1) fail("more than one sum post-op");
}

Problem Problem::Parse(std::string_view key) {
  auto fail = [&](const std::string& what) -> Problem {
    throw std::invalid_argument(fmt::format("bad problem key '{}': {}", key, what));
  };
  // A key is printable ASCII; anything else is refused before any message quotes the key raw (a newline
  // in it would break the one-line error, and every part of a key would be named again in `what`).
  for (size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c > 0x7e) {
      throw std::invalid_argument(fmt::format("bad problem key '{}': byte 0x{:02x} at offset {} (a key is "
                                              "printable ASCII)",
                                              Printable(std::string(key)), c, i));
    }
  }
  const size_t c1 = key.find(':');
  if (c1 == std::string_view::npos) return fail("expected OP:PARAMS");
  std::string op(key.substr(0, c1));
  std::string_view rest = key.substr(c1 + 1);
  std::vector<std::string> post_ops;
  if (const size_t plus = rest.find('+'); plus != std::string_view::npos) {
    std::string_view chain = rest.substr(plus + 1);
    rest = rest.substr(0, plus);
    for (;;) {
      const size_t next = chain.find('+');
      std::string_view name = chain.substr(0, next);
      if (name.empty()) return fail("empty post-op");
      post_ops.emplace_back(name);
      if (next == std::string_view::npos) break;
      chain = chain.substr(next + 1);
    }
  }
  std::string alg;
  const size_t c2 = rest.find(':');
  if (c2 != std::string_view::npos) {
    alg = std::string(rest.substr(0, c2));
    rest = rest.substr(c2 + 1);
  }
  std::vector<std::pair<std::string, int64_t>> params;
  size_t i = 0;
  while (i < rest.size()) {
    size_t j = i;
    while (j < rest.size() && std::islower(static_cast<unsigned char>(rest[j]))) ++j;
    size_t k = j;
    while (k < rest.size() && std::isdigit(static_cast<unsigned char>(rest[k]))) ++k;
    if (j == i || k == j || k - j > 15)
      return fail(fmt::format("expected NAME followed by a number at '{}'", rest.substr(i)));
    std::string name(rest.substr(i, j - i));
    for (const auto& p : params)
      if (p.first == name) return fail(fmt::format("parameter '{}' given twice", name));
    params.emplace_back(std::move(name), std::stoll(std::string(rest.substr(j, k - j))));
    i = k;
  }
  if (params.empty()) return fail("no parameters");
  try {
    Problem p(std::move(op), std::move(alg), std::move(params));
    return post_ops.empty() ? p : p.WithPostOps(std::move(post_ops));
  } catch (const std::invalid_argument& e) {
    return fail(e.what());
  }
}

std::string Problem::Key() const {
  std::string s = op_;
  if (!alg_.empty()) s += ":" + alg_;
  s += ":";
  const OpSpec* spec = nullptr;
  for (const auto& o : OpSpecs())
    if (op_ == o.op) spec = &o;
  for (size_t i = 0; i < params_.size(); ++i) {
    const bool is_default = spec && i < spec->params.size() && spec->params[i].def != kNoDefault &&
                            spec->params[i].def == params_[i].second;
    if (!is_default) s += fmt::format("{}{}", params_[i].first, params_[i].second);
  }
  for (const auto& po : post_ops_) s += "+" + po;
  return s;
}

int64_t Problem::Oh() const {
  if (op_ == "conv2d")
    return OutSize(Get("ih"), Get("kh"), Get("sh"), Get("ph"), Get("dh"));
  if (op_ == "pool") return OutSize(Get("ih"), Get("kh"), Get("sh"), Get("ph"), 1);
  if (op_ == "deconv") return DeconvOutSize(Get("ih"), Get("kh"), Get("sh"), Get("ph"), Get("dh"));
  if (op_ == "resample" || op_ == "slice" || op_ == "reduce") return Get("oh");
  if (op_ == "pad") return Get("h") + Get("pt") + Get("pb");
  return 0;
}

int64_t Problem::Ow() const {
  if (op_ == "conv2d")
    return OutSize(Get("iw"), Get("kw"), Get("sw"), Get("pw"), Get("dw"));
  if (op_ == "pool") return OutSize(Get("iw"), Get("kw"), Get("sw"), Get("pw"), 1);
  if (op_ == "deconv") return DeconvOutSize(Get("iw"), Get("kw"), Get("sw"), Get("pw"), Get("dw"));
  if (op_ == "resample" || op_ == "slice" || op_ == "reduce") return Get("ow");
  if (op_ == "pad") return Get("w") + Get("pl") + Get("pr");
  return 0;
}

bool Problem::IsSpatial() const {
  // transpose, slice, pad and reduce run on plain tensors (the runtime's reorder with permuted
  // strides, its host copies, its plain reduction): they have the single layout `plain`.
  return op_ == "conv2d" || op_ == "pool" || op_ == "eltwise" || op_ == "binary" ||
         op_ == "softmax" || op_ == "bnorm" || op_ == "concat" || op_ == "resample" ||
         op_ == "deconv" || op_ == "prelu";
}

int64_t Problem::SrcElems() const {
  if (op_ == "conv2d" || op_ == "pool" || op_ == "deconv")
    return Get("mb") * Get("ic") * Get("ih") * Get("iw");
  if (op_ == "resample") return Get("mb") * Get("c") * Get("ih") * Get("iw");
  if (op_ == "matmul") return Get("mb") * Get("m") * Get("k");
  if (op_ == "ip") return Get("mb") * Get("ic");
  if (op_ == "lnorm") return Get("mb") * Get("t") * Get("c");
  return Get("mb") * Get("c") * Get("h") * Get("w");
}

int64_t Problem::DstElems() const {
  if (op_ == "conv2d" || op_ == "deconv") return Get("mb") * Get("oc") * Oh() * Ow();
  if (op_ == "resample" || op_ == "pad") return Get("mb") * Get("c") * Oh() * Ow();
  if (op_ == "slice" || op_ == "reduce") return Get("mb") * Get("oc") * Get("oh") * Get("ow");
  if (op_ == "pool") return Get("mb") * Get("ic") * Oh() * Ow();
  if (op_ == "matmul") return Get("mb") * Get("m") * Get("n");
  if (op_ == "ip") return Get("mb") * Get("oc");
  return SrcElems();
}

std::vector<int64_t> Problem::Src2Dims() const {
  if (op_ != "binary") return {};
  const int64_t mb = Get("mb"), c = Get("c");
  switch (Get("bc")) {
    case 1: return {mb, c, 1, 1};
    case 2: return {1, 1, 1, 1};
    default: return {mb, c, Get("h"), Get("w")};
  }
}

int64_t Problem::Src2Elems() const {
  int64_t n = 1;
  for (int64_t d : Src2Dims()) n *= d;
  return op_ == "binary" ? n : 0;
}

double Problem::Flops() const {
  // A post-op is one more operation per output element (an activation costs what its eltwise does).
  double post = 0;
  for (const auto& po : post_ops_)
    post += (PostOpKindOf(po) != PostOpKind::kActivation || CheapActivation(po) ? 1.0 : 8.0) *
            static_cast<double>(DstElems());
  return post + AnchorFlops();
}

double Problem::AnchorFlops() const {
  if (op_ == "conv2d")
    return 2.0 * DstElems() * static_cast<double>(Get("ic") / Get("g")) * Get("kh") * Get("kw");
  if (op_ == "matmul") return 2.0 * Get("mb") * Get("m") * Get("n") * static_cast<double>(Get("k"));
  if (op_ == "ip") return 2.0 * Get("mb") * Get("ic") * static_cast<double>(Get("oc"));
  if (op_ == "pool") return static_cast<double>(DstElems()) * Get("kh") * Get("kw");
  if (op_ == "softmax") return 5.0 * SrcElems();  // max, sub, exp, sum, div
  if (op_ == "bnorm") return 2.0 * SrcElems();
  if (op_ == "lnorm") return 8.0 * SrcElems();
  if (op_ == "eltwise") return (CheapActivation(alg_) ? 1.0 : 8.0) * SrcElems();
  // A transposed convolution: every input element times every tap of its output channels' filters.
  if (op_ == "deconv")
    return 2.0 * SrcElems() * static_cast<double>(Get("oc") / Get("g")) * Get("kh") * Get("kw");
  if (op_ == "resample") return (alg_ == "linear" ? 8.0 : 1.0) * DstElems();  // 4 taps, 2 ops each
  if (op_ == "prelu") return 2.0 * SrcElems();
  if (op_ == "reduce") return static_cast<double>(SrcElems());
  // concat, transpose, slice, pad: one copy per output element.
  if (op_ == "concat" || op_ == "transpose" || op_ == "slice" || op_ == "pad")
    return static_cast<double>(DstElems());
  return static_cast<double>(SrcElems());  // binary
}

double Problem::Bytes(int dtype_size) const {
  // A slice reads only the part it keeps.
  double elems = static_cast<double>(op_ == "slice" ? DstElems() : SrcElems()) + DstElems();
  // A post-op's second tensor is read once: full size for sum and binary, one value per channel for
  // the per-channel binaries (N x C).
  for (const auto& po : post_ops_) {
    const PostOpKind kind = PostOpKindOf(po);
    if (kind == PostOpKind::kSum || kind == PostOpKind::kTensor) elems += static_cast<double>(DstElems());
    if (kind == PostOpKind::kChannel)
      elems += static_cast<double>(Get("mb")) *
               (op_ == "conv2d" || op_ == "deconv" || op_ == "ip" ? Get("oc") : Get("n"));
  }
  if (op_ == "conv2d" || op_ == "deconv")
    elems += static_cast<double>(Get("oc")) * (Get("ic") / Get("g")) * Get("kh") * Get("kw");
  if (op_ == "prelu") elems += Get("c");  // one slope per channel
  if (op_ == "matmul") elems += static_cast<double>(Get("mb")) * Get("k") * Get("n");
  if (op_ == "ip") elems += static_cast<double>(Get("ic")) * Get("oc");
  if (op_ == "binary") elems += static_cast<double>(Src2Elems());  // second source, as it broadcasts
  return elems * dtype_size;
}

std::string HashHex(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace layoutdb
