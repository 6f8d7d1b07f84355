#include "oracle/prefix_by_nr.h"

#include <array>

#include "oracle/interpreter.h"
#include "oracle/seccomp_abi.h"

namespace secdiff {

using namespace bpf;

namespace {

constexpr size_t kMaxWords = 16;  // the set path handles count <= 1024
using Words = std::array<uint64_t, kMaxWords>;

// A or X on a set of numbers: the number itself, or one constant.
struct Val {
  bool nr = false;
  uint32_t c = 0;
  uint32_t at(uint32_t n) const { return nr ? n : c; }
  bool operator==(const Val& o) const { return nr == o.nr && (nr || c == o.c); }
};

struct State {
  Val a, x;
  Words set;
};

bool empty(const Words& w) {
  for (uint64_t v : w)
    if (v) return false;
  return true;
}

template <class F>
void each(const Words& set, F&& f) {
  for (size_t i = 0; i < set.size(); i++)
    for (uint64_t w = set[i]; w; w &= w - 1) f(static_cast<uint32_t>(i * 64 + __builtin_ctzll(w)));
}

// The numbers n in [lo, count).
Words from(uint64_t lo, uint32_t count) {
  Words m{};
  for (uint64_t n = lo; n < count;) {
    if (n % 64 == 0 && n + 64 <= count) {
      m[n / 64] = ~0ull;
      n += 64;
    } else {
      m[n / 64] |= 1ull << (n % 64);
      n++;
    }
  }
  return m;
}

bool jump_taken(uint16_t op, uint32_t a, uint32_t b) {
  switch (op) {
    case JEQ: return a == b;
    case JGT: return a > b;
    case JGE: return a >= b;
    default: return (a & b) != 0;  // JSET
  }
}

}  // namespace

std::vector<PrefixOutcome> bpf_prefix_by_nr(const Program& p, uint32_t arch, uint32_t count) {
  std::vector<PrefixOutcome> out(count);
  if (count == 0) return out;
  if (count > kMaxWords * 64) {  // number by number
    for (uint32_t nr = 0; nr < count; nr++) {
      SeccompData sd;
      sd.arch = arch;
      sd.nr = static_cast<int32_t>(nr);
      BpfState st;
      const uint32_t r = bpf_run_prefix(p, sd, &st);
      out[nr] = PrefixOutcome{st.stopped, st.stopped ? 0 : r};
    }
    return out;
  }
  const size_t nw = (count + 63) / 64;
  const unsigned n = static_cast<unsigned>(p.size());
  // States waiting at each pc; all jumps go forward, so a pc's states are all
  // known when it is reached, and states with the same A and X merge.
  static thread_local std::vector<std::vector<State>> at;
  if (at.size() < n + 1) at.resize(n + 1);
  for (unsigned pc = 0; pc <= n; pc++) at[pc].clear();
  auto add = [&](uint64_t pc, Val a, Val x, const Words& set) {
    if (empty(set)) return;
    if (pc > n) pc = n;  // run() stops at the end too
    for (State& s : at[pc])
      if (s.a == a && s.x == x) {
        for (size_t i = 0; i < nw; i++) s.set[i] |= set[i];
        return;
      }
    at[pc].push_back(State{a, x, set});
  };
  add(0, Val{}, Val{}, from(0, count));
  auto finish = [&](const Words& set, auto&& ret_of) {
    each(set, [&](uint32_t nr) { out[nr] = PrefixOutcome{false, ret_of(nr)}; });
  };
  for (unsigned pc = 0; pc <= n; pc++) {
    // add() only appends to later pcs, so at[pc] stays put while it is read.
    for (size_t si = 0; si < at[pc].size(); si++) {
      const State& s = at[pc][si];
      if (pc == n) {  // ran off the end: not reachable for a checked program (run() returns 0)
        finish(s.set, [](uint32_t) { return 0u; });
        continue;
      }
      const Insn& in = p[pc];
      const uint16_t code = in.code;
      if (code == LDX_W_ABS) {  // rewritten LD|W|ABS
        if (in.k == SD_OFF_NR) {
          add(pc + 1, Val{true, 0}, s.x, s.set);
        } else if (in.k == SD_OFF_ARCH) {
          add(pc + 1, Val{false, arch}, s.x, s.set);
        } else {
          each(s.set, [&](uint32_t nr) { out[nr] = PrefixOutcome{true, 0}; });
        }
        continue;
      }
      if (code == (LD | IMM)) {
        add(pc + 1, Val{false, in.k}, s.x, s.set);
        continue;
      }
      if (code == (LDX | IMM)) {
        add(pc + 1, s.a, Val{false, in.k}, s.set);
        continue;
      }
      if (code == (MISC | TAX)) {
        add(pc + 1, s.a, s.a, s.set);
        continue;
      }
      if (code == (MISC | TXA)) {
        add(pc + 1, s.x, s.x, s.set);
        continue;
      }
      if (code == (JMP | JA)) {
        add(uint64_t{pc} + 1 + in.k, s.a, s.x, s.set);
        continue;
      }
      if (is_cond_jump(code)) {
        const uint16_t op = op_of(code);
        const Val b = src_of(code) == K ? Val{false, in.k} : s.x;
        Words taken{};
        if (!s.a.nr && !b.nr) {
          if (jump_taken(op, s.a.c, b.c)) taken = s.set;
        } else if (s.a.nr && !b.nr && op != JSET) {
          // nr == c, nr > c, nr >= c on the whole set at once.
          if (op == JEQ) {
            if (b.c < count) taken[b.c / 64] = s.set[b.c / 64] & (1ull << (b.c % 64));
          } else {
            taken = from(op == JGT ? uint64_t{b.c} + 1 : b.c, count);
            for (size_t i = 0; i < nw; i++) taken[i] &= s.set[i];
          }
        } else {
          each(s.set, [&](uint32_t nr) {
            if (jump_taken(op, s.a.at(nr), b.at(nr))) taken[nr / 64] |= 1ull << (nr % 64);
          });
        }
        Words not_taken = s.set;
        for (size_t i = 0; i < nw; i++) not_taken[i] &= ~taken[i];
        add(uint64_t{pc} + 1 + in.jt, s.a, s.x, taken);
        add(uint64_t{pc} + 1 + in.jf, s.a, s.x, not_taken);
        continue;
      }
      if (code == (RET | K)) {
        finish(s.set, [&](uint32_t) { return in.k; });
        continue;
      }
      if (code == (RET | A)) {
        finish(s.set, [&](uint32_t nr) { return s.a.at(nr); });
        continue;
      }
      // ALU, scratch memory and anything else: number by number from here.
      // M[] is still all zero: no ST/STX has run on a set.
      each(s.set, [&](uint32_t nr) {
        SeccompData sd;
        sd.arch = arch;
        sd.nr = static_cast<int32_t>(nr);
        BpfState st;
        st.pc = pc;
        st.a = s.a.at(nr);
        st.x = s.x.at(nr);
        const uint32_t r = bpf_run_prefix_from(p, sd, &st);
        out[nr] = PrefixOutcome{st.stopped, st.stopped ? 0 : r};
      });
    }
  }
  return out;
}

}  // namespace secdiff
