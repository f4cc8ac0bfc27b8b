// crmctl doctor: what an operator checks first when devices report trouble,
// for one instance or every instance behind a balancer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace crmsync::crmctl {
namespace {

using Clock = std::chrono::system_clock;

enum class Result { kOk, kWarn, kFail, kSkipped };

const char* ResultName(Result r) {
  switch (r) {
    case Result::kOk: return "ok";
    case Result::kWarn: return "WARN";
    case Result::kFail: return "FAIL";
    case Result::kSkipped: return "skip";
  }
  return "?";
}

struct Finding {
  std::string instance;
  std::string check;
  Result result;
  std::string detail;
};

// "host:port", "[v6]:port" -> host and port; false when malformed.
bool SplitAddress(const std::string& address, std::string* host, std::string* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) return false;
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return !host->empty();
}

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "no details";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

// A TLS handshake with the instance as a client would make it (SNI, ALPN
// h2, the CA of --ca or the system's, the client certificate if given),
// then the verdict on the chain it presented and its expiry.
Finding CheckTls(const ConnectionOptions& options, const std::string& instance, int warn_days) {
  Finding f{instance, "tls", Result::kFail, ""};
  std::string host, port;
  if (!SplitAddress(instance, &host, &port)) {
    f.detail = "not host:port: " + instance;
    return f;
  }
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  if (!ctx) {
    f.detail = "OpenSSL: " + OpenSslError();
    return f;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  const bool loaded =
      options.ca_file.empty()
          ? SSL_CTX_set_default_verify_paths(ctx.get()) == 1
          : SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) == 1;
  if (!loaded) {
    f.detail = "cannot load the trusted CAs (" +
               (options.ca_file.empty() ? std::string("system") : options.ca_file) +
               "): " + OpenSslError();
    return f;
  }
  if (!options.client_cert_file.empty() &&
      (SSL_CTX_use_certificate_chain_file(ctx.get(), options.client_cert_file.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx.get(), options.client_key_file.c_str(), SSL_FILETYPE_PEM) !=
           1)) {
    f.detail = "cannot load the client certificate/key: " + OpenSslError();
    return f;
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // the verdict is read below
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));

  const std::string target =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  std::unique_ptr<BIO, decltype(&BIO_free_all)> bio(BIO_new_ssl_connect(ctx.get()), BIO_free_all);
  SSL* ssl = nullptr;
  BIO_get_ssl(bio.get(), &ssl);
  if (ssl == nullptr) {
    f.detail = "OpenSSL: " + OpenSslError();
    return f;
  }
  // The name the certificate must carry: an IP address literal is matched
  // against the certificate's IP entries (and sent without SNI).
  in6_addr ip{};
  const bool is_ip =
      inet_pton(AF_INET, host.c_str(), &ip) == 1 || inet_pton(AF_INET6, host.c_str(), &ip) == 1;
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    SSL_set1_host(ssl, host.c_str());
  }
  BIO_set_conn_hostname(bio.get(), target.c_str());
  if (BIO_do_connect(bio.get()) != 1 || BIO_do_handshake(bio.get()) != 1) {
    f.detail = "TLS handshake failed: " + OpenSslError();
    return f;
  }
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) {
    f.detail = "the server sent no certificate";
    return f;
  }
  char subject[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, subject,
                            sizeof(subject) - 1);
  int days = 0, seconds = 0;
  ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(cert));
  const long verify = SSL_get_verify_result(ssl);
  const std::string who = std::string("certificate CN=") + subject;
  if (verify != X509_V_OK) {
    f.detail = who + " not trusted: " + X509_verify_cert_error_string(verify) +
               (options.ca_file.empty() ? " (give the CA with --ca)" : "");
    return f;
  }
  if (days < 0 || (days == 0 && seconds <= 0)) {
    f.detail = who + " expired " + std::to_string(-days) + " days ago";
    return f;
  }
  f.result = days < warn_days ? Result::kWarn : Result::kOk;
  f.detail = who + ", chain trusted, expires in " + std::to_string(days) + " days" +
             (days < warn_days ? " (renew it)" : "");
  return f;
}

std::string Ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f ms", ms);
  return buf;
}

struct InstanceStatus {
  std::string instance;
  bool have = false;
  v1::GetServerStatusResponse status;
};

}  // namespace

int CmdDoctor(const ConnectionOptions& base, const Output& out, const DoctorOptions& options) {
  std::vector<std::string> instances = options.instances;
  if (instances.empty()) instances.push_back(base.server);
  std::vector<Finding> findings;
  std::vector<InstanceStatus> statuses;
  std::vector<std::string> refused_token;  // instances that refused our session
  bool any_reached = false;

  for (const std::string& instance : instances) {
    ConnectionOptions o = base;
    o.server = instance;
    std::string error;
    auto c = Connection::Open(o, &error);
    if (!c) {
      findings.push_back({instance, "connect", Result::kFail, error});
      continue;
    }

    // Reachability and health (no credentials needed).
    auto health = grpc::health::v1::Health::NewStub(c->channel());
    grpc::ClientContext hctx;
    c->Prepare(&hctx);
    grpc::health::v1::HealthCheckResponse hresp;
    const auto t0 = std::chrono::steady_clock::now();
    const grpc::Status hs = health->Check(&hctx, grpc::health::v1::HealthCheckRequest(), &hresp);
    const double rtt =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!hs.ok()) {
      findings.push_back({instance, "reach", Result::kFail,
                          "no answer: " + hs.error_message() +
                              (o.insecure ? "" : " (TLS settings: see the tls check)")});
    } else if (hresp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      any_reached = true;
      findings.push_back({instance, "reach", Result::kFail,
                          "answers NOT_SERVING in " + Ms(rtt) +
                              ": its store is unreachable (crm-syncd's log says why)"});
    } else {
      any_reached = true;
      findings.push_back({instance, "reach", Result::kOk, "SERVING in " + Ms(rtt)});
    }

    if (o.insecure) {
      findings.push_back({instance, "tls", Result::kSkipped, "plaintext (--insecure)"});
    } else {
      findings.push_back(CheckTls(o, instance, options.cert_warn_days));
    }
    if (!hs.ok()) continue;

    // The rest needs an admin session.
    auto admin = v1::AdminService::NewStub(c->channel());
    grpc::ClientContext sctx;
    c->Prepare(&sctx);
    InstanceStatus st{instance, false, {}};
    const auto sent = Clock::now();
    const grpc::Status ss = admin->GetServerStatus(&sctx, v1::GetServerStatusRequest(), &st.status);
    const auto received = Clock::now();
    if (!ss.ok()) {
      const bool auth = ss.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
                        ss.error_code() == grpc::StatusCode::PERMISSION_DENIED;
      if (ss.error_code() == grpc::StatusCode::UNAUTHENTICATED) refused_token.push_back(instance);
      findings.push_back(
          {instance, "status", auth ? Result::kSkipped : Result::kFail,
           auth ? "needs an admin session (crmctl login): store, clock, pool and key checks skipped"
                : ss.error_message()});
      continue;
    }
    st.have = true;
    const auto& s = st.status;
    findings.push_back({instance, "instance", Result::kOk,
                        s.instance() + ", crm-syncd " + s.version() + " (" + s.revision() + ")"});

    // Store and schema.
    Finding store{instance, "store", Result::kOk, ""};
    store.detail = s.store_kind() + ", schema " + std::to_string(s.schema_version()) + " of " +
                   std::to_string(s.schema_version_latest());
    if (s.schema_version() < s.schema_version_latest()) {
      store.result = Result::kWarn;
      store.detail += ": migration pending (it runs when an instance of this build starts)";
    } else if (s.schema_version() > s.schema_version_latest()) {
      store.result = Result::kWarn;
      store.detail += ": the schema is newer than this instance's build; finish the rollout";
    }
    findings.push_back(store);

    // Clock skew: the server's time against the middle of the round trip.
    const auto middle = sent + (received - sent) / 2;
    const double local_ms =
        std::chrono::duration<double, std::milli>(middle.time_since_epoch()).count();
    const double server_ms =
        static_cast<double>(s.server_time().seconds()) * 1000.0 + s.server_time().nanos() / 1e6;
    const double skew = server_ms - local_ms;
    const double uncertainty =
        std::chrono::duration<double, std::milli>(received - sent).count() / 2;
    Finding clock{instance, "clock", Result::kOk, ""};
    char skew_text[96];
    std::snprintf(skew_text, sizeof(skew_text),
                  "server clock %+.0f ms from this machine (+/- %.0f ms)",
                  std::round(skew) == 0 ? 0.0 : skew, uncertainty);
    clock.detail = skew_text;
    if (std::fabs(skew) - uncertainty > options.skew_fail_ms) {
      clock.result = Result::kFail;
      clock.detail += ": tokens and coupon validity depend on it; fix NTP";
    } else if (std::fabs(skew) - uncertainty > options.skew_warn_ms) {
      clock.result = Result::kWarn;
      clock.detail += ": check NTP";
    }
    findings.push_back(clock);

    // Store pool.
    Finding pool{instance, "pool", Result::kOk, ""};
    pool.detail = std::to_string(s.store_pool_in_use()) + " of " +
                  std::to_string(s.store_pool_size()) + " store connections in use";
    if (s.store_pool_size() > 0 && s.store_pool_in_use() * 10 >= s.store_pool_size() * 9) {
      pool.result = Result::kWarn;
      pool.detail += ": nearly exhausted (slow database, or raise the pool size)";
    }
    findings.push_back(pool);
    statuses.push_back(std::move(st));
  }

  // An admin session one instance accepts and another refuses: they do not
  // verify tokens with the same keys.
  if (!statuses.empty() && !refused_token.empty()) {
    findings.push_back({"all", "token keys", Result::kFail,
                        "the session " + statuses.front().instance + " accepts is refused by " +
                            refused_token.front() +
                            ": give every instance the same --token-key (or add it with "
                            "--token-verify-key)"});
  }
  // Across instances.
  if (statuses.size() > 1) {
    std::set<std::string> builds, kinds, schemas;
    for (const auto& st : statuses) {
      builds.insert(st.status.version() + " (" + st.status.revision() + ")");
      kinds.insert(st.status.store_kind());
      schemas.insert(std::to_string(st.status.schema_version()));
    }
    Finding version{"all", "versions", Result::kOk, ""};
    for (const auto& b : builds) version.detail += (version.detail.empty() ? "" : ", ") + b;
    if (builds.size() > 1) {
      version.result = Result::kWarn;
      version.detail = "several builds run: " + version.detail + " (a rollout in progress?)";
    }
    findings.push_back(version);
    Finding shared{"all", "shared store", Result::kOk, "one store kind and schema version"};
    if (kinds.size() > 1 || schemas.size() > 1) {
      shared.result = Result::kFail;
      shared.detail = "instances disagree on the store kind or schema version";
    } else if (*kinds.begin() == "sqlite") {
      shared.result = Result::kFail;
      shared.detail =
          "every instance runs the embedded SQLite store: they do not share data; "
          "instances behind one balancer need PostgreSQL";
    }
    findings.push_back(shared);
    Finding keys{"all", "token keys", Result::kOk,
                 "every instance accepts the tokens of every other"};
    for (const auto& a : statuses) {
      for (const auto& b : statuses) {
        const auto& accepted = b.status.token_verify_key_ids();
        if (std::find(accepted.begin(), accepted.end(), a.status.token_signing_key_id()) ==
            accepted.end()) {
          keys.result = Result::kFail;
          keys.detail = "tokens signed by " + a.instance + " (key " +
                        a.status.token_signing_key_id() + ") are refused by " + b.instance +
                        ": give every instance the same --token-key (or add it with "
                        "--token-verify-key)";
        }
      }
    }
    findings.push_back(keys);
  }

  bool failed = false;
  for (const Finding& f : findings) failed = failed || f.result == Result::kFail;
  if (out.json) {
    nlohmann::json all = nlohmann::json::array();
    for (const Finding& f : findings) {
      all.push_back({{"instance", f.instance},
                     {"check", f.check},
                     {"result", ResultName(f.result)},
                     {"detail", f.detail}});
    }
    std::printf("%s\n", all.dump(2).c_str());
  } else {
    for (const Finding& f : findings) {
      std::printf("%-4s  %-22s %-12s %s\n", ResultName(f.result), f.instance.c_str(),
                  f.check.c_str(), f.detail.c_str());
    }
  }
  if (!any_reached && !findings.empty()) return kExitUnavailable;
  return failed ? kExitFailed : kExitOk;
}

}  // namespace crmsync::crmctl
