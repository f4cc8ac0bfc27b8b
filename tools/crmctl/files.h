// What crmctl export and import share about files: CSV cells and state
// files replaced atomically.
#ifndef CRMSYNC_TOOLS_CRMCTL_FILES_H_
#define CRMSYNC_TOOLS_CRMCTL_FILES_H_

#include <string>

namespace crmsync::crmctl {

// `text` as one CSV cell: quoted (quotes doubled) when it holds a comma, a
// quote or a line break.
std::string CsvCell(const std::string& text);

// Writes `text` whole to `path`: to a temporary file beside it, synced, then
// renamed over it. False with `error` set ("cannot write the WHAT PATH:
// reason") on failure.
bool ReplaceFile(const std::string& path, const std::string& text, const std::string& what,
                 std::string* error);

}  // namespace crmsync::crmctl

#endif  // CRMSYNC_TOOLS_CRMCTL_FILES_H_
