// The competing values of a Conflict, made readable: the conflicted field
// of each partial Record (base, server, client) flattened into leaf fields,
// so that a Money or an Address shows the sub-fields that differ, side by
// side, instead of a JSON dump of mostly empty fields.
#ifndef CRMSYNC_TOOLS_CRMCTL_CONFLICT_VALUES_H_
#define CRMSYNC_TOOLS_CRMCTL_CONFLICT_VALUES_H_

#include <string>
#include <vector>

#include "crmsync/v1/entities.pb.h"

namespace crmsync::crmctl {

struct ValueRow {
  std::string field;                 // "amount.amount_minor"
  std::string base, server, client;  // "-" when unset
};

// One row per leaf of the conflicted field whose three values are not all
// equal (every leaf when none differs). Texts are scalars as written,
// enum names, repeated fields as "[a, b]", timestamps as UTC.
std::vector<ValueRow> ConflictValueRows(const v1::Conflict& conflict);

// The value at `path` in a partial Record (a FieldHistoryEntry's value):
// the scalar as ConflictValueRows writes it for a plain field, "k=v, ..."
// for the leaves of a message field, "-" when the field is unset.
std::string ValueText(const v1::Record& partial, const std::string& path);

// How ScalarTextIn writes values.
struct ScalarStyle {
  bool quote_strings = true;  // "text" rather than text
  int double_digits = 0;      // significant digits of floating point; 0: 6
};

// One scalar field of `m` (element `index` of a repeated one) as text:
// numbers as written, enum names, true/false, strings (quoted as `style`
// says), bytes as their length.
std::string ScalarTextIn(const google::protobuf::Message& m,
                         const google::protobuf::FieldDescriptor* f, int index,
                         const ScalarStyle& style);

// The differing leaves of one side as "amount_minor=1450000" (joined with
// ", "), for one-line listings.
std::string SideSummary(const std::vector<ValueRow>& rows, bool server);

}  // namespace crmsync::crmctl

#endif  // CRMSYNC_TOOLS_CRMCTL_CONFLICT_VALUES_H_
