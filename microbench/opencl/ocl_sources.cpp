// Access to the embedded .cl files. Kept apart from the other sources because the generated
// `layoutdb::cl` namespace would hide OpenCL's `::cl` inside namespace layoutdb.
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace layoutdb::cl {
const std::vector<std::pair<std::string_view, std::string_view>>& Embedded();
}

namespace layoutdb::microbench::opencl {

std::string_view EmbeddedSource(const std::string& name) {
  for (const auto& [n, text] : layoutdb::cl::Embedded())
    if (n == name) return text;
  throw std::logic_error(fmt::format("OpenCL source '{}' is not embedded", name));
}

}  // namespace layoutdb::microbench::opencl
