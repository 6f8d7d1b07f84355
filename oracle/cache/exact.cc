// Exact constant-ALLOW analysis (see exact.h).
//
// Per (filter, arch, nr) the question is: for every value of the 14 free words
// of seccomp_data (instruction_pointer and args, offsets 8..60), is
// ACTION_ONLY(ret) == SECCOMP_RET_ALLOW? The filter is the REWRITTEN program
// (seccomp_check_filter: LD|W|ABS -> LDX|W|ABS, LEN -> IMM 64) run with the
// semantics of bpf_convert_filter's eBPF program (interpreter.h).
//
// Method, per query:
//  1. A concrete run on the all-zero input that also tracks which values depend
//     on a free word ("taint"). If the zero input is not ALLOW, it is the
//     witness. If it is ALLOW and no branch / DIV-by-X / RET A ever depended on
//     a tainted value, the path is the same for every input: constant ALLOW.
//  2. Otherwise a few concrete probes (the program's constants +-1, edge values,
//     pseudo-random words) look for a witness cheaply.
//  3. Otherwise the program is encoded for Z3 starting from the state at the
//     first free-word load (everything before it is a function of nr/arch
//     only): instructions are visited in order (jumps are forward only), and
//     the states of all incoming edges are merged with ite at join points
//     (the two sides of one branch fold back into ite(c, ...)), so the formula
//     is linear in the program size. Constants are folded, so only the part
//     reachable under the concrete nr/arch is encoded, and registers dead at a
//     join point are not merged. The query is "some non-ALLOW outcome is
//     reachable"; a model becomes the witness (free words Z3 leaves unset are
//     0). Every witness is re-run through bpf_run and must not be ALLOW.
//  4. Steps 2-3 are cached per filter by the state at the first free-word load
//     restricted to the registers live there (+ nr/arch if the rest of the
//     program can still load them), so syscalls sharing an argument check pay
//     for it once.
#include "oracle/cache/exact.h"

#include <z3++.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "oracle/interpreter.h"

namespace secdiff {

using namespace bpf;

namespace {

constexpr int kFreeWords = 14;  // (64 - 8) / 4: instruction_pointer + args, low/high
constexpr uint32_t kFirstFree = SD_OFF_IP;

bool is_allow(uint32_t ret) {
  return ACTION_ONLY(ret) == ACTION_ONLY(SECCOMP_RET_ALLOW);
}

// Liveness bits: A, X, M[0..15], and "nr/arch can still be loaded".
constexpr uint32_t kLA = 1u << 0, kLX = 1u << 1, kLNrArch = 1u << 18;
constexpr uint32_t lmem(uint32_t k) { return 1u << (2 + k); }

enum Kind : uint8_t {
  kLdAbs,   // A = word(k)  (rewritten 0x21; also accepts the user's 0x20)
  kLdImmA,  // A = k        (LD IMM; LD W LEN -> 64)
  kLdImmX,  // X = k
  kLdMemA,  // A = M[k]
  kLdMemX,  // X = M[k]
  kSt,      // M[k] = A
  kStx,     // M[k] = X
  kAluK,    // A = A op k
  kAluX,    // A = A op X
  kNeg,     // A = -A
  kJa,
  kJcondK,
  kJcondX,
  kRetK,
  kRetA,
  kTax,
  kTxa,
};

struct DInsn {
  Kind kind;
  uint8_t op;  // ALU op or jump op
  uint32_t k;
  uint32_t t, f;  // absolute jump targets (JA: t)
};

uint32_t alu_concrete(uint8_t op, uint32_t a, uint32_t b) {
  switch (op) {
    case ADD: return a + b;
    case SUB: return a - b;
    case MUL: return a * b;
    case DIV: return a / b;  // b != 0: callers handle the zero divisor
    case MOD: return a % b;
    case OR: return a | b;
    case AND: return a & b;
    case XOR: return a ^ b;
    case LSH: return a << (b & 31);  // interpreter: (u32) SRC & 31
    case RSH: return a >> (b & 31);
  }
  return 0;
}

bool jcond_concrete(uint8_t op, uint32_t a, uint32_t b) {
  switch (op) {
    case JEQ: return a == b;
    case JGT: return a > b;
    case JGE: return a >= b;
    case JSET: return (a & b) != 0;
  }
  return false;
}

// A concrete machine state (before executing `pc`).
struct CState {
  uint32_t pc = 0;
  uint32_t a = 0, x = 0;
  std::array<uint32_t, MEMWORDS> m{};
};

struct TaintResult {
  uint32_t ret = 0;             // result on the all-zero input (div by zero: 0)
  bool input_decided = false;   // a branch/DIV X/RET A depended on a free word
  bool has_s0 = false;
  CState s0;                    // state at the first free-word load
};

// Per-query outcome cached by the state at the first free-word load.
struct SymResult {
  bool const_allow = true;
  bool used_solver = false;
  std::array<uint32_t, kFreeWords> words{};
};

// One Z3 context per thread, with the 14 free words as constants.
struct Z3Env {
  z3::context ctx;
  std::vector<z3::expr> words;
  Z3Env() {
    for (int i = 0; i < kFreeWords; i++) {
      const std::string name = "w" + std::to_string(kFirstFree + 4 * i);
      words.push_back(ctx.bv_const(name.c_str(), 32));
    }
  }
};

Z3Env& z3env() {
  thread_local std::unique_ptr<Z3Env> env;
  if (!env) env = std::make_unique<Z3Env>();
  return *env;
}

struct VecHash {
  size_t operator()(const std::vector<uint32_t>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t w : v) h = (h ^ w) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

// ---------------------------------------------------------------------------
// The symbolic pass: values are either constants or indices into an arena of
// Z3 terms; conditions are false / true / an arena index.

struct SVal {
  uint32_t v = 0;
  bool sym = false;
  friend bool operator==(const SVal&, const SVal&) = default;
};
struct SCond {
  enum : uint8_t { False, True, Sym } kind = False;
  uint32_t idx = 0;
};
struct SState {
  SVal a, x;
  std::array<SVal, MEMWORDS> m{};
};
struct Edge {
  SCond c;
  SState s;
};

class FilterAnalyzer {
 public:
  explicit FilterAnalyzer(const Program& insns) : insns_(insns) {
    decode();
    liveness();
  }

  // The exact answer for this filter at (arch, nr); witness_filter = 0.
  ExactAnswer query(uint32_t arch, int32_t nr);

 private:
  void decode();
  void liveness();
  TaintResult taint_run(uint32_t nr_word, uint32_t arch) const;
  SymResult symbolic(const CState& s0, uint32_t nr_word, uint32_t arch);
  bool probe(SeccompData& sd, uint64_t seed) const;
  std::vector<uint32_t> cache_key(const CState& s0, uint32_t nr_word, uint32_t arch) const;
  ExactAnswer witness_answer(const SeccompData& sd, bool used_solver) const;

  const Program& insns_;
  std::vector<DInsn> code_;
  std::vector<uint32_t> live_;  // live-in set per pc
  bool has_free_load_ = false;
  std::vector<uint32_t> pool_;  // interesting word values for probing
  std::unordered_map<std::vector<uint32_t>, SymResult, VecHash> cache_;
  std::vector<std::vector<Edge>> in_;  // per-pc incoming edges of the symbolic pass
};

void FilterAnalyzer::decode() {
  const size_t n = insns_.size();
  if (n == 0 || n > MAXINSNS) throw std::invalid_argument("exact: empty or oversized program");
  code_.resize(n);
  for (size_t pc = 0; pc < n; pc++) {
    const Insn& in = insns_[pc];
    DInsn d{kRetK, 0, in.k, 0, 0};
    const uint16_t c = in.code;
    bool ok = true;
    switch (class_of(c)) {
      case LD:
        if (c == (LD | W | ABS)) d.kind = kLdAbs;
        else if (c == (LD | IMM)) d.kind = kLdImmA;
        else if (c == (LD | W | LEN)) { d.kind = kLdImmA; d.k = SECCOMP_DATA_SIZE; }
        else if (c == (LD | MEM)) d.kind = kLdMemA;
        else ok = false;
        break;
      case LDX:
        if (c == LDX_W_ABS) d.kind = kLdAbs;  // seccomp's rewritten A = word(k)
        else if (c == (LDX | IMM)) d.kind = kLdImmX;
        else if (c == (LDX | W | LEN)) { d.kind = kLdImmX; d.k = SECCOMP_DATA_SIZE; }
        else if (c == (LDX | MEM)) d.kind = kLdMemX;
        else ok = false;
        break;
      case ST: d.kind = kSt; ok = c == ST; break;
      case STX: d.kind = kStx; ok = c == STX; break;
      case ALU:
        d.op = static_cast<uint8_t>(op_of(c));
        if (d.op == NEG) { d.kind = kNeg; ok = c == (ALU | NEG); }
        else {
          d.kind = src_of(c) == X ? kAluX : kAluK;
          ok = (c & 0xff00) == 0 &&
               (d.op == ADD || d.op == SUB || d.op == MUL || d.op == DIV || d.op == MOD ||
                d.op == OR || d.op == AND || d.op == XOR || d.op == LSH || d.op == RSH);
        }
        break;
      case JMP:
        d.op = static_cast<uint8_t>(op_of(c));
        if (c == (JMP | JA)) {
          d.kind = kJa;
          d.t = static_cast<uint32_t>(pc + 1 + in.k);
          ok = in.k < n - pc - 1;
        } else if (is_cond_jump(c) && (c & 0xff00) == 0) {
          d.kind = src_of(c) == X ? kJcondX : kJcondK;
          d.t = static_cast<uint32_t>(pc + 1 + in.jt);
          d.f = static_cast<uint32_t>(pc + 1 + in.jf);
          ok = d.t < n && d.f < n;
        } else {
          ok = false;
        }
        break;
      case RET:
        if (c == (RET | K)) d.kind = kRetK;
        else if (c == (RET | A)) d.kind = kRetA;
        else ok = false;
        break;
      case MISC:
        if (c == (MISC | TAX)) d.kind = kTax;
        else if (c == (MISC | TXA)) d.kind = kTxa;
        else ok = false;
        break;
    }
    if ((d.kind == kLdMemA || d.kind == kLdMemX || d.kind == kSt || d.kind == kStx) &&
        d.k >= MEMWORDS)
      ok = false;
    if (d.kind == kLdAbs && (d.k >= SECCOMP_DATA_SIZE || (d.k & 3))) ok = false;
    if (pc + 1 == n && d.kind != kRetK && d.kind != kRetA) ok = false;
    if (!ok)
      throw std::invalid_argument("exact: instruction " + std::to_string(pc) +
                                  " is not a seccomp-checked instruction");
    if (d.kind == kLdAbs && d.k >= kFirstFree) has_free_load_ = true;
    code_[pc] = d;
  }
  // Probe values: edge values plus every constant of the program and its
  // neighbours (what comparisons are most likely to be about).
  std::vector<uint32_t> pool = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff};
  for (const DInsn& d : code_) {
    if (pool.size() >= 512) break;
    if (d.kind == kJcondK || d.kind == kAluK || d.kind == kLdImmA || d.kind == kLdImmX)
      for (uint32_t delta : {0u, 1u, ~0u}) pool.push_back(d.k + delta);
  }
  std::sort(pool.begin(), pool.end());
  pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
  pool_ = std::move(pool);
}

// Backward liveness over the DAG (all jumps go forward).
void FilterAnalyzer::liveness() {
  const size_t n = code_.size();
  live_.assign(n, 0);
  for (size_t i = n; i-- > 0;) {
    const DInsn& d = code_[i];
    const uint32_t out = i + 1 < n ? live_[i + 1] : 0;
    uint32_t l = 0;
    switch (d.kind) {
      case kLdAbs: l = (out & ~kLA) | (d.k < kFirstFree ? kLNrArch : 0); break;
      case kLdImmA: l = out & ~kLA; break;
      case kLdImmX: l = out & ~kLX; break;
      case kLdMemA: l = (out & ~kLA) | lmem(d.k); break;
      case kLdMemX: l = (out & ~kLX) | lmem(d.k); break;
      case kSt: l = (out & ~lmem(d.k)) | kLA; break;
      case kStx: l = (out & ~lmem(d.k)) | kLX; break;
      case kAluK: case kNeg: l = out | kLA; break;
      case kAluX: l = out | kLA | kLX; break;
      case kJa: l = live_[d.t]; break;
      case kJcondK: l = live_[d.t] | live_[d.f] | kLA; break;
      case kJcondX: l = live_[d.t] | live_[d.f] | kLA | kLX; break;
      case kRetK: l = 0; break;
      case kRetA: l = kLA; break;
      case kTax: l = (out & ~kLX) | kLA; break;
      case kTxa: l = (out & ~kLA) | kLX; break;
    }
    live_[i] = l;
  }
}

// The zero-input run with taint bits (bit 0 A, bit 1 X, bit 2+k M[k]).
TaintResult FilterAnalyzer::taint_run(uint32_t nr_word, uint32_t arch) const {
  TaintResult r;
  uint32_t A = 0, X = 0, M[MEMWORDS] = {};
  uint32_t taint = 0;
  uint32_t pc = 0;
  for (;;) {
    const DInsn& d = code_[pc];
    uint32_t next = pc + 1;
    switch (d.kind) {
      case kLdAbs:
        if (d.k == SD_OFF_NR) { A = nr_word; taint &= ~kLA; }
        else if (d.k == SD_OFF_ARCH) { A = arch; taint &= ~kLA; }
        else {
          if (!r.has_s0) {
            r.has_s0 = true;
            r.s0.pc = pc;
            r.s0.a = A;
            r.s0.x = X;
            for (unsigned i = 0; i < MEMWORDS; i++) r.s0.m[i] = M[i];
          }
          A = 0;
          taint |= kLA;
        }
        break;
      case kLdImmA: A = d.k; taint &= ~kLA; break;
      case kLdImmX: X = d.k; taint &= ~kLX; break;
      case kLdMemA: A = M[d.k]; taint = (taint & ~kLA) | ((taint & lmem(d.k)) ? kLA : 0); break;
      case kLdMemX: X = M[d.k]; taint = (taint & ~kLX) | ((taint & lmem(d.k)) ? kLX : 0); break;
      case kSt: M[d.k] = A; taint = (taint & ~lmem(d.k)) | ((taint & kLA) ? lmem(d.k) : 0); break;
      case kStx: M[d.k] = X; taint = (taint & ~lmem(d.k)) | ((taint & kLX) ? lmem(d.k) : 0); break;
      case kAluK:
        if ((d.op == DIV || d.op == MOD) && d.k == 0) { r.ret = 0; return r; }
        A = alu_concrete(d.op, A, d.k);
        break;
      case kAluX:
        if (d.op == DIV || d.op == MOD) {
          if (taint & kLX) r.input_decided = true;
          if (X == 0) { r.ret = 0; return r; }  // bpf_convert_filter: A ^= A; exit
        }
        A = alu_concrete(d.op, A, X);
        if (taint & kLX) taint |= kLA;
        break;
      case kNeg: A = 0u - A; break;
      case kJa: next = d.t; break;
      case kJcondK:
      case kJcondX: {
        const uint32_t b = d.kind == kJcondX ? X : d.k;
        const bool dep = (taint & kLA) || (d.kind == kJcondX && (taint & kLX));
        if (dep && d.t != d.f) r.input_decided = true;
        next = jcond_concrete(d.op, A, b) ? d.t : d.f;
        break;
      }
      case kRetK: r.ret = d.k; return r;
      case kRetA:
        if (taint & kLA) r.input_decided = true;
        r.ret = A;
        return r;
      case kTax: X = A; taint = (taint & ~kLX) | ((taint & kLA) ? kLX : 0); break;
      case kTxa: A = X; taint = (taint & ~kLA) | ((taint & kLX) ? kLA : 0); break;
    }
    pc = next;
  }
}

std::vector<uint32_t> FilterAnalyzer::cache_key(const CState& s0, uint32_t nr_word,
                                                uint32_t arch) const {
  const uint32_t l = live_[s0.pc];
  std::vector<uint32_t> key;
  key.reserve(8);
  key.push_back(s0.pc);
  key.push_back(l);
  if (l & kLA) key.push_back(s0.a);
  if (l & kLX) key.push_back(s0.x);
  for (unsigned i = 0; i < MEMWORDS; i++)
    if (l & lmem(i)) key.push_back(s0.m[i]);
  if (l & kLNrArch) {
    key.push_back(nr_word);
    key.push_back(arch);
  }
  return key;
}

// Encodes the program from s0 and asks Z3 for an input reaching a non-ALLOW
// outcome (RET of a non-ALLOW action, or DIV/MOD by X == 0).
SymResult FilterAnalyzer::symbolic(const CState& s0, uint32_t nr_word, uint32_t arch) {
  Z3Env& env = z3env();
  z3::context& ctx = env.ctx;
  std::vector<z3::expr> ar;  // arena of terms for this pass
  ar.reserve(256);
  auto push = [&](z3::expr e) {
    ar.push_back(std::move(e));
    return static_cast<uint32_t>(ar.size() - 1);
  };
  auto bv = [&](SVal v) { return v.sym ? ar[v.v] : ctx.bv_val(v.v, 32); };
  auto sv = [&](z3::expr e) { return SVal{push(std::move(e)), true}; };
  auto sc = [&](z3::expr e) { return SCond{SCond::Sym, push(std::move(e))}; };
  auto c_and = [&](SCond a, SCond b) -> SCond {
    if (a.kind == SCond::False || b.kind == SCond::False) return {};
    if (a.kind == SCond::True) return b;
    if (b.kind == SCond::True) return a;
    return sc(ar[a.idx] && ar[b.idx]);
  };
  auto c_not = [&](SCond a) -> SCond {
    if (a.kind == SCond::False) return {SCond::True, 0};
    if (a.kind == SCond::True) return {};
    return sc(!ar[a.idx]);
  };

  const size_t n = code_.size();
  if (in_.size() != n) in_.assign(n, {});
  for (auto& e : in_) e.clear();  // (a previous pass may have thrown)
  std::vector<SCond> fails;

  SState st0;
  st0.a = {s0.a, false};
  st0.x = {s0.x, false};
  for (unsigned i = 0; i < MEMWORDS; i++) st0.m[i] = {s0.m[i], false};
  in_[s0.pc].push_back(Edge{{SCond::True, 0}, st0});

  auto add_edge = [&](uint32_t to, SCond c, const SState& s) {
    if (c.kind != SCond::False) in_[to].push_back(Edge{c, s});
  };

  // Edge conditions made by a symbolic branch: cond = base AND (c or !c).
  struct BranchInfo {
    SCond base;
    uint32_t c;
    bool pos;
  };
  std::unordered_map<uint32_t, BranchInfo> branch;  // edge-condition idx -> its branch
  std::vector<Edge> work;
  std::vector<bool> alive;
  std::unordered_map<uint32_t, size_t> open;  // branch condition idx -> index in work

  // Selects, per live register, a's value when `sel` holds and b's otherwise.
  auto select = [&](z3::expr sel, const SState& a, const SState& b, uint32_t live) {
    SState s;
    auto one = [&](SVal x, SVal y) { return x == y ? x : sv(z3::ite(sel, bv(x), bv(y))); };
    if (live & kLA) s.a = one(a.a, b.a);
    if (live & kLX) s.x = one(a.x, b.x);
    for (unsigned i = 0; i < MEMWORDS; i++)
      if (live & lmem(i)) s.m[i] = one(a.m[i], b.m[i]);
    return s;
  };

  for (size_t pc = s0.pc; pc < n; pc++) {
    std::vector<Edge>& es = in_[pc];
    if (es.empty()) continue;
    const uint32_t live = live_[pc];
    if (es.size() > 1) {
      // Fold the two sides of one branch back together: (base & c, s1) and
      // (base & !c, s2) become (base, ite(c, s1, s2)). Diamonds then keep the
      // reach condition and the selectors small.
      work.clear();
      alive.clear();
      open.clear();
      for (const Edge& e0 : es) {
        Edge e = e0;
        for (;;) {
          auto bi = e.c.kind == SCond::Sym ? branch.find(e.c.idx) : branch.end();
          if (bi == branch.end()) break;
          const BranchInfo info = bi->second;
          auto o = open.find(info.c);
          if (o == open.end()) {
            open.emplace(info.c, work.size());
            break;
          }
          // Each condition flows along one edge, so the sibling has the other
          // polarity; keep both edges unfolded should that ever not hold.
          if (branch.at(work[o->second].c.idx).pos == info.pos) break;
          const Edge other = work[o->second];
          alive[o->second] = false;
          open.erase(o);
          const Edge& pos = info.pos ? e : other;
          const Edge& neg = info.pos ? other : e;
          e = Edge{info.base, select(ar[info.c], pos.s, neg.s, live)};
        }
        work.push_back(e);
        alive.push_back(true);
      }
      es.clear();
      for (size_t i = 0; i < work.size(); i++)
        if (alive[i]) es.push_back(work[i]);
    }
    // Merge the remaining edges: reach = OR of edge conditions; each live
    // register = ite(c0, v0, ite(c1, v1, ... vk)); dead registers = 0.
    SCond reach;
    SState s;
    if (es.size() == 1) {
      reach = es[0].c;
      s = es[0].s;
    } else {
      int always = -1;
      for (size_t i = 0; i < es.size(); i++)
        if (es[i].c.kind == SCond::True) always = static_cast<int>(i);
      if (always >= 0) {
        // Taken for every input that gets here: the other edges are infeasible.
        reach = es[always].c;
        s = es[always].s;
      } else {
        z3::expr_vector ors(ctx);
        for (const Edge& e : es) ors.push_back(ar[e.c.idx]);
        reach = sc(z3::mk_or(ors));
        auto merge = [&](auto get) -> SVal {
          const SVal first = get(es[0].s);
          bool same = true;
          for (size_t i = 1; i < es.size() && same; i++) same = get(es[i].s) == first;
          if (same) return first;
          z3::expr v = bv(get(es.back().s));
          for (size_t i = es.size() - 1; i-- > 0;)
            v = z3::ite(ar[es[i].c.idx], bv(get(es[i].s)), v);
          return sv(v);
        };
        if (live & kLA) s.a = merge([](const SState& x) { return x.a; });
        if (live & kLX) s.x = merge([](const SState& x) { return x.x; });
        for (unsigned i = 0; i < MEMWORDS; i++)
          if (live & lmem(i)) s.m[i] = merge([i](const SState& x) { return x.m[i]; });
      }
    }
    es.clear();

    const DInsn& d = code_[pc];
    switch (d.kind) {
      case kLdAbs:
        if (d.k == SD_OFF_NR) s.a = {nr_word, false};
        else if (d.k == SD_OFF_ARCH) s.a = {arch, false};
        else s.a = sv(env.words[(d.k - kFirstFree) / 4]);
        add_edge(pc + 1, reach, s);
        break;
      case kLdImmA: s.a = {d.k, false}; add_edge(pc + 1, reach, s); break;
      case kLdImmX: s.x = {d.k, false}; add_edge(pc + 1, reach, s); break;
      case kLdMemA: s.a = s.m[d.k]; add_edge(pc + 1, reach, s); break;
      case kLdMemX: s.x = s.m[d.k]; add_edge(pc + 1, reach, s); break;
      case kSt: s.m[d.k] = s.a; add_edge(pc + 1, reach, s); break;
      case kStx: s.m[d.k] = s.x; add_edge(pc + 1, reach, s); break;
      case kNeg:
        s.a = s.a.sym ? sv(-ar[s.a.v]) : SVal{0u - s.a.v, false};
        add_edge(pc + 1, reach, s);
        break;
      case kAluK:
      case kAluX: {
        SVal b = d.kind == kAluX ? s.x : SVal{d.k, false};
        if (d.op == DIV || d.op == MOD) {
          // bpf_convert_filter: if (X != 0) goto +2; A ^= A; exit  (returns 0)
          if (!b.sym && b.v == 0) {
            fails.push_back(reach);
            break;
          }
          if (b.sym) {
            const z3::expr zero = ar[b.v] == ctx.bv_val(0, 32);
            const SCond z = sc(zero);
            fails.push_back(c_and(reach, z));
            reach = c_and(reach, c_not(z));
          }
        }
        if (!s.a.sym && !b.sym) {
          s.a = {alu_concrete(d.op, s.a.v, b.v), false};
        } else {
          const z3::expr x = bv(s.a);
          z3::expr y = bv(b);
          // interpreter: shifts use (u32) SRC & 31
          const z3::expr sh = b.sym ? (y & ctx.bv_val(31, 32)) : ctx.bv_val(b.v & 31, 32);
          switch (d.op) {
            case ADD: s.a = sv(x + y); break;
            case SUB: s.a = sv(x - y); break;
            case MUL: s.a = sv(x * y); break;
            case DIV: s.a = sv(z3::udiv(x, y)); break;
            case MOD: s.a = sv(z3::urem(x, y)); break;
            case OR: s.a = sv(x | y); break;
            case AND: s.a = sv(x & y); break;
            case XOR: s.a = sv(x ^ y); break;
            case LSH: s.a = sv(z3::shl(x, sh)); break;
            case RSH: s.a = sv(z3::lshr(x, sh)); break;
          }
        }
        add_edge(pc + 1, reach, s);
        break;
      }
      case kJa: add_edge(d.t, reach, s); break;
      case kJcondK:
      case kJcondX: {
        if (d.t == d.f) {
          add_edge(d.t, reach, s);
          break;
        }
        const SVal b = d.kind == kJcondX ? s.x : SVal{d.k, false};
        if (!s.a.sym && !b.sym) {
          add_edge(jcond_concrete(d.op, s.a.v, b.v) ? d.t : d.f, reach, s);
          break;
        }
        const z3::expr x = bv(s.a), y = bv(b);
        SCond c;
        switch (d.op) {
          case JEQ: c = sc(x == y); break;
          case JGT: c = sc(z3::ugt(x, y)); break;
          case JGE: c = sc(z3::uge(x, y)); break;
          default: c = sc((x & y) != ctx.bv_val(0, 32)); break;  // JSET
        }
        const SCond ct = c_and(reach, c), cf = c_and(reach, c_not(c));
        branch[ct.idx] = BranchInfo{reach, c.idx, true};
        branch[cf.idx] = BranchInfo{reach, c.idx, false};
        add_edge(d.t, ct, s);
        add_edge(d.f, cf, s);
        break;
      }
      case kRetK:
        if (!is_allow(d.k)) fails.push_back(reach);
        break;
      case kRetA:
        if (!s.a.sym) {
          if (!is_allow(s.a.v)) fails.push_back(reach);
        } else {
          const z3::expr act = ar[s.a.v] & ctx.bv_val(SECCOMP_RET_ACTION_FULL, 32);
          fails.push_back(c_and(reach, sc(act != ctx.bv_val(SECCOMP_RET_ALLOW, 32))));
        }
        break;
      case kTax: s.x = s.a; add_edge(pc + 1, reach, s); break;
      case kTxa: s.a = s.x; add_edge(pc + 1, reach, s); break;
    }
  }

  SymResult res;
  z3::expr_vector ors(ctx);
  bool always = false;
  for (const SCond& c : fails) {
    if (c.kind == SCond::True) always = true;
    if (c.kind == SCond::Sym) ors.push_back(ar[c.idx]);
  }
  if (always) {  // every input fails: the all-zero words are a witness
    res.const_allow = false;
    return res;
  }
  if (ors.empty()) return res;  // no reachable non-ALLOW outcome
  res.used_solver = true;
  // simplify + bit-blast + SAT is several times faster than the QF_BV
  // default on these formulas; QF_BV is the fallback should it give up.
  const z3::expr goal = z3::mk_or(ors);
  z3::solver solver = (z3::tactic(ctx, "simplify") & z3::tactic(ctx, "bit-blast") &
                        z3::tactic(ctx, "sat")).mk_solver();
  solver.add(goal);
  z3::check_result cr = solver.check();
  if (cr == z3::unknown) {
    solver = z3::solver(ctx, "QF_BV");
    solver.add(goal);
    cr = solver.check();
  }
  if (cr == z3::unsat) return res;
  if (cr != z3::sat) throw std::runtime_error("exact: Z3 returned unknown");
  res.const_allow = false;
  const z3::model m = solver.get_model();
  for (int i = 0; i < kFreeWords; i++) {
    const z3::expr v = m.eval(env.words[i], false);
    if (v.is_numeral()) res.words[i] = static_cast<uint32_t>(v.get_numeral_uint64());
  }
  return res;
}

ExactAnswer FilterAnalyzer::witness_answer(const SeccompData& sd, bool used_solver) const {
  ExactAnswer ans;
  ans.const_allow = false;
  ans.used_solver = used_solver;
  ans.witness = sd;
  ans.witness_ret = bpf_run(insns_, sd);
  ans.witness_filter = 0;
  // Guard against encoding bugs: the witness must really not be ALLOW.
  if (is_allow(ans.witness_ret))
    throw std::logic_error("exact: witness for nr " + std::to_string(sd.nr) +
                           " returns ALLOW under bpf_run (analysis bug)");
  return ans;
}

// Cheap witness search before Z3: a few inputs made of the program's
// constants (+-1), edge values and pseudo-random words, run concretely. A hit
// is as good as a model (it is verified the same way); a miss proves nothing.
bool FilterAnalyzer::probe(SeccompData& sd, uint64_t seed) const {
  constexpr int kProbes = 32;
  uint64_t st = seed;
  auto next = [&st] {  // splitmix64
    uint64_t z = (st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  for (int i = 0; i < kProbes; i++) {
    if (i % 2 == 0) {  // every word from the pool (or random; all ones first)
      for (int w = 0; w < kFreeWords; w++) {
        const uint64_t r = next();
        uint32_t v;
        if (i == 0) v = 0xffffffff;
        else if ((r & 3) != 0) v = pool_[(r >> 8) % pool_.size()];
        else v = static_cast<uint32_t>(r >> 32);
        sd.set_word(kFirstFree + 4 * w, v);
      }
    } else {  // zero but one or two words (64-bit compares want the high word 0)
      for (int w = 0; w < kFreeWords; w++) sd.set_word(kFirstFree + 4 * w, 0);
      for (int j = 0; j < 1 + (i % 4 == 3); j++) {
        const uint64_t r = next();
        const uint32_t off = kFirstFree + 4 * static_cast<uint32_t>(r % kFreeWords);
        sd.set_word(off, pool_[(r >> 8) % pool_.size()]);
      }
    }
    if (!is_allow(bpf_run(insns_, sd))) return true;
  }
  return false;
}

ExactAnswer FilterAnalyzer::query(uint32_t arch, int32_t nr) {
  const uint32_t nr_word = static_cast<uint32_t>(nr);
  SeccompData sd;
  sd.nr = nr;
  sd.arch = arch;
  const TaintResult t = taint_run(nr_word, arch);
  if (!is_allow(t.ret)) return witness_answer(sd, false);  // the all-zero input fails
  ExactAnswer ans;
  if (!t.input_decided) {  // one path for every input, and it is ALLOW
    ans.const_allow = true;
    return ans;
  }
  std::vector<uint32_t> key = cache_key(t.s0, nr_word, arch);
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    SymResult r;
    SeccompData w = sd;
    if (probe(w, VecHash{}(key))) {  // seeded by the key: same state, same witness
      r.const_allow = false;
    } else {
      r = symbolic(t.s0, nr_word, arch);
      for (int i = 0; i < kFreeWords; i++) w.set_word(kFirstFree + 4 * i, r.words[i]);
    }
    if (!r.const_allow) {
      // Readable witnesses: zero every word that is not needed to fail.
      for (int i = 0; i < kFreeWords; i++) {
        const uint32_t off = kFirstFree + 4 * i, old = w.word(off);
        if (old == 0) continue;
        w.set_word(off, 0);
        if (is_allow(bpf_run(insns_, w))) w.set_word(off, old);
      }
      for (int i = 0; i < kFreeWords; i++) r.words[i] = w.word(kFirstFree + 4 * i);
    }
    it = cache_.emplace(std::move(key), r).first;
  }
  const SymResult& r = it->second;
  if (r.const_allow) {
    ans.const_allow = true;
    ans.used_solver = r.used_solver;
    return ans;
  }
  for (int i = 0; i < kFreeWords; i++) sd.set_word(kFirstFree + 4 * i, r.words[i]);
  return witness_answer(sd, r.used_solver);
}

// seccomp_run_filters(): newest to oldest, the lowest signed ACTION_ONLY wins.
uint32_t chain_ret(const FilterChain& chain, const SeccompData& sd) {
  uint32_t ret = SECCOMP_RET_ALLOW;
  const auto& fs = chain.filters();
  for (size_t i = fs.size(); i-- > 0;) {
    const uint32_t cur = bpf_run(fs[i].insns, sd);
    if (ACTION_ONLY(cur) < ACTION_ONLY(ret)) ret = cur;
  }
  return ret;
}

uint32_t arch_audit(CacheArch a) {
  return a == CacheArch::Native ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_I386;
}

// AND over the filters, oldest first; the first failing filter's witness.
template <class GetAnalyzer>
ExactAnswer chain_query(const FilterChain& chain, uint32_t arch, int32_t nr, GetAnalyzer get) {
  ExactAnswer ans;
  ans.const_allow = true;
  for (size_t i = 0; i < chain.size(); i++) {
    ExactAnswer a = get(i).query(arch, nr);
    ans.used_solver |= a.used_solver;
    if (a.const_allow) continue;
    a.used_solver = ans.used_solver;
    a.witness_filter = static_cast<int>(i);
    a.witness_ret = chain_ret(chain, *a.witness);
    return a;
  }
  return ans;
}

// ---------------------------------------------------------------------------

class ExactModel final : public CacheModel {
 public:
  explicit ExactModel(const KernelProfile& k) : CacheModel(k) {}
  std::string name() const override { return "exact"; }

  int on_attach(const FilterChain& chain) override {
    const auto& fs = chain.filters();
    // Keep the per-filter results of the unchanged prefix of the chain.
    size_t keep = 0;
    while (keep < filters_.size() && keep < fs.size() && filters_[keep]->insns == fs[keep].insns)
      keep++;
    filters_.resize(keep);
    for (size_t i = keep; i < fs.size(); i++)
      filters_.push_back(std::make_unique<PerFilter>(fs[i].insns, *kernel_));
    for (int a = 0; a < 2; a++)
      chain_memo_[a].assign(a == 0 ? kernel_->native_nr : kernel_->compat_nr, -1);
    return 0;
  }

  // No filter attached: nothing to show (as the linux model).
  Bitmap bitmap(CacheArch a) const override {
    if (filters_.empty()) return {};
    const int size = a == CacheArch::Native ? kernel_->native_nr : kernel_->compat_nr;
    Bitmap bm(size, false);
    for (int nr = 0; nr < size; nr++) bm[nr] = entry(a, nr);
    return bm;
  }

  // As seccomp_cache_check_allow(): native/compat by sd->arch, range-checked nr.
  bool lookup(const SeccompData& sd) override {
    CacheArch a;
    if (sd.arch == AUDIT_ARCH_X86_64) a = CacheArch::Native;
    else if (sd.arch == AUDIT_ARCH_I386) a = CacheArch::Compat;
    else return false;
    const int size = a == CacheArch::Native ? kernel_->native_nr : kernel_->compat_nr;
    if (filters_.empty() || sd.nr < 0 || sd.nr >= size) return false;  // x32: nr >= size
    return entry(a, sd.nr);
  }

 private:
  struct PerFilter {
    Program insns;
    FilterAnalyzer analyzer;
    std::vector<int8_t> memo[2];  // -1 unknown, 0, 1
    PerFilter(const Program& p, const KernelProfile& k) : insns(p), analyzer(insns) {
      memo[0].assign(k.native_nr, -1);
      memo[1].assign(k.compat_nr, -1);
    }
  };

  // The chain's answer (AND over filters), computed on first use; the memos
  // are caches, hence mutable behind const.
  bool entry(CacheArch a, int nr) const {
    const int ai = a == CacheArch::Native ? 0 : 1;
    auto& cm = chain_memo_[ai];
    if (cm.empty()) cm.assign(ai == 0 ? kernel_->native_nr : kernel_->compat_nr, -1);
    if (cm[nr] >= 0) return cm[nr] != 0;
    bool all = true;
    for (auto& f : filters_) {
      int8_t& v = f->memo[ai][nr];
      if (v < 0) v = f->analyzer.query(arch_audit(a), nr).const_allow ? 1 : 0;
      if (!v) { all = false; break; }
    }
    cm[nr] = all ? 1 : 0;
    return all;
  }

  std::vector<std::unique_ptr<PerFilter>> filters_;  // oldest first
  mutable std::vector<int8_t> chain_memo_[2];
};

}  // namespace

ExactAnswer exact_const_allow(const Program& rewritten_insns, uint32_t arch, int32_t nr) {
  FilterAnalyzer fa(rewritten_insns);
  return fa.query(arch, nr);
}

ExactAnswer exact_const_allow(const FilterChain& chain, uint32_t arch, int32_t nr) {
  std::vector<std::unique_ptr<FilterAnalyzer>> an(chain.size());
  return chain_query(chain, arch, nr, [&](size_t i) -> FilterAnalyzer& {
    if (!an[i]) an[i] = std::make_unique<FilterAnalyzer>(chain.filters()[i].insns);
    return *an[i];
  });
}

Bitmap exact_bitmap(const FilterChain& chain, CacheArch arch, int size,
                    std::vector<ExactAnswer>* answers) {
  std::vector<std::unique_ptr<FilterAnalyzer>> an(chain.size());
  auto get = [&](size_t i) -> FilterAnalyzer& {
    if (!an[i]) an[i] = std::make_unique<FilterAnalyzer>(chain.filters()[i].insns);
    return *an[i];
  };
  Bitmap bm(size > 0 ? size : 0, false);
  if (answers) answers->clear();
  for (int nr = 0; nr < size; nr++) {
    ExactAnswer a = chain_query(chain, arch_audit(arch), nr, get);
    bm[nr] = a.const_allow;
    if (answers) answers->push_back(std::move(a));
  }
  return bm;
}

std::unique_ptr<CacheModel> make_exact_model(const KernelProfile& k) {
  return std::make_unique<ExactModel>(k);
}

}  // namespace secdiff
