#include "server/rpc/auth.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseTokens, ReadsTokensTenantsAndTheReplicaToken) {
  absl::StatusOr<TokenTable> table = ParseTokens(
      "# comment line\n"
      "\n"
      "aaaaaaaaaaaaaaaa alice   # trailing comment\n"
      "  bbbbbbbbbbbbbbbb\tbob\r\n"
      "rrrrrrrrrrrrrrrr @replicas\n"
      "ssssssssssssssss @replicas\n",
      "tokens");
  ASSERT_OK(table);
  EXPECT_EQ(table->tenants.size(), 4u);
  EXPECT_EQ(table->tenants.at("aaaaaaaaaaaaaaaa"), "alice");
  EXPECT_EQ(table->tenants.at("bbbbbbbbbbbbbbbb"), "bob");
  EXPECT_EQ(table->replica_token, "rrrrrrrrrrrrrrrr");
}

TEST(ParseTokens, NamesTheLineAndNeverEchoesTheToken) {
  EXPECT_THAT(ParseTokens("aaaaaaaaaaaaaaaa alice extra\n", "/etc/t"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("/etc/t:1: expected \"<token> <tenant>\", "
                                 "found 3 fields")));
  EXPECT_THAT(ParseTokens("\nsecret12 alice\n", "t"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("t:2: the token has 8"),
                                        Not(HasSubstr("secret12")))));
  EXPECT_THAT(ParseTokens("aaaaaaaaaaaaaaaa Alice\n", "t"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenant \"Alice\" is not valid")));
  EXPECT_THAT(
      ParseTokens("aaaaaaaaaaaaaaaa -x\n", "t"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tenant \"-x\"")));
  EXPECT_THAT(
      ParseTokens(absl::StrCat("aaaaaaaaaaaaaaaa ", std::string(33, 'a'), "\n"),
                  "t"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("1-32 characters")));
  EXPECT_THAT(
      ParseTokens("aaaaaaaaaaaaaaaa alice\naaaaaaaaaaaaaaaa bob\n", "t"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("t:2: this token is already given")));
}

TEST(Caller, ScopesIdsToTheTenant) {
  const Caller alice{"alice"};
  EXPECT_EQ(alice.Scope("exp1"), "alice.exp1");
  EXPECT_EQ(alice.Unscope("alice.exp1"), "exp1");
  EXPECT_EQ(alice.Unscope("exp1"), "exp1");
  EXPECT_EQ(alice.ScopePrefix(), "alice.");
  EXPECT_EQ(
      alice.Unscope(absl::NotFoundError("session \"alice.exp1\" not found")),
      absl::NotFoundError("session \"exp1\" not found"));
  const Caller anonymous;
  EXPECT_EQ(anonymous.Scope("exp1"), "exp1");
  EXPECT_EQ(anonymous.Unscope("alice.exp1"), "alice.exp1");
  EXPECT_EQ(anonymous.ScopePrefix(), "");
  EXPECT_FALSE(anonymous.replica());
  EXPECT_TRUE(Caller{kReplicaTenant}.replica());
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("optd-auth-test-" + std::to_string(::getpid())))
                .string();
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void Write(const std::string& text) {
    std::ofstream(path_, std::ios::trunc) << text;
  }
  std::string path_;
};

TEST_F(AuthenticatorTest, OffWithoutAFile) {
  absl::StatusOr<std::unique_ptr<Authenticator>> auth =
      Authenticator::Create("");
  ASSERT_OK(auth);
  EXPECT_FALSE((*auth)->enabled());
  EXPECT_OK((*auth)->Reload());
  EXPECT_EQ((*auth)->ReplicaToken(), "");
}

TEST_F(AuthenticatorTest, CreateAndReload) {
  EXPECT_THAT(Authenticator::Create(path_ + ".missing"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("cannot read --tokens_file")));
  Write("aaaaaaaaaaaaaaaa alice\nrrrrrrrrrrrrrrrr @replicas\n");
  absl::StatusOr<std::unique_ptr<Authenticator>> auth =
      Authenticator::Create(path_);
  ASSERT_OK(auth);
  EXPECT_TRUE((*auth)->enabled());
  EXPECT_EQ((*auth)->size(), 2u);
  EXPECT_EQ((*auth)->ReplicaToken(), "rrrrrrrrrrrrrrrr");
  // A bad file is refused and the table in force stays.
  Write("short alice\n");
  EXPECT_THAT((*auth)->Reload(), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr(":1: the token has 5")));
  EXPECT_EQ((*auth)->size(), 2u);
  Write("bbbbbbbbbbbbbbbb bob\n");
  EXPECT_OK((*auth)->Reload());
  EXPECT_EQ((*auth)->size(), 1u);
  EXPECT_EQ((*auth)->ReplicaToken(), "");
}

}  // namespace
}  // namespace optd::server
