// The directory: the store role that holds tenants, their users and teams,
// and the devices registered to them with their sync positions.
//
// One implementation for both databases (SqlDirectory, over a SqlDatabase).
// Every call is one autocommit statement. Input is validated by the
// implementation before any statement (store_codec::Check*): the same
// INVALID_ARGUMENT on both databases.
//
// Thread-safety: every method may be called from any thread.
#ifndef CRMSYNC_SERVER_STORE_DIRECTORY_H_
#define CRMSYNC_SERVER_STORE_DIRECTORY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crmsync/v1/entities.pb.h"

namespace crmsync::server {

namespace v1 = ::crmsync::v1;

// A tenant (company).
struct TenantRow {
  std::string id;
  // Short unique name used at login, e.g. "acme".
  std::string slug;
  std::string display_name;
};

// A tenant member as stored (the public User plus credentials).
struct UserRow {
  std::string tenant_id;
  v1::User user;
  // Password hash in the KDF's self-describing format; empty = no password.
  std::string password_hash;
};

// A registered device and its sync position.
struct DeviceRow {
  std::string tenant_id;
  v1::Device device;  // id, user_id, status, versions, times, cursor_seq
};

// What one request tells about its device (Directory::TouchDevice).
struct DeviceContact {
  // Device.last_contact_at.
  int64_t now_unix_ms = 0;
  // >= 0: the position the device pulled up to (Device.cursor_seq, and
  // last_sync_at = now); -1 leaves both.
  int64_t cursor_seq = -1;
  // >= 0: the highest client_seq of a Push; Device.last_client_seq keeps the
  // largest ever seen. -1 leaves it.
  int64_t last_client_seq = -1;
  // From the request's ClientInfo; 0 / empty leave the stored value.
  uint32_t protocol_version = 0;
  std::string sdk_version;
};

class Directory {
 public:
  virtual ~Directory() = default;

  virtual absl::Status PutTenant(const TenantRow& tenant) = 0;
  virtual absl::StatusOr<std::optional<TenantRow>> GetTenantBySlug(const std::string& slug) = 0;
  // Every tenant, ordered by id (for server-wide jobs such as pruning).
  virtual absl::StatusOr<std::vector<TenantRow>> ListTenants() = 0;

  virtual absl::Status PutUser(const UserRow& user) = 0;
  virtual absl::StatusOr<std::optional<UserRow>> GetUser(const std::string& tenant_id,
                                                         const std::string& user_id) = 0;
  virtual absl::StatusOr<std::optional<UserRow>> GetUserByName(const std::string& tenant_id,
                                                               const std::string& username) = 0;
  virtual absl::StatusOr<std::vector<UserRow>> ListUsers(const std::string& tenant_id) = 0;

  virtual absl::Status PutTeam(const std::string& tenant_id, const v1::Team& team) = 0;
  virtual absl::StatusOr<std::vector<v1::Team>> ListTeams(const std::string& tenant_id) = 0;

  virtual absl::Status PutDevice(const DeviceRow& device) = 0;
  virtual absl::StatusOr<std::optional<DeviceRow>> GetDevice(const std::string& tenant_id,
                                                             const std::string& device_id) = 0;
  virtual absl::StatusOr<std::vector<DeviceRow>> ListDevices(const std::string& tenant_id) = 0;
  // Records a device's contact in one write (see DeviceContact for what each
  // field changes). NOT_FOUND if the device is not registered. The write is
  // relaxed (Durability::kRelaxed): every Push and Pull makes one, and a
  // crash can only leave a device looking a little less recent than it was,
  // which retention and the reassignment grace read conservatively.
  virtual absl::Status TouchDevice(const std::string& tenant_id, const std::string& device_id,
                                   const DeviceContact& contact) = 0;
  // The contact time and, if cursor_seq >= 0, the pulled position.
  absl::Status TouchDevice(const std::string& tenant_id, const std::string& device_id,
                           int64_t now_unix_ms, int64_t cursor_seq) {
    DeviceContact contact;
    contact.now_unix_ms = now_unix_ms;
    contact.cursor_seq = cursor_seq;
    return TouchDevice(tenant_id, device_id, contact);
  }
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_DIRECTORY_H_
