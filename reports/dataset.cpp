#include "dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>

#include "layoutdb/problem.h"

namespace layoutdb::reports {

int LayoutRank(const std::string& layout) {
  static const std::vector<std::string> kOrder = {"plain", "nchw", "nhwc", "nChw8c", "nChw16c", "nc4hw4", "any"};
  const auto it = std::find(kOrder.begin(), kOrder.end(), layout);
  return it == kOrder.end() ? static_cast<int>(kOrder.size()) : static_cast<int>(it - kOrder.begin());
}

double GeoMean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += std::log(x);
  return std::exp(s / static_cast<double>(v.size()));
}

std::string Target::Label() const {
  return fmt::format("{} ({}, {})", row.hostname, row.cpu_model, row.fingerprint.substr(0, 8));
}

std::vector<Target> LoadTargets(db::Database& d) {
  std::vector<Target> targets;
  std::map<int64_t, size_t> index;  // target id -> position
  for (const auto& t : d.Targets()) {
    index[t.id] = targets.size();
    Target x;
    x.source = d.path();
    x.row = t;
    targets.push_back(std::move(x));
  }
  std::map<int64_t, size_t> unit_target;
  for (const auto& u : d.Units()) {
    auto it = index.find(u.target_id);
    if (it == index.end()) continue;
    unit_target[u.id] = it->second;
    targets[it->second].unit_names[u.id] = u.name;
    targets[it->second].units.push_back(u);
  }
  for (const auto& s : d.Sweeps()) {
    auto it = index.find(s.target_id);
    if (it == index.end()) continue;
    Target& t = targets[it->second];
    const auto spec = nlohmann::json::parse(s.spec, nullptr, false);
    if (!spec.is_discarded() && spec.is_object() && spec.contains("measure") &&
        spec["measure"].is_object() && spec["measure"].contains("target_rel_ci") &&
        spec["measure"]["target_rel_ci"].is_number()) {
      const double target = spec["measure"]["target_rel_ci"].get<double>();
      t.target_rel_ci = t.sweeps.empty() ? target : std::max(t.target_rel_ci, target);
    }
    t.sweeps.push_back(s);
  }
  std::unordered_map<int64_t, db::ProblemRow> problems;
  for (auto& p : d.Problems()) problems.emplace(p.id, std::move(p));
  std::unordered_map<int64_t, std::optional<Problem>> parsed;
  for (const auto& m : d.Measurements()) {
    auto ut = unit_target.find(m.unit_id);
    auto pr = problems.find(m.problem_id);
    if (ut == unit_target.end() || pr == problems.end()) continue;
    Target& t = targets[ut->second];
    Point p;
    p.unit = t.unit_names[m.unit_id];
    p.op = pr->second.op;
    p.key = pr->second.key;
    p.layout = m.layout;
    p.chosen_layout = m.chosen_layout;
    p.dtype = m.dtype;
    p.status = m.status;
    p.impl = m.impl;
    p.reason = m.reason;
    p.reference = m.is_reference;
    if (m.stats) {
      p.median_us = m.stats->median_us;
      p.p10_us = m.stats->p10_us;
      p.p90_us = m.stats->p90_us;
      p.rel_ci = m.stats->rel_ci;
      p.repetitions = m.stats->repetitions;
    }
    p.flops = pr->second.flops;
    auto& prob = parsed[m.problem_id];
    if (!prob) {
      try {
        prob = Problem::Parse(p.key);
      } catch (const std::exception&) {
      }
    }
    try {
      p.bytes = prob ? prob->Bytes(DtypeSize(p.dtype)) : pr->second.bytes;
    } catch (const std::exception&) {
      p.bytes = pr->second.bytes;
    }
    t.points.push_back(std::move(p));
  }
  for (const auto& tr : d.Transitions()) {
    auto ut = unit_target.find(tr.unit_id);
    if (ut != unit_target.end()) targets[ut->second].transitions.push_back(tr);
  }
  for (const auto& tr : d.Transfers()) {
    auto ut = unit_target.find(tr.src_unit_id);
    if (ut != unit_target.end()) targets[ut->second].transfers.push_back(tr);
  }
  return targets;
}

std::vector<Family> RankLayouts(const Target& t) {
  using Key = std::tuple<std::string, std::string, std::string>;  // unit, op, dtype
  std::map<Key, std::map<std::string, Ranked>> groups;
  std::map<Key, std::set<std::string>> layouts;
  for (const Point& p : t.points) {
    const Key k{p.unit, p.op, p.dtype};
    Ranked& r = groups[k][p.key];
    r.key = p.key;
    r.flops = p.flops;
    r.by_layout[p.layout] = &p;
    layouts[k].insert(p.layout);
  }
  std::vector<Family> out;
  for (auto& [k, problems] : groups) {
    Family f;
    std::tie(f.unit, f.op, f.dtype) = k;
    f.layouts.assign(layouts[k].begin(), layouts[k].end());
    std::sort(f.layouts.begin(), f.layouts.end(), [](const std::string& a, const std::string& b) {
      return std::make_tuple(LayoutRank(a), a) < std::make_tuple(LayoutRank(b), b);
    });
    std::map<std::string, std::vector<double>> slowdowns;
    for (auto& [key, r] : problems) {
      for (const auto& [layout, p] : r.by_layout) {
        if (layout == "any" || !p->Usable()) continue;
        if (r.best.empty() || p->median_us < r.best_us) r.best = layout, r.best_us = p->median_us;
      }
      if (!r.best.empty()) {
        ++f.wins[r.best];
        for (const auto& [layout, p] : r.by_layout)
          if (p->Usable()) slowdowns[layout].push_back(p->median_us / r.best_us);
      }
      f.problems.push_back(r);
    }
    for (const auto& [layout, v] : slowdowns) {
      f.geomean_slowdown[layout] = GeoMean(v);
      f.ranked[layout] = static_cast<int>(v.size());
    }
    std::sort(f.problems.begin(), f.problems.end(), [](const Ranked& a, const Ranked& b) {
      return std::make_tuple(a.flops, a.key) < std::make_tuple(b.flops, b.key);
    });
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<AnyResult> AnyAgainstBest(const std::vector<Family>& families) {
  std::vector<AnyResult> out;
  for (const Family& f : families)
    for (const Ranked& r : f.problems) {
      auto it = r.by_layout.find("any");
      if (it == r.by_layout.end() || !it->second->Usable() || r.best.empty()) continue;
      out.push_back({f.unit, f.op, f.dtype, r.key, it->second->chosen_layout, r.best, it->second->median_us,
                     r.best_us, it->second->rel_ci, r.by_layout.at(r.best)->rel_ci});
    }
  return out;
}

std::vector<Peak> Peaks(const Target& t) {
  std::map<std::pair<std::string, std::string>, Peak> peaks;
  for (const Point& p : t.points) {
    if (!p.Usable()) continue;
    Peak& k = peaks[{p.unit, p.dtype}];
    k.unit = p.unit;
    k.dtype = p.dtype;
    if (p.op == "conv2d" || p.op == "matmul" || p.op == "ip") {
      const double g = p.flops / (p.median_us * 1e3);
      if (g > k.gflops) k.gflops = g, k.gflops_key = p.key + " " + p.layout;
    }
    if (p.op == "eltwise" || p.op == "binary") {
      const double g = p.bytes / (p.median_us * 1e3);
      if (g > k.gbps) k.gbps = g, k.gbps_key = p.key + " " + p.layout;
    }
  }
  std::vector<Peak> out;
  for (auto& [k, v] : peaks) out.push_back(v);
  return out;
}

std::vector<Difference> Compare(const std::vector<Family>& a, const std::vector<Family>& b) {
  using Key = std::tuple<std::string, std::string, std::string>;
  std::map<Key, const Family*> in_b;
  for (const Family& f : b) in_b[{f.unit, f.op, f.dtype}] = &f;
  std::vector<Difference> out;
  for (const Family& fa : a) {
    auto it = in_b.find({fa.unit, fa.op, fa.dtype});
    if (it == in_b.end()) continue;
    std::map<std::string, const Ranked*> rb;
    for (const Ranked& r : it->second->problems) rb[r.key] = &r;
    for (const Ranked& r : fa.problems) {
      auto jt = rb.find(r.key);
      if (jt == rb.end() || r.best.empty() || jt->second->best.empty()) continue;
      Difference d{fa.unit, fa.op, fa.dtype, r.key, r.best, jt->second->best, r.best_us, jt->second->best_us, 0};
      auto same = jt->second->by_layout.find(r.best);
      if (same != jt->second->by_layout.end() && same->second->Usable()) d.a_choice_on_b_us = same->second->median_us;
      out.push_back(d);
    }
  }
  return out;
}

}  // namespace layoutdb::reports
