// `layoutdb run`: a model under a plan, for real — warm-up, repetitions, the median end to end and
// per sub-graph, outputs saved as TensorProto files.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "command_util.h"
#include "commands.h"
#include "layoutdb/human.h"

namespace layoutdb::runtime {

int RunRun(const RunCommandOptions& o) {
  if (o.repeat < 1) throw std::runtime_error("--repeat must be at least 1");
  const auto shapes = ParseInputs(o.inputs);
  const Plan plan = GetPlan(o.model, o.db, o.plan, shapes, o.units);
  RuntimeOptions ro;
  ro.inputs = shapes;
  Runtime rt = Runtime::Load(o.model, plan, ro);
  const std::vector<Tensor> inputs = MakeInputs(rt.InputSpecs(), o.input_data, o.seed);
  for (int k = 0; k < o.warmup; ++k) rt.Run(inputs);
  std::vector<double> total;
  std::vector<std::vector<double>> per(plan.subgraphs.size()), kern(plan.subgraphs.size()),
      trans(plan.subgraphs.size());
  for (int r = 0; r < o.repeat; ++r) {
    rt.Run(inputs);
    total.push_back(rt.LastRunUs());
    const auto& t = rt.SubgraphUs();
    for (size_t s = 0; s < t.size(); ++s) {
      per[s].push_back(t[s].us);
      kern[s].push_back(t[s].kernel_us);
      trans[s].push_back(t[s].transition_us);
    }
  }
  if (!o.save_outputs.empty()) SaveTensors(rt.Outputs(), o.save_outputs, "output");
  if (!o.save_inputs.empty()) SaveTensors(inputs, o.save_inputs, "input");
  const double med = Percentile(total, 0.5);
  if (o.json) {
    nlohmann::json j;
    j["model"] = o.model;
    j["repetitions"] = o.repeat;
    j["threads"] = Threads();
    j["median_us"] = med;
    j["p10_us"] = Percentile(total, 0.1);
    j["p90_us"] = Percentile(total, 0.9);
    j["predicted_total_us"] = plan.total_predicted_us;
    j["peak_activation_bytes"] = rt.PeakActivationBytes();
    j["liveness_lower_bound_bytes"] = rt.LivenessLowerBoundBytes();
    j["subgraphs"] = nlohmann::json::array();
    for (size_t s = 0; s < per.size(); ++s)
      j["subgraphs"].push_back({{"index", plan.subgraphs[s].index},
                                {"unit", plan.subgraphs[s].unit},
                                {"layout", plan.subgraphs[s].layout},
                                {"ops", plan.subgraphs[s].ops},
                                {"median_us", Percentile(per[s], 0.5)},
                                {"kernel_median_us", Percentile(kern[s], 0.5)},
                                {"transition_median_us", Percentile(trans[s], 0.5)},
                                {"predicted_us", plan.subgraphs[s].predicted_us}});
    j["outputs"] = nlohmann::json::array();
    for (const auto& t : rt.Outputs()) j["outputs"].push_back({{"name", t.name}, {"shape", t.shape}});
    j["notes"] = rt.Notes();
    j["warnings"] = rt.Warnings();
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("{} under its plan ({} sub-graphs; {} repetitions after {} warm-up, {} threads)\n",
             o.model, plan.subgraphs.size(), o.repeat, o.warmup, Threads());
  fmt::print("{:>4}  {:<9} {:<16} {:>12} {:>12} {:>12}  {}\n", "sg", "unit", "layout", "measured",
             "(reorders)", "predicted", "ops");
  for (size_t s = 0; s < per.size(); ++s) {
    const auto& ps = plan.subgraphs[s];
    fmt::print("{:>4}  {:<9} {:<16} {:>12} {:>12} {:>12}  {}\n", ps.index, ps.unit, ps.layout,
               Micro(Percentile(kern[s], 0.5)),
               Micro(Percentile(trans[s], 0.5)), Micro(ps.predicted_us),
               fmt::join(ps.ops, "+"));
  }
  fmt::print("end to end: median {} (p10 {}, p90 {}); predicted {}\n", Micro(med),
             Micro(Percentile(total, 0.1)), Micro(Percentile(total, 0.9)),
             Micro(plan.total_predicted_us));
  fmt::print("activation memory: {} allocated, {} liveness lower bound\n",
             HumanBytes(rt.PeakActivationBytes()), HumanBytes(rt.LivenessLowerBoundBytes()));
  for (const auto& t : rt.Outputs())
    fmt::print("output {} [{}]\n", t.name, fmt::join(t.shape, ","));
  for (const auto& w : rt.Warnings()) fmt::print("warning: {}: select again with a database that measured it\n", w);
  return 0;
}

}  // namespace layoutdb::runtime
