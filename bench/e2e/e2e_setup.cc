#include "e2e_setup.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "crmsync/v1/admin.grpc.pb.h"
#include "line_protocol.h"
#include "server_process.h"

namespace crmsync::bench::e2e {

absl::StatusOr<ServerMaterial> MakeServerMaterial(const std::string& dir, bool plaintext) {
  std::string output;
  const int rc = ::crmsync::testing::RunCommand(
      {CRMSYNC_SOURCE_DIR "/deploy/make-dev-certs.sh", dir}, &output);
  if (rc != 0) return absl::InternalError("deploy/make-dev-certs.sh failed: " + output);
  ServerMaterial m;
  m.plaintext = plaintext;
  m.ca = dir + "/ca.pem";
  m.cert = dir + "/server.pem";
  m.key = dir + "/server.key";
  m.token_key = dir + "/token.key";
  return m;
}

std::vector<std::string> SyncdArgs(const ServerMaterial& material, const std::string& store,
                                   bool demo_tenant, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--store", store, "--token-key", material.token_key};
  if (material.plaintext) {
    args.push_back("--dev-insecure");
  } else {
    args.insert(args.end(), {"--tls-cert", material.cert, "--tls-key", material.key});
  }
  if (demo_tenant) args.push_back("--demo-tenant");
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

Endpoint EndpointOf(const ServerMaterial& material, int port) {
  Endpoint e;
  e.address = "127.0.0.1:" + std::to_string(port);
  if (!material.plaintext) e.ca_pem = ReadFileOrEmpty(material.ca);
  return e;
}

BenchUser MakeBenchUser(const std::string& username, const std::string& team) {
  return {username, "u-" + username, username + "-bench-password", team};
}

absl::Status CreateUsers(const Endpoint& endpoint, const std::vector<BenchUser>& users) {
  auto channel = MakeChannel(endpoint);
  auto admin = UserSession::SignIn(channel, "demo", "admin", "admin-demo-password");
  if (!admin.ok()) return admin.status();
  auto stub = v1::AdminService::NewStub(channel);
  for (const BenchUser& u : users) {
    v1::CreateUserRequest req;
    req.mutable_user()->set_id(u.id);
    req.mutable_user()->set_username(u.username);
    req.mutable_user()->set_display_name("Bench " + u.username);
    req.mutable_user()->set_role(v1::ROLE_SALES_REP);
    req.mutable_user()->set_team_id(u.team);
    req.set_password(u.password);
    v1::CreateUserResponse resp;
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + admin->token());
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::Status s = stub->CreateUser(&ctx, req, &resp);
    if (!s.ok()) {
      return absl::InternalError("CreateUser " + u.username + ": " + s.error_message());
    }
  }
  return absl::OkStatus();
}

int64_t RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  // State is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace crmsync::bench::e2e
