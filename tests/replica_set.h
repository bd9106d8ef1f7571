// ReplicaSetTest<N>: the fixture of the sharded end-to-end suites, N real
// optd replicas on loopback that know each other (--peers), started once per
// suite, each with its own data directory (OptdProcess) and a 2 s shard call
// timeout so that a killed replica shows quickly. At the end of the suite
// each must drain and exit 0 on SIGTERM (under the sanitizers: with no leak
// and no error reported); a failed test prints every replica's log.
//
//   class ShardingEndToEnd : public ReplicaSetTest<4> { ... };
//   TEST_F(ShardingEndToEnd, ...) { Client home = Connect(0); ... }
//
// Thread-safety: the tests of a suite run one at a time.
#ifndef OPTD_TESTS_REPLICA_SET_H_
#define OPTD_TESTS_REPLICA_SET_H_

#include <array>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "optd/v1/shard.grpc.pb.h"
#include "tests/free_ports.h"
#include "tests/optd_process.h"

namespace optd::testing {

template <int N>
class ReplicaSetTest : public ::testing::Test {
 protected:
  static constexpr int kReplicaCount = N;

  static void SetUpTestSuite() {
    const std::vector<int> ports = FreePorts(N);
    peers_ = new std::vector<std::string>();
    for (int port : ports) peers_->push_back(absl::StrCat("127.0.0.1:", port));
    ports_ = new std::vector<int>(ports);
    replicas_ = new std::array<OptdProcess, N>();
    for (int r = 0; r < N; ++r) {
      const absl::Status started = StartReplica(r);
      ASSERT_TRUE(started.ok()) << "replica " << r << ": " << started;
    }
  }

  static void TearDownTestSuite() {
    for (int r = 0; r < N; ++r) {
      OptdProcess& p = replica(r);
      const std::optional<int> code = p.Terminate(absl::Seconds(20));
      EXPECT_EQ(code, 0) << "replica " << r << ":\n" << p.Log();
    }
    delete replicas_;
    delete peers_;
    delete ports_;
    replicas_ = nullptr;
    peers_ = nullptr;
    ports_ = nullptr;
  }

  void TearDown() override {
    if (!HasFailure()) return;
    for (int r = 0; r < N; ++r) {
      std::cerr << "---- replica " << r << " log ----\n"
                << replica(r).Log() << "\n";
    }
  }

  // (Re)starts replica r on its port, with the suite's peers.
  static absl::Status StartReplica(int r) {
    return replica(r).Start(
        {absl::StrCat("--port=", (*ports_)[r]),
         absl::StrCat("--peers=", absl::StrJoin(*peers_, ",")),
         absl::StrCat("--replica_index=", r),
         "--shard_call_timeout_seconds=2"});
  }

  static OptdProcess& replica(int r) { return (*replicas_)[r]; }
  // Replica r's address as the others know it (--peers).
  static const std::string& peer(int r) { return (*peers_)[r]; }

  static client::Client Connect(int r) {
    absl::StatusOr<client::Client> c =
        client::Client::Connect(replica(r).address());
    EXPECT_TRUE(c.ok()) << c.status();
    return *std::move(c);
  }

  // Replica r's status (optd.v1.Shard/GetReplicaStatus); its index checked.
  static v1::GetReplicaStatusResponse ReplicaStatus(int r) {
    auto stub = v1::Shard::NewStub(grpc::CreateChannel(
        replica(r).address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    v1::GetReplicaStatusResponse status;
    EXPECT_TRUE(stub->GetReplicaStatus(&context, {}, &status).ok());
    EXPECT_EQ(status.replica_index(), r);
    return status;
  }

  // The bytes replica r holds in slices of session `id`.
  static int64_t SliceBytes(int r, const std::string& id) {
    int64_t bytes = 0;
    const v1::GetReplicaStatusResponse status = ReplicaStatus(r);
    for (const v1::ReplicaSlice& s : status.slices()) {
      if (s.key().session_id() == id) bytes += s.bytes();
    }
    return bytes;
  }

 private:
  static inline std::array<OptdProcess, N>* replicas_ = nullptr;
  static inline std::vector<std::string>* peers_ = nullptr;
  static inline std::vector<int>* ports_ = nullptr;
};

}  // namespace optd::testing

#endif  // OPTD_TESTS_REPLICA_SET_H_
