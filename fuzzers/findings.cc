#include "fuzzers/findings.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "oracle/case_codec.h"
#include "oracle/chain.h"
#include "oracle/formats/formats.h"

namespace secdiff::fuzz {

std::string finding_signature(const Finding& f) {
  std::string s = f.property + "." + (f.model.empty() ? "-" : f.model) + "." + f.kind;
  for (char& ch : s) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
    if (!ok) ch = '_';
  }
  return s;
}

namespace {

std::string hex64(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

std::string describe_input(const CaseInput& in) {
  std::string s = std::string(arch_name(in.arch)) + " nr=" + std::to_string(in.nr);
  if (auto n = syscall_name(in.arch, in.nr)) s += " (" + std::string(*n) + ")";
  s += " args=[";
  for (int i = 0; i < 6; i++) s += (i ? ", " : "") + hex64(in.args[i]);
  s += "]";
  if (in.ip) s += " ip=" + hex64(*in.ip);
  return s;
}

bool write_file(const std::string& path, std::string_view data, bool exclusive) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC), 0644);
  if (fd < 0) return false;
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  return off == data.size();
}

}  // namespace

std::string describe_case(const Case& c) {
  std::string s;
  s += "task: no_new_privs=" + std::to_string(c.task.no_new_privs) +
       " tracer=" + std::to_string(c.task.tracer) +
       " other_threads=" + std::to_string(c.task.other_threads) +
       " sigsys_handler=" + std::to_string(c.task.sigsys_handler) + "\n";
  CasePrediction pred;
  bool predicted = true;
  try {
    pred = predict_case(c);
  } catch (const std::exception& e) {
    predicted = false;
    s += "(prediction failed: " + std::string(e.what()) + ")\n";
  }
  for (size_t i = 0; i < c.filters.size(); i++) {
    const CaseFilter& f = c.filters[i];
    s += "\nfilter " + std::to_string(i) + ": " + std::to_string(f.prog.size()) +
         " insns, flags " + hex64(f.flags);
    if (predicted && i < pred.installs.size()) {
      const LoadResult& r = pred.installs[i];
      s += r.ok() ? ", loads" : ", rejected: errno " + std::to_string(r.err) + " " +
                                    rule_name(r.rule) + " at insn " + std::to_string(r.insn) +
                                    " (" + r.reason + ")";
    }
    s += "\n";
    try {
      s += disassemble(f.prog);
    } catch (const std::exception& e) {
      s += "(disassembly failed: " + std::string(e.what()) + ")\n";
    }
  }
  s += "\ninputs:\n";
  for (size_t i = 0; i < c.inputs.size(); i++) {
    s += "  [" + std::to_string(i) + "] " + describe_input(c.inputs[i]);
    if (predicted && i < pred.runs.size()) {
      s += " -> " + format_ret(pred.runs[i].ret);
      if (pred.runs[i].match >= 0) s += " (filter " + std::to_string(pred.runs[i].match) + ")";
    }
    s += "\n";
  }
  return s;
}

FindingSink::FindingSink(std::string dir, std::string target)
    : dir_(std::move(dir)), target_(std::move(target)) {
  ::mkdir(dir_.c_str(), 0755);
}

bool FindingSink::report(const Finding& f, const Case* c, std::string_view raw) {
  const std::string sig = finding_signature(f);
  const bool seen = std::find(seen_.begin(), seen_.end(), sig) != seen_.end();
  if (!seen) seen_.push_back(sig);
  const std::string base = dir_ + "/" + sig;
  // The witness inputs make the saved case show the problem by itself.
  std::string bytes(raw);
  Case saved;
  if (c) {
    saved = *c;
    for (const CaseInput& w : f.witnesses)
      if (saved.inputs.size() < kMaxCaseInputs) saved.inputs.push_back(w);
    try {
      bytes = encode_case(saved);
    } catch (const WireError&) {
      saved = *c;
    }
  }
  // O_EXCL: one process wins the signature, others (and later hits) only count.
  const bool fresh = !seen && write_file(base + ".case", bytes, true);
  if (fresh) {
    std::string txt = "target: " + target_ + "\nsignature: " + sig + "\nproperty: " + f.property +
                      "\nmodel: " + f.model + "\nkind: " + f.kind + "\n\n" + f.details + "\n";
    if (!f.witnesses.empty()) {
      txt += "\nwitness inputs (appended to the saved case):\n";
      for (const CaseInput& w : f.witnesses) txt += "  " + describe_input(w) + "\n";
    }
    txt += "\n";
    txt += c ? describe_case(saved) : std::string("(the input does not decode as a case)\n");
    write_file(base + ".txt", txt, false);
    reported_++;
  }
  // Counts per signature (best effort, appended by every process).
  const int fd = ::open((base + ".count").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    [[maybe_unused]] const ssize_t n = ::write(fd, "1\n", 2);
    ::close(fd);
  }
  return fresh;
}

FindingSink& target_sink(const char* target) {
  static FindingSink* sink = [&] {
    const char* d = std::getenv("SECDIFF_FINDINGS_DIR");
    return new FindingSink(d && *d ? d : "findings", target);
  }();
  return *sink;
}

bool abort_on_finding() {
  static const bool v = [] {
    const char* e = std::getenv("SECDIFF_FUZZ_ABORT");
    return e && *e && std::strcmp(e, "0") != 0;
  }();
  return v;
}

CrashTriage classify_crash_log(std::string_view log) {
  CrashTriage t;
  auto line_at = [&](size_t pos) {
    const size_t end = log.find('\n', pos);
    return std::string(log.substr(pos, end == std::string_view::npos ? log.size() - pos : end - pos));
  };
  if (size_t p = log.find("SUMMARY: "); p != std::string_view::npos) {
    t.summary = line_at(p);
    // "SUMMARY: AddressSanitizer: heap-buffer-overflow file:line in fn"
    std::string rest = t.summary.substr(9);
    const size_t colon = rest.find(": ");
    if (colon != std::string::npos) rest = rest.substr(colon + 2);
    t.kind = rest.substr(0, rest.find(' '));
    if (t.summary.find("UndefinedBehaviorSanitizer") != std::string::npos) t.kind = "undefined-behavior";
  } else if (size_t q = log.find("runtime error:"); q != std::string_view::npos) {
    t.kind = "undefined-behavior";
    t.summary = line_at(q);
  } else if (size_t u = log.find("uncaught exception"); u != std::string_view::npos) {
    t.kind = "uncaught-exception";
    t.summary = line_at(u);
  } else if (size_t m = log.find("ERROR: libFuzzer: "); m != std::string_view::npos) {
    t.summary = line_at(m);
    std::string rest = t.summary.substr(18);
    t.kind = rest.substr(0, rest.find(' '));
  } else {
    t.kind = "signal";
    t.summary = "no sanitizer report";
  }
  if (t.kind.empty()) t.kind = "unknown";
  return t;
}

}  // namespace secdiff::fuzz
