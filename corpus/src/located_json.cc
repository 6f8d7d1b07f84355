#include "corpus/src/located_json.h"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <vector>

#include "corpus/src/ruleset.h"

namespace secdiff::corpus {

using json = nlohmann::json;

std::string pointer_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

int LocatedJson::line(std::string pointer) const {
  for (;;) {
    auto it = lines.find(pointer);
    if (it != lines.end()) return it->second;
    size_t slash = pointer.rfind('/');
    if (slash == std::string::npos) return 0;
    pointer.resize(slash);
  }
}

namespace {

class CountingIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator() = default;
  CountingIterator(const char* p, const char* base, size_t* consumed)
      : p_(p), base_(base), consumed_(consumed) {}
  reference operator*() const { return *p_; }
  CountingIterator& operator++() {
    ++p_;
    *consumed_ = static_cast<size_t>(p_ - base_);
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const CountingIterator& o) const { return p_ == o.p_; }
  bool operator!=(const CountingIterator& o) const { return p_ != o.p_; }

 private:
  const char* p_ = nullptr;
  const char* base_ = nullptr;
  size_t* consumed_ = nullptr;
};

class LineIndex {
 public:
  explicit LineIndex(std::string_view text) : text_(text) {
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n') newlines_.push_back(i);
  }
  // 1-based line of byte `off` (clamped to the text).
  int line_of(size_t off) const {
    if (text_.empty()) return 1;
    off = std::min(off, text_.size() - 1);
    return static_cast<int>(std::lower_bound(newlines_.begin(), newlines_.end(), off) -
                            newlines_.begin()) + 1;
  }
  // Line of the last non-blank byte read when `consumed` bytes have been read.
  // The lexer reads one byte past a number or literal; skipping blanks keeps
  // that byte from moving the value to the next line.
  int line_before(size_t consumed) const {
    size_t i = std::min(consumed, text_.size());
    while (i > 0 && std::isspace(static_cast<unsigned char>(text_[i - 1]))) --i;
    return line_of(i == 0 ? 0 : i - 1);
  }

 private:
  std::string_view text_;
  std::vector<size_t> newlines_;
};

// Builds the DOM like nlohmann's own SAX DOM parser and records lines.
class LocatingSax {
 public:
  LocatingSax(LocatedJson& out, const LineIndex& index, const size_t& consumed,
              const std::string& origin)
      : out_(out), index_(index), consumed_(consumed), origin_(origin) {}

  bool null() { return add(json(nullptr)); }
  bool boolean(bool v) { return add(json(v)); }
  bool number_integer(json::number_integer_t v) { return add(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return add(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return add(json(v)); }
  bool string(json::string_t& v) { return add(json(std::move(v))); }
  bool binary(json::binary_t& v) { return add(json::binary(std::move(v))); }
  bool start_object(std::size_t) { return open(json::object()); }
  bool key(json::string_t& k) {
    frames_.back().key = std::move(k);
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    // Keep nlohmann's text after "parse error ...: " and use our own line.
    std::string what = ex.what();
    size_t p = what.find("parse error");
    if (p != std::string::npos) p = what.find(": ", p);
    std::string msg = p == std::string::npos ? what : what.substr(p + 2);
    size_t byte = position == 0 ? 0 : position - 1;
    throw ProfileError(origin_, index_.line_of(byte), "invalid JSON: " + msg);
  }

 private:
  struct Frame {
    json* value;
    std::string path;
    std::string key;   // objects: the key of the next member
    size_t index = 0;  // arrays: the index of the next element
  };

  // Places `v` in the open container (or at the root); returns its slot.
  json* place(json v, std::string* path) {
    int line = index_.line_before(consumed_);
    if (frames_.empty()) {
      out_.doc = std::move(v);
      *path = "";
      out_.lines[*path] = line;
      return &out_.doc;
    }
    Frame& f = frames_.back();
    json* slot;
    if (f.value->is_object()) {
      *path = f.path + "/" + pointer_token(f.key);
      slot = &(*f.value)[f.key];
      *slot = std::move(v);  // a repeated key overwrites, as in Go
    } else {
      *path = f.path + "/" + std::to_string(f.index++);
      f.value->push_back(std::move(v));
      slot = &f.value->back();
    }
    out_.lines[*path] = line;
    return slot;
  }
  bool add(json v) {
    std::string path;
    place(std::move(v), &path);
    return true;
  }
  bool open(json v) {
    std::string path;
    json* slot = place(std::move(v), &path);
    frames_.push_back(Frame{slot, path, {}, 0});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return true;
  }

  LocatedJson& out_;
  const LineIndex& index_;
  const size_t& consumed_;
  const std::string& origin_;
  std::vector<Frame> frames_;
};

}  // namespace

LocatedJson parse_located_json(std::string_view text, const std::string& origin) {
  LineIndex index(text);
  LocatedJson lj;
  size_t consumed = 0;
  LocatingSax sax(lj, index, consumed, origin);
  CountingIterator first(text.data(), text.data(), &consumed);
  CountingIterator last(text.data() + text.size(), text.data(), &consumed);
  json::sax_parse(first, last, &sax);
  return lj;
}

}  // namespace secdiff::corpus
