// Little-endian byte writer/reader with bounds checks, for the compact case
// encoding and the VM protocol. Readers never read past the end: a short or
// malformed buffer makes WireError.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace secdiff {

class WireError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class WireWriter {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) { put(&v, 2); }
  void u32(uint32_t v) { put(&v, 4); }
  void u64(uint64_t v) { put(&v, 8); }
  void i32(int32_t v) { put(&v, 4); }
  void i64(int64_t v) { put(&v, 8); }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    buf_.insert(buf_.end(), s.begin(), s.end());
  }
  void bytes(const void* p, size_t n) { put(p, n); }
  void reserve(size_t n) { buf_.reserve(n); }
  std::string& data() { return buf_; }
  const std::string& data() const { return buf_; }

 private:
  void put(const void* p, size_t n) {
    if (n) buf_.append(static_cast<const char*>(p), n);  // p may be null when n == 0
  }
  std::string buf_;
};

class WireReader {
 public:
  explicit WireReader(std::string_view s) : s_(s) {}
  uint8_t u8() { return get<uint8_t>(); }
  uint16_t u16() { return get<uint16_t>(); }
  uint32_t u32() { return get<uint32_t>(); }
  uint64_t u64() { return get<uint64_t>(); }
  int32_t i32() { return get<int32_t>(); }
  int64_t i64() { return get<int64_t>(); }
  std::string str(size_t max = 1 << 20) {
    const uint32_t n = u32();
    if (n > max || n > s_.size() - pos_) throw WireError("string length out of range");
    std::string out(s_.substr(pos_, n));
    pos_ += n;
    return out;
  }
  void bytes(void* p, size_t n) {
    need(n);
    if (n == 0) return;  // p may be null (an empty vector's data())
    std::memcpy(p, s_.data() + pos_, n);
    pos_ += n;
  }
  size_t remaining() const { return s_.size() - pos_; }
  bool done() const { return pos_ == s_.size(); }

 private:
  void need(size_t n) {
    if (n > s_.size() - pos_) throw WireError("truncated message");
  }
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, s_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view s_;
  size_t pos_ = 0;
};

// CRC-32 (IEEE 802.3, as zlib's crc32).
uint32_t crc32(std::string_view data);

}  // namespace secdiff
