// The compact case encoding and the VM frame protocol: round trips, and
// arbitrary bytes are rejected cleanly.
#include <gtest/gtest.h>

#include <random>

#include "oracle/case_codec.h"
#include "vm/protocol.h"

namespace secdiff {
namespace {

Case random_case(std::mt19937_64& r) {
  Case c;
  c.task.tracer = r() & 1;
  c.task.other_threads = r() & 1;
  c.task.no_new_privs = r() & 1;
  c.task.sigsys_handler = r() & 1;
  for (int f = 0, nf = static_cast<int>(r() % 4); f < nf; f++) {
    CaseFilter cf;
    cf.flags = static_cast<uint32_t>(r());
    for (int i = 0, n = static_cast<int>(r() % 20); i < n; i++)  // empty programs too
      cf.prog.push_back(Insn{static_cast<uint16_t>(r()), static_cast<uint8_t>(r()),
                             static_cast<uint8_t>(r()), static_cast<uint32_t>(r())});
    c.filters.push_back(cf);
  }
  for (int i = 0, n = static_cast<int>(r() % 9); i < n; i++) {
    CaseInput in;
    in.arch = static_cast<Arch>(r() % 3);
    in.nr = static_cast<int64_t>(r());
    for (auto& a : in.args) a = r();
    if (r() & 1) in.ip = r();
    c.inputs.push_back(in);
  }
  return c;
}

TEST(CaseCodec, RoundTrip) {
  std::mt19937_64 r(1);
  for (int i = 0; i < 2000; i++) {
    const Case c = random_case(r);
    EXPECT_EQ(decode_case(encode_case(c)), c);
  }
}

// The wire layout is fixed (docs: version, task bits, filters as little-endian
// struct sock_filter, inputs), whatever the host does in memory.
TEST(CaseCodec, ExactBytes) {
  Case c;
  c.task = CaseTask{true, false, true, true};
  c.filters.push_back(CaseFilter{{Insn{0x20, 1, 2, 0x11223344}, Insn{0x06, 0, 0, 0x7fff0000}}, 8});
  c.filters.push_back(CaseFilter{{}, 0});
  CaseInput in;
  in.arch = Arch::I386;
  in.nr = 20;
  in.args[5] = 0x0102030405060708ull;
  c.inputs.push_back(in);
  const std::string b = encode_case(c);
  std::string hex;
  for (unsigned char ch : b) hex += "0123456789abcdef"[ch >> 4], hex += "0123456789abcdef"[ch & 15];
  EXPECT_EQ(hex,
            "01" "0d" "02"                                    // version, task bits, 2 filters
            "08000000" "0200" "2000" "01" "02" "44332211"       // flags, length, ld [..] jt 1 jf 2
            "0600" "00" "00" "0000ff7f"                         // ret ALLOW
            "00000000" "0000"                                   // an empty program
            "01" "01" "00"                                      // 1 input: i386, no ip
            "1400000000000000" + std::string(5 * 16, '0') + "0807060504030201" + std::string(16, '0'));
  EXPECT_EQ(decode_case(b), c);
}

TEST(CaseCodec, ArbitraryBytesNeverCrash) {
  std::mt19937_64 r(2);
  int accepted = 0;
  for (int i = 0; i < 100000; i++) {
    std::string s(r() % 200, '\0');
    for (char& ch : s) ch = static_cast<char>(r());
    if (i % 2 && !s.empty()) s[0] = 1;  // valid version byte
    try {
      (void)decode_case(s);
      accepted++;
    } catch (const WireError&) {
    }
  }
  // Truncations of a valid encoding are all rejected.
  const std::string good = encode_case(random_case(r));
  for (size_t n = 0; n < good.size(); n++) EXPECT_THROW(decode_case(good.substr(0, n)), WireError);
  (void)accepted;
}

TEST(Protocol, FramesRoundTripInPieces) {
  vm::RunBatch b;
  b.batch_id = 77;
  b.jit = 0;
  std::mt19937_64 r(3);
  for (int i = 0; i < 50; i++) b.cases.push_back(random_case(r));
  const std::string wire = vm::encode_frame(vm::MsgType::Run, vm::encode(b)) +
                           vm::encode_frame(vm::MsgType::Ping, "abc");
  vm::FrameDecoder d;
  std::vector<vm::Frame> frames;
  for (size_t i = 0; i < wire.size(); i += 7) {  // arrive in small pieces
    d.feed(wire.data() + i, std::min<size_t>(7, wire.size() - i));
    while (auto f = d.next()) frames.push_back(*f);
  }
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].type, vm::MsgType::Run);
  const vm::RunBatch back = vm::decode_run(frames[0].payload);
  EXPECT_EQ(back.batch_id, 77u);
  EXPECT_EQ(back.cases, b.cases);
  EXPECT_EQ(frames[1].payload, "abc");
}

TEST(Protocol, CorruptionIsDetected) {
  std::string f = vm::encode_frame(vm::MsgType::Ping, "hello");
  f[f.size() - 1] ^= 1;  // payload bit flip -> checksum
  vm::FrameDecoder d;
  d.feed(f.data(), f.size());
  EXPECT_THROW(d.next(), vm::ProtocolError);
  vm::FrameDecoder garbage;
  garbage.feed("GARBAGE-ON-THE-CHANNEL", 22);
  EXPECT_THROW(garbage.next(), vm::ProtocolError);
}

TEST(Protocol, ResultsRoundTrip) {
  vm::ResultBatch rb;
  rb.batch_id = 5;
  vm::CaseResult c;
  vm::KernelInstall in;
  in.ret = 0;
  in.has_cache = true;
  in.cache_native.assign(470, true);
  in.cache_native[3] = false;
  in.cache_compat.assign(470, false);
  c.installs.push_back(in);
  vm::KernelOutcome o;
  o.kind = vm::OutcomeKind::Trapped;
  o.sig_errno = 0xbeef;
  o.dispatched = 0;
  c.outcomes.push_back(o);
  c.note = "x";
  rb.results.push_back(c);
  const vm::ResultBatch back = vm::decode_result(vm::encode(rb));
  ASSERT_EQ(back.results.size(), 1u);
  EXPECT_EQ(back.results[0].installs[0].cache_native, in.cache_native);
  EXPECT_EQ(back.results[0].outcomes[0].sig_errno, 0xbeef);
  EXPECT_EQ(back.results[0].outcomes[0].dispatched, 0);
}

}  // namespace
}  // namespace secdiff
