#include "command_util.h"

#include <fmt/format.h>
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "layoutdb/microbench/unit.h"

namespace layoutdb::runtime {

std::map<std::string, std::vector<int64_t>> ParseInputs(const std::vector<std::string>& specs) {
  std::map<std::string, std::vector<int64_t>> m;
  for (const auto& s : specs) m.insert(ParseInputShape(s));
  return m;
}

std::vector<Tensor> MakeInputs(const std::vector<Tensor>& specs, const std::vector<std::string>& data,
                               unsigned seed) {
  std::map<std::string, std::string> files;
  for (const auto& d : data) {
    const auto eq = d.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == d.size())
      throw std::runtime_error(
          fmt::format("--input-data '{}': expected NAME=FILE.pb (e.g. x=input_0.pb)", d));
    const std::string name = d.substr(0, eq);
    bool known = false;
    for (const auto& s : specs) known = known || s.name == name;
    if (!known) {
      std::vector<std::string> names;
      for (const auto& s : specs) names.push_back(s.name);
      throw std::runtime_error(fmt::format("--input-data '{}': the model has no input '{}' (inputs: {})",
                                           d, name, fmt::join(names, ", ")));
    }
    files[name] = d.substr(eq + 1);
  }
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<Tensor> out;
  for (const auto& spec : specs) {
    auto f = files.find(spec.name);
    if (f != files.end()) {
      Tensor t = ReadTensorFile(f->second);
      if (t.shape != spec.shape)
        throw std::runtime_error(fmt::format("{}: input '{}' has shape [{}], the model expects [{}]",
                                             f->second, spec.name, fmt::join(t.shape, ","),
                                             fmt::join(spec.shape, ",")));
      if (t.IsFloat() != spec.IsFloat())
        throw std::runtime_error(fmt::format("{}: input '{}' is {}, the model expects {}", f->second,
                                             spec.name, t.dtype, spec.dtype));
      t.name = spec.name;
      t.dtype = spec.dtype;
      out.push_back(std::move(t));
      continue;
    }
    Tensor t = spec;
    t.Allocate();
    for (auto& v : t.f32) v = u(rng);
    out.push_back(std::move(t));
  }
  return out;
}

Plan GetPlan(const std::string& model, const std::string& db, const std::string& plan_path,
             const std::map<std::string, std::vector<int64_t>>& inputs,
             const std::vector<std::string>& units) {
  if (!plan_path.empty()) return LoadPlan(plan_path);
  SelectOptions so;
  so.inputs = inputs;
  so.units = units;
  return Selector::Open(db, microbench::MakeReferenceCheck()).Select(model, so);
}

int Threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return 1;
}

void SaveTensors(const std::vector<Tensor>& ts, const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error(fmt::format("{}: cannot create the folder ({})", dir, ec.message()));
  for (size_t k = 0; k < ts.size(); ++k)
    WriteTensorFile(ts[k], fmt::format("{}/{}_{}.pb", dir, prefix, k));
}

std::string Micro(double us) {
  return us >= 10000 ? fmt::format("{:.2f} ms", us / 1000) : fmt::format("{:.1f} us", us);
}

double MaxAbsDiff(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double m = 0;
  for (size_t k = 0; k < std::min(a.size(), b.size()); ++k) {
    if (a[k].shape != b[k].shape) return INFINITY;
    if (a[k].IsFloat()) {
      for (size_t i = 0; i < a[k].f32.size(); ++i) {
        const double d = std::fabs(static_cast<double>(a[k].f32[i]) - b[k].f32[i]);
        if (std::isnan(d)) return INFINITY;
        m = std::max(m, d);
      }
    } else {
      for (size_t i = 0; i < a[k].i64.size(); ++i)
        m = std::max(m, std::fabs(static_cast<double>(a[k].i64[i] - b[k].i64[i])));
    }
  }
  return m;
}

}  // namespace layoutdb::runtime
