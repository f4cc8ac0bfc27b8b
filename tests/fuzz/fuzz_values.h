// Builds crmsync messages from fuzz bytes (structured fuzzing), shared by
// fuzz_push_batch and fuzz_pull_apply. Every choice is read from a
// FuzzedDataProvider, so an input always decodes to the same messages; when
// the bytes run out every choice becomes its first option.
//
// Values are made by reflection over the entity messages, so new entity
// fields are fuzzed without changes here. Strings are always valid UTF-8
// (what a gRPC server or client receives after parsing); ids are mostly
// drawn from the pools the harness passes in, so mutations and changes hit
// records and users that exist.
#ifndef CRMSYNC_TESTS_FUZZ_FUZZ_VALUES_H_
#define CRMSYNC_TESTS_FUZZ_FUZZ_VALUES_H_

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "crmsync/sync/record_model.h"
#include "crmsync/v1/sync.pb.h"
#include "google/protobuf/descriptor.h"

namespace crmsync::fuzz {

namespace v1 = ::crmsync::v1;

// Every synced entity type (ENTITY_TYPE_UNSPECIFIED excluded).
inline const std::vector<v1::EntityType>& AllEntityTypes() {
  static const std::vector<v1::EntityType> kTypes = [] {
    std::vector<v1::EntityType> out;
    const auto* e = v1::EntityType_descriptor();
    for (int i = 0; i < e->value_count(); ++i) {
      if (e->value(i)->number() != 0)
        out.push_back(static_cast<v1::EntityType>(e->value(i)->number()));
    }
    return out;
  }();
  return kTypes;
}

inline bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class ValueMaker {
 public:
  // `ids` are the strings id-like fields are drawn from (user, team, store
  // and record ids). Both pointers must outlive the maker.
  ValueMaker(FuzzedDataProvider* in, const std::vector<std::string>* ids) : in_(in), ids_(ids) {}

  FuzzedDataProvider& in() { return *in_; }

  template <typename T>
  const T& Pick(const std::vector<T>& options) {
    return options[in_->ConsumeIntegralInRange<size_t>(0, options.size() - 1)];
  }

  // An id from the pool, now and then a fresh or odd one.
  std::string Id() {
    switch (in_->ConsumeIntegralInRange<int>(0, 7)) {
      case 0: return Text(24);
      case 1: return "";
      default: return ids_->empty() ? "x" : Pick(*ids_);
    }
  }

  // Valid UTF-8 of at most `max_bytes` source bytes: ASCII (control
  // characters and NUL included) with some multi-byte characters.
  std::string Text(size_t max_bytes) {
    std::string raw = in_->ConsumeRandomLengthString(max_bytes);
    std::string out;
    for (unsigned char c : raw) {
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
      } else if (c < 0xc0) {
        out += "\xc3\xa9";  // é
      } else if (c < 0xf0) {
        out += "\xe2\x82\xac";  // €
      } else {
        out += "\xf0\x9f\x93\x9e";  // 📞 (4 bytes)
      }
    }
    return out;
  }

  // A clock reading near `now_ms`, sometimes far away or at the extremes.
  int64_t TimeMs(int64_t now_ms) {
    switch (in_->ConsumeIntegralInRange<int>(0, 7)) {
      case 0: return in_->ConsumeIntegral<int64_t>();
      case 1: return 0;
      case 2: return now_ms + in_->ConsumeIntegralInRange<int64_t>(0, 400LL * 24 * 3600 * 1000);
      default: return now_ms - in_->ConsumeIntegralInRange<int64_t>(-120'000, 3'600'000);
    }
  }

  int64_t SmallInt() {
    switch (in_->ConsumeIntegralInRange<int>(0, 5)) {
      case 0: return in_->ConsumeIntegral<int64_t>();
      case 1: return in_->ConsumeBool() ? INT64_MAX : INT64_MIN;
      default: return in_->ConsumeIntegralInRange<int64_t>(-5, 2000);
    }
  }

  // Sets one value of `field` in `msg` (appends for repeated fields).
  void FillField(google::protobuf::Message* msg, const google::protobuf::FieldDescriptor* f,
                 int depth) {
    using FD = google::protobuf::FieldDescriptor;
    const auto* r = msg->GetReflection();
    const bool rep = f->is_repeated();
    switch (f->cpp_type()) {
      case FD::CPPTYPE_STRING: {
        const std::string& n = f->name();
        const bool idish = n == "id" || EndsWith(n, "_id") || EndsWith(n, "_ids");
        std::string v = idish || in_->ConsumeBool() ? Id() : Text(40);
        rep ? r->AddString(msg, f, v) : r->SetString(msg, f, v);
        break;
      }
      case FD::CPPTYPE_INT32: {
        auto v = static_cast<int32_t>(SmallInt());
        rep ? r->AddInt32(msg, f, v) : r->SetInt32(msg, f, v);
        break;
      }
      case FD::CPPTYPE_INT64: {
        int64_t v = SmallInt();
        rep ? r->AddInt64(msg, f, v) : r->SetInt64(msg, f, v);
        break;
      }
      case FD::CPPTYPE_UINT32: {
        auto v = static_cast<uint32_t>(SmallInt());
        rep ? r->AddUInt32(msg, f, v) : r->SetUInt32(msg, f, v);
        break;
      }
      case FD::CPPTYPE_UINT64: {
        auto v = static_cast<uint64_t>(SmallInt());
        rep ? r->AddUInt64(msg, f, v) : r->SetUInt64(msg, f, v);
        break;
      }
      case FD::CPPTYPE_DOUBLE: {
        double v = Double();
        rep ? r->AddDouble(msg, f, v) : r->SetDouble(msg, f, v);
        break;
      }
      case FD::CPPTYPE_FLOAT: {
        auto v = static_cast<float>(Double());
        rep ? r->AddFloat(msg, f, v) : r->SetFloat(msg, f, v);
        break;
      }
      case FD::CPPTYPE_BOOL: {
        bool v = in_->ConsumeBool();
        rep ? r->AddBool(msg, f, v) : r->SetBool(msg, f, v);
        break;
      }
      case FD::CPPTYPE_ENUM: {
        const auto* e = f->enum_type();
        int v = in_->ConsumeIntegralInRange<int>(0, 15) == 0
                    ? in_->ConsumeIntegralInRange<int>(-3, 40)
                    : e->value(in_->ConsumeIntegralInRange<int>(0, e->value_count() - 1))->number();
        rep ? r->AddEnumValue(msg, f, v) : r->SetEnumValue(msg, f, v);
        break;
      }
      case FD::CPPTYPE_MESSAGE: {
        google::protobuf::Message* sub = rep ? r->AddMessage(msg, f) : r->MutableMessage(msg, f);
        if (depth < 3) Fill(sub, depth + 1, in_->ConsumeIntegralInRange<int>(0, 3));
        break;
      }
    }
  }

  // Sets up to `count` fields of `msg`; returns the names of those set.
  std::vector<std::string> Fill(google::protobuf::Message* msg, int depth, int count) {
    std::vector<std::string> names;
    const auto* d = msg->GetDescriptor();
    if (d->field_count() == 0) return names;
    for (int i = 0; i < count && in_->remaining_bytes() > 0; ++i) {
      const auto* f = d->field(in_->ConsumeIntegralInRange<int>(0, d->field_count() - 1));
      const int n = f->is_repeated() ? in_->ConsumeIntegralInRange<int>(0, 3) : 1;
      for (int k = 0; k < n; ++k) FillField(msg, f, depth);
      names.push_back(f->name());
    }
    return names;
  }

  // A path of the entity of `type`: a top-level field, or one level into a
  // message field ("estimated_value.amount_minor"), or now and then a
  // path that does not exist.
  std::string Path(v1::EntityType type) {
    const auto* d = sync::EntityDescriptor(type);
    if (d == nullptr || d->field_count() == 0 || in_->ConsumeIntegralInRange<int>(0, 19) == 0) {
      return Text(12);
    }
    const auto* f = d->field(in_->ConsumeIntegralInRange<int>(0, d->field_count() - 1));
    std::string path = f->name();
    if (f->message_type() != nullptr && !f->is_repeated() && f->message_type()->field_count() > 0 &&
        in_->ConsumeBool()) {
      const auto* sub = f->message_type();
      path += "." + sub->field(in_->ConsumeIntegralInRange<int>(0, sub->field_count() - 1))->name();
    }
    return path;
  }

  // Entity values for `type` with a few random fields set; `id` goes to the
  // id field unless the input chooses otherwise. Returns the set field names.
  std::vector<std::string> Entity(v1::Record* record, v1::EntityType type, const std::string& id) {
    google::protobuf::Message* e = sync::MutableEntity(record, type);
    if (e == nullptr) return {};
    std::vector<std::string> names = Fill(e, 0, in_->ConsumeIntegralInRange<int>(0, 6));
    if (const auto* f = e->GetDescriptor()->FindFieldByName("id");
        f && in_->ConsumeIntegralInRange<int>(0, 9) != 0) {
      e->GetReflection()->SetString(e, f, id);
      names.push_back("id");
    }
    return names;
  }

  v1::HlcTimestamp Hlc(int64_t now_ms, const std::string& node) {
    v1::HlcTimestamp h;
    h.set_wall_time_ms(TimeMs(now_ms));
    h.set_logical(in_->ConsumeIntegralInRange<int>(0, 7) == 0
                      ? in_->ConsumeIntegral<uint32_t>()
                      : in_->ConsumeIntegralInRange<uint32_t>(0, 3));
    h.set_node_id(in_->ConsumeIntegralInRange<int>(0, 7) == 0 ? Id() : node);
    return h;
  }

 private:
  double Double() {
    switch (in_->ConsumeIntegralInRange<int>(0, 7)) {
      case 0: return in_->ConsumeFloatingPoint<double>();
      case 1: {
        static const double kOdd[] = {0.0,
                                      -0.0,
                                      90.0,
                                      -180.0,
                                      1e308,
                                      -1e308,
                                      __builtin_nan(""),
                                      __builtin_inf(),
                                      -__builtin_inf()};
        return kOdd[in_->ConsumeIntegralInRange<int>(0, 8)];
      }
      default: return in_->ConsumeFloatingPointInRange<double>(-200.0, 200.0);
    }
  }

  FuzzedDataProvider* in_;
  const std::vector<std::string>* ids_;
};

}  // namespace crmsync::fuzz

#endif  // CRMSYNC_TESTS_FUZZ_FUZZ_VALUES_H_
