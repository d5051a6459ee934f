// Sizes and durations as a person reads them, for every command's output (devices, sweep progress,
// info). Here because db/ is the library every command links.
#pragma once

#include <string>

namespace layoutdb {

// 512 B, 32.0 KiB, 1.7 MiB, 23.5 GiB.
std::string HumanBytes(double bytes);
// 42s, 7m23s, 2h05m.
std::string HumanDuration(double seconds);

}  // namespace layoutdb
