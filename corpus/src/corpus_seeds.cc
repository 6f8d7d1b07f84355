#include "corpus/src/corpus_seeds.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "oracle/seccomp_abi.h"

namespace secdiff::corpus {

std::optional<Arch> arch_from_libseccomp(std::string_view name) {
  if (name == kArchX86_64) return Arch::X86_64;
  if (name == kArchX86) return Arch::I386;
  if (name == kArchX32) return Arch::X32;
  return std::nullopt;
}

namespace {

int table_size(Arch a, const KernelProfile& kp) { return a == Arch::I386 ? kp.compat_nr : kp.native_nr; }

class InputSet {
 public:
  void add(Arch a, int64_t nr, unsigned idx = 0, uint64_t value = 0) {
    CaseInput in;
    in.arch = a;
    in.nr = nr;
    if (idx < 6) in.args[idx] = value;
    const auto key = std::make_tuple(static_cast<int>(a), nr, idx, value);
    if (!seen_.insert(key).second) return;
    inputs_.push_back(in);
  }
  std::vector<CaseInput> take() { return std::move(inputs_); }

 private:
  std::set<std::tuple<int, int64_t, unsigned, uint64_t>> seen_;
  std::vector<CaseInput> inputs_;
};

void past_table(InputSet& s, Arch a, const KernelProfile& kp) {
  const int64_t n = table_size(a, kp);
  const int64_t bit = a == Arch::X32 ? X32_SYSCALL_BIT : 0;
  s.add(a, n | bit);
  s.add(a, (n + 1) | bit);
  s.add(a, 0xffffffffLL);
}

// value-1, value, value+1 on each 32-bit half (the other half kept); for
// MASKED_EQ the datum with and without the mask bits, and datum-1/+1.
std::vector<uint64_t> boundary_values(const ArgCmp& c) {
  std::vector<uint64_t> v;
  if (c.op == ArgCmp::MASKED_EQ) {
    const uint64_t mask = c.value, datum = c.value_two;
    v = {datum, datum & mask, datum | ~mask, datum ^ mask, (datum ^ mask) & mask, mask, 0, datum - 1, datum + 1};
    return v;
  }
  const uint64_t x = c.value;
  const uint32_t lo = static_cast<uint32_t>(x), hi = static_cast<uint32_t>(x >> 32);
  auto mk = [](uint32_t h, uint32_t l) { return (uint64_t{h} << 32) | l; };
  for (int d = -1; d <= 1; d++) v.push_back(mk(hi, lo + static_cast<uint32_t>(d)));
  v.push_back(mk(hi - 1, lo));
  v.push_back(mk(hi + 1, lo));
  return v;
}

}  // namespace

std::vector<CaseInput> seed_inputs(const RuleSet& rs, const std::vector<Arch>& filter_arches,
                                   const KernelProfile& kp) {
  InputSet s;
  const Arch all[] = {Arch::X86_64, Arch::I386, Arch::X32};
  auto in_filter = [&](Arch a) {
    return std::find(filter_arches.begin(), filter_arches.end(), a) != filter_arches.end();
  };
  for (Arch a : filter_arches) past_table(s, a, kp);
  // Argument boundaries.
  for (const Rule& r : rs.rules) {
    if (r.args.empty()) continue;
    for (Arch a : filter_arches) {
      const auto nr = syscall_number(a, r.syscall, kp.version);
      if (!nr) continue;
      for (const ArgCmp& c : r.args)
        for (uint64_t v : boundary_values(c)) s.add(a, *nr, c.index, v);
    }
  }
  // Wrong arch (and x32 numbers when x32 is not in the filter): the first
  // few rule syscalls that exist there, plus nr 0 and past the table.
  for (Arch a : all) {
    if (in_filter(a)) continue;
    s.add(a, a == Arch::X32 ? int64_t{X32_SYSCALL_BIT} : 0);
    int n = 0;
    for (const Rule& r : rs.rules) {
      if (n >= 4) break;
      if (const auto nr = syscall_number(a, r.syscall, kp.version)) {
        s.add(a, *nr);
        n++;
      }
    }
    past_table(s, a, kp);
  }
  // x32 numbers of the rules' syscalls when the filter has x86_64 but not x32.
  if (in_filter(Arch::X86_64) && !in_filter(Arch::X32))
    for (const Rule& r : rs.rules)
      if (const auto nr = syscall_number(Arch::X32, r.syscall, kp.version)) s.add(Arch::X32, *nr);
  // Every named syscall on each arch where it exists.
  for (Arch a : filter_arches)
    for (const Rule& r : rs.rules)
      if (const auto nr = syscall_number(a, r.syscall, kp.version)) s.add(a, *nr);
  return s.take();
}

std::vector<CaseInput> seed_inputs(const Program& p, const KernelProfile& kp) {
  InputSet s;
  const Arch all[] = {Arch::X86_64, Arch::I386, Arch::X32};
  for (Arch a : all) past_table(s, a, kp);
  std::set<uint32_t> ks;
  for (const Insn& i : p) {
    const uint16_t cls = i.code & 0x07, op = i.code & 0xf0, src = i.code & 0x08;
    if (cls != 0x05 || op == 0x00 || src != 0) continue;  // BPF_JMP | K, not JA
    ks.insert(i.k);
  }
  for (Arch a : all) {
    const int64_t size = table_size(a, kp);
    for (uint32_t k : ks) {
      int64_t nr = k;
      if (a == Arch::X32) {
        if (!(k & X32_SYSCALL_BIT)) continue;
      } else if (nr > size + 1) {
        continue;
      }
      for (int d = -1; d <= 1; d++)
        if (nr + d >= 0) s.add(a, nr + d);
    }
  }
  return s.take();
}

std::vector<std::string> names_without_number(const RuleSet& rs, const std::vector<Arch>& filter_arches,
                                              const KernelProfile& kp) {
  std::set<std::string> out;
  for (const Rule& r : rs.rules)
    if (std::none_of(filter_arches.begin(), filter_arches.end(),
                     [&](Arch a) { return syscall_number(a, r.syscall, kp.version).has_value(); }))
      out.insert(r.syscall);
  return {out.begin(), out.end()};
}

std::vector<Case> split_cases(const std::string& name, const Program& prog,
                              const std::vector<CaseInput>& inputs, size_t cap) {
  std::vector<Case> out;
  if (cap == 0) cap = 1;
  for (size_t i = 0; i < inputs.size() || (i == 0 && inputs.empty()); i += cap) {
    Case c;
    c.name = name + "-" + std::to_string(out.size());
    c.filters.push_back({prog, 0});
    const size_t end = std::min(inputs.size(), i + cap);
    c.inputs.assign(inputs.begin() + static_cast<std::ptrdiff_t>(i),
                    inputs.begin() + static_cast<std::ptrdiff_t>(end));
    out.push_back(std::move(c));
    if (inputs.empty()) break;
  }
  return out;
}

}  // namespace secdiff::corpus
