#include "value_validation.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <cmath>
#include <string>
#include <vector>

#include "crmsync/sync/entity_catalog.h"
#include "crmsync/sync/geo.h"
#include "crmsync/v1/common.pb.h"

namespace crmsync::server {
namespace {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

// How long a string may be and whether it is an identifier: the field's
// ValueKind in the proto (options.proto, FieldRules.kind).
absl::Status CheckString(const std::string& path, v1::ValueKind kind, const std::string& v,
                         const ValueLimits& limits) {
  const bool id = kind == v1::VALUE_KIND_ID;
  size_t max = id                                 ? limits.max_id_bytes
               : kind == v1::VALUE_KIND_LONG_TEXT ? limits.max_text_bytes
                                                  : limits.max_string_bytes;
  if (v.size() > max) {
    return absl::InvalidArgumentError(path + " is " + std::to_string(v.size()) +
                                      " bytes; the limit is " + std::to_string(max));
  }
  // Ids become keys and columns in the store, which refuses NUL characters.
  if (id && v.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(path + " contains a NUL character");
  }
  return absl::OkStatus();
}

absl::Status CheckString(const std::string& path, const FD* f, const std::string& v,
                         const ValueLimits& limits) {
  return CheckString(path, sync::FieldRulesOf(f).kind(), v, limits);
}

absl::Status CheckMessage(const pb::Message& m, const std::string& prefix,
                          const ValueLimits& limits);

absl::Status CheckSpecial(const pb::Message& m, const std::string& path,
                          const ValueLimits& limits) {
  const std::string& type = m.GetDescriptor()->full_name();
  if (type == "crmsync.v1.GeoPoint") {
    if (!sync::geo::ValidPoint(static_cast<const v1::GeoPoint&>(m))) {
      return absl::InvalidArgumentError(path +
                                        " must have latitude in [-90, 90] and longitude "
                                        "in [-180, 180]");
    }
  } else if (type == "crmsync.v1.Money") {
    const auto& money = static_cast<const v1::Money&>(m);
    const std::string& c = money.currency_code();
    bool iso = c.size() == 3 && std::isupper(static_cast<unsigned char>(c[0])) &&
               std::isupper(static_cast<unsigned char>(c[1])) &&
               std::isupper(static_cast<unsigned char>(c[2]));
    if (!c.empty() && !iso) {
      return absl::InvalidArgumentError(path +
                                        ".currency_code must be an ISO 4217 code like "
                                        "\"EUR\"");
    }
    if (money.amount_minor() > limits.max_amount_minor ||
        money.amount_minor() < -limits.max_amount_minor) {
      return absl::InvalidArgumentError(path + ".amount_minor is out of range");
    }
  } else if (type == "crmsync.v1.GeoCircle") {
    double r = static_cast<const v1::GeoCircle&>(m).radius_m();
    if (!std::isfinite(r) || r <= 0 || r > 20'000'000) {
      return absl::InvalidArgumentError(path + ".radius_m must be positive (metres)");
    }
  } else if (type == "crmsync.v1.GeoPolygon") {
    if (static_cast<const v1::GeoPolygon&>(m).vertices_size() < 3) {
      return absl::InvalidArgumentError(path + " needs at least 3 vertices");
    }
  }
  return absl::OkStatus();
}

// The field's bounds in the proto (FieldRules.min / max), if any.
absl::Status CheckRange(const std::string& path, const FD* f, double v) {
  const v1::FieldRules& rules = sync::FieldRulesOf(f);
  const bool low = rules.has_min() && v < static_cast<double>(rules.min());
  const bool high = rules.has_max() && v > static_cast<double>(rules.max());
  if (!low && !high) return absl::OkStatus();
  if (rules.has_min() && rules.has_max()) {
    return absl::InvalidArgumentError(path + " must be between " + std::to_string(rules.min()) +
                                      " and " + std::to_string(rules.max()));
  }
  if (low) {
    return absl::InvalidArgumentError(
        path + (rules.min() == 0 ? std::string(" must not be negative")
                                 : " must be at least " + std::to_string(rules.min())));
  }
  return absl::InvalidArgumentError(path + " must be at most " + std::to_string(rules.max()));
}

// Proto3 enums are open: a number the schema does not define parses, and
// would be stored and sent to every device. Refused, naming the field.
absl::Status CheckEnum(const std::string& path, const FD* f, int value) {
  if (f->enum_type()->FindValueByNumber(value) != nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(path + " = " + std::to_string(value) + " is not a value of " +
                                    f->enum_type()->full_name());
}

absl::Status CheckMessage(const pb::Message& m, const std::string& prefix,
                          const ValueLimits& limits) {
  if (auto s = CheckSpecial(m, prefix, limits); !s.ok()) return s;
  const pb::Reflection* r = m.GetReflection();
  std::vector<const FD*> fields;
  r->ListFields(m, &fields);
  for (const FD* f : fields) {
    const std::string path = prefix.empty() ? f->name() : prefix + "." + f->name();
    if (f->is_repeated()) {
      int n = r->FieldSize(m, f);
      if (n > limits.max_repeated) {
        return absl::InvalidArgumentError(path + " has " + std::to_string(n) +
                                          " elements; the limit is " +
                                          std::to_string(limits.max_repeated));
      }
      if (f->is_map() && f->message_type()->map_key()->cpp_type() == FD::CPPTYPE_STRING &&
          f->message_type()->map_value()->cpp_type() == FD::CPPTYPE_MESSAGE) {
        // Entries by key ("values.lead.custom.region.text"), as field paths
        // name them.
        for (int i = 0; i < n; ++i) {
          const pb::Message& entry = r->GetRepeatedMessage(m, f, i);
          const pb::Reflection* er = entry.GetReflection();
          const std::string key = er->GetString(entry, f->message_type()->map_key());
          absl::Status s = CheckString(path + " key", v1::VALUE_KIND_ID, key, limits);
          if (s.ok()) {
            s = CheckMessage(er->GetMessage(entry, f->message_type()->map_value()),
                             path + "." + key, limits);
          }
          if (!s.ok()) return s;
        }
        continue;
      }
      for (int i = 0; i < n; ++i) {
        const std::string item = path + "[" + std::to_string(i) + "]";
        absl::Status s;
        if (f->cpp_type() == FD::CPPTYPE_STRING) {
          s = CheckString(item, f, r->GetRepeatedString(m, f, i), limits);
        } else if (f->cpp_type() == FD::CPPTYPE_MESSAGE) {
          s = CheckMessage(r->GetRepeatedMessage(m, f, i), item, limits);
        } else if (f->cpp_type() == FD::CPPTYPE_ENUM) {
          s = CheckEnum(item, f, r->GetRepeatedEnumValue(m, f, i));
        }
        if (!s.ok()) return s;
      }
      continue;
    }
    absl::Status s;
    switch (f->cpp_type()) {
      case FD::CPPTYPE_STRING: s = CheckString(path, f, r->GetString(m, f), limits); break;
      case FD::CPPTYPE_MESSAGE: s = CheckMessage(r->GetMessage(m, f), path, limits); break;
      case FD::CPPTYPE_INT32: s = CheckRange(path, f, r->GetInt32(m, f)); break;
      case FD::CPPTYPE_INT64:
        s = CheckRange(path, f, static_cast<double>(r->GetInt64(m, f)));
        break;
      case FD::CPPTYPE_ENUM: s = CheckEnum(path, f, r->GetEnumValue(m, f)); break;
      case FD::CPPTYPE_DOUBLE:
        if (!std::isfinite(r->GetDouble(m, f))) {
          s = absl::InvalidArgumentError(path + " must be a finite number");
        } else {
          s = CheckRange(path, f, r->GetDouble(m, f));
        }
        break;
      default: break;
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateMessage(const pb::Message& message, const std::string& path,
                             const ValueLimits& limits) {
  return CheckMessage(message, path, limits);
}

absl::Status ValidateValues(const v1::Mutation& m, const ValueLimits& limits) {
  if (m.record().id().size() > limits.max_id_bytes) {
    return absl::InvalidArgumentError("record.id is longer than " +
                                      std::to_string(limits.max_id_bytes) + " bytes");
  }
  if (auto s = CheckString("record.id", v1::VALUE_KIND_ID, m.record().id(), limits); !s.ok()) {
    return s;
  }
  if (auto s = CheckString("conflict_id", v1::VALUE_KIND_ID, m.conflict_id(), limits); !s.ok()) {
    return s;
  }
  if (auto s = CheckMessage(m.values(), "values", limits); !s.ok()) return s;
  return CheckMessage(m.base_values(), "base_values", limits);
}

}  // namespace crmsync::server
