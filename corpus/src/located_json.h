// JSON with line numbers, for importers that name "file:line" in errors.
// nlohmann 3.11 keeps no positions, so the document is built through its SAX
// interface while counting the bytes the lexer has read, and each value's
// 1-based line is stored under its JSON pointer ("/syscalls/3/names/0").
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace secdiff::corpus {

struct LocatedJson {
  nlohmann::json doc;
  std::map<std::string, int> lines;  // JSON pointer -> 1-based line

  // Line of the value at `pointer`, or of its nearest located ancestor; 0 if none.
  int line(std::string pointer) const;
};

// Parses `text`. A repeated object key overwrites the earlier value, as in
// Go's encoding/json. Throws ProfileError(origin, line, "invalid JSON: ...").
LocatedJson parse_located_json(std::string_view text, const std::string& origin);

// `key` escaped as one JSON pointer token (~ -> ~0, / -> ~1).
std::string pointer_token(std::string_view key);

}  // namespace secdiff::corpus
