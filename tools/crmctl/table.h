// Plain-text tables and JSON output for crmctl.
#ifndef CRMSYNC_TOOLS_CRMCTL_TABLE_H_
#define CRMSYNC_TOOLS_CRMCTL_TABLE_H_

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace crmsync::crmctl {

// Columns aligned to their widest cell; a header row underlined with dashes.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const;
  size_t size() const { return rows_.size(); }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// One message as pretty JSON (proto3 JSON mapping, enum names, no defaults
// omitted for clarity of scripts: default values are printed).
std::string ToJson(const google::protobuf::Message& message);

// "2026-11-23 19:04:05Z", or "-" for an unset timestamp.
std::string FormatTime(const google::protobuf::Timestamp& t);
// "3h ago", "2d ago", "-".
std::string FormatAge(const google::protobuf::Timestamp& t, int64_t now_s);
// An enum value name without its prefix, lower-case ("DEVICE_STATUS_ACTIVE" -> "active").
std::string ShortEnum(const std::string& full_name, const std::string& prefix);

}  // namespace crmsync::crmctl

#endif  // CRMSYNC_TOOLS_CRMCTL_TABLE_H_
