// Sweep progress on stderr: a redrawn bar on a terminal (points done/total, ETA, the current point's
// key), one plain line per point otherwise, nothing with --quiet.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace layoutdb::profiler {

class Progress {
 public:
  enum class Mode { kBar, kLines, kQuiet };
  Progress(Mode mode, size_t total);
  // Picks kBar when stderr is a terminal, else kLines; kQuiet when quiet.
  static Mode ModeFor(bool quiet);

  void Start(const std::string& label);             // a point begins
  void Finish(const std::string& result_line);      // it was committed
  void Skip();                                      // already in the database (resume)
  void AddTotal(size_t more) { total_ += more; }    // work found on the way (re-measurements)
  void Done();                                      // ends the bar's line

 private:
  void Draw(const std::string& label);
  Mode mode_;
  size_t total_, done_ = 0, measured_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::string label_;
};

}  // namespace layoutdb::profiler
