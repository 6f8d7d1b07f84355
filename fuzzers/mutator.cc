#include "fuzzers/mutator.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "oracle/case_codec.h"
#include "oracle/seccomp_abi.h"
#include "oracle/validator.h"

namespace secdiff::fuzz {

using namespace bpf;

// ---------------------------------------------------------------------------
// Rng

namespace {
uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix(seed);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint32_t Rng::below(uint32_t n) {
  if (n == 0) return 0;
  return static_cast<uint32_t>((static_cast<uint64_t>(u32()) * n) >> 32);
}

bool Rng::chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }

// ---------------------------------------------------------------------------
// Dictionaries

const std::vector<uint16_t>& seccomp_opcodes() {
  static const std::vector<uint16_t> v = {
      0x06, 0x16,                                                    // RET K, A
      0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c,  // ALU
      0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c, 0xa4, 0xac, 0x84,
      0x20, 0x80, 0x81, 0x00, 0x01, 0x60, 0x61, 0x02, 0x03,        // loads/stores
      0x07, 0x87,                                                    // TAX, TXA
      0x05, 0x15, 0x1d, 0x35, 0x3d, 0x25, 0x2d, 0x45, 0x4d};        // jumps
  return v;
}

namespace {

// Classic BPF codes seccomp rejects, and codes no table has.
const std::vector<uint16_t>& invalid_opcodes() {
  static const std::vector<uint16_t> v = {0x28, 0x30, 0x40, 0x48, 0x50, 0xb1, 0x94, 0x9c, 0x21,
                                          0x0e, 0x8c, 0x0f, 0x88, 0x8f, 0xa7, 0x1e, 0xb4, 0xbc,
                                          0xc4, 0x55, 0x5d, 0x65, 0x6d, 0x26, 0x36, 0x68, 0x70};
  return v;
}

const std::vector<uint32_t>& action_values() {
  static const std::vector<uint32_t> v = {
      SECCOMP_RET_ALLOW, SECCOMP_RET_ALLOW, SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS,
      SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO | 1, SECCOMP_RET_ERRNO | 38,
      SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF, SECCOMP_RET_TRACE, SECCOMP_RET_LOG,
      SECCOMP_RET_ALLOW | 1, SECCOMP_RET_ALLOW | 0xffff, SECCOMP_RET_LOG | 1,
      0xffff0000u,  // unknown action, ACTION_ONLY < 0: kills the process
      0xfffe0000u, 0x7ffe0000u, 0x7ffd0000u, 0x10000000u, 0x00010000u, 0x80000001u};
  return v;
}

const std::vector<uint32_t>& magic_values() {
  static const std::vector<uint32_t> v = {
      0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 255, 256, 0xfff, 0x1000, 0xffff, 0x10000,
      0x3fffffff, 0x40000000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0xffff0000,
      0x0000ffff, 0xffffff00, 0x7fff0000, 0xc0000000, AUDIT_ARCH_X86_64, AUDIT_ARCH_I386};
  return v;
}

const std::vector<uint32_t>& masks() {
  static const std::vector<uint32_t> v = {0xff, 0xffff, 0xffff0000, 0x3fffffff, 0x40000000,
                                          0xffffffff, 0x7, 0x1, 0x80000000, 0xfffffff0, 0x1ff,
                                          0x100, 0x200, 0xfffffe00};
  return v;
}

uint16_t code(uint16_t c) { return c; }

bool is_cond(uint16_t c) { return is_cond_jump(c); }
bool is_ja(uint16_t c) { return c == (JMP | JA); }
bool is_ret(uint16_t c) { return class_of(c) == RET; }

// Mutations do not grow a program past this length: BPF coverage is keyed by
// pc, so longer programs always look new, and the corpus would drift to ever
// longer (slower) cases. Longer real filters are mutated in place.
constexpr size_t kGrowLimit = 128;

}  // namespace

CaseMutator::CaseMutator(MutatorOptions o) : opt_(std::move(o)) {
  kernel_ = opt_.kernel.empty() ? &default_kernel_profile() : find_kernel_profile(opt_.kernel);
  if (!kernel_) kernel_ = &default_kernel_profile();
  for (int nr = 0; nr < kernel_->native_nr; nr++)
    if (syscall_name(Arch::X86_64, nr, kernel_->version)) native_nrs_.push_back(nr);
  for (int nr = 0; nr < kernel_->compat_nr; nr++)
    if (syscall_name(Arch::I386, nr, kernel_->version)) compat_nrs_.push_back(nr);
  if (native_nrs_.empty()) native_nrs_.push_back(39);
  if (compat_nrs_.empty()) compat_nrs_.push_back(20);
}

namespace {

// Everything a generator needs while it builds one program.
struct Ctx {
  Rng& r;
  const MutatorOptions& o;
  const KernelProfile& k;
  const std::vector<uint32_t>& native;
  const std::vector<uint32_t>& compat;
  const std::vector<uint32_t>& consts;

  // A syscall number (native, compat or x32, often a table boundary).
  uint32_t nr() {
    switch (r.below(12)) {
      case 0: case 1: case 2: case 3: return r.pick(native);
      case 4: case 5: return r.pick(compat);
      case 6: return r.pick(native) | X32_SYSCALL_BIT;
      case 7: {  // bitmap boundaries and the uprobe numbers
        const uint32_t n = static_cast<uint32_t>(k.native_nr);
        const uint32_t c = static_cast<uint32_t>(k.compat_nr);
        const uint32_t v[] = {0, 1, n - 1, n, n + 1, c - 1, c, 335, 336, 511, 512,
                              (n + 63) / 64 * 64 - 1, 0xffffffff, 0x3fffffff, 1000};
        return v[r.below(sizeof v / sizeof v[0])];
      }
      case 8: return r.below(static_cast<uint32_t>(std::max(k.native_nr, k.compat_nr)) + 64);
      case 9:
        if (!consts.empty()) return r.pick(consts);
        return r.pick(native);
      default: return r.below(64);
    }
  }
  uint32_t arch() {
    switch (r.below(8)) {
      case 0: case 1: case 2: case 3: return AUDIT_ARCH_X86_64;
      case 4: case 5: return AUDIT_ARCH_I386;
      case 6: {
        static const uint32_t odd[] = {0xc00000b7u, 0x40000028u, 0, AUDIT_ARCH_X86_64 | 1};
        return odd[r.below(4)];
      }
      default: return r.chance(0.5) ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_I386;
    }
  }
  uint32_t action() {
    uint32_t a = r.pick(action_values());
    if (r.chance(0.15)) a = (a & SECCOMP_RET_ACTION_FULL) | r.below(r.chance(0.5) ? 8 : 0x10000);
    return a;
  }
  uint32_t any() {
    switch (r.below(10)) {
      case 0: case 1: return r.pick(magic_values());
      case 2: return nr();
      case 3: return action();
      case 4: return r.pick(masks());
      case 5: case 6:
        if (!consts.empty()) {
          const uint32_t c = r.pick(consts);
          switch (r.below(4)) {
            case 0: return c + 1;
            case 1: return c - 1;
            default: return c;
          }
        }
        return r.pick(magic_values());
      case 7: return 1u << r.below(32);
      case 8: return r.below(256);
      default: return r.u32();
    }
  }
  // K of a conditional jump after a load of `last_off` (-1 unknown).
  uint32_t cmp_const(int last_off) {
    if (r.chance(0.75)) {
      if (last_off == 0) return nr();
      if (last_off == 4) return arch();
    }
    return any();
  }
  uint32_t abs_off() {
    switch (r.below(8)) {
      case 0: case 1: case 2: return 0;
      case 3: case 4: return 4;
      case 5: return 8 + 4 * r.below(2);
      default: return 16 + 4 * r.below(12);
    }
  }
  uint8_t dist(size_t room) {  // forward distance in [0, room], biased short
    const uint32_t m = static_cast<uint32_t>(std::min<size_t>(room, 255));
    if (m == 0) return 0;
    if (r.chance(0.6)) return static_cast<uint8_t>(std::min<uint32_t>(m, r.below(4)));
    return static_cast<uint8_t>(r.below(m + 1));
  }

  // One instruction at pc of an n-insn program (pc < n - 1), any seccomp opcode.
  Insn body_insn(size_t pc, size_t n, int& last_off) {
    const size_t room = n - pc - 2;
    const uint32_t kind = r.below(100);
    if (kind < 20) {
      const uint32_t off = abs_off();
      last_off = static_cast<int>(off);
      return Insn{LD | W | ABS, 0, 0, off};
    }
    if (kind < 45) {
      static const uint16_t ops[] = {JEQ, JEQ, JEQ, JGT, JGE, JSET};
      const bool x = r.chance(0.1);
      return Insn{code(JMP | ops[r.below(6)] | (x ? X : K)), dist(room), dist(room),
                  x ? 0 : cmp_const(last_off)};
    }
    if (kind < 49) return Insn{JMP | JA, 0, 0, dist(room)};
    if (kind < 64) {
      static const uint16_t ops[] = {ADD, SUB, MUL, DIV, OR, AND, AND, AND, LSH, RSH, XOR, NEG};
      const uint16_t op = ops[r.below(12)];
      last_off = -1;
      if (op == NEG) return Insn{ALU | NEG, 0, 0, 0};
      const bool x = r.chance(0.25);
      uint32_t k = op == AND ? r.pick(masks()) : any();
      if (op == DIV && k == 0) k = 1 + r.below(16);
      if (op == LSH || op == RSH) k = r.below(32);
      return Insn{code(ALU | op | (x ? X : K)), 0, 0, x ? 0 : k};
    }
    if (kind < 71) {
      last_off = -1;
      return Insn{code(r.chance(0.5) ? LD | IMM : LDX | IMM), 0, 0, any()};
    }
    if (kind < 73) {
      last_off = -1;
      return Insn{code(r.chance(0.5) ? LD | W | LEN : LDX | W | LEN), 0, 0, 0};
    }
    if (kind < 80) return Insn{code(r.chance(0.6) ? ST : STX), 0, 0, r.below(4)};
    if (kind < 86) {
      last_off = -1;
      return Insn{code(r.chance(0.5) ? LD | MEM : LDX | MEM), 0, 0, r.below(4)};
    }
    if (kind < 92) {
      last_off = -1;
      return Insn{code(r.chance(0.5) ? MISC | TAX : MISC | TXA), 0, 0, 0};
    }
    if (kind < 97) return Insn{RET | K, 0, 0, action()};
    return Insn{RET | A, 0, 0, 0};
  }

  Program generic(size_t n) {
    Program p;
    int last_off = -1;
    for (size_t pc = 0; pc + 1 < n; pc++) p.push_back(body_insn(pc, n, last_off));
    p.push_back(r.chance(0.9) ? Insn{RET | K, 0, 0, action()} : Insn{RET | A, 0, 0, 0});
    return p;
  }

  // Blocks `[ld nr|arch] [and #m] jcc #k` with one edge to an ALLOW or a deny
  // return, then a default return (seccomp_is_const_allow's language).
  Program emulator(unsigned blocks) {
    Program body;
    std::vector<int> target;  // -1 none, else return index
    std::vector<bool> on_true;
    const unsigned n_rets = 2 + r.below(3);
    int last_off = -1;
    auto plain = [&](Insn i) {
      body.push_back(i);
      target.push_back(-1);
      on_true.push_back(false);
    };
    for (unsigned b = 0; b < blocks; ++b) {
      if (last_off < 0 || r.chance(0.35)) {
        const bool arch_load = r.chance(0.15);
        last_off = arch_load ? 4 : 0;
        plain(Insn{LD | W | ABS, 0, 0, static_cast<uint32_t>(last_off)});
      }
      if (r.chance(0.15)) {
        plain(Insn{ALU | AND | K, 0, 0, r.chance(0.7) ? r.pick(masks()) : any()});
        last_off = -1;
      }
      if (r.chance(0.06)) {  // an argument test or something the emulator gives up on
        switch (r.below(4)) {
          case 0: plain(Insn{LD | W | ABS, 0, 0, 16 + 4 * r.below(12)}); last_off = -1; break;
          case 1: plain(Insn{LD | IMM, 0, 0, any()}); last_off = -1; break;
          case 2: plain(Insn{MISC | TAX, 0, 0, 0}); break;
          default: plain(Insn{ALU | OR | K, 0, 0, any()}); last_off = -1; break;
        }
      }
      if (r.chance(0.08)) plain(Insn{JMP | JA, 0, 0, 0});
      static const uint16_t ops[] = {JEQ, JEQ, JGE, JGT, JSET};
      body.push_back(Insn{code(JMP | ops[r.below(5)] | K), 0, 0, cmp_const(last_off)});
      target.push_back(static_cast<int>(r.below(n_rets)));
      on_true.push_back(r.chance(0.6));
    }
    if (body.size() > 200) {
      body.resize(200);
      target.resize(200);
      on_true.resize(200);
    }
    Program p = body;
    p.push_back(Insn{RET | K, 0, 0, r.chance(0.5) ? SECCOMP_RET_ALLOW : action()});
    std::vector<size_t> ret_pc;
    for (unsigned i = 0; i < n_rets; i++) {
      ret_pc.push_back(p.size());
      p.push_back(Insn{RET | K, 0, 0, i == 0 ? SECCOMP_RET_ALLOW : action()});
    }
    // A JA in the body skips its successor now and then.
    for (size_t pc = 0; pc < body.size(); ++pc) {
      if (is_ja(p[pc].code) && pc + 2 < p.size() && r.chance(0.3)) p[pc].k = 1;
      if (target[pc] < 0) continue;
      const size_t off = ret_pc[target[pc]] - pc - 1;
      if (off > 255) continue;
      if (on_true[pc]) {
        p[pc].jt = static_cast<uint8_t>(off);
      } else {
        p[pc].jf = static_cast<uint8_t>(off);
      }
    }
    return p;
  }

  // Shaped like a real filter: arch check, nr dispatch, some argument checks.
  Program typical() {
    const unsigned n_checks = 1 + r.below(8);
    const unsigned n_rets = 1 + r.below(3);
    Program body;
    std::vector<int> ref;  // -1 none, -2 jf to kill, else jt to RET index
    if (r.chance(0.8)) {
      body.push_back(Insn{LD | W | ABS, 0, 0, 4});
      ref.push_back(-1);
      body.push_back(Insn{JMP | JEQ | K, 0, 0, r.chance(0.8) ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_I386});
      ref.push_back(-2);
    }
    body.push_back(Insn{LD | W | ABS, 0, 0, 0});
    ref.push_back(-1);
    if (r.chance(0.3)) {
      body.push_back(Insn{JMP | JGE | K, 0, 0, X32_SYSCALL_BIT});
      ref.push_back(static_cast<int>(r.below(n_rets)));
    }
    for (unsigned c = 0; c < n_checks; ++c) {
      if (r.chance(0.3)) {
        body.push_back(Insn{JMP | JEQ | K, 0, 0, nr()});  // jf falls to the arg check
        ref.push_back(-3);
        body.push_back(Insn{LD | W | ABS, 0, 0, 16 + 8 * r.below(6) + (r.chance(0.3) ? 4 : 0)});
        ref.push_back(-1);
        if (r.chance(0.3)) {
          body.push_back(Insn{ALU | AND | K, 0, 0, r.pick(masks())});
          ref.push_back(-1);
        }
        static const uint16_t ops[] = {JEQ, JGT, JGE, JSET};
        body.push_back(Insn{code(JMP | ops[r.below(4)] | K), 0, 0, any()});
        ref.push_back(static_cast<int>(r.below(n_rets)));
        body.push_back(Insn{LD | W | ABS, 0, 0, 0});
        ref.push_back(-1);
      } else {
        body.push_back(Insn{code(JMP | (r.chance(0.85) ? JEQ : r.chance(0.5) ? JGE : JGT) | K), 0,
                            0, nr()});
        ref.push_back(static_cast<int>(r.below(n_rets)));
      }
    }
    Program p = body;
    p.push_back(Insn{RET | K, 0, 0, r.chance(0.5) ? SECCOMP_RET_ALLOW : action()});
    const size_t first_ret = p.size();
    for (unsigned i = 0; i < n_rets; ++i) p.push_back(Insn{RET | K, 0, 0, action()});
    p.push_back(Insn{RET | K, 0, 0, SECCOMP_RET_KILL_PROCESS});
    const size_t kill = p.size() - 1;
    for (size_t pc = 0; pc < body.size(); ++pc) {
      const int rf = ref[pc];
      if (rf == -1) continue;
      if (rf == -2) {
        p[pc].jf = static_cast<uint8_t>(std::min<size_t>(255, kill - pc - 1));
      } else if (rf == -3) {
        // jeq nr: true -> the argument test below, false -> skip it
        size_t end = pc + 1;
        while (end < body.size() && !(body[end].code == (LD | W | ABS) && body[end].k == 0)) end++;
        p[pc].jt = 0;
        p[pc].jf = static_cast<uint8_t>(std::min<size_t>(255, end - pc));
      } else {
        p[pc].jt = static_cast<uint8_t>(std::min<size_t>(255, first_ret + rf - pc - 1));
      }
    }
    return p;
  }

  // A mutation that usually makes a valid program invalid.
  void invalidate(Program& p) {
    if (p.empty()) {
      p.push_back(Insn{RET | K, 0, 0, SECCOMP_RET_ALLOW});
    }
    const size_t n = p.size();
    const size_t pc = r.below(static_cast<uint32_t>(n));
    Insn& i = p[pc];
    switch (r.below(10)) {
      case 0: i.code = static_cast<uint16_t>(r.u32()); break;
      case 1: i.code = r.pick(invalid_opcodes()); break;
      case 2:
        i.code = LD | W | ABS;
        i.k = r.pick(std::vector<uint32_t>{1, 2, 3, 62, 64, 68, 0xfffff000, 0xfffff004, 0xffffffff});
        break;
      case 3:
        i.code = code(JMP | JEQ | K);
        i.jt = static_cast<uint8_t>(std::min<size_t>(255, n - pc - 1 + r.below(3)));
        break;
      case 4:
        i.code = JMP | JA;
        i.k = r.chance(0.3) ? 0xffffffff : static_cast<uint32_t>(n - pc - 1 + r.below(3));
        break;
      case 5: p.back() = Insn{LD | IMM, 0, 0, 0}; break;
      case 6:
        i = r.chance(0.5) ? Insn{ALU | DIV | K, 0, 0, 0} : Insn{ALU | LSH | K, 0, 0, 32 + r.below(8)};
        break;
      case 7: i = Insn{code(r.chance(0.5) ? ST : LD | MEM), 0, 0, 16 + r.below(16)}; break;
      case 8: i = Insn{LD | MEM, 0, 0, r.below(16)}; break;
      default:
        p.clear();  // (longer than 4096 is not representable in the case encoding)
        break;
    }
  }
};

// Where each jump of `p` lands: (pc, which operand, target) for conditional
// jumps (jt = 0, jf = 1) and JA (2).
struct JumpRef {
  size_t pc;
  int which;
  size_t target;
};

std::vector<JumpRef> jumps_of(const Program& p) {
  std::vector<JumpRef> v;
  v.reserve(2 * p.size());
  for (size_t pc = 0; pc < p.size(); pc++) {
    const Insn& i = p[pc];
    if (is_cond(i.code)) {
      v.push_back({pc, 0, pc + 1 + i.jt});
      v.push_back({pc, 1, pc + 1 + i.jf});
    } else if (is_ja(i.code)) {
      v.push_back({pc, 2, pc + 1 + static_cast<size_t>(i.k)});
    }
  }
  return v;
}

void set_target(Program& p, const JumpRef& j, size_t target) {
  Insn& i = p[j.pc];
  const size_t off = target > j.pc ? target - j.pc - 1 : 0;
  if (j.which == 2) {
    i.k = static_cast<uint32_t>(off);
  } else {
    const uint8_t o = static_cast<uint8_t>(std::min<size_t>(off, 255));
    (j.which == 0 ? i.jt : i.jf) = o;
  }
}

}  // namespace

void insert_insn(Program& p, size_t at, const Insn& in) {
  at = std::min(at, p.size());
  auto js = jumps_of(p);
  p.insert(p.begin() + static_cast<std::ptrdiff_t>(at), in);
  for (JumpRef j : js) {
    if (j.pc >= at) {  // the jump itself moved; its relative targets still hold
      continue;
    }
    if (j.target > at) set_target(p, j, j.target + 1);
  }
}

void delete_insn(Program& p, size_t at) {
  if (at >= p.size()) return;
  auto js = jumps_of(p);
  p.erase(p.begin() + static_cast<std::ptrdiff_t>(at));
  for (JumpRef j : js) {
    if (j.pc >= at) continue;  // removed, or after it (relative targets hold)
    if (j.target > at) set_target(p, JumpRef{j.pc, j.which, j.target}, j.target - 1);
  }
}

void repair_program(Program& p, size_t max_len) {
  max_len = std::clamp<size_t>(max_len, 1, MAXINSNS);
  if (p.size() > max_len) p.resize(max_len);
  if (p.empty() || !is_ret(p.back().code)) {
    if (p.size() >= max_len) p.pop_back();
    p.push_back(Insn{RET | K, 0, 0, SECCOMP_RET_ALLOW});
  }
  static const std::vector<bool> allowed = [] {
    std::vector<bool> a(0x10000, false);
    for (uint16_t c : seccomp_opcodes()) a[c] = true;
    return a;
  }();
  const size_t n = p.size();
  for (size_t pc = 0; pc < n; pc++) {
    Insn& i = p[pc];
    if (!allowed[i.code]) {
      // Keep the class where one exists: the nearest allowed code of it.
      switch (class_of(i.code)) {
        case LD: i.code = mode_of(i.code) == MEM ? LD | MEM : LD | W | ABS; break;
        case LDX: i.code = mode_of(i.code) == MEM ? LDX | MEM : LDX | IMM; break;
        case ST: i.code = ST; break;
        case STX: i.code = STX; break;
        case ALU: i.code = code(ALU | AND | K); break;
        case JMP: i.code = code(JMP | JEQ | K); break;
        case RET: i.code = RET | K; break;
        default: i.code = i.code & 0x80 ? MISC | TXA : MISC | TAX; break;
      }
    }
    switch (i.code) {
      case LD | W | ABS: i.k &= 0x3c; break;
      case ALU | DIV | K:
        if (i.k == 0) i.k = 1;
        break;
      case ALU | LSH | K:
      case ALU | RSH | K: i.k &= 31; break;
      case ST: case STX: case LD | MEM: case LDX | MEM: i.k &= 15; break;
      default: break;
    }
    if (pc + 1 == n) {
      if (!is_ret(i.code)) i = Insn{RET | K, 0, 0, SECCOMP_RET_ALLOW};
      continue;
    }
    const size_t room = n - pc - 2;  // the largest valid forward offset
    if (is_cond(i.code)) {
      if (i.jt > room) i.jt = static_cast<uint8_t>(std::min<size_t>(room, 255));
      if (i.jf > room) i.jf = static_cast<uint8_t>(std::min<size_t>(room, 255));
    } else if (is_ja(i.code)) {
      if (i.k > room) i.k = static_cast<uint32_t>(room);
    }
  }
  // check_load_and_stores(): turn loads it rejects into immediate loads.
  for (int guard = 0; guard < 64; guard++) {
    const LoadResult r = check_load_and_stores(p);
    if (r.ok() || r.insn < 0) break;
    Insn& i = p[static_cast<size_t>(r.insn)];
    i.code = class_of(i.code) == LDX ? LDX | IMM : LD | IMM;
  }
}

bool program_is_valid(const Program& p) {
  return seccomp_prepare_filter(p, 0, LoadEnv{}, nullptr).ok();
}

std::vector<uint32_t> case_constants(const Case& c) {
  std::vector<uint32_t> v;
  size_t n = 13 * c.inputs.size();
  for (const CaseFilter& f : c.filters) n += f.prog.size();
  v.reserve(n);
  for (const CaseFilter& f : c.filters) {
    for (const Insn& i : f.prog) {
      const uint16_t cls = class_of(i.code);
      if ((cls == JMP && op_of(i.code) != JA && src_of(i.code) == K) ||
          (cls == ALU && src_of(i.code) == K) || i.code == (LD | IMM) || i.code == (LDX | IMM) ||
          i.code == (RET | K))
        v.push_back(i.k);
    }
  }
  for (const CaseInput& in : c.inputs) {
    v.push_back(static_cast<uint32_t>(in.nr));
    for (uint64_t a : in.args) {
      v.push_back(static_cast<uint32_t>(a));
      v.push_back(static_cast<uint32_t>(a >> 32));
    }
  }
  // Distinct values in first-seen order (an open-addressing set stamped per
  // call, so it is never cleared), then the 256 smallest: linear, where a
  // sort was most of the mutator's time on real filters.
  static thread_local std::vector<uint64_t> seen;  // (stamp << 32) | value
  static thread_local uint64_t stamp = 0;
  size_t cap = 64;
  while (cap < 2 * v.size()) cap <<= 1;
  if (seen.size() < cap) seen.assign(cap, 0);
  if (++stamp >> 32) {  // after 2^32 calls
    std::fill(seen.begin(), seen.end(), 0);
    stamp = 1;
  }
  const size_t mask = seen.size() - 1;  // a power of two
  size_t out = 0;
  for (const uint32_t x : v) {
    size_t h = (x * 0x9e3779b97f4a7c15ull) >> 40;
    for (;; h++) {
      uint64_t& slot = seen[h & mask];
      if (slot >> 32 != stamp) {
        slot = stamp << 32 | x;
        v[out++] = x;
        break;
      }
      if (static_cast<uint32_t>(slot) == x) break;
    }
  }
  v.resize(out);
  if (v.size() > 256) {
    std::nth_element(v.begin(), v.begin() + 255, v.end());
    v.resize(256);
  }
  return v;
}

namespace {

// Changes one 32-bit half of `in` that the case's programs load (args or ip),
// to a constant the programs use (or its neighbour, or a random value).
void tweak_loaded_word(Rng& r, const Case& c, CaseInput& in, const std::vector<uint32_t>& consts) {
  std::vector<uint32_t> offs;
  for (const CaseFilter& f : c.filters)
    for (const Insn& i : f.prog)
      if (i.code == (LD | W | ABS) && i.k >= SD_OFF_IP && i.k < SECCOMP_DATA_SIZE && (i.k & 3) == 0)
        offs.push_back(i.k);
  const uint32_t off = offs.empty() ? SD_OFF_ARGS + 4 * r.below(12) : r.pick(offs);
  uint32_t v = consts.empty() || r.chance(0.2) ? r.u32() : r.pick(consts);
  if (r.chance(0.2)) v += r.chance(0.5) ? 1 : -1;
  const bool high = off & 4;
  uint64_t* word = off >= SD_OFF_ARGS ? &in.args[(off - SD_OFF_ARGS) / 8] : nullptr;
  uint64_t cur = word ? *word : in.ip.value_or(0);
  cur = high ? (cur & 0xffffffffull) | (uint64_t{v} << 32) : (cur & ~0xffffffffull) | v;
  if (word) {
    *word = cur;
  } else {
    in.ip = cur;
  }
}

}  // namespace

Program CaseMutator::generate_program(Rng& r, const std::vector<uint32_t>& consts) const {
  Ctx cx{r, opt_, *kernel_, native_nrs_, compat_nrs_, consts};
  Program p;
  const double u = static_cast<double>(r.u32()) / 4294967296.0;
  if (u < opt_.emulator_share) {
    p = cx.emulator(1 + r.below(std::max(1u, opt_.max_insns / 4)));
  } else if (u < opt_.emulator_share + opt_.typical_share) {
    p = cx.typical();
  } else {
    p = cx.generic(1 + r.below(std::max(1u, opt_.max_insns)));
  }
  repair_program(p, 255);
  if (r.chance(opt_.invalid_share)) cx.invalidate(p);
  return p;
}

CaseInput CaseMutator::generate_input(Rng& r, const std::vector<uint32_t>& consts) const {
  Ctx cx{r, opt_, *kernel_, native_nrs_, compat_nrs_, consts};
  CaseInput in;
  const uint32_t a = r.below(10);
  in.arch = a < 6 ? Arch::X86_64 : a < 9 ? Arch::I386 : Arch::X32;
  uint32_t nr;
  if (!consts.empty() && r.chance(0.45)) {
    nr = r.pick(consts) + static_cast<uint32_t>(static_cast<int>(r.below(3)) - 1) * (r.chance(0.7) ? 0 : 1);
  } else if (in.arch == Arch::I386) {
    nr = r.chance(0.8) ? r.pick(compat_nrs_) : cx.nr();
  } else {
    nr = r.chance(0.8) ? r.pick(native_nrs_) : cx.nr();
  }
  if (in.arch == Arch::X32) nr &= ~X32_SYSCALL_BIT;
  in.nr = static_cast<int32_t>(nr);
  if (r.chance(0.03)) in.nr = static_cast<int64_t>((uint64_t{r.u32() | 1} << 32) | nr);
  auto half = [&]() -> uint32_t {
    if (!consts.empty() && r.chance(0.5)) return r.pick(consts);
    switch (r.below(4)) {
      case 0: return 0;
      case 1: return 0xffffffff;
      case 2: return r.pick(magic_values());
      default: return r.u32();
    }
  };
  for (uint64_t& arg : in.args) {
    if (r.chance(0.5)) {
      arg = 0;
      continue;
    }
    const uint64_t lo = half();
    const uint64_t hi = r.chance(0.6) ? 0 : half();
    arg = (hi << 32) | lo;
  }
  if (r.chance(0.3)) in.ip = (uint64_t{half()} << (r.chance(0.5) ? 32 : 0)) | half();
  return in;
}

void CaseMutator::mutate_program(Rng& r, Program& p, const std::vector<uint32_t>& consts) const {
  Ctx cx{r, opt_, *kernel_, native_nrs_, compat_nrs_, consts};
  if (p.empty()) p.push_back(Insn{RET | K, 0, 0, SECCOMP_RET_ALLOW});
  const size_t n = p.size();
  const size_t pc = r.below(static_cast<uint32_t>(n));
  // The load that reaches pc on the fall-through path, for context-aware constants.
  int last_off = -1;
  for (size_t i = pc; i-- > 0;) {
    if (p[i].code == (LD | W | ABS)) {
      last_off = static_cast<int>(p[i].k);
      break;
    }
    if (class_of(p[i].code) == ALU || p[i].code == (LD | IMM) || p[i].code == (LD | MEM) ||
        p[i].code == (MISC | TXA))
      break;
  }
  switch (r.below(18)) {
    case 0: case 1: {  // replace
      int lo = last_off;
      Insn in = cx.body_insn(pc, std::max<size_t>(n, pc + 2), lo);
      if (pc + 1 == n && !is_ret(in.code)) in = Insn{RET | K, 0, 0, cx.action()};
      p[pc] = in;
      break;
    }
    case 2: case 3: {  // insert (programs grow to kGrowLimit; real ones keep their length)
      if (n >= kGrowLimit) break;
      const size_t at = r.below(static_cast<uint32_t>(n));  // never after the last RET
      int lo = last_off;
      insert_insn(p, at, cx.body_insn(at, n + 1, lo));
      break;
    }
    case 4: {  // delete
      if (n > 1) delete_insn(p, pc);
      break;
    }
    case 5: case 6: case 7: {  // K from a dictionary, by context
      Insn& i = p[pc];
      if (is_ret(i.code)) {
        i.k = cx.action();
      } else if (is_cond(i.code)) {
        i.k = cx.cmp_const(last_off);
      } else if (i.code == (LD | W | ABS)) {
        i.k = cx.abs_off();
      } else if (i.code == (ALU | AND | K)) {
        i.k = r.chance(0.6) ? r.pick(masks()) : cx.any();
      } else {
        i.k = cx.any();
      }
      break;
    }
    case 8: {  // tweak K
      Insn& i = p[pc];
      switch (r.below(4)) {
        case 0: i.k++; break;
        case 1: i.k--; break;
        case 2: i.k ^= 1u << r.below(32); break;
        default: i.k = consts.empty() ? cx.any() : r.pick(consts); break;
      }
      break;
    }
    case 9: case 10: {  // retarget or swap a jump
      Insn& i = p[pc];
      if (is_cond(i.code)) {
        if (r.chance(0.3)) {
          std::swap(i.jt, i.jf);
        } else {
          (r.chance(0.5) ? i.jt : i.jf) = cx.dist(pc + 2 <= n ? n - pc - 2 : 0);
        }
      } else if (is_ja(i.code)) {
        i.k = cx.dist(n >= pc + 2 ? n - pc - 2 : 0);
      } else {
        int lo = last_off;
        Insn j = cx.body_insn(pc, std::max<size_t>(n, pc + 2), lo);
        if (is_cond(j.code) && pc + 1 < n) i = j;
      }
      break;
    }
    case 11: {  // change the operation of a jump or ALU insn
      Insn& i = p[pc];
      if (is_cond(i.code)) {
        static const uint16_t ops[] = {JEQ, JGT, JGE, JSET};
        i.code = code(JMP | ops[r.below(4)] | (r.chance(0.1) ? X : src_of(i.code)));
      } else if (class_of(i.code) == ALU) {
        static const uint16_t ops[] = {ADD, SUB, MUL, OR, AND, XOR, LSH, RSH};
        i.code = code(ALU | ops[r.below(8)] | src_of(i.code));
      } else if (i.code == (LD | W | ABS)) {
        i.k = cx.abs_off();
      }
      break;
    }
    case 12: case 13: {  // insert a block: [ld nr|arch] [and] jcc k -> an existing RET
      if (n + 3 >= kGrowLimit) break;
      std::vector<size_t> rets;
      for (size_t i = 0; i < n; i++)
        if (is_ret(p[i].code)) rets.push_back(i);
      const size_t at = r.below(static_cast<uint32_t>(n));
      Program blk;
      int off = last_off;
      if (r.chance(0.6) || off < 0) {
        off = r.chance(0.8) ? 0 : r.chance(0.5) ? 4 : static_cast<int>(16 + 4 * r.below(12));
        blk.push_back(Insn{LD | W | ABS, 0, 0, static_cast<uint32_t>(off)});
      }
      if (r.chance(0.15)) blk.push_back(Insn{ALU | AND | K, 0, 0, r.pick(masks())});
      static const uint16_t ops[] = {JEQ, JEQ, JGE, JGT, JSET};
      blk.push_back(Insn{code(JMP | ops[r.below(5)] | K), 0, 0, cx.cmp_const(off)});
      for (size_t j = 0; j < blk.size(); j++) insert_insn(p, at + j, blk[j]);
      const size_t jpc = at + blk.size() - 1;
      // Point one edge at a RET (after the block), or a new RET we append.
      std::vector<size_t> after;
      for (size_t i = jpc + 1; i < p.size(); i++)
        if (is_ret(p[i].code)) after.push_back(i);
      if (after.empty()) break;
      const size_t t = r.pick(after);
      if (t - jpc - 1 <= 255) {
        (r.chance(0.5) ? p[jpc].jt : p[jpc].jf) = static_cast<uint8_t>(t - jpc - 1);
      }
      break;
    }
    case 14: {  // duplicate a range within the program
      if (n < 3 || n + 8 >= kGrowLimit) break;
      const size_t from = r.below(static_cast<uint32_t>(n - 1));
      const size_t len = 1 + r.below(static_cast<uint32_t>(std::min<size_t>(8, n - 1 - from)));
      const size_t at = r.below(static_cast<uint32_t>(n));
      Program seg(p.begin() + static_cast<std::ptrdiff_t>(from),
                  p.begin() + static_cast<std::ptrdiff_t>(from + len));
      for (size_t j = 0; j < seg.size(); j++) insert_insn(p, at + j, seg[j]);
      break;
    }
    case 15: {  // RET value
      std::vector<size_t> rets;
      for (size_t i = 0; i < n; i++)
        if (is_ret(p[i].code)) rets.push_back(i);
      if (rets.empty()) rets.push_back(n - 1);
      Insn& i = p[r.pick(rets)];
      if (r.chance(0.1)) {
        i = Insn{RET | A, 0, 0, 0};
      } else {
        i = Insn{RET | K, 0, 0, cx.action()};
      }
      break;
    }
    case 16: {  // regenerate
      p = generate_program(r, consts);
      break;
    }
    default: {  // garbage in ignored fields, or an ST before a load
      Insn& i = p[pc];
      if (class_of(i.code) == LD || class_of(i.code) == LDX) {
        if (n < kGrowLimit) insert_insn(p, pc, Insn{code(r.chance(0.5) ? ST : STX), 0, 0, r.below(4)});
      } else if (!is_cond(i.code)) {
        i.jt = static_cast<uint8_t>(r.u32());
        i.jf = static_cast<uint8_t>(r.u32());
      }
      break;
    }
  }
  repair_program(p, std::max<size_t>(255, n));  // real filters keep their length
  if (r.chance(opt_.invalid_share)) cx.invalidate(p);
}

// ---------------------------------------------------------------------------
// Cases

Case CaseMutator::generate(uint64_t seed) const {
  Rng r(seed);
  Case c;
  c.task.no_new_privs = !r.chance(0.05);
  const unsigned nf = 1 + (r.chance(0.5) ? 0 : r.below(opt_.max_filters));
  for (unsigned i = 0; i < nf; i++) {
    CaseFilter f;
    f.prog = generate_program(r, case_constants(c));
    if (r.chance(0.08)) f.flags = r.pick(std::vector<uint32_t>{
        SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_NEW_LISTENER,
        SECCOMP_FILTER_FLAG_TSYNC, 0x40, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV});
    c.filters.push_back(std::move(f));
  }
  const std::vector<uint32_t> consts = case_constants(c);
  const unsigned ni = 1 + r.below(opt_.max_inputs);
  for (unsigned i = 0; i < ni; i++) {
    c.inputs.push_back(generate_input(r, consts));
    // The same syscall again with other arguments (per-task caches, rfc-v1).
    if (r.chance(0.25) && c.inputs.size() < opt_.max_inputs) {
      CaseInput again = c.inputs.back();
      tweak_loaded_word(r, c, again, consts);
      c.inputs.push_back(again);
    }
  }
  return c;
}

void CaseMutator::mutate(Case& c, uint64_t seed) const {
  Rng r(seed);
  const unsigned rounds = 1 + (r.chance(0.5) ? 0 : r.below(4));
  for (unsigned round = 0; round < rounds; round++) {
    // Computed at first use: half of the edits need no constants.
    std::optional<std::vector<uint32_t>> lazy;
    const auto consts = [&]() -> const std::vector<uint32_t>& {
      if (!lazy) lazy = case_constants(c);
      return *lazy;
    };
    const uint32_t what = r.below(100);
    if (c.filters.empty() || what < 50) {  // a program
      if (c.filters.empty()) c.filters.push_back(CaseFilter{generate_program(r, consts()), 0});
      mutate_program(r, r.pick(c.filters).prog, consts());
      // Keep the chain within the codec's limits.
      for (CaseFilter& f : c.filters)
        if (f.prog.size() > MAXINSNS) f.prog.resize(MAXINSNS);
    } else if (what < 62) {  // the chain
      switch (r.below(7)) {
        case 0: case 1:
          if (c.filters.size() < std::min<size_t>(opt_.max_filters, kMaxCaseFilters)) {
            CaseFilter f{generate_program(r, consts()), 0};
            if (r.chance(0.3)) {
              f = r.pick(c.filters);
              mutate_program(r, f.prog, consts());
            }
            c.filters.insert(c.filters.begin() + r.below(static_cast<uint32_t>(c.filters.size() + 1)),
                             std::move(f));
          }
          break;
        case 2:
          if (c.filters.size() > 1) c.filters.erase(c.filters.begin() + r.below(static_cast<uint32_t>(c.filters.size())));
          break;
        case 3:
          if (c.filters.size() > 1) {
            const size_t a = r.below(static_cast<uint32_t>(c.filters.size()));
            const size_t b = r.below(static_cast<uint32_t>(c.filters.size()));
            std::swap(c.filters[a], c.filters[b]);
          }
          break;
        case 4: {  // flags
          CaseFilter& f = r.pick(c.filters);
          if (r.chance(0.5)) {
            f.flags = 0;
          } else {
            f.flags ^= 1u << r.below(7);
          }
          break;
        }
        case 5: c.task.no_new_privs = !c.task.no_new_privs || r.chance(0.5); break;
        default:
          c.task.tracer = r.chance(0.1);
          c.task.other_threads = r.chance(0.1);
          c.task.sigsys_handler = !r.chance(0.1);
          break;
      }
    } else {  // the inputs
      if (c.inputs.empty()) {
        c.inputs.push_back(generate_input(r, consts()));
        continue;
      }
      switch (r.below(10)) {
        case 0: case 1:
          if (c.inputs.size() < std::min<size_t>(opt_.max_inputs, kMaxCaseInputs))
            c.inputs.insert(c.inputs.begin() + r.below(static_cast<uint32_t>(c.inputs.size() + 1)),
                            generate_input(r, consts()));
          break;
        case 2:
          if (c.inputs.size() > 1) c.inputs.erase(c.inputs.begin() + r.below(static_cast<uint32_t>(c.inputs.size())));
          break;
        case 3: {  // the same syscall again with other arguments (per-task caches)
          if (c.inputs.size() >= kMaxCaseInputs) break;
          CaseInput in = r.pick(c.inputs);
          tweak_loaded_word(r, c, in, consts());
          c.inputs.insert(c.inputs.begin() + r.below(static_cast<uint32_t>(c.inputs.size() + 1)), in);
          break;
        }
        case 4: {  // nr
          CaseInput& in = r.pick(c.inputs);
          const CaseInput g = generate_input(r, consts());
          in.nr = r.chance(0.5) ? g.nr : in.nr + (r.chance(0.5) ? 1 : -1);
          break;
        }
        case 5: r.pick(c.inputs).arch = static_cast<Arch>(r.below(3)); break;
        case 6: {  // a word the programs load
          tweak_loaded_word(r, c, r.pick(c.inputs), consts());
          break;
        }
        case 7: {  // one 32-bit half of an argument or of ip
          CaseInput& in = r.pick(c.inputs);
          const uint32_t h = !consts().empty() && r.chance(0.7) ? r.pick(consts())
                                                              : r.pick(magic_values());
          const int which = static_cast<int>(r.below(7));
          uint64_t cur = which < 6 ? in.args[which] : in.ip.value_or(0);
          cur = r.chance(0.6) ? (cur & ~uint64_t{0xffffffff}) | h : (cur & 0xffffffff) | (uint64_t{h} << 32);
          if (which < 6) {
            in.args[which] = cur;
          } else {
            in.ip = cur;
          }
          break;
        }
        case 8:
          if (c.inputs.size() > 1) {
            const size_t a = r.below(static_cast<uint32_t>(c.inputs.size()));
            const size_t b = r.below(static_cast<uint32_t>(c.inputs.size()));
            std::swap(c.inputs[a], c.inputs[b]);
          }
          break;
        default: r.pick(c.inputs) = generate_input(r, consts()); break;
      }
    }
  }
}

Case CaseMutator::crossover(const Case& a, const Case& b, uint64_t seed) const {
  Rng r(seed);
  Case c = a;
  if (b.filters.empty() && b.inputs.empty()) return c;
  switch (r.below(4)) {
    case 0: {  // filters of b appended or interleaved
      for (const CaseFilter& f : b.filters) {
        if (c.filters.size() >= std::min<size_t>(opt_.max_filters, kMaxCaseFilters)) break;
        if (r.chance(0.5)) c.filters.insert(c.filters.begin() + r.below(static_cast<uint32_t>(c.filters.size() + 1)), f);
      }
      break;
    }
    case 1: {  // inputs from both
      for (const CaseInput& in : b.inputs) {
        if (c.inputs.size() >= kMaxCaseInputs) break;
        if (r.chance(0.5)) c.inputs.insert(c.inputs.begin() + r.below(static_cast<uint32_t>(c.inputs.size() + 1)), in);
      }
      break;
    }
    case 2: {  // splice two programs: a prefix of one, a suffix of the other
      if (c.filters.empty() || b.filters.empty()) break;
      Program& p = r.pick(c.filters).prog;
      const Program& q = r.pick(b.filters).prog;
      if (p.empty() || q.empty()) break;
      const size_t cut_p = r.below(static_cast<uint32_t>(p.size()));
      const size_t cut_q = r.below(static_cast<uint32_t>(q.size()));
      p.resize(cut_p);
      p.insert(p.end(), q.begin() + static_cast<std::ptrdiff_t>(cut_q), q.end());
      if (p.size() > 255) p.erase(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(p.size() - 255));
      repair_program(p, 255);
      break;
    }
    default: {  // b's chain with a's inputs
      c.filters = b.filters;
      c.task = r.chance(0.5) ? a.task : b.task;
      break;
    }
  }
  if (r.chance(0.3)) mutate(c, r.next());
  return c;
}

std::string CaseMutator::fit(Case& c, size_t max_size) {
  for (;;) {
    const size_t sz = encoded_case_size(c);
    if (sz <= max_size || (c.filters.empty() && c.inputs.empty())) break;
    if (c.inputs.size() > 1) {
      c.inputs.pop_back();
    } else if (c.filters.size() > 1) {
      c.filters.pop_back();
    } else if (!c.filters.empty() && c.filters[0].prog.size() > 1) {
      const size_t over = (sz - max_size + 7) / 8;
      Program& p = c.filters[0].prog;
      p.resize(p.size() > over + 1 ? p.size() - over : 1);
      repair_program(p, p.size());
    } else if (!c.inputs.empty()) {
      c.inputs.clear();
    } else {
      c.filters.clear();
    }
  }
  std::string out = encode_case(c);
  if (out.size() > max_size) return {};
  return out;
}

size_t CaseMutator::mutate_bytes(uint8_t* data, size_t size, size_t max_size, uint64_t seed) const {
  Case c;
  bool ok = true;
  try {
    c = decode_case(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const WireError&) {
    ok = false;
  }
  if (!ok || c.filters.empty()) {
    c = generate(seed);
  } else {
    mutate(c, seed);
  }
  const std::string out = fit(c, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

size_t CaseMutator::crossover_bytes(const uint8_t* d1, size_t s1, const uint8_t* d2, size_t s2,
                                    uint8_t* out, size_t max_out, uint64_t seed) const {
  Case a, b;
  try {
    a = decode_case(std::string_view(reinterpret_cast<const char*>(d1), s1));
  } catch (const WireError&) {
    a = generate(seed);
  }
  try {
    b = decode_case(std::string_view(reinterpret_cast<const char*>(d2), s2));
  } catch (const WireError&) {
    b = generate(seed ^ 0x5bd1e995);
  }
  Case c = crossover(a, b, seed);
  const std::string enc = fit(c, max_out);
  std::memcpy(out, enc.data(), enc.size());
  return enc.size();
}

}  // namespace secdiff::fuzz
