// The commands of optctl, the command-line client of an optd server
// (optctl.cc parses the flags and dispatches the command), and the flags they
// read (defined in optctl.cc, next to main()).
//
//   sessions.cc  health, list, get, history, delete, export, import, watch,
//                shards
//   demo.cc      demo
//   diagnose.cc  diagnose
//   stats.cc     stats (the server's /metrics endpoint, over HTTP)
//
// Each command prints its result on stdout and returns a status that main()
// prints on stderr as "CODE: message" (exit status 1).
#ifndef OPTD_CLIENT_OPTCTL_COMMANDS_H_
#define OPTD_CLIENT_OPTCTL_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/client.h"

ABSL_DECLARE_FLAG(std::string, server);
ABSL_DECLARE_FLAG(std::string, metrics);
ABSL_DECLARE_FLAG(absl::Duration, timeout);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(bool, include_x);
ABSL_DECLARE_FLAG(std::string, format);
ABSL_DECLARE_FLAG(uint64_t, after);
ABSL_DECLARE_FLAG(absl::Duration, interval);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(std::string, id);
ABSL_DECLARE_FLAG(int, shards);
ABSL_DECLARE_FLAG(int64_t, step);
ABSL_DECLARE_FLAG(std::string, options);
ABSL_DECLARE_FLAG(int, n);
ABSL_DECLARE_FLAG(std::string, point);
ABSL_DECLARE_FLAG(std::string, source);
ABSL_DECLARE_FLAG(std::string, solver);

namespace optd::client::optctl {

// The commands that talk to the server over gRPC: `argument` is the
// command's ID (a session id; for import the snapshot's path), or empty for
// a command that takes none.
absl::Status Health(const Client& client, const std::string& argument);
absl::Status List(const Client& client, const std::string& argument);
absl::Status Get(const Client& client, const std::string& id);
absl::Status History(const Client& client, const std::string& id);
absl::Status Delete(const Client& client, const std::string& id);
absl::Status Export(const Client& client, const std::string& id);
absl::Status Import(const Client& client, const std::string& path);
absl::Status Fork(const Client& client, const std::string& id);
absl::Status Watch(const Client& client, const std::string& id);
absl::Status Shards(const Client& client, const std::string& id);
absl::Status Demo(const Client& client, const std::string& argument);
// `optctl diagnose ID`: a curvature session at session ID's --point
// (diagnose.cc).
absl::Status Diagnose(const Client& client, const std::string& id);
// `optctl switch ID`: session ID goes on under --solver (switch.cc).
absl::Status Switch(const Client& client, const std::string& id);

// `optctl stats`: reads the server's /metrics endpoint (--metrics).
absl::Status Stats();

// "[1, 1]", or the first and last few elements of a long vector.
std::string FormatVector(const std::vector<double>& x);

}  // namespace optd::client::optctl

#endif  // OPTD_CLIENT_OPTCTL_COMMANDS_H_
