// Sizes and durations as a person reads them, for every command's output (devices, sweep progress,
// info), and text read from files made safe to quote in a one-line message. Here because db/ is the
// library every command links.
#pragma once

#include <string>

namespace layoutdb {

// 512 B, 32.0 KiB, 1.7 MiB, 23.5 GiB.
std::string HumanBytes(double bytes);
// 42s, 7m23s, 2h05m.
std::string HumanDuration(double seconds);
// Text from a file (a JSON property name, a key stored in a database) as it may appear in a one-line
// message: control characters, quotes and backslashes escaped as JSON escapes them, bytes that are not
// UTF-8 replaced.
std::string Printable(const std::string& text);

}  // namespace layoutdb
