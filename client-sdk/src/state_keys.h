// Keys of the sync_state table.
#ifndef CRMSYNC_CLIENT_SRC_STATE_KEYS_H_
#define CRMSYNC_CLIENT_SRC_STATE_KEYS_H_

namespace crmsync::client::internal {

inline constexpr char kKeySchemaVersion[] = "schema_version";
inline constexpr char kKeyDeviceId[] = "device_id";
inline constexpr char kKeyUserId[] = "user_id";
inline constexpr char kKeyCursor[] = "cursor";
// The next client_seq to assign (strictly increasing, never reused).
inline constexpr char kKeyNextClientSeq[] = "next_client_seq";
// Serialized v1::HlcTimestamp: the clock's last reading.
inline constexpr char kKeyHlc[] = "hlc";
inline constexpr char kKeyOffline[] = "offline";
inline constexpr char kKeyLastSyncMs[] = "last_sync_ms";
// When the last checksum repair (re-bootstrap) ran.
inline constexpr char kKeyLastRepairMs[] = "last_repair_ms";
// "1" while a re-bootstrap is in progress (survives restarts).
inline constexpr char kKeyResetting[] = "resetting";
// The refresh token of the signed-in user (Database::RefreshToken).
inline constexpr char kKeyRefreshToken[] = "refresh_token";

}  // namespace crmsync::client::internal

#endif  // CRMSYNC_CLIENT_SRC_STATE_KEYS_H_
