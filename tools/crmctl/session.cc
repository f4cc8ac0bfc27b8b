#include "session.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "crmsync/v1/auth.grpc.pb.h"

namespace crmsync::crmctl {
namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsSessionKey(const std::string& line) {
  for (const char* key : {"token", "refresh-token", "token-expires"}) {
    const std::string k = key;
    if (line.rfind(k, 0) == 0) {
      size_t i = k.size();
      while (i < line.size() && line[i] == ' ') ++i;
      if (i < line.size() && line[i] == '=') return true;
    }
  }
  return false;
}

}  // namespace

bool SaveSession(const std::string& config_file, const v1::TokenPair& tokens) {
  std::string kept;
  {
    std::ifstream old(config_file);
    for (std::string line; std::getline(old, line);) {
      if (!IsSessionKey(line)) kept += line + "\n";
    }
  }
  const std::string tmp = config_file + ".tmp";
  mode_t previous = umask(077);
  std::ofstream out(tmp, std::ios::trunc);
  umask(previous);
  out << kept << "token = \"" << tokens.access_token() << "\"\n"
      << "refresh-token = \"" << tokens.refresh_token() << "\"\n"
      << "token-expires = " << tokens.access_expires_at().seconds() << "\n";
  out.close();
  ::chmod(tmp.c_str(), 0600);
  if (!out || std::rename(tmp.c_str(), config_file.c_str()) != 0) {
    std::fprintf(stderr, "crmctl: cannot write %s\n", config_file.c_str());
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

bool RefreshIfExpiring(const std::string& config_file, SavedSession* session,
                       ConnectionOptions* options) {
  if (session->refresh_token.empty() || session->expires_s - 60 > NowSeconds()) return true;
  std::string error;
  ConnectionOptions anonymous = *options;
  anonymous.token.clear();
  auto c = Connection::Open(anonymous, &error);
  if (!c) return false;  // Open's error is reported again by the command
  auto stub = v1::AuthService::NewStub(c->channel());
  grpc::ClientContext ctx;
  c->Prepare(&ctx);
  v1::RefreshRequest req;
  req.set_refresh_token(session->refresh_token);
  v1::RefreshResponse resp;
  grpc::Status s = stub->Refresh(&ctx, req, &resp);
  if (!s.ok()) {
    std::fprintf(stderr,
                 "crmctl: the saved session could not be renewed (%s); log in again "
                 "with 'crmctl login'\n",
                 s.error_message().c_str());
    return false;
  }
  if (!SaveSession(config_file, resp.tokens())) return false;
  session->refresh_token = resp.tokens().refresh_token();
  session->expires_s = resp.tokens().access_expires_at().seconds();
  options->token = resp.tokens().access_token();
  return true;
}

}  // namespace crmsync::crmctl
