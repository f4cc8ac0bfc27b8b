// UTF-8 well-formedness, as proto3 strings, JSON and PostgreSQL text need
// it: used by the stores (store_codec CheckText) and by crmctl import, so
// both refuse the same bytes.
#ifndef CRMSYNC_SYNC_TEXT_H_
#define CRMSYNC_SYNC_TEXT_H_

#include <string_view>

namespace crmsync::sync {

// Whether `s` is well-formed UTF-8: no truncated sequences, overlong
// forms, surrogates or code points past U+10FFFF.
bool IsValidUtf8(std::string_view s);

}  // namespace crmsync::sync

#endif  // CRMSYNC_SYNC_TEXT_H_
