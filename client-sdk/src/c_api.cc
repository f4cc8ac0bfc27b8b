// C API: helpers, open/close, version, sign-in.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "c_api_internal.h"
#include "google/protobuf/util/json_util.h"

#ifndef CRMSYNC_SDK_VERSION
#error "CRMSYNC_SDK_VERSION must be defined by the build"
#endif

namespace crmsync::client::capi {
namespace {

thread_local std::string last_error;

void AppendVarint(uint64_t n, std::string* out) {
  while (n >= 0x80) {
    out->push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
}

}  // namespace

crmsync_status Fail(const absl::Status& s) {
  last_error = std::string(s.message());
  if (last_error.empty()) last_error = s.ToString();
  return s.ok() ? CRMSYNC_INTERNAL : static_cast<crmsync_status>(s.code());
}

crmsync_status Ok() {
  last_error.clear();
  return CRMSYNC_OK;
}

std::string Str(const char* s) { return s == nullptr ? std::string() : std::string(s); }

bool FillBuffer(const std::string& bytes, crmsync_buffer* out) {
  out->size = bytes.size();
  out->data = static_cast<uint8_t*>(std::malloc(bytes.size() + 1));
  if (out->data == nullptr) {
    out->size = 0;
    return false;
  }
  if (!bytes.empty()) std::memcpy(out->data, bytes.data(), bytes.size());
  out->data[bytes.size()] = 0;
  return true;
}

absl::StatusOr<std::string> Encode(const crmsync_client* client,
                                   const google::protobuf::Message& message) {
  if (client->format != CRMSYNC_FORMAT_JSON) return message.SerializeAsString();
  std::string json;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = false;
  auto s = google::protobuf::util::MessageToJsonString(message, &json, o);
  if (!s.ok()) return absl::InternalError("JSON encoding failed: " + s.ToString());
  return json;
}

absl::Status Decode(const crmsync_client* client, const void* data, size_t size,
                    google::protobuf::Message* message) {
  const std::string name = message->GetDescriptor()->full_name();
  if (data == nullptr) return absl::InvalidArgumentError(name + " is NULL");
  if (client->format == CRMSYNC_FORMAT_JSON) {
    const char* text = static_cast<const char*>(data);
    std::string json = size == 0 ? std::string(text) : std::string(text, size);
    auto s = google::protobuf::util::JsonStringToMessage(json, message);
    if (!s.ok()) {
      return absl::InvalidArgumentError("not a " + name + " in JSON: " + s.message().ToString());
    }
    return absl::OkStatus();
  }
  if (size > static_cast<size_t>(INT32_MAX) ||
      !message->ParseFromArray(data, static_cast<int>(size))) {
    return absl::InvalidArgumentError("not a serialized " + name);
  }
  return absl::OkStatus();
}

crmsync_status FillState(const crmsync_client* client, const absl::StatusOr<v1::RecordState>& state,
                         crmsync_buffer* out) {
  if (!state.ok()) return Fail(state.status());
  if (out == nullptr) return Ok();
  auto bytes = Encode(client, *state);
  if (!bytes.ok()) return Fail(bytes.status());
  if (!FillBuffer(*bytes, out)) return Fail(absl::ResourceExhaustedError("out of memory"));
  return Ok();
}

crmsync_status FillList(const crmsync_client* client,
                        const absl::StatusOr<std::vector<v1::RecordState>>& states,
                        crmsync_buffer* out) {
  if (!states.ok()) return Fail(states.status());
  if (out == nullptr) return Fail(absl::InvalidArgumentError("out is NULL"));
  std::string bytes;
  if (client->format == CRMSYNC_FORMAT_JSON) bytes.push_back('[');
  for (size_t i = 0; i < states->size(); ++i) {
    auto one = Encode(client, (*states)[i]);
    if (!one.ok()) return Fail(one.status());
    if (client->format == CRMSYNC_FORMAT_JSON) {
      if (i > 0) bytes.push_back(',');
    } else {
      AppendVarint(one->size(), &bytes);
    }
    bytes += *one;
  }
  if (client->format == CRMSYNC_FORMAT_JSON) bytes.push_back(']');
  if (!FillBuffer(bytes, out)) return Fail(absl::ResourceExhaustedError("out of memory"));
  return Ok();
}

crmsync_status CheckHandle(const crmsync_client* client) {
  if (client == nullptr || client->db == nullptr) {
    return Fail(absl::InvalidArgumentError("client handle is NULL"));
  }
  return CRMSYNC_OK;
}

namespace {

// The credentials of a handle: see crmsync_options in the header.
absl::Status MakeCredentials(const crmsync_options& o, crmsync_client* client,
                             GrpcTransportOptions* t) {
  if (o.bearer_token != nullptr && o.bearer_token[0] != '\0') {
    t->credentials = MakeBearerCredentials(o.bearer_token);
    return absl::OkStatus();
  }
  auto stored = client->db->RefreshToken();
  if (!stored.ok()) return stored.status();
  const bool has_password = o.password != nullptr && o.password[0] != '\0';
  const bool has_key = o.api_key != nullptr && o.api_key[0] != '\0';
  if (!has_password && !has_key && stored->empty() && o.sign_in_required == 0) {
    t->credentials = MakeDevCredentials(Str(o.tenant), Str(o.username), client->db->device_id());
    return absl::OkStatus();
  }
  TokenCredentialsOptions c;
  c.address = t->address;
  c.ca_pem = t->ca_pem;
  c.client_cert_pem = t->client_cert_pem;
  c.client_key_pem = t->client_key_pem;
  c.tenant = Str(o.tenant);
  c.username = Str(o.username);
  c.password = Str(o.password);
  c.api_key = Str(o.api_key);
  c.device_id = client->db->device_id();
  c.platform = o.platform != nullptr && o.platform[0] != '\0' ? o.platform : "c-api";
  // A stored refresh token is only reused when the password does not ask
  // for a fresh sign-in.
  if (!has_password) c.refresh_token = *stored;
  c.keep_password = false;
  Database* db = client->db.get();
  c.on_refresh_token = [db](const std::string& token) { (void)db->SaveRefreshToken(token); };
  if (o.on_auth_required != nullptr) {
    const crmsync_auth_required_fn fn = o.on_auth_required;
    void* user = o.user_data;
    c.on_auth_required = [fn, user](const absl::Status& s) {
      const std::string message(s.message());
      fn(user, message.c_str());
    };
  }
  client->credentials = MakeTokenCredentials(std::move(c));
  t->credentials = client->credentials;
  return absl::OkStatus();
}

}  // namespace

}  // namespace crmsync::client::capi

using namespace crmsync::client;  // NOLINT: C API implementation file
using capi::Fail;
using capi::Guard;
using capi::Ok;

extern "C" {

const char* crmsync_version(void) { return CRMSYNC_SDK_VERSION; }

const char* crmsync_last_error(void) { return capi::last_error.c_str(); }

void crmsync_options_init(crmsync_options* options) {
  if (options == nullptr) return;
  std::memset(options, 0, sizeof *options);
  options->struct_size = sizeof *options;
  options->record_format = CRMSYNC_FORMAT_PROTOBUF;
  options->log_level = CRMSYNC_LOG_INFO;
}

crmsync_status crmsync_open(const crmsync_options* options, crmsync_client** out) {
  return Guard([&] {
    if (out != nullptr) *out = nullptr;
    if (options == nullptr || out == nullptr) {
      return Fail(absl::InvalidArgumentError("options and out are required"));
    }
    if (options->struct_size < offsetof(crmsync_options, record_format)) {
      return Fail(absl::InvalidArgumentError(
          "options.struct_size is not set: initialise options with crmsync_options_init"));
    }
    // Members the caller's headers did not have stay zero.
    crmsync_options o;
    crmsync_options_init(&o);
    std::memcpy(&o, options, std::min<size_t>(options->struct_size, sizeof o));
    o.struct_size = sizeof o;
    if (o.db_path == nullptr || o.db_path[0] == '\0') {
      return Fail(absl::InvalidArgumentError("options.db_path is required"));
    }
    if (o.record_format != CRMSYNC_FORMAT_PROTOBUF && o.record_format != CRMSYNC_FORMAT_JSON) {
      return Fail(absl::InvalidArgumentError("options.record_format is not a crmsync_format"));
    }
    DatabaseOptions d;
    d.path = o.db_path;
    d.key = capi::Str(o.key);
    d.device_id = capi::Str(o.device_id);
    d.user_id = capi::Str(o.user_id);
    auto db = Database::Open(d);
    if (!db.ok()) return Fail(db.status());
    auto client = std::make_unique<crmsync_client>();
    client->db = *std::move(db);
    client->format = o.record_format;
    client->callbacks = o;
    if (o.server_address != nullptr && o.server_address[0] != '\0') {
      GrpcTransportOptions t;
      t.address = o.server_address;
      t.ca_pem = capi::Str(o.ca_pem);
      t.client_cert_pem = capi::Str(o.client_cert_pem);
      t.client_key_pem = capi::Str(o.client_key_pem);
      if (t.client_cert_pem.empty() != t.client_key_pem.empty() ||
          (!t.client_cert_pem.empty() && t.ca_pem.empty())) {
        return Fail(absl::InvalidArgumentError(
            "client_cert_pem and client_key_pem go together, and need ca_pem (TLS)"));
      }
      if (absl::Status s = capi::MakeCredentials(o, client.get(), &t); !s.ok()) return Fail(s);
      SyncOptions so;
      so.sdk_version = std::string("crmsync-client/") + CRMSYNC_SDK_VERSION;
      so.platform = o.platform != nullptr && o.platform[0] != '\0' ? o.platform : "c-api";
      so.app_version = capi::Str(o.app_version);
      capi::InstallCallbacks(client.get(), &so);
      client->engine =
          std::make_unique<SyncEngine>(client->db.get(), MakeGrpcTransport(std::move(t)), so);
    }
    // Pointers into the caller's memory are not kept.
    for (const char** p :
         {&client->callbacks.db_path, &client->callbacks.key, &client->callbacks.device_id,
          &client->callbacks.user_id, &client->callbacks.server_address, &client->callbacks.ca_pem,
          &client->callbacks.tenant, &client->callbacks.username, &client->callbacks.password,
          &client->callbacks.bearer_token, &client->callbacks.client_cert_pem,
          &client->callbacks.client_key_pem, &client->callbacks.api_key,
          &client->callbacks.platform, &client->callbacks.app_version}) {
      *p = nullptr;
    }
    *out = client.release();
    return Ok();
  });
}

void crmsync_close(crmsync_client* client) {
  try {
    delete client;
  } catch (...) {
  }
}

void crmsync_buffer_free(crmsync_buffer* buffer) {
  if (buffer == nullptr) return;
  std::free(buffer->data);
  buffer->data = nullptr;
  buffer->size = 0;
}

int crmsync_list_next(const crmsync_buffer* list, size_t* offset, const uint8_t** item,
                      size_t* item_size) {
  if (list == nullptr || offset == nullptr || item == nullptr || item_size == nullptr) return -1;
  if (*offset >= list->size) return 0;
  uint64_t n = 0;
  int shift = 0;
  size_t pos = *offset;
  for (;;) {
    if (pos >= list->size || shift > 63) return -1;
    const uint8_t b = list->data[pos++];
    n |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
    shift += 7;
  }
  if (n > list->size - pos) return -1;
  *item = list->data + pos;
  *item_size = static_cast<size_t>(n);
  *offset = pos + static_cast<size_t>(n);
  return 1;
}

crmsync_status crmsync_sign_in(crmsync_client* client, const char* username, const char* password) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (client->credentials == nullptr) {
      return Fail(absl::FailedPreconditionError(
          "this handle does not sign in: it was opened without server_address, with a "
          "bearer_token, or with the development identity (set sign_in_required)"));
    }
    if (username == nullptr || username[0] == '\0' || password == nullptr || password[0] == '\0') {
      return Fail(absl::InvalidArgumentError("username and password are required"));
    }
    absl::Status s = client->credentials->SignIn(username, password);
    if (s.ok() && client->engine != nullptr) client->engine->RequestSync();
    return s.ok() ? Ok() : Fail(s);
  });
}

crmsync_status crmsync_sign_out(crmsync_client* client) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    if (client->credentials == nullptr) {
      return Fail(absl::FailedPreconditionError("this handle does not sign in"));
    }
    client->credentials->SignOut();
    return Ok();
  });
}

}  // extern "C"
