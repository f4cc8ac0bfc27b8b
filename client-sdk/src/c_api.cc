// C API: open/close, writes, reads and queries.
#include <cstdlib>
#include <cstring>

#include "c_api_internal.h"
#include "crmsync/client/transport.h"

namespace crmsync::client::capi {
namespace {

thread_local std::string last_error;

std::string Str(const char* s) { return s == nullptr ? std::string() : std::string(s); }

crmsync_status FillState(const absl::StatusOr<v1::RecordState>& state, crmsync_buffer* out) {
  if (!state.ok()) return Fail(state.status());
  if (out != nullptr && !FillBuffer(state->SerializeAsString(), out)) {
    return Fail(absl::ResourceExhaustedError("out of memory"));
  }
  return Ok();
}

crmsync_status FillList(const absl::StatusOr<std::vector<v1::RecordState>>& states,
                        crmsync_buffer* out) {
  if (!states.ok()) return Fail(states.status());
  if (out == nullptr) return Fail(absl::InvalidArgumentError("out is NULL"));
  std::string bytes;
  for (const auto& s : *states) {
    std::string one = s.SerializeAsString();
    uint64_t n = one.size();
    while (n >= 0x80) {
      bytes.push_back(static_cast<char>((n & 0x7f) | 0x80));
      n >>= 7;
    }
    bytes.push_back(static_cast<char>(n));
    bytes += one;
  }
  if (!FillBuffer(bytes, out)) return Fail(absl::ResourceExhaustedError("out of memory"));
  return Ok();
}

absl::StatusOr<v1::Record> ParseRecord(const void* data, size_t size) {
  v1::Record record;
  if (data == nullptr && size > 0) return absl::InvalidArgumentError("record is NULL");
  if (!record.ParseFromArray(data, static_cast<int>(size))) {
    return absl::InvalidArgumentError("record is not a serialized crmsync.v1.Record");
  }
  return record;
}

v1::RecordRef Ref(int32_t type, const char* id) {
  v1::RecordRef ref;
  ref.set_entity_type(static_cast<v1::EntityType>(type));
  ref.set_id(Str(id));
  return ref;
}

crmsync_status CheckHandle(crmsync_client* client) {
  if (client == nullptr || client->db == nullptr) {
    return Fail(absl::InvalidArgumentError("client handle is NULL"));
  }
  return CRMSYNC_OK;
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

bool FillBuffer(const std::string& bytes, crmsync_buffer* out) {
  out->size = bytes.size();
  out->data = static_cast<uint8_t*>(std::malloc(bytes.empty() ? 1 : bytes.size()));
  if (out->data == nullptr) return false;
  if (!bytes.empty()) std::memcpy(out->data, bytes.data(), bytes.size());
  return true;
}

}  // namespace crmsync::client::capi

using namespace crmsync::client;  // NOLINT: C API implementation file
using capi::Fail;
using capi::Guard;
using capi::Ok;

extern "C" {

const char* crmsync_last_error(void) { return capi::last_error.c_str(); }

crmsync_status crmsync_open(const crmsync_options* options, crmsync_client** out) {
  return Guard([&] {
    if (options == nullptr || out == nullptr || options->db_path == nullptr) {
      return Fail(absl::InvalidArgumentError("options, options->db_path and out are required"));
    }
    *out = nullptr;
    DatabaseOptions o;
    o.path = options->db_path;
    o.key = capi::Str(options->key);
    o.device_id = capi::Str(options->device_id);
    o.user_id = capi::Str(options->user_id);
    auto db = Database::Open(o);
    if (!db.ok()) return Fail(db.status());
    auto client = std::make_unique<crmsync_client>();
    client->db = *std::move(db);
    client->callbacks = *options;
    if (options->server_address != nullptr && options->server_address[0] != '\0') {
      GrpcTransportOptions t;
      t.address = options->server_address;
      t.ca_pem = capi::Str(options->ca_pem);
      t.client_cert_pem = capi::Str(options->client_cert_pem);
      t.client_key_pem = capi::Str(options->client_key_pem);
      if (t.client_cert_pem.empty() != t.client_key_pem.empty() ||
          (!t.client_cert_pem.empty() && t.ca_pem.empty())) {
        return Fail(absl::InvalidArgumentError(
            "client_cert_pem and client_key_pem go together, and need ca_pem (TLS)"));
      }
      if (options->bearer_token != nullptr && options->bearer_token[0] != '\0') {
        t.credentials = MakeBearerCredentials(options->bearer_token);
      } else if (options->password != nullptr && options->password[0] != '\0') {
        TokenCredentialsOptions c;
        c.address = t.address;
        c.ca_pem = t.ca_pem;
        c.client_cert_pem = t.client_cert_pem;
        c.client_key_pem = t.client_key_pem;
        c.tenant = capi::Str(options->tenant);
        c.username = capi::Str(options->username);
        c.password = options->password;
        c.device_id = client->db->device_id();
        c.platform = "c-api";
        t.credentials = MakeTokenCredentials(std::move(c));
      } else {
        t.credentials = MakeDevCredentials(capi::Str(options->tenant), capi::Str(options->username),
                                           client->db->device_id());
      }
      SyncOptions so;
      so.platform = "c-api";
      capi::InstallCallbacks(client.get(), &so);
      client->engine =
          std::make_unique<SyncEngine>(client->db.get(), MakeGrpcTransport(std::move(t)), so);
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

crmsync_status crmsync_create(crmsync_client* client, const void* record, size_t size,
                              crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    auto r = capi::ParseRecord(record, size);
    if (!r.ok()) return Fail(r.status());
    return capi::FillState(client->db->Create(*r), out);
  });
}

crmsync_status crmsync_update(crmsync_client* client, const void* record, size_t size,
                              crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    auto r = capi::ParseRecord(record, size);
    if (!r.ok()) return Fail(r.status());
    return capi::FillState(client->db->Update(*r), out);
  });
}

crmsync_status crmsync_delete(crmsync_client* client, int32_t entity_type, const char* id) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillState(client->db->Delete(capi::Ref(entity_type, id)), nullptr);
  });
}

crmsync_status crmsync_get(crmsync_client* client, int32_t entity_type, const char* id,
                           crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillState(client->db->Get(capi::Ref(entity_type, id)), out);
  });
}

crmsync_status crmsync_list(crmsync_client* client, int32_t entity_type, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillList(client->db->List(static_cast<v1::EntityType>(entity_type)), out);
  });
}

crmsync_status crmsync_my_open_leads(crmsync_client* client, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillList(client->db->MyOpenLeads(), out);
  });
}

crmsync_status crmsync_opportunities_of_account(crmsync_client* client, const char* account_id,
                                                crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillList(client->db->OpportunitiesOfAccount(capi::Str(account_id)), out);
  });
}

crmsync_status crmsync_todays_calendar(crmsync_client* client, int64_t now_ms,
                                       int32_t utc_offset_minutes, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillList(client->db->TodaysCalendar(now_ms, utc_offset_minutes), out);
  });
}

crmsync_status crmsync_search(crmsync_client* client, const char* text, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillList(client->db->Search(capi::Str(text)), out);
  });
}

crmsync_status crmsync_coupons_near(crmsync_client* client, double latitude, double longitude,
                                    double radius_m, int64_t now_ms, crmsync_buffer* out) {
  return Guard([&] {
    if (crmsync_status s = capi::CheckHandle(client); s != CRMSYNC_OK) return s;
    return capi::FillList(client->db->CouponsNear(latitude, longitude, radius_m, now_ms), out);
  });
}

}  // extern "C"
