// End to end: authentication, tenants, limits, TLS and metrics on real optd
// processes
// (docs/security.md). Bearer tokens from --tokens_file (no token, a wrong
// token, another tenant's session, a token revoked by SIGHUP), the per-tenant
// and stream limits, TLS and mutual TLS with certificates made by openssl in
// the test, and two replicas that run a sharded session over mutual TLS with
// the replicas' token; the /metrics endpoint and optctl stats.
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "optd/v1/shard.grpc.pb.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"

namespace optd::testing {
namespace {

using ::optd::client::Answer;
using ::optd::client::Client;
using ::optd::client::ClientOptions;
using ::optd::client::Evaluation;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::optd::client::TlsCredentials;
using ::optd::client::TlsFiles;
using ::optd::client::Trial;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAliceToken[] = "alice-0123456789abcdef";
constexpr char kBobToken[] = "bob-0123456789abcdef01";
constexpr char kCarolToken[] = "carol-0123456789abcdef";
constexpr char kReplicaToken[] = "replicas-0123456789abcd";

// A directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "optd-security-XXXXXX")
            .string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string operator/(const std::string& name) const {
    return path_ + "/" + name;
  }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// Rosenbrock's function in two dimensions, value and gradient.
Evaluation Rosenbrock(const Trial& trial) {
  const double a = 1 - trial.x[0], b = trial.x[1] - trial.x[0] * trial.x[0];
  Evaluation e;
  e.value = a * a + 100 * b * b;
  e.gradient = {-2 * a - 400 * trial.x[0] * b, 200 * b};
  return e;
}

ClientOptions WithToken(const std::string& token) {
  ClientOptions options;
  options.bearer_token = token;
  return options;
}

Client Connect(const std::string& address, const ClientOptions& options) {
  absl::StatusOr<Client> client = Client::Connect(address, options);
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

// Creates session `id` (empty: the server picks) and makes `tells` tells.
absl::StatusOr<Session> CreateAndTell(const Client& client,
                                      const std::string& id, int tells) {
  SessionOptions options;
  options.session_id = id;
  absl::StatusOr<Session> session =
      Session::Create(client, {-1.2, 1.0}, SolverSpec::Lbfgs(), options);
  if (!session.ok()) return session.status();
  Trial trial = session->first_trials().at(0);
  for (int t = 0; t < tells; ++t) {
    absl::StatusOr<Answer> answer = session->Tell(trial.id, Rosenbrock(trial));
    if (!answer.ok()) return answer.status();
    trial = answer->trials.at(0);
  }
  return session;
}

class TokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(
        dir_ / "tokens",
        absl::StrCat("# test tenants\n", kAliceToken, " alice\n", kBobToken,
                     "\tbob  # a comment\n", kReplicaToken, " @replicas\n"));
  }
  void TearDown() override {
    if (optd_.running()) {
      EXPECT_EQ(optd_.Terminate(absl::Seconds(10)), 0) << optd_.Log();
    }
    if (HasFailure()) std::cerr << optd_.Log();
  }
  absl::Status Start(std::vector<std::string> flags = {}) {
    flags.push_back(absl::StrCat("--tokens_file=", dir_ / "tokens"));
    return optd_.Start(flags);
  }

  TempDir dir_;
  OptdProcess optd_;
};

TEST_F(TokensTest, CallsWithoutAValidTokenAreRefused) {
  ASSERT_OK(Start());
  Client anonymous = Connect(optd_.address(), ClientOptions());
  absl::StatusOr<std::vector<v1::Session>> listed = anonymous.ListSessions();
  EXPECT_THAT(listed, StatusIs(absl::StatusCode::kUnauthenticated,
                               HasSubstr("authorization: Bearer")));
  EXPECT_THAT(CreateAndTell(anonymous, "x", 0).status(),
              StatusIs(absl::StatusCode::kUnauthenticated));

  Client wrong = Connect(optd_.address(), WithToken("not-a-token-0123456789"));
  EXPECT_THAT(wrong.ListSessions(), StatusIs(absl::StatusCode::kUnauthenticated,
                                             HasSubstr("unknown, or revoked")));
  // The health service stays open (probes carry no token).
  EXPECT_THAT(anonymous.Health(),
              IsOkAndHolds(client::ServingStatus::kServing));
  // Nothing was created by the refused calls.
  Client alice = Connect(optd_.address(), WithToken(kAliceToken));
  EXPECT_THAT(alice.ListSessions(), IsOkAndHolds(::testing::IsEmpty()));
}

TEST_F(TokensTest, TenantsSeeOnlyTheirOwnSessions) {
  ASSERT_OK(Start());
  Client alice = Connect(optd_.address(), WithToken(kAliceToken));
  Client bob = Connect(optd_.address(), WithToken(kBobToken));
  ASSERT_OK_AND_ASSIGN(Session exp1, CreateAndTell(alice, "exp1", 3));
  ASSERT_OK_AND_ASSIGN(Session random, CreateAndTell(alice, "", 1));
  // Server-picked ids: 128 random bits as 32 hex digits.
  EXPECT_THAT(random.id(), ::testing::MatchesRegex("[0-9a-f]{32}"));

  // Bob cannot tell that alice's sessions exist: NOT_FOUND for every call,
  // naming the id as bob gave it.
  for (const std::string& id : {std::string("exp1"), random.id()}) {
    EXPECT_THAT(
        bob.GetSession(id),
        StatusIs(absl::StatusCode::kNotFound,
                 ::testing::AllOf(HasSubstr(absl::StrCat("\"", id, "\"")),
                                  Not(HasSubstr("alice")))));
    EXPECT_THAT(bob.DeleteSession(id), StatusIs(absl::StatusCode::kNotFound));
    EXPECT_THAT(bob.ExportSession(id), StatusIs(absl::StatusCode::kNotFound));
    Session attached = Session::Attach(bob, id);
    EXPECT_THAT(attached.Ask(), StatusIs(absl::StatusCode::kNotFound));
    Evaluation evaluation;
    evaluation.value = 1.0;
    evaluation.gradient = {1, 1};
    EXPECT_THAT(attached.Tell(1, evaluation),
                StatusIs(absl::StatusCode::kNotFound));
  }
  // The Optimize stream too.
  {
    grpc::ClientContext context;
    bob.PrepareStreamContext(&context);
    auto stream = bob.stub().Optimize(&context);
    v1::OptimizeRequest open;
    open.set_attach_session_id("exp1");
    ASSERT_TRUE(stream->Write(open));
    v1::OptimizeResponse response;
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(response.error_message(), Not(HasSubstr("alice")));
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
  EXPECT_THAT(bob.ListSessions(), IsOkAndHolds(::testing::IsEmpty()));

  // Bob's own "exp1" is another session; alice's is unchanged.
  ASSERT_OK_AND_ASSIGN(Session bobs, CreateAndTell(bob, "exp1", 1));
  EXPECT_EQ(bobs.id(), "exp1");
  ASSERT_OK_AND_ASSIGN(v1::Session mine, alice.GetSession("exp1"));
  EXPECT_EQ(mine.session_id(), "exp1");
  EXPECT_EQ(mine.tells(), 3);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Session> listed, alice.ListSessions());
  ASSERT_EQ(listed.size(), 2u);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Session> bobs_list, bob.ListSessions());
  ASSERT_EQ(bobs_list.size(), 1u);
  EXPECT_EQ(bobs_list[0].session_id(), "exp1");
  EXPECT_EQ(bobs_list[0].tells(), 1);

  // A snapshot names the session as its tenant does; it imports under
  // another tenant's namespace.
  ASSERT_OK_AND_ASSIGN(v1::SessionSnapshot snapshot,
                       alice.ExportSession("exp1"));
  EXPECT_EQ(snapshot.create().session_id(), "exp1");
  EXPECT_THAT(bob.ImportSession(snapshot),
              StatusIs(absl::StatusCode::kAlreadyExists));
  ASSERT_OK_AND_ASSIGN(v1::ImportSessionResponse imported,
                       bob.ImportSession(snapshot, "copy"));
  EXPECT_EQ(imported.session_id(), "copy");
  EXPECT_EQ(imported.tells(), 3);

  // Survives a restart: the tenants' sessions come back in their namespaces.
  ASSERT_EQ(optd_.Terminate(absl::Seconds(10)), 0);
  ASSERT_OK(Start());
  alice = Connect(optd_.address(), WithToken(kAliceToken));
  ASSERT_OK_AND_ASSIGN(mine, alice.GetSession("exp1"));
  EXPECT_EQ(mine.tells(), 3);
  EXPECT_OK(alice.DeleteSession("exp1"));
  bob = Connect(optd_.address(), WithToken(kBobToken));
  ASSERT_OK_AND_ASSIGN(bobs_list, bob.ListSessions());
  EXPECT_EQ(bobs_list.size(), 2u);
}

TEST_F(TokensTest, TheReplicaTokenAndTenantTokensKeepToTheirServices) {
  ASSERT_OK(Start());
  Client replica = Connect(optd_.address(), WithToken(kReplicaToken));
  EXPECT_THAT(
      replica.ListSessions(),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("@replicas")));
  auto shard = v1::Shard::NewStub(
      grpc::CreateChannel(optd_.address(), grpc::InsecureChannelCredentials()));
  v1::CreateSliceRequest slice;
  slice.mutable_key()->set_session_id("x");
  v1::CreateSliceResponse created;
  {
    grpc::ClientContext context;
    EXPECT_EQ(shard->CreateSlice(&context, slice, &created).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kAliceToken));
    const grpc::Status status = shard->CreateSlice(&context, slice, &created);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(status.error_message(), HasSubstr("other replicas only"));
  }
}

TEST_F(TokensTest, SighupRevokesAndAddsTokens) {
  ASSERT_OK(Start());
  Client alice = Connect(optd_.address(), WithToken(kAliceToken));
  Client carol = Connect(optd_.address(), WithToken(kCarolToken));
  ASSERT_OK(CreateAndTell(alice, "kept", 1).status());
  EXPECT_THAT(carol.ListSessions(),
              StatusIs(absl::StatusCode::kUnauthenticated));

  // Alice's token revoked, carol's added. Alice's session stays (a tenant is
  // its name, not its token): a new token for alice would reach it.
  WriteFile(dir_ / "tokens", absl::StrCat(kCarolToken, " carol\n"));
  optd_.Signal(SIGHUP);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (carol.ListSessions().status().code() != absl::StatusCode::kOk &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_OK(carol.ListSessions().status());
  EXPECT_THAT(alice.ListSessions(), StatusIs(absl::StatusCode::kUnauthenticated,
                                             HasSubstr("revoked")));

  // A broken file keeps the tokens in force.
  WriteFile(dir_ / "tokens", "short alice\n");
  optd_.Signal(SIGHUP);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_OK(carol.ListSessions().status());
  EXPECT_THAT(optd_.Log(), HasSubstr("kept the tokens in force"));
  EXPECT_THAT(optd_.Log(), Not(HasSubstr(kCarolToken)));

  WriteFile(dir_ / "tokens", absl::StrCat("new-alice-token-0123456 alice\n"));
  optd_.Signal(SIGHUP);
  Client new_alice =
      Connect(optd_.address(), WithToken("new-alice-token-0123456"));
  absl::StatusOr<v1::Session> kept = new_alice.GetSession("kept");
  for (int i = 0; i < 100 && !kept.ok(); ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    kept = new_alice.GetSession("kept");
  }
  ASSERT_OK(kept.status());
  EXPECT_EQ(kept->tells(), 1);
}

TEST_F(TokensTest, TenantLimits) {
  ASSERT_OK(Start({"--max_sessions_per_tenant=2",
                   // An n=2 L-BFGS session is (2*10 + 6) * 2 * 8 = 416 bytes.
                   "--tenant_memory_bytes=100000"}));
  Client alice = Connect(optd_.address(), WithToken(kAliceToken));
  Client bob = Connect(optd_.address(), WithToken(kBobToken));
  ASSERT_OK(CreateAndTell(alice, "a1", 0).status());
  ASSERT_OK(CreateAndTell(alice, "a2", 0).status());
  EXPECT_THAT(
      CreateAndTell(alice, "a3", 0).status(),
      StatusIs(absl::StatusCode::kResourceExhausted,
               ::testing::AllOf(HasSubstr("--max_sessions_per_tenant=2"),
                                HasSubstr("tenant \"alice\""))));
  // Another tenant is not held back by alice.
  ASSERT_OK(CreateAndTell(bob, "b1", 0).status());
  // 1000 elements: 208,000 bytes of L-BFGS state, over bob's budget.
  EXPECT_THAT(
      Session::Create(bob, std::vector<double>(1000, 0.5), SolverSpec::Lbfgs())
          .status(),
      StatusIs(absl::StatusCode::kResourceExhausted,
               ::testing::AllOf(HasSubstr("--tenant_memory_bytes"),
                                HasSubstr("208000"))));
  // Nothing changed.
  EXPECT_THAT(bob.ListSessions(), IsOkAndHolds(::testing::SizeIs(1)));
  EXPECT_THAT(alice.ListSessions(), IsOkAndHolds(::testing::SizeIs(2)));
  // A deleted session frees its place.
  ASSERT_OK(alice.DeleteSession("a1"));
  EXPECT_OK(CreateAndTell(alice, "a3", 0).status());
}

// The server-wide limits a hostile or careless client meets first: message
// size, dimension and session count, each RESOURCE_EXHAUSTED naming it, and
// nothing created.
TEST(ServerLimits, MessageSizeDimensionAndSessions) {
  OptdProcess optd;
  ASSERT_OK(optd.Start({"--max_message_bytes=1048576", "--max_dimension=1000",
                        "--max_sessions=1"}));
  {
    ClientOptions options;
    options.max_message_bytes = 8 << 20;  // the client would send more
    Client client = Connect(optd.address(), options);
    // 200,000 doubles: 1.6 MB, over the server's 1 MiB.
    EXPECT_THAT(Session::Create(client, std::vector<double>(200000, 1.0),
                                SolverSpec::Adam())
                    .status(),
                StatusIs(absl::StatusCode::kResourceExhausted,
                         HasSubstr("larger than max")));
    EXPECT_THAT(Session::Create(client, std::vector<double>(1001, 1.0),
                                SolverSpec::Lbfgs())
                    .status(),
                StatusIs(absl::StatusCode::kResourceExhausted,
                         HasSubstr("--max_dimension")));
    EXPECT_THAT(client.ListSessions(), IsOkAndHolds(::testing::IsEmpty()));
    ASSERT_OK(CreateAndTell(client, "only", 0).status());
    EXPECT_THAT(CreateAndTell(client, "second", 0).status(),
                StatusIs(absl::StatusCode::kResourceExhausted,
                         HasSubstr("--max_sessions=1")));
    EXPECT_THAT(client.ListSessions(), IsOkAndHolds(::testing::SizeIs(1)));
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), 0) << optd.Log();
}

TEST(StreamLimit, OneStreamTooManyIsRefused) {
  OptdProcess optd;
  ASSERT_OK(optd.Start({"--max_concurrent_streams=1"}));
  {
    Client client = Connect(optd.address(), ClientOptions());
    auto open = [&](grpc::ClientContext* context, v1::OptimizeResponse* first) {
      auto stream = client.stub().Optimize(context);
      v1::OptimizeRequest request;
      *request.mutable_create() =
          client::MakeCreateSessionRequest({-1.2, 1.0}, SolverSpec::Lbfgs());
      stream->Write(request);
      stream->Read(first);
      return stream;
    };
    grpc::ClientContext first_context;
    v1::OptimizeResponse first;
    auto first_stream = open(&first_context, &first);
    ASSERT_EQ(first.error_code(), 0) << first.error_message();
    {
      grpc::ClientContext context;
      v1::OptimizeResponse refused;
      auto second = open(&context, &refused);
      const grpc::Status status = second->Finish();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_THAT(status.error_message(),
                  HasSubstr("--max_concurrent_streams=1"));
    }
    // Nothing was created by the refused stream.
    EXPECT_THAT(client.ListSessions(), IsOkAndHolds(::testing::SizeIs(1)));
    first_stream->WritesDone();
    ASSERT_TRUE(first_stream->Finish().ok());
    // The place is free again once the first stream is done.
    grpc::ClientContext again_context;
    v1::OptimizeResponse again;
    absl::Status opened = absl::UnknownError("not opened");
    for (int i = 0; i < 100 && !opened.ok(); ++i) {
      grpc::ClientContext context;
      v1::OptimizeResponse response;
      auto stream = open(&context, &response);
      stream->WritesDone();
      const grpc::Status status = stream->Finish();
      opened =
          status.ok()
              ? absl::OkStatus()
              : absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                             status.error_message());
      if (!opened.ok()) absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_OK(opened);
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), 0) << optd.Log();
}

// Certificates made with openssl for the test: a CA, a server certificate
// for localhost and 127.0.0.1 (usable as a client certificate too, as
// replicas use theirs), a client certificate, and a second, unrelated CA
// with a client certificate of its own.
class Certificates {
 public:
  Certificates() {
    const std::string script = absl::StrCat("set -e; cd ", dir_ / "", R"(
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"; }
ca() { key "$1"; openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$1"; }
leaf() {  # name ca cn ext
  key "$1"; openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$3"
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
    -out "$1.pem" -days 2 -extfile "$1.ext"
}
ca ca; ca other-ca
leaf server ca localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth"
leaf client ca client "extendedKeyUsage=clientAuth"
leaf stranger other-ca stranger "extendedKeyUsage=clientAuth"
)");
    const std::string command =
        absl::StrCat("bash -c '", EscapeQuotes(script), "' >",
                     dir_ / "openssl.log", " 2>&1");
    ok_ = std::system(command.c_str()) == 0;
  }
  bool ok() const { return ok_; }
  std::string operator/(const std::string& name) const { return dir_ / name; }

  std::shared_ptr<grpc::ChannelCredentials> Credentials(
      const std::string& ca, const std::string& client = "") const {
    TlsFiles files;
    files.ca_file = dir_ / (ca + ".pem");
    if (!client.empty()) {
      files.cert_file = dir_ / (client + ".pem");
      files.key_file = dir_ / (client + ".key");
    }
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        TlsCredentials(files);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return credentials.ok() ? *credentials : nullptr;
  }

 private:
  static std::string EscapeQuotes(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    return out;
  }
  TempDir dir_;
  bool ok_ = false;
};

ClientOptions Tls(const Certificates& certs, const std::string& ca,
                  const std::string& client = "") {
  ClientOptions options;
  options.credentials = certs.Credentials(ca, client);
  options.connect_timeout = absl::Seconds(3);
  return options;
}

std::vector<std::string> TlsFlags(const Certificates& certs) {
  return {absl::StrCat("--tls_cert=", certs / "server.pem"),
          absl::StrCat("--tls_key=", certs / "server.key")};
}

TEST(Tls, ServesTlsOnly) {
  Certificates certs;
  ASSERT_TRUE(certs.ok());
  OptdProcess optd;
  ASSERT_OK(optd.Start(TlsFlags(certs)));
  const std::string localhost = absl::StrCat("localhost:", optd.port());
  {
    Client client = Connect(localhost, Tls(certs, "ca"));
    ASSERT_OK_AND_ASSIGN(Session session, CreateAndTell(client, "tls", 2));
    EXPECT_OK(client.GetSession("tls").status());
  }
  // Plaintext, and TLS that does not trust the server's CA, do not connect.
  ClientOptions plaintext;
  plaintext.connect_timeout = absl::Seconds(2);
  EXPECT_THAT(Client::Connect(localhost, plaintext).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Client::Connect(localhost, Tls(certs, "other-ca")).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  // optctl with --tls_ca.
  const CommandRun run = Optctl(
      localhost, absl::StrCat("--tls_ca=", certs / "ca.pem", " get tls"));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("tls"));
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), 0) << optd.Log();
}

TEST(Tls, MutualTlsNeedsAClientCertificateFromTheCa) {
  Certificates certs;
  ASSERT_TRUE(certs.ok());
  OptdProcess optd;
  std::vector<std::string> flags = TlsFlags(certs);
  flags.push_back(absl::StrCat("--tls_client_ca=", certs / "ca.pem"));
  ASSERT_OK(optd.Start(flags));
  const std::string localhost = absl::StrCat("localhost:", optd.port());
  {
    Client client = Connect(localhost, Tls(certs, "ca", "client"));
    EXPECT_OK(CreateAndTell(client, "mtls", 1).status());
  }
  // No certificate, or one from another CA: no connection.
  EXPECT_THAT(Client::Connect(localhost, Tls(certs, "ca")).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Client::Connect(localhost, Tls(certs, "ca", "stranger")).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), 0) << optd.Log();
}

// With TLS the HTTP port serves HTTPS with the gRPC port's certificate, and
// asks for no client certificate even with mutual TLS on the gRPC port.
TEST(Tls, MetricsPortServesHttpsWithTheSameCertificate) {
  Certificates certs;
  ASSERT_TRUE(certs.ok());
  OptdProcess optd;
  const int metrics_port = FreePorts(1)[0];
  std::vector<std::string> flags = TlsFlags(certs);
  flags.push_back(absl::StrCat("--tls_client_ca=", certs / "ca.pem"));
  flags.push_back(absl::StrCat("--metrics_port=", metrics_port));
  ASSERT_OK(optd.Start(flags));
  {
    Client client = Connect(absl::StrCat("localhost:", optd.port()),
                            Tls(certs, "ca", "client"));
    EXPECT_OK(CreateAndTell(client, "https1", 1).status());
  }
  httplib::SSLClient https("127.0.0.1", metrics_port);
  https.set_ca_cert_path((certs / "ca.pem").c_str());
  https.enable_server_certificate_verification(true);
  https.set_connection_timeout(5, 0);
  httplib::Result health = https.Get("/healthz");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  httplib::Result sessions = https.Get("/api/v1/sessions");
  ASSERT_TRUE(sessions) << httplib::to_string(sessions.error());
  EXPECT_EQ(sessions->status, 200) << sessions->body;
  EXPECT_THAT(sessions->body, HasSubstr("\"sessionId\":\"https1\""));
  httplib::Result server = https.Get("/api/v1/server");
  ASSERT_TRUE(server) << httplib::to_string(server.error());
  EXPECT_EQ(server->status, 200) << server->body;
  EXPECT_THAT(server->body,
              HasSubstr("{\"labels\":{\"method\":\"CreateSession\"},"
                        "\"count\":1,"));
  // Plain HTTP gets no answer.
  httplib::Client http("127.0.0.1", metrics_port);
  http.set_connection_timeout(2, 0);
  http.set_read_timeout(2, 0);
  EXPECT_FALSE(http.Get("/healthz"));
  EXPECT_THAT(optd.Log(), HasSubstr("metrics on https://"));
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), 0) << optd.Log();
}

TEST(Tls, BadSettingsStopTheServerAtStart) {
  Certificates certs;
  ASSERT_TRUE(certs.ok());
  OptdProcess optd;
  EXPECT_THAT(optd.Start({absl::StrCat("--tls_cert=", certs / "server.pem")},
                         absl::Seconds(5)),
              StatusIs(::testing::_, HasSubstr("--tls_cert and --tls_key")));
  EXPECT_THAT(optd.Start({absl::StrCat("--tls_client_ca=", certs / "ca.pem")},
                         absl::Seconds(5)),
              StatusIs(::testing::_, HasSubstr("--tls_client_ca")));
  std::vector<std::string> flags = TlsFlags(certs);
  flags.push_back("--peers=127.0.0.1:1,127.0.0.1:2");
  EXPECT_THAT(optd.Start(flags, absl::Seconds(5)),
              StatusIs(::testing::_, HasSubstr("--peer_tls_ca")));
  EXPECT_THAT(optd.Start({absl::StrCat("--tls_cert=", certs / "server.key"),
                          absl::StrCat("--tls_key=", certs / "ca.srl")},
                         absl::Seconds(5)),
              StatusIs(::testing::_, HasSubstr("not a PEM file")));
}

// Two replicas with mutual TLS and tokens: a sharded session whose client
// talks to both (direct path) and whose replicas talk to each other with
// their own certificates and the @replicas token.
TEST(Tls, ReplicasShardOverMutualTlsWithTokens) {
  Certificates certs;
  ASSERT_TRUE(certs.ok());
  TempDir dir;
  WriteFile(dir / "tokens", absl::StrCat(kAliceToken, " alice\n", kReplicaToken,
                                         " @replicas\n"));
  const std::vector<int> ports = FreePorts(2);
  const std::string peers =
      absl::StrCat("localhost:", ports[0], ",localhost:", ports[1]);
  OptdProcess replicas[2];
  for (int r = 0; r < 2; ++r) {
    std::vector<std::string> flags = TlsFlags(certs);
    flags.insert(
        flags.end(),
        {absl::StrCat("--tls_client_ca=", certs / "ca.pem"),
         absl::StrCat("--peer_tls_ca=", certs / "ca.pem"),
         absl::StrCat("--tokens_file=", dir / "tokens"),
         absl::StrCat("--port=", ports[r]), absl::StrCat("--peers=", peers),
         absl::StrCat("--replica_index=", r),
         "--shard_call_timeout_seconds=3"});
    ASSERT_OK(replicas[r].Start(flags));
  }
  ClientOptions options = Tls(certs, "ca", "client");
  options.bearer_token = kAliceToken;
  Client client = Connect(absl::StrCat("localhost:", ports[0]), options);
  SessionOptions session_options;
  session_options.session_id = "sharded";
  session_options.shards = 2;
  const int64_t n = 2 * 4096 + 10;
  std::vector<double> x0(n);
  for (int64_t i = 0; i < n; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0;
  v1::LbfgsOptions lbfgs;
  lbfgs.set_max_iterations(5);
  ASSERT_OK_AND_ASSIGN(
      Session session,
      Session::Create(client, x0, SolverSpec::Lbfgs(lbfgs), session_options));
  EXPECT_TRUE(session.direct());
  Answer answer;
  answer.trials = session.first_trials();
  for (int t = 0; t < 50 && !answer.finished(); ++t) {
    const Trial& trial = answer.trials.at(0);
    Evaluation e;
    double f = 0;
    e.gradient.assign(n, 0);
    for (int64_t i = 0; i + 1 < n; i += 2) {
      const double a = 1 - trial.x[i],
                   b = trial.x[i + 1] - trial.x[i] * trial.x[i];
      f += a * a + 100 * b * b;
      e.gradient[i] = -2 * a - 400 * trial.x[i] * b;
      e.gradient[i + 1] = 200 * b;
    }
    e.value = f;
    ASSERT_OK_AND_ASSIGN(answer, session.Tell(trial.id, e));
  }
  EXPECT_TRUE(answer.finished());
  ASSERT_OK_AND_ASSIGN(v1::Session described, client.GetSession("sharded"));
  ASSERT_EQ(described.shard_map_size(), 2);
  EXPECT_GT(described.shard_reductions(), 0);
  // optctl over mutual TLS with alice's token: both replicas report her
  // slice (a tenant's GetReplicaStatus lists its own slices).
  setenv("OPTD_TOKEN", kAliceToken, 1);
  const CommandRun listed = Optctl(
      absl::StrCat("localhost:", ports[0]),
      absl::StrCat("--tls_ca=", certs / "ca.pem",
                   " --tls_cert=", certs / "client.pem",
                   " --tls_key=", certs / "client.key", " shards sharded"));
  unsetenv("OPTD_TOKEN");
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(listed.output, Not(HasSubstr(" ? "))) << listed.output;
  EXPECT_OK(client.DeleteSession("sharded"));
  for (OptdProcess& r : replicas) {
    EXPECT_EQ(r.Terminate(absl::Seconds(10)), 0) << r.Log();
  }
}

// The value of the sample `series` (name and labels as printed) in an
// exposition, or -1.
double SampleValue(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double value = 0;
      if (absl::SimpleAtod(line, &value)) return value;
    }
  }
  return -1;
}

TEST_F(TokensTest, MetricsCountCallsStepsAndTenants) {
  const int metrics_port = FreePorts(1)[0];
  ASSERT_OK(Start({absl::StrCat("--metrics_port=", metrics_port)}));
  Client alice = Connect(optd_.address(), WithToken(kAliceToken));
  ASSERT_OK_AND_ASSIGN(Session session, CreateAndTell(alice, "m1", 5));
  EXPECT_THAT(alice.GetSession("missing"),
              StatusIs(absl::StatusCode::kNotFound));
  Client anonymous = Connect(optd_.address(), ClientOptions());
  EXPECT_THAT(anonymous.ListSessions(),
              StatusIs(absl::StatusCode::kUnauthenticated));
  ASSERT_OK_AND_ASSIGN(v1::Session described, alice.GetSession("m1"));

  httplib::Client http("127.0.0.1", metrics_port);
  httplib::Result scraped = http.Get("/metrics");
  ASSERT_TRUE(scraped) << httplib::to_string(scraped.error());
  ASSERT_EQ(scraped->status, 200);
  const std::string& text = scraped->body;
  EXPECT_EQ(SampleValue(text, "optd_sessions_created_total{solver=\"lbfgs\"}"),
            1);
  EXPECT_EQ(
      SampleValue(text, "optd_rpc_handled_total{method=\"Tell\",code=\"OK\"}"),
      5);
  EXPECT_EQ(SampleValue(text,
                        "optd_rpc_handled_total{method=\"GetSession\","
                        "code=\"NOT_FOUND\"}"),
            1);
  EXPECT_EQ(SampleValue(text,
                        "optd_rpc_handled_total{method=\"ListSessions\","
                        "code=\"UNAUTHENTICATED\"}"),
            1);
  EXPECT_EQ(SampleValue(text, "optd_evaluations_total{solver=\"lbfgs\"}"),
            described.evaluations());
  EXPECT_EQ(SampleValue(text, "optd_steps_total{solver=\"lbfgs\"}"),
            described.iterations());
  EXPECT_EQ(
      SampleValue(text, "optd_step_duration_seconds_count{solver=\"lbfgs\"}"),
      5);
  EXPECT_EQ(
      SampleValue(text, "optd_rpc_duration_seconds_count{method=\"Tell\"}"), 5);
  EXPECT_EQ(SampleValue(
                text, "optd_rpc_duration_seconds_count{method=\"GetSession\"}"),
            2);
  EXPECT_EQ(SampleValue(text, "optd_sessions{state=\"RUNNING\"}"), 1);
  EXPECT_EQ(SampleValue(text, "optd_tenant_sessions{tenant=\"alice\"}"), 1);
  // (2 * 10 + 6) * 2 doubles of L-BFGS state.
  EXPECT_EQ(SampleValue(text, "optd_tenant_memory_bytes{tenant=\"alice\"}"),
            416);
  EXPECT_GT(SampleValue(text, "optd_rpc_received_bytes_total{method=\"Tell\"}"),
            0);
  EXPECT_GT(SampleValue(text, "optd_process_resident_memory_bytes"), 1e6);
  // No token or session id ever appears.
  EXPECT_THAT(text, Not(HasSubstr(kAliceToken)));
  EXPECT_THAT(text, Not(HasSubstr("m1")));

  const CommandRun stats =
      Optctl(optd_.address(),
             absl::StrCat("--metrics=127.0.0.1:", metrics_port, " stats"));
  EXPECT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_THAT(stats.output, HasSubstr("RUNNING 1"));
  EXPECT_THAT(stats.output, ::testing::ContainsRegex("alice +1"));
  EXPECT_THAT(stats.output,
              ::testing::ContainsRegex("GetSession +[0-9]+  NOT_FOUND 1"));
  EXPECT_THAT(Optctl(optd_.address(), "stats").output,
              HasSubstr("stats needs --metrics=HOST:PORT"));
}

}  // namespace
}  // namespace optd::testing
