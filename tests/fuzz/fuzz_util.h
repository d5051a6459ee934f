// Shared by the libFuzzer targets: the input as a file (the parsers under test read paths, as the
// program does), and the one rule every target checks: bad input ends in an exception whose what() is
// one clear line. Anything else (a crash, a sanitizer report, another kind of exception, a message of
// several lines or none) is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <string>
#include <typeinfo>

namespace layoutdb::fuzz {

// A per-process file under $TMPDIR (or /tmp), rewritten for every input.
inline std::string InputPath(const char* suffix) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/layoutdb-fuzz-" + std::to_string(::getpid()) +
         suffix;
}

inline void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

[[noreturn]] inline void Finding(const char* kind, const std::string& what) {
  std::fprintf(stderr, "FINDING: %s: '%s'\n", kind, what.c_str());
  std::abort();
}

// Runs `parse`; a refusal must be a std::runtime_error or std::invalid_argument (the kinds layoutdb
// throws for bad input) with a one-line message.
template <typename F>
void ExpectCleanRefusal(F&& parse) {
  try {
    parse();
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    if (what.empty() || what.find('\n') != std::string::npos) Finding("message is not one line", what);
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    if (what.empty() || what.find('\n') != std::string::npos) Finding("message is not one line", what);
  } catch (const std::exception& e) {
    Finding(typeid(e).name(), e.what());
  }
}

}  // namespace layoutdb::fuzz
