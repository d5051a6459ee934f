#include "lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace layoutdb::profiler {

// flock() on the database file itself rather than on a `<db>.lock` beside it: nothing is left behind,
// and the lock goes with the process however it ends (a SIGKILL included). On Linux flock() locks are
// apart from the POSIX (fcntl) locks SQLite takes on the same file; the descriptor is closed only
// after the sweep's own connection, so that closing it cannot drop SQLite's locks (POSIX drops a
// process's locks on a file when any of its descriptors of that file closes).
WriterLock::WriterLock(const std::string& db_path) {
  fd_ = ::open(db_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) return;
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  const int err = errno;
  ::close(fd_);
  fd_ = -1;
  if (err == EWOULDBLOCK) throw std::runtime_error(BusyMessage(db_path));
  // A file system without flock (some network mounts): go on without the lock, as before.
}

WriterLock::~WriterLock() {
  if (fd_ >= 0) ::close(fd_);
}

std::string WriterLock::BusyMessage(const std::string& db_path) {
  return fmt::format("{}: another sweep is writing this file; wait for it to finish, or sweep into another file",
                     db_path);
}

}  // namespace layoutdb::profiler
