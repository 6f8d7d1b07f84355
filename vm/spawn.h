// Starting child processes from several threads at once (the pool boots one VM
// per core in parallel).
//
// Boost.Process 1.74 reports exec errors through a pipe it makes with pipe()
// and only then marks FD_CLOEXEC. A child forked by another thread in between
// inherits the write end, and the first launch then waits for EOF on that
// pipe for as long as the other child lives - a long-lived QEMU or agent, so
// forever. Every launch goes through spawn(), which takes one lock.
#pragma once

#include <boost/process.hpp>
#include <mutex>
#include <utility>

namespace secdiff::vm {

inline std::mutex& spawn_mutex() {
  static std::mutex m;
  return m;
}

template <class... Args>
boost::process::child spawn(Args&&... args) {
  std::lock_guard<std::mutex> l(spawn_mutex());
  return boost::process::child(std::forward<Args>(args)...);
}

}  // namespace secdiff::vm
