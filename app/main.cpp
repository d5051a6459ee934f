// layoutdb: one program, git-style subcommands. This file only wires each folder's commands to the
// command line (CLI11 is included here and nowhere else: it is slow to compile).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) noexcept {
  try {
    CLI::App app{"layoutdb: network- and hardware-aware computing layout selection for DNN inference"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "layoutdb 0.1.0");
    CLI11_PARSE(app, argc, argv);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "layoutdb: error: {}\n", e.what());
    return 1;
  }
}
