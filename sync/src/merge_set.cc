// Observed-remove sets over repeated scalar fields (policy `set`).
//
// FieldState.set_elements holds the live elements, each with the dots (adds)
// that keep it alive. An add makes a dot {ctx.new_version, device,
// client_seq}; a remove deletes the dots the device had observed: dots with
// version <= the mutation's base_version, or made by the same device with a
// smaller client_seq. An element lives while it has a dot. The field's value
// is the live keys sorted by typed value, so it does not depend on arrival
// order.
#include <algorithm>
#include <cstdlib>
#include <set>

#include "merge_internal.h"

namespace crmsync::sync::internal {

using FD = pb::FieldDescriptor;

std::vector<std::string> ReadSetKeys(const pb::Message& m, const FieldPath& fp) {
  std::vector<std::string> keys;
  const pb::Message* parent = PathParent(m, fp);
  if (parent == nullptr) return keys;
  const pb::Reflection* r = parent->GetReflection();
  const FD* f = fp.leaf();
  const int n = r->FieldSize(*parent, f);
  for (int i = 0; i < n; ++i) {
    switch (f->cpp_type()) {
      case FD::CPPTYPE_STRING: keys.push_back(r->GetRepeatedString(*parent, f, i)); break;
      case FD::CPPTYPE_INT32:
        keys.push_back(std::to_string(r->GetRepeatedInt32(*parent, f, i)));
        break;
      case FD::CPPTYPE_INT64:
        keys.push_back(std::to_string(r->GetRepeatedInt64(*parent, f, i)));
        break;
      case FD::CPPTYPE_UINT32:
        keys.push_back(std::to_string(r->GetRepeatedUInt32(*parent, f, i)));
        break;
      case FD::CPPTYPE_UINT64:
        keys.push_back(std::to_string(r->GetRepeatedUInt64(*parent, f, i)));
        break;
      case FD::CPPTYPE_ENUM:
        keys.push_back(std::to_string(r->GetRepeatedEnumValue(*parent, f, i)));
        break;
      case FD::CPPTYPE_BOOL: keys.push_back(r->GetRepeatedBool(*parent, f, i) ? "1" : "0"); break;
      default: break;
    }
  }
  return keys;
}

void SortSetKeys(const FieldPath& fp, std::vector<std::string>* keys) {
  const FD::CppType t = fp.leaf()->cpp_type();
  if (t == FD::CPPTYPE_STRING) {
    std::sort(keys->begin(), keys->end());
  } else if (t == FD::CPPTYPE_UINT64) {
    std::sort(keys->begin(), keys->end(), [](const std::string& a, const std::string& b) {
      return std::strtoull(a.c_str(), nullptr, 10) < std::strtoull(b.c_str(), nullptr, 10);
    });
  } else {
    std::sort(keys->begin(), keys->end(), [](const std::string& a, const std::string& b) {
      return std::strtoll(a.c_str(), nullptr, 10) < std::strtoll(b.c_str(), nullptr, 10);
    });
  }
  keys->erase(std::unique(keys->begin(), keys->end()), keys->end());
}

void WriteSetKeys(pb::Message* m, const FieldPath& fp, std::vector<std::string> keys) {
  SortSetKeys(fp, &keys);
  pb::Message* parent = m;
  for (size_t i = 0; i + 1 < fp.fields.size(); ++i) {
    const pb::Reflection* r = parent->GetReflection();
    if (keys.empty() && !r->HasField(*parent, fp.fields[i])) return;
    parent = r->MutableMessage(parent, fp.fields[i]);
  }
  const pb::Reflection* r = parent->GetReflection();
  const FD* f = fp.leaf();
  r->ClearField(parent, f);
  for (const std::string& k : keys) {
    switch (f->cpp_type()) {
      case FD::CPPTYPE_STRING: r->AddString(parent, f, k); break;
      case FD::CPPTYPE_INT32:
        r->AddInt32(parent, f, static_cast<int32_t>(std::strtoll(k.c_str(), nullptr, 10)));
        break;
      case FD::CPPTYPE_INT64: r->AddInt64(parent, f, std::strtoll(k.c_str(), nullptr, 10)); break;
      case FD::CPPTYPE_UINT32:
        r->AddUInt32(parent, f, static_cast<uint32_t>(std::strtoull(k.c_str(), nullptr, 10)));
        break;
      case FD::CPPTYPE_UINT64:
        r->AddUInt64(parent, f, std::strtoull(k.c_str(), nullptr, 10));
        break;
      case FD::CPPTYPE_ENUM:
        r->AddEnumValue(parent, f, static_cast<int>(std::strtoll(k.c_str(), nullptr, 10)));
        break;
      case FD::CPPTYPE_BOOL: r->AddBool(parent, f, k == "1"); break;
      default: break;
    }
  }
}

// The live elements of the field: its set_elements, or, for a field that
// has values but no dots yet (written before it became a set), one dot per
// value stamped with the field's version.
static std::vector<v1::SetElement> LiveElements(const MergeState& s, const FieldPath& fp) {
  v1::FieldState fallback;
  const v1::FieldState& fs = EffectiveFieldState(s.next, fp.text, &fallback);
  std::vector<v1::SetElement> out;
  auto it = s.next.fields().find(fp.text);
  if (it != s.next.fields().end() && it->second.set_elements_size() > 0) {
    out.assign(it->second.set_elements().begin(), it->second.set_elements().end());
    return out;
  }
  std::vector<std::string> keys = ReadSetKeys(*s.data, fp);
  SortSetKeys(fp, &keys);
  for (const std::string& k : keys) {
    v1::SetElement e;
    e.set_key(k);
    e.add_dots()->set_version(fs.version());
    out.push_back(std::move(e));
  }
  return out;
}

FieldStep MergeSet(MergeState& s, const FieldPath& fp, FieldAction action) {
  FieldStep step;
  std::vector<std::string> client = ReadSetKeys(*s.values, fp);
  SortSetKeys(fp, &client);
  std::vector<std::string> adds;
  std::vector<std::string> removes;
  if (action == FieldAction::kSetAdd) {
    adds = client;
  } else if (action == FieldAction::kSetRemove) {
    removes = client;
  } else {
    std::vector<std::string> base = ReadSetKeys(*s.base_values, fp);
    SortSetKeys(fp, &base);
    std::set_difference(client.begin(), client.end(), base.begin(), base.end(),
                        std::back_inserter(adds));
    std::set_difference(base.begin(), base.end(), client.begin(), client.end(),
                        std::back_inserter(removes));
  }

  std::vector<v1::SetElement> elements = LiveElements(s, fp);
  const std::vector<v1::SetElement> before = elements;
  auto find = [&](const std::string& key) -> v1::SetElement* {
    for (v1::SetElement& e : elements) {
      if (e.key() == key) return &e;
    }
    return nullptr;
  };
  for (const std::string& key : adds) {
    v1::SetElement* e = find(key);
    if (e == nullptr) {
      elements.emplace_back();
      e = &elements.back();
      e->set_key(key);
    }
    bool already = false;
    for (const v1::SetDot& d : e->dots()) {
      if (!s.device_id.empty() && d.device_id() == s.device_id &&
          d.client_seq() == s.m.client_seq()) {
        already = true;  // Re-delivered add: its dot is already here.
      }
    }
    if (already) continue;
    v1::SetDot* dot = e->add_dots();
    dot->set_version(s.ctx.new_version);
    dot->set_device_id(s.device_id);
    dot->set_client_seq(s.m.client_seq());
  }
  for (const std::string& key : removes) {
    v1::SetElement* e = find(key);
    if (e == nullptr) continue;
    auto* dots = e->mutable_dots();
    for (int i = dots->size() - 1; i >= 0; --i) {
      const v1::SetDot& d = dots->Get(i);
      const bool observed = d.version() <= s.m.base_version() ||
                            (!s.device_id.empty() && d.device_id() == s.device_id &&
                             d.client_seq() < s.m.client_seq());
      if (observed) dots->DeleteSubrange(i, 1);
    }
  }
  elements.erase(std::remove_if(elements.begin(), elements.end(),
                                [](const v1::SetElement& e) { return e.dots_size() == 0; }),
                 elements.end());
  std::sort(elements.begin(), elements.end(),
            [](const v1::SetElement& a, const v1::SetElement& b) { return a.key() < b.key(); });

  std::vector<std::string> live;
  live.reserve(elements.size());
  for (const v1::SetElement& e : elements) live.push_back(e.key());
  SortSetKeys(fp, &live);
  std::vector<std::string> current = ReadSetKeys(*s.data, fp);
  const bool data_changed = live != current;

  bool dots_changed = elements.size() != before.size();
  for (size_t i = 0; !dots_changed && i < elements.size(); ++i) {
    dots_changed = elements[i].SerializeAsString() != before[i].SerializeAsString();
  }
  if (data_changed || dots_changed) {
    v1::FieldState* fs = nullptr;
    if (data_changed) {
      WriteSetKeys(s.data, fp, live);
      fs = StampField(s, fp.text, /*keep_elements=*/false);
      s.result->changed_fields.push_back(fp.text);
    } else {
      v1::FieldState fallback;
      const int64_t version = EffectiveFieldState(s.next, fp.text, &fallback).version();
      fs = &(*s.next.mutable_fields())[fp.text];
      if (fs->version() == 0) fs->set_version(version);
      fs->clear_set_elements();
      s.metadata_touched = true;
    }
    for (v1::SetElement& e : elements) *fs->add_set_elements() = std::move(e);
  }
  if (action == FieldAction::kSetDiff && live != client) {
    step.verdict = FieldVerdict::kCombined;
  }
  return step;
}

}  // namespace crmsync::sync::internal
