// FreePorts(): loopback ports the kernel says are free now, for test and
// benchmark programs that start replicas which must know each other's ports
// before they listen (--peers). Header-only, so that both tests/ and bench/
// use this one.
//
//   const std::vector<int> ports = optd::testing::FreePorts(3);
//
// Thread-safety: thread-safe (the kernel picks distinct ports).
#ifndef OPTD_TESTS_FREE_PORTS_H_
#define OPTD_TESTS_FREE_PORTS_H_

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace optd::testing {

// `count` ports, held open until all are picked, then released (another
// process may take one before the caller binds it: rare on loopback).
inline std::vector<int> FreePorts(int count) {
  std::vector<int> fds, ports;
  for (int i = 0; i < count; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ports.push_back(ntohs(addr.sin_port));
    fds.push_back(fd);
  }
  for (int fd : fds) close(fd);
  return ports;
}

}  // namespace optd::testing

#endif  // OPTD_TESTS_FREE_PORTS_H_
