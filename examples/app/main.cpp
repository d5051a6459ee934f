// Asks a shipped layoutdb database for a plan and prints every sub-graph's unit and layout.
#include <layoutdb/selector.h>
#include <cstdio>
int main(int argc, char** argv) try {
  if (argc != 3) return std::fprintf(stderr, "usage: %s APP.db MODEL.onnx\n", argv[0]), 2;
  const layoutdb::Plan plan = layoutdb::Selector::Open(argv[1]).Select(argv[2], {});
  for (const auto& sg : plan.subgraphs)
    std::printf("sub-graph %d: %s %s %.1f us\n", sg.index, sg.unit.c_str(), sg.layout.c_str(), sg.predicted_us);
  std::printf("total %.1f us\n", plan.total_predicted_us);
} catch (const std::exception& e) {
  return std::fprintf(stderr, "error: %s\n", e.what()), 1;
}
