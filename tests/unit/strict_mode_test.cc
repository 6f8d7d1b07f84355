// SECCOMP_MODE_STRICT entered by an input (oracle/strict_mode.h): table tests
// of do_seccomp()/prctl_set_seccomp() argument rules and of
// __secure_computing_strict()'s allowed lists, and predict_case() with them.
// tests/vm/cases/strict-mode-*.json check the same against the real kernel.
#include "oracle/strict_mode.h"

#include <gtest/gtest.h>

namespace secdiff {
namespace {

CaseInput in(Arch a, int64_t nr, std::initializer_list<uint64_t> args = {}) {
  CaseInput i;
  i.arch = a;
  i.nr = nr;
  size_t k = 0;
  for (uint64_t v : args) i.args[k++] = v;
  return i;
}

TEST(StrictMode, RequestsStrictMode) {
  struct Row {
    const char* what;
    CaseInput input;
    bool x32_abi, want;
  };
  const Row rows[] = {
      {"seccomp(0, 0, NULL)", in(Arch::X86_64, 317), true, true},
      {"flags != 0: EINVAL", in(Arch::X86_64, 317, {0, 1}), true, false},
      {"uargs != NULL: EINVAL", in(Arch::X86_64, 317, {0, 0, 8}), true, false},
      {"op and flags are unsigned int: high halves ignored", in(Arch::X86_64, 317, {1ull << 32, 1ull << 32}), true, true},
      {"uargs is a full 64-bit pointer", in(Arch::X86_64, 317, {0, 0, 1ull << 32}), true, false},
      {"SECCOMP_SET_MODE_FILTER", in(Arch::X86_64, 317, {1}), true, false},
      {"prctl(PR_SET_SECCOMP, 1)", in(Arch::X86_64, 157, {22, 1}), true, true},
      {"prctl arg3 is ignored for strict", in(Arch::X86_64, 157, {22, 1, 0x1234}), true, true},
      {"prctl option is an int", in(Arch::X86_64, 157, {(1ull << 32) | 22, 1}), true, true},
      {"prctl arg2 is unsigned long", in(Arch::X86_64, 157, {22, (1ull << 32) | 1}), true, false},
      {"prctl(PR_SET_SECCOMP, 2) is filter mode", in(Arch::X86_64, 157, {22, 2}), true, false},
      {"nr high bits are truncated", in(Arch::X86_64, (1ll << 32) | 317), true, true},
      {"i386 seccomp is 354", in(Arch::I386, 354), true, true},
      {"i386 317 is not seccomp", in(Arch::I386, 317), true, false},
      {"i386 registers are 32 bits", in(Arch::I386, 354, {0, 0, 1ull << 32}), true, true},
      {"i386 prctl is 172", in(Arch::I386, 172, {22, (1ull << 32) | 1}), true, true},
      {"x32 seccomp", in(Arch::X32, 317), true, true},
      {"x32 without the x32 ABI: ENOSYS", in(Arch::X32, 317), false, false},
      {"getpid", in(Arch::X86_64, 39), true, false},
  };
  for (const Row& r : rows) EXPECT_EQ(requests_strict_mode(r.input, r.x32_abi), r.want) << r.what;
}

TEST(StrictMode, AllowedSyscalls) {
  struct Row {
    CaseInput input;
    bool want;
  };
  const Row rows[] = {
      {in(Arch::X86_64, 0), true},   {in(Arch::X86_64, 1), true},   {in(Arch::X86_64, 60), true},
      {in(Arch::X86_64, 15), true},  {in(Arch::X86_64, 231), false}, {in(Arch::X86_64, 39), false},
      {in(Arch::X86_64, 3), false},  {in(Arch::I386, 3), true},     {in(Arch::I386, 4), true},
      {in(Arch::I386, 1), true},     {in(Arch::I386, 119), true},   {in(Arch::I386, 0), false},
      {in(Arch::I386, 173), false},  {in(Arch::X32, 0), false},     {in(Arch::X32, 3), false},
      {in(Arch::X86_64, 0x40000000), false}, {in(Arch::X86_64, (1ll << 32) | 0), true},
  };
  for (const Row& r : rows)
    EXPECT_EQ(strict_mode_allows(r.input), r.want)
        << arch_name(r.input.arch) << " nr " << r.input.nr;
}

TEST(StrictMode, PredictCase) {
  Case c;
  c.inputs = {in(Arch::X86_64, 317), in(Arch::X86_64, 0), in(Arch::X86_64, 39), in(Arch::X86_64, 0)};
  const CasePrediction p = predict_case(c);
  ASSERT_EQ(p.observations.size(), 4u);
  EXPECT_TRUE(p.observations[0].dispatched);
  EXPECT_TRUE(p.observations[1].dispatched);
  EXPECT_FALSE(p.observations[1].killed);
  const Observation& k = p.observations[2];
  EXPECT_TRUE(k.killed && k.strict_kill && k.whole_process && k.audit_logged && !k.dispatched && !k.signal);
  EXPECT_EQ(k.ret, SECCOMP_RET_KILL_THREAD);
  // With another thread, do_exit() ends only this one.
  c.task.other_threads = true;
  EXPECT_FALSE(predict_case(c).observations[2].whole_process);
  // A filter makes the request fail (seccomp_may_assign_mode): getpid runs.
  c.filters = {CaseFilter{}};
  c.filters[0].prog = {Insn{0x06, 0, 0, SECCOMP_RET_ALLOW}};
  const CasePrediction q = predict_case(c);
  ASSERT_EQ(q.chain.size(), 1u);
  EXPECT_TRUE(q.observations[2].dispatched);
  EXPECT_FALSE(q.observations[2].killed);
}

}  // namespace
}  // namespace secdiff
