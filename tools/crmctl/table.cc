#include "table.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <ctime>

namespace crmsync::crmctl {

std::string Table::Render() const {
  std::vector<size_t> width(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  measure(header_);
  for (const auto& r : rows_) measure(r);
  auto line = [&](const std::vector<std::string>& row) {
    std::string out;
    for (size_t i = 0; i < width.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : "";
      out += cell;
      if (i + 1 < width.size()) out += std::string(width[i] - cell.size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header_);
  std::vector<std::string> dashes;
  dashes.reserve(width.size());
  for (size_t w : width) dashes.emplace_back(w, '-');
  out += line(dashes);
  for (const auto& r : rows_) out += line(r);
  return out;
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  std::time_t s = static_cast<std::time_t>(t.seconds());
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string FormatAge(const google::protobuf::Timestamp& t, int64_t now_s) {
  if (t.seconds() == 0) return "never";
  int64_t d = std::max<int64_t>(0, now_s - t.seconds());
  if (d < 60) return std::to_string(d) + "s ago";
  if (d < 3600) return std::to_string(d / 60) + "m ago";
  if (d < 86400) return std::to_string(d / 3600) + "h ago";
  return std::to_string(d / 86400) + "d ago";
}

std::string ShortEnum(const std::string& full_name, const std::string& prefix) {
  std::string s = full_name.rfind(prefix, 0) == 0 ? full_name.substr(prefix.size()) : full_name;
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

}  // namespace crmsync::crmctl
