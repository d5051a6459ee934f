#include "progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

#include "layoutdb/human.h"

namespace layoutdb::profiler {

Progress::Progress(Mode mode, size_t total)
    : mode_(mode), total_(total), start_(std::chrono::steady_clock::now()) {}

Progress::Mode Progress::ModeFor(bool quiet) {
  if (quiet) return Mode::kQuiet;
  return isatty(STDERR_FILENO) ? Mode::kBar : Mode::kLines;
}

void Progress::Draw(const std::string& label) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const size_t left = total_ - done_;
  const std::string eta = measured_ ? HumanDuration(elapsed / measured_ * left) : "?";
  constexpr int kWidth = 24;
  const int filled = total_ ? static_cast<int>(kWidth * done_ / total_) : kWidth;
  std::string bar(filled, '=');
  if (filled < kWidth) bar += '>' + std::string(kWidth - filled - 1, ' ');
  std::string shown = label.size() > 60 ? label.substr(0, 57) + "..." : label;
  fmt::print(stderr, "\r\033[K[{}] {}/{} {:3.0f}% ETA {} {}", bar, done_, total_,
             total_ ? 100.0 * done_ / total_ : 100.0, eta, shown);
  std::fflush(stderr);
}

void Progress::Start(const std::string& label) {
  label_ = label;
  if (mode_ == Mode::kBar) Draw(label);
}

void Progress::Finish(const std::string& result_line) {
  ++done_;
  ++measured_;
  if (mode_ == Mode::kBar) Draw(label_);
  if (mode_ == Mode::kLines) fmt::print(stderr, "[{}/{}] {}\n", done_, total_, result_line);
}

void Progress::Skip() {
  ++done_;
  if (mode_ == Mode::kBar) Draw("(resumed: already stored)");
}

void Progress::Done() {
  if (mode_ == Mode::kBar) fmt::print(stderr, "\r\033[K");
}

}  // namespace layoutdb::profiler
