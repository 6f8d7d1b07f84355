#include "oracle/validator.h"

#include <cerrno>
#include <cstdio>
#include <string>

#include "oracle/seccomp_abi.h"

namespace secdiff {

using namespace bpf;

namespace {

std::string fmt(const char* f, unsigned a = 0, unsigned b = 0, unsigned c = 0) {
  char buf[160];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

LoadResult fail(int err, Rule rule, int insn, std::string reason) {
  LoadResult r;
  r.err = err;
  r.rule = rule;
  r.insn = insn;
  r.reason = std::move(reason);
  return r;
}

// net/core/filter.c: chk_code_allowed()
bool chk_code_allowed(uint16_t code) {
  switch (code) {
    case ALU | ADD | K: case ALU | ADD | X: case ALU | SUB | K: case ALU | SUB | X:
    case ALU | MUL | K: case ALU | MUL | X: case ALU | DIV | K: case ALU | DIV | X:
    case ALU | MOD | K: case ALU | MOD | X: case ALU | AND | K: case ALU | AND | X:
    case ALU | OR | K:  case ALU | OR | X:  case ALU | XOR | K: case ALU | XOR | X:
    case ALU | LSH | K: case ALU | LSH | X: case ALU | RSH | K: case ALU | RSH | X:
    case ALU | NEG:
    case LD | W | ABS: case LD | H | ABS: case LD | B | ABS: case LD | W | LEN:
    case LD | W | IND: case LD | H | IND: case LD | B | IND: case LD | IMM: case LD | MEM:
    case LDX | W | LEN: case LDX | B | MSH: case LDX | IMM: case LDX | MEM:
    case ST: case STX:
    case MISC | TAX: case MISC | TXA:
    case RET | K: case RET | A:
    case JMP | JA:
    case JMP | JEQ | K: case JMP | JEQ | X: case JMP | JGE | K: case JMP | JGE | X:
    case JMP | JGT | K: case JMP | JGT | X: case JMP | JSET | K: case JMP | JSET | X:
      return true;
    default:
      return false;
  }
}

// include/linux/filter.h: bpf_anc_helper() — the known SKF_AD_* offsets.
bool is_ancillary(uint32_t k) {
  if (k < SKF_AD_OFF) return false;
  uint32_t off = k - SKF_AD_OFF;
  return off < SKF_AD_MAX && off % 4 == 0;  // PROTOCOL(0) .. VLAN_TPID(60)
}

}  // namespace

const char* rule_name(Rule r) {
  switch (r) {
    case Rule::None: return "ok";
    case Rule::FlagsUnknown: return "flags-unknown";
    case Rule::FlagsTsyncListener: return "flags-tsync-listener";
    case Rule::FlagsKillableRecv: return "flags-killable-recv";
    case Rule::Length: return "length";
    case Rule::Privilege: return "privilege";
    case Rule::OpcodeUnknown: return "opcode-unknown";
    case Rule::DivByZero: return "div-by-zero";
    case Rule::ShiftTooLarge: return "shift-too-large";
    case Rule::MemIndex: return "mem-index";
    case Rule::JaOutOfRange: return "ja-out-of-range";
    case Rule::JumpOutOfRange: return "jump-out-of-range";
    case Rule::AncillaryUnknown: return "ancillary-unknown";
    case Rule::LastNotRet: return "last-not-ret";
    case Rule::LoadBeforeStore: return "load-before-store";
    case Rule::SeccompOpcode: return "seccomp-opcode";
    case Rule::AbsOffset: return "abs-offset";
    case Rule::ChainTooLong: return "chain-too-long";
    case Rule::DuplicateListener: return "duplicate-listener";
  }
  return "?";
}

const char* rule_kernel_function(Rule r) {
  switch (r) {
    case Rule::None: return "";
    case Rule::FlagsUnknown:
    case Rule::FlagsTsyncListener:
    case Rule::FlagsKillableRecv:
    case Rule::DuplicateListener: return "seccomp_set_mode_filter";
    case Rule::Length:
    case Rule::Privilege: return "seccomp_prepare_filter";
    case Rule::OpcodeUnknown:
    case Rule::DivByZero:
    case Rule::ShiftTooLarge:
    case Rule::MemIndex:
    case Rule::JaOutOfRange:
    case Rule::JumpOutOfRange:
    case Rule::AncillaryUnknown:
    case Rule::LastNotRet: return "bpf_check_classic";
    case Rule::LoadBeforeStore: return "check_load_and_stores";
    case Rule::SeccompOpcode:
    case Rule::AbsOffset: return "seccomp_check_filter";
    case Rule::ChainTooLong: return "seccomp_attach_filter";
  }
  return "";
}

bool jit_blinding_enabled(bool jit_enabled, int bpf_jit_harden, bool cap_bpf) {
  // include/linux/filter.h: bpf_jit_blinding_enabled()
  if (!jit_enabled || bpf_jit_harden == 0) return false;
  if (bpf_jit_harden == 1 && cap_bpf) return false;
  return true;
}

bool Filter::has_listener() const { return flags & SECCOMP_FILTER_FLAG_NEW_LISTENER; }
bool Filter::log() const { return flags & SECCOMP_FILTER_FLAG_LOG; }

// net/core/filter.c: check_load_and_stores(). Linear over the program: a jump
// ANDs the current state into its targets' masks and resets the state to "all
// valid"; RET does not reset it (so dead code after RET sees the fall-through state).
LoadResult check_load_and_stores(const Program& p) {
  const size_t flen = p.size();
  std::vector<uint16_t> masks(flen, 0xffff);
  uint16_t memvalid = 0;
  for (size_t pc = 0; pc < flen; pc++) {
    memvalid &= masks[pc];
    const Insn& in = p[pc];
    switch (in.code) {
      case ST:
      case STX:
        memvalid |= static_cast<uint16_t>(1u << in.k);
        break;
      case LD | MEM:
      case LDX | MEM:
        if (!(memvalid & (1u << in.k)))
          return fail(EINVAL, Rule::LoadBeforeStore, static_cast<int>(pc),
                      fmt("M[%u] may be read before it is written", in.k));
        break;
      case JMP | JA:
        masks[pc + 1 + in.k] &= memvalid;
        memvalid = 0xffff;
        break;
      case JMP | JEQ | K: case JMP | JEQ | X: case JMP | JGE | K: case JMP | JGE | X:
      case JMP | JGT | K: case JMP | JGT | X: case JMP | JSET | K: case JMP | JSET | X:
        masks[pc + 1 + in.jt] &= memvalid;
        masks[pc + 1 + in.jf] &= memvalid;
        memvalid = 0xffff;
        break;
      default:
        break;
    }
  }
  return {};
}

// net/core/filter.c: bpf_check_classic()
LoadResult bpf_check_classic(const Program& p) {
  const unsigned flen = static_cast<unsigned>(p.size());
  for (unsigned pc = 0; pc < flen; pc++) {
    const Insn& in = p[pc];
    const int ipc = static_cast<int>(pc);
    if (!chk_code_allowed(in.code))
      return fail(EINVAL, Rule::OpcodeUnknown, ipc,
                  fmt("opcode 0x%x is not a classic BPF instruction", in.code));
    switch (in.code) {
      case ALU | DIV | K:
      case ALU | MOD | K:
        if (in.k == 0) return fail(EINVAL, Rule::DivByZero, ipc, "division by constant zero");
        break;
      case ALU | LSH | K:
      case ALU | RSH | K:
        if (in.k >= 32) return fail(EINVAL, Rule::ShiftTooLarge, ipc, fmt("shift by %u >= 32", in.k));
        break;
      case LD | MEM:
      case LDX | MEM:
      case ST:
      case STX:
        if (in.k >= MEMWORDS)
          return fail(EINVAL, Rule::MemIndex, ipc, fmt("M[%u] is out of range (16 words)", in.k));
        break;
      case JMP | JA:
        if (in.k >= flen - pc - 1)
          return fail(EINVAL, Rule::JaOutOfRange, ipc,
                      fmt("ja +%u jumps past the last instruction (%u)", in.k, flen - 1));
        break;
      case JMP | JEQ | K: case JMP | JEQ | X: case JMP | JGE | K: case JMP | JGE | X:
      case JMP | JGT | K: case JMP | JGT | X: case JMP | JSET | K: case JMP | JSET | X:
        if (pc + in.jt + 1 >= flen || pc + in.jf + 1 >= flen)
          return fail(EINVAL, Rule::JumpOutOfRange, ipc,
                      fmt("jump target %u past the last instruction (%u)",
                          pc + 1 + (in.jt > in.jf ? in.jt : in.jf), flen - 1));
        break;
      case LD | W | ABS:
      case LD | H | ABS:
      case LD | B | ABS:
        if (!is_ancillary(in.k) && in.k >= SKF_AD_OFF)
          return fail(EINVAL, Rule::AncillaryUnknown, ipc,
                      fmt("unknown ancillary load at offset 0x%x", in.k));
        break;
      default:
        break;
    }
  }
  switch (p[flen - 1].code) {
    case RET | K:
    case RET | A:
      return check_load_and_stores(p);
    default:
      return fail(EINVAL, Rule::LastNotRet, static_cast<int>(flen - 1),
                  "the last instruction is not a return");
  }
}

// kernel/seccomp.c: seccomp_check_filter()
LoadResult seccomp_check_filter(Program& p) {
  for (size_t pc = 0; pc < p.size(); pc++) {
    Insn& in = p[pc];
    const int ipc = static_cast<int>(pc);
    switch (in.code) {
      case LD | W | ABS: {
        const uint32_t k = in.k;
        in.code = LDX_W_ABS;
        if (k >= SECCOMP_DATA_SIZE || (k & 3))
          return fail(EINVAL, Rule::AbsOffset, ipc,
                      k >= SECCOMP_DATA_SIZE
                          ? fmt("ld [%u] is past the end of struct seccomp_data (64 bytes)", k)
                          : fmt("ld [%u] is not 32-bit aligned", k));
        continue;
      }
      case LD | W | LEN:
        in.code = LD | IMM;
        in.k = SECCOMP_DATA_SIZE;
        continue;
      case LDX | W | LEN:
        in.code = LDX | IMM;
        in.k = SECCOMP_DATA_SIZE;
        continue;
      case RET | K: case RET | A:
      case ALU | ADD | K: case ALU | ADD | X: case ALU | SUB | K: case ALU | SUB | X:
      case ALU | MUL | K: case ALU | MUL | X: case ALU | DIV | K: case ALU | DIV | X:
      case ALU | AND | K: case ALU | AND | X: case ALU | OR | K:  case ALU | OR | X:
      case ALU | XOR | K: case ALU | XOR | X: case ALU | LSH | K: case ALU | LSH | X:
      case ALU | RSH | K: case ALU | RSH | X: case ALU | NEG:
      case LD | IMM: case LDX | IMM: case MISC | TAX: case MISC | TXA:
      case LD | MEM: case LDX | MEM: case ST: case STX:
      case JMP | JA:
      case JMP | JEQ | K: case JMP | JEQ | X: case JMP | JGE | K: case JMP | JGE | X:
      case JMP | JGT | K: case JMP | JGT | X: case JMP | JSET | K: case JMP | JSET | X:
        continue;
      default:
        return fail(EINVAL, Rule::SeccompOpcode, ipc,
                    fmt("opcode 0x%x is not allowed in seccomp filters", in.code));
    }
  }
  return {};
}

// net/core/filter.c: bpf_convert_filter() length, plus kernel/bpf/core.c:
// bpf_jit_blind_insn() growth when blinding applies.
unsigned bpf_convert_filter_len(const Program& p, bool blind) {
  // Prologue: A ^= A; X ^= X; CTX = ARG1 (no LD_ABS prologue: seccomp loads were rewritten).
  unsigned n = 3;
  // A MOV32/ALU/JMP with an immediate: 1 eBPF insn, 3 when blinded
  // (MOV of 0 becomes a single XOR).
  auto imm_insn = [&](uint32_t imm, bool is_mov) -> unsigned {
    if (!blind) return 1;
    if (is_mov && imm == 0) return 1;
    return 3;
  };
  for (const Insn& in : p) {
    switch (class_of(in.code)) {
      case RET:
        // RET K: MOV32 R0, k; EXIT. RET A: EXIT.
        n += rval_of(in.code) == K ? imm_insn(in.k, true) + 1 : 1;
        break;
      case ALU:
        if (in.code == (ALU | DIV | X)) {
          // MOV32 X, X; JNE X, 0, +2; XOR A, A; EXIT; DIV A, X
          n += 4 + imm_insn(0, false);
        } else if (src_of(in.code) == K && op_of(in.code) != NEG && op_of(in.code) != LSH &&
                   op_of(in.code) != RSH) {
          n += imm_insn(in.k, false);  // ADD/SUB/MUL/DIV/AND/OR/XOR K are blinded
        } else {
          n += 1;
        }
        break;
      case JMP:
        if (op_of(in.code) == JA) {
          n += 1;
          break;
        }
        {
          bool k_src = src_of(in.code) == K;
          unsigned jmp = 1;  // the conditional eBPF jump
          if (k_src && static_cast<int32_t>(in.k) < 0) {
            n += imm_insn(in.k, true);  // MOV32 TMP, k; then a register compare
            k_src = false;
          }
          if (k_src) jmp = imm_insn(in.k, false);
          if (in.jf == 0) {
            n += jmp;
          } else if (in.jt == 0 && op_of(in.code) != JSET) {
            n += jmp;  // inverted to JNE/JLE/JLT
          } else {
            n += jmp + 1;  // Jxx + JA
          }
        }
        break;
      case LD:
      case LDX:
        if (mode_of(in.code) == IMM)
          n += imm_insn(in.k, true);
        else
          n += 1;  // LDX W ABS (ctx load), LD/LDX MEM
        break;
      default:  // ST, STX, MISC
        n += 1;
        break;
    }
  }
  return n;
}

// kernel/seccomp.c: seccomp_set_mode_filter() flag checks, then
// seccomp_prepare_filter() -> bpf_prog_create_from_user().
LoadResult seccomp_prepare_filter(const Program& p, uint32_t flags, const LoadEnv& env,
                                  Filter* out) {
  if (flags & ~SECCOMP_FILTER_FLAG_MASK)
    return fail(EINVAL, Rule::FlagsUnknown, -1, fmt("unknown filter flags 0x%x", flags));
  if ((flags & SECCOMP_FILTER_FLAG_TSYNC) && (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) &&
      !(flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH))
    return fail(EINVAL, Rule::FlagsTsyncListener, -1,
                "TSYNC with NEW_LISTENER needs TSYNC_ESRCH");
  if ((flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) &&
      !(flags & SECCOMP_FILTER_FLAG_NEW_LISTENER))
    return fail(EINVAL, Rule::FlagsKillableRecv, -1, "WAIT_KILLABLE_RECV needs NEW_LISTENER");
  if (p.empty() || p.size() > MAXINSNS)
    return fail(EINVAL, Rule::Length, -1,
                fmt("length %u is outside 1..4096", static_cast<unsigned>(p.size())));
  if (!env.no_new_privs && !env.cap_sys_admin)
    return fail(EACCES, Rule::Privilege, -1, "no_new_privs is not set and CAP_SYS_ADMIN is missing");
  LoadResult r = bpf_check_classic(p);
  if (!r.ok()) return r;
  Program rewritten = p;
  r = seccomp_check_filter(rewritten);
  if (!r.ok()) return r;
  if (out) {
    out->orig = p;
    out->insns = std::move(rewritten);
    out->flags = flags;
    out->ebpf_len = bpf_convert_filter_len(out->insns, env.jit_blinding);
  }
  return {};
}

unsigned FilterChain::path_insns_with(unsigned new_ebpf_len) const {
  // kernel/seccomp.c: seccomp_attach_filter(): 4-instruction penalty per existing filter.
  unsigned total = new_ebpf_len;
  for (const Filter& f : filters_) total += f.ebpf_len + 4;
  return total;
}

LoadResult FilterChain::attach(Filter f) {
  // seccomp_set_mode_filter: has_duplicate_listener() runs before the attach.
  if (f.has_listener())
    for (const Filter& g : filters_)
      if (g.has_listener())
        return fail(EBUSY, Rule::DuplicateListener, -1,
                    "the task already has a filter with a listener");
  // seccomp_attach_filter(): MAX_INSNS_PER_PATH on converted lengths.
  const unsigned total = path_insns_with(f.ebpf_len);
  if (total > MAX_INSNS_PER_PATH)
    return fail(ENOMEM, Rule::ChainTooLong, -1,
                fmt("chain would hold %u eBPF instructions (limit %u)", total, MAX_INSNS_PER_PATH));
  filters_.push_back(std::move(f));
  return {};
}

LoadResult FilterChain::install(const Program& p, uint32_t flags, const LoadEnv& env) {
  Filter f;
  LoadResult r = seccomp_prepare_filter(p, flags, env, &f);
  if (!r.ok()) return r;
  return attach(std::move(f));
}

}  // namespace secdiff
