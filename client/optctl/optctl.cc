// optctl: the command-line client of an optd server.
//
//   optctl --server=localhost:50051 health
//   optctl list
//   optctl get rosen-1 --json
//   optctl watch rosen-1 --interval=2s
//   optctl demo --n=100
//
// Exit status 0 on success; 1 on any error, printed on stderr as
// "CODE: message" (e.g. "NOT_FOUND: session \"x\" not found").
//
// This file holds the flags, the usage text and main(); the commands are in
// sessions.cc, demo.cc and stats.cc (commands.h). Its name stays optctl.cc:
// --helpshort lists the flags of <program>.cc.
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/optctl/commands.h"

ABSL_FLAG(std::string, server, "localhost:50051",
          "Address of the optd server, host:port.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificates to verify a TLS server with; setting any "
          "--tls_* flag connects with TLS (system roots when empty).");
ABSL_FLAG(bool, tls, false,
          "Connect with TLS, verified by the system roots "
          "(implied by any other --tls_* flag).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate, for a server with mutual TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "The name the server's certificate must carry, when it is not the "
          "host of --server.");
ABSL_FLAG(std::string, token_file, "",
          "File holding the bearer token (for a server with --tokens_file). "
          "Default: the OPTD_TOKEN environment variable, if set.");
ABSL_FLAG(std::string, metrics, "",
          "stats: address (host:port) of the server's metrics endpoint, "
          "optd --metrics_port.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30),
          "Deadline of each call to the server.");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(5),
          "How long to wait for the server to accept the connection.");
ABSL_FLAG(bool, json, false,
          "get: print the Session message as JSON (protobuf's JSON mapping).");
ABSL_FLAG(bool, include_x, false, "get: include the best point so far.");
ABSL_FLAG(std::string, format, "csv",
          "history: csv (one row per trial, a header first) or json (one "
          "optd.v1.TrialRecord object per line).");
ABSL_FLAG(uint64_t, after, 0,
          "history: only trials with a greater id (follow a running session "
          "by passing the last id printed).");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(1),
          "watch: time between two polls of the session.");
ABSL_FLAG(
    std::string, out, "",
    "export: file to write the snapshot to (binary optd.v1.SessionSnapshot);"
    " default ID.optd-snapshot.");
ABSL_FLAG(std::string, id, "",
          "import: id for the imported session; default the snapshot's own. "
          "fork: id for the fork; default server-chosen. "
          "diagnose: id for the curvature session; default server-chosen.");
ABSL_FLAG(int, shards, 0,
          "import, fork: shards for the new session (resharding); default "
          "the snapshot's or the source's.");
ABSL_FLAG(int64_t, step, -1,
          "fork: the step (tells applied) to fork from; default (-1) the "
          "source's last durable step.");
ABSL_FLAG(std::string, options, "",
          "fork: changed solver options in protobuf text format, e.g. "
          "'lr: 0.0003 beta1: 0.95' (first-order family only). "
          "switch: the new solver's options, e.g. 'memory: 5'.");
ABSL_FLAG(std::string, solver, "lbfgs",
          "switch: the solver the session goes on with: lbfgs (from the "
          "first-order family) or trust_region (from lbfgs; e.g. --options "
          "'quasi_newton_update: QUASI_NEWTON_UPDATE_LBFGS').");
ABSL_FLAG(int, n, 2,
          "demo: dimension of the extended Rosenbrock function (even, >= 2).");
ABSL_FLAG(std::string, point, "current",
          "diagnose: the session's point to diagnose, current or best.");
ABSL_FLAG(std::string, source, "hessian_vector",
          "diagnose: where the products come from, hessian_vector or "
          "gradient_difference.");

namespace optd::client::optctl {
namespace {

constexpr char kUsage[] = R"(command-line client of an optd optimization server.

Usage: optctl [--server=HOST:PORT] COMMAND [ARG] [FLAGS]

Commands:
  health      Checks the server with grpc.health.v1 and prints its status
              (SERVING). Fails unless the server is SERVING.
  list        Lists every session as a table: id, solver, state, dimension n,
              iterations, evaluations and best value.
  get ID      Prints session ID: state, counters, best value, options, recent
              history and, once ended, the summary. --json prints the
              optd.v1.Session message in protobuf's JSON mapping instead;
              --include_x adds the best point.
  delete ID   Deletes session ID (ending it if it runs) and frees it, its
              journal included.
  export ID   Writes session ID as a versioned snapshot (its creation request
              and every tell; binary optd.v1.SessionSnapshot) to --out
              (default ID.optd-snapshot): an archive, or a way to move it.
  import FILE Recreates the session of snapshot FILE on the server (under
              --id if set) by replaying its tells, and prints its outstanding
              trial: bitwise the one the exporting server would hand out.
              --shards=K reshards it over K replicas (same bits for any K).
  fork ID     Forks session ID (ForkSession): a new session from --step
              (default its last durable step) under --id, with its state
              there bitwise, on --shards replicas, with --options changing
              the solver's hyperparameters from then on (first-order family:
              --options='lr: 0.0003'). Prints the fork's id and trial.
  switch ID   Continues session ID under --solver (SwitchSolver; default
              lbfgs, from the first-order family) with --options, under the
              same id: the iterate and the curvature pairs its last gradients
              give carry over, its pending trials are cancelled. Prints the
              pairs carried and the new trial.
  shards ID   Prints where sharded session ID lives: each shard's replica,
              address and range, the bytes of state it holds there, and each
              replica's total slice bytes and resident memory.
  history ID  Prints the trial log of session ID, one trial per line: id,
              time, worker, what was wanted, value, max |g|, failed, weight,
              note and the point (n <= 100). --format=csv (default; a header
              line, x as x0..x{n-1} columns) or json (one optd.v1.TrialRecord
              per line); --after=ID prints only later trials.
  watch ID    Polls session ID every --interval and prints a progress line
              whenever it advances, until the session ends; then prints the
              summary.
  diagnose ID Opens a curvature session (Lanczos on the Hessian) at session
              ID's --point (current, the default, or best) and prints its
              id, the point and what its trials want: Hessian-vector
              products, or with --source=gradient_difference gradients at
              x +- h v. A client drives it like any session; `optctl get`
              on it then prints the extreme eigenvalues, the condition
              number and the products spent.
  stats       Reads the server's Prometheus metrics (--metrics=HOST:PORT,
              optd --metrics_port) and prints them as tables: sessions by
              state and by tenant, steps, evaluations and step latency
              (p50/p99) per solver, calls and errors per method.
  demo        Minimizes the Rosenbrock function from (-1.2, 1) with L-BFGS
              through the server's Optimize stream and prints the brief
              report and the final x; --n=N runs the extended Rosenbrock
              function in N (even) dimensions from (-1.2, 1, -1.2, 1, ...).
              Exits 0 when the session converges. The session is kept (see
              optctl get/delete).

Exit status: 0 on success, 1 on error; errors are printed on stderr as
"CODE: message", CODE being the gRPC status code (e.g. NOT_FOUND).)";

absl::StatusOr<Client> ConnectFromFlags() {
  ClientOptions options;
  options.call_timeout = absl::GetFlag(FLAGS_timeout);
  options.connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  const TlsFiles tls{.ca_file = absl::GetFlag(FLAGS_tls_ca),
                     .cert_file = absl::GetFlag(FLAGS_tls_cert),
                     .key_file = absl::GetFlag(FLAGS_tls_key)};
  options.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  if (absl::GetFlag(FLAGS_tls) || !tls.ca_file.empty() ||
      !tls.cert_file.empty() || !options.tls_server_name.empty()) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        TlsCredentials(tls);
    if (!credentials.ok()) return credentials.status();
    options.credentials = *std::move(credentials);
  }
  const std::string token_file = absl::GetFlag(FLAGS_token_file);
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    std::string token;
    if (!(in >> token)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read a token from --token_file=", token_file));
    }
    options.bearer_token = token;
  } else if (const char* token = std::getenv("OPTD_TOKEN"); token != nullptr) {
    options.bearer_token = token;
  }
  return Client::Connect(absl::GetFlag(FLAGS_server), options);
}

struct Command {
  bool takes_id;
  std::function<absl::Status(const Client&, const std::string&)> run;
};

absl::Status Run(const std::vector<char*>& args) {
  const std::map<std::string, Command> commands = {
      {"health", {false, Health}},    {"list", {false, List}},
      {"get", {true, Get}},           {"delete", {true, Delete}},
      {"watch", {true, Watch}},       {"demo", {false, Demo}},
      {"export", {true, Export}},     {"import", {true, Import}},
      {"fork", {true, Fork}},         {"shards", {true, Shards}},
      {"stats", {false, nullptr}},    {"history", {true, History}},
      {"diagnose", {true, Diagnose}}, {"switch", {true, Switch}},
  };
  // args[0] is the program name.
  if (args.size() < 2) {
    return absl::InvalidArgumentError(
        "no command given; see optctl --help for the commands");
  }
  const auto it = commands.find(args[1]);
  if (it == commands.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown command \"", args[1], "\"; see optctl --help"));
  }
  const size_t expected = it->second.takes_id ? 3 : 2;
  if (args.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "optctl ", args[1],
        it->second.takes_id ? " takes one argument, ID" : " takes no arguments",
        "; see optctl --help"));
  }
  if (it->second.run == nullptr) return Stats();  // HTTP, not gRPC
  absl::StatusOr<Client> client = ConnectFromFlags();
  if (!client.ok()) return client.status();
  return it->second.run(*client, expected == 3 ? args[2] : "");
}

}  // namespace
}  // namespace optd::client::optctl

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(optd::client::optctl::kUsage);
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const absl::Status status = optd::client::optctl::Run(args);
  if (!status.ok()) {
    std::cerr << absl::StatusCodeToString(status.code()) << ": "
              << status.message() << std::endl;
    return 1;
  }
  return 0;
}
