// JSON case files: parsing, errors with file:line, round trips through the
// file format and the compact encoding, and the example battery.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "host/case_file.h"
#include "oracle/case_codec.h"
#include "oracle/formats/formats.h"

namespace secdiff {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::string& text, const std::string& base = ".") {
  try {
    parse_case_file(text, "t.json", base);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(CaseFile, ParsesEveryField) {
  const std::string text = R"JSON({
  "secdiff_case": 1,
  "name": "example",
  "task": {"no_new_privs": false, "tracer": true, "other_threads": true},
  "filters": [
    {"flags": ["LOG", "new_listener"], "bpf_asm": ["ld [0]", "jeq #110, deny", "ret #ALLOW", "deny: ret #ERRNO(5)"]},
    {"flags": "0x2", "hex": "060000000000ff7f"},
    {"flags": 2, "bpf_asm": "ret #ALLOW"}
  ],
  "inputs": [
    {"arch": "x86_64", "nr": "getppid", "args": [1, "0x2", "-1"], "ip": "0x7f0000001000"},
    {"arch": "i386", "nr": 20},
    {"arch": "x32", "nr": "getpid"},
    {"nr": "0x6e"}
  ]
})JSON";
  const Case c = parse_case_file(text, "t.json", ".");
  EXPECT_EQ(c.name, "example");
  EXPECT_FALSE(c.task.no_new_privs);
  EXPECT_TRUE(c.task.tracer);
  EXPECT_TRUE(c.task.other_threads);
  EXPECT_TRUE(c.task.sigsys_handler);
  ASSERT_EQ(c.filters.size(), 3u);
  EXPECT_EQ(c.filters[0].flags, SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_NEW_LISTENER);
  EXPECT_EQ(c.filters[0].prog.size(), 4u);
  EXPECT_EQ(c.filters[1].flags, 2u);
  ASSERT_EQ(c.filters[1].prog.size(), 1u);
  EXPECT_EQ(c.filters[1].prog[0], (Insn{0x06, 0, 0, 0x7fff0000}));
  EXPECT_EQ(c.filters[2].flags, 2u);
  ASSERT_EQ(c.inputs.size(), 4u);
  EXPECT_EQ(c.inputs[0].nr, 110);
  EXPECT_EQ(c.inputs[0].args[0], 1u);
  EXPECT_EQ(c.inputs[0].args[1], 2u);
  EXPECT_EQ(c.inputs[0].args[2], ~uint64_t{0});
  EXPECT_EQ(c.inputs[0].ip, std::optional<uint64_t>(0x7f0000001000ull));
  EXPECT_EQ(c.inputs[1].arch, Arch::I386);
  EXPECT_EQ(c.inputs[1].nr, 20);
  EXPECT_FALSE(c.inputs[1].ip);
  EXPECT_EQ(c.inputs[2].arch, Arch::X32);
  EXPECT_EQ(c.inputs[2].nr, 39 | 0x40000000);
  EXPECT_EQ(c.inputs[3].arch, Arch::X86_64);
  EXPECT_EQ(c.inputs[3].nr, 110);
}

TEST(CaseFile, ErrorsNameFileAndLine) {
  // JSON syntax error on line 3.
  EXPECT_EQ(error_of("{\n\"secdiff_case\": 1,\n\"name\": ,\n}").rfind("t.json:3: invalid JSON", 0), 0u)
      << error_of("{\n\"secdiff_case\": 1,\n\"name\": ,\n}");
  // Unknown syscall name on line 4.
  const std::string bad_nr = "{\n\"secdiff_case\": 1,\n\"inputs\": [\n {\"nr\": \"nosuchcall\"}\n]}";
  EXPECT_EQ(error_of(bad_nr).rfind("t.json:4: unknown syscall 'nosuchcall'", 0), 0u) << error_of(bad_nr);
  // bpf_asm error on the 3rd line of the program, which is file line 6.
  const std::string bad_asm =
      "{\n\"secdiff_case\": 1,\n\"filters\": [{\"bpf_asm\": [\n"
      "  \"ld [0]\",\n  \"jeq #1, a\",\n  \"bogus insn\",\n  \"a: ret #0\"]}]}";
  EXPECT_EQ(error_of(bad_asm).rfind("t.json:6: bpf_asm", 0), 0u) << error_of(bad_asm);
  // Unknown keys are caught (typos), at their line.
  EXPECT_EQ(error_of("{\"secdiff_case\": 1,\n \"filter\": []}").rfind("t.json:2: unknown key 'filter'", 0), 0u);
  // Version.
  EXPECT_NE(error_of("{\"secdiff_case\": 2}").find("unsupported case file version"), std::string::npos);
  EXPECT_NE(error_of("{\"name\": \"x\"}").find("missing \"secdiff_case\""), std::string::npos);
  // Bad values.
  EXPECT_NE(error_of("{\"secdiff_case\":1,\"filters\":[{\"flags\":[\"LGO\"],\"bpf_asm\":\"ret #0\"}]}")
                .find("unknown filter flag 'LGO'"),
            std::string::npos);
  EXPECT_NE(error_of("{\"secdiff_case\":1,\"filters\":[{\"hex\":\"0600\"}]}").find("not a whole number"),
            std::string::npos);
  EXPECT_NE(error_of("{\"secdiff_case\":1,\"filters\":[{\"hex\":\"06\",\"bpf_asm\":\"ret #0\"}]}").find("exactly one"),
            std::string::npos);
  EXPECT_NE(error_of("{\"secdiff_case\":1,\"inputs\":[{\"nr\":1,\"arch\":\"arm\"}]}").find("unknown arch"),
            std::string::npos);
  EXPECT_NE(error_of("{\"secdiff_case\":1,\"inputs\":[{\"nr\":1,\"args\":[\"0xzz\"]}]}").find("invalid argument"),
            std::string::npos);
  EXPECT_NE(error_of("{\"secdiff_case\":1,\"filters\":[{\"file\":\"nope.bpf\"}]}").find("nope.bpf"),
            std::string::npos);
}

TEST(CaseFile, CommentsAreAllowed) {
  const Case c = parse_case_file("// a case\n{\"secdiff_case\": 1, /* x */ \"inputs\": [{\"nr\": 39}]}", "t", ".");
  EXPECT_EQ(c.inputs.size(), 1u);
  EXPECT_NE(error_of("// c\n{\"secdiff_case\": 1,\n\"inputs\": [{\"nr\": \"nosuch\"}]}").find("t.json:3:"),
            std::string::npos);
}

Case random_case(std::mt19937_64& r) {
  Case c;
  c.name = "random";
  c.task.tracer = r() & 1;
  c.task.other_threads = r() & 1;
  c.task.no_new_privs = r() & 1;
  c.task.sigsys_handler = r() & 1;
  for (int f = 0, nf = static_cast<int>(r() % 4); f < nf; f++) {
    CaseFilter cf;
    cf.flags = static_cast<uint32_t>(r() & (r() & 1 ? 0x3f : 0xffffffff));
    for (int i = 0, n = 1 + static_cast<int>(r() % 20); i < n; i++)
      cf.prog.push_back(Insn{static_cast<uint16_t>(r()), static_cast<uint8_t>(r()), static_cast<uint8_t>(r()),
                             static_cast<uint32_t>(r())});
    c.filters.push_back(cf);
  }
  for (int i = 0, n = static_cast<int>(r() % 9); i < n; i++) {
    CaseInput in;
    in.arch = static_cast<Arch>(r() % 3);
    switch (r() % 3) {
      case 0: in.nr = static_cast<int64_t>(r()); break;
      case 1: in.nr = static_cast<int64_t>(r() % 500); break;
      default: in.nr = -static_cast<int64_t>(r() % 5); break;
    }
    for (auto& a : in.args) a = r() & 1 ? r() : r() % 8;
    if (r() & 1) in.ip = r();
    c.inputs.push_back(in);
  }
  return c;
}

TEST(CaseFile, RoundTripsBothStyles) {
  std::mt19937_64 r(7);
  for (int i = 0; i < 300; i++) {
    const Case c = random_case(r);
    for (FilterStyle st : {FilterStyle::BpfAsm, FilterStyle::Hex}) {
      CaseFileOptions o;
      o.style = st;
      o.comments = i % 2;
      const std::string text = format_case_file(c, o);
      const Case back = parse_case_file(text, "rt.json", ".");
      ASSERT_EQ(back, c) << text;
    }
    Case compact = case_from_compact(case_to_compact(c));
    compact.name = c.name;  // the compact encoding has no name
    EXPECT_EQ(compact, c);
  }
}

TEST(CaseFile, CompactFilesLoad) {
  std::mt19937_64 r(9);
  Case c = random_case(r);
  const fs::path dir = fs::temp_directory_path() / ("secdiff-case-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_file((dir / "x.case").string(), case_to_compact(c));
  Case back = load_case_file((dir / "x.case").string());
  EXPECT_EQ(back.filters, c.filters);
  EXPECT_EQ(back.inputs, c.inputs);
  // A file filter relative to the case file.
  write_file((dir / "allow.bpf").string(), write_raw({Insn{0x06, 0, 0, 0x7fff0000}}));
  write_file((dir / "f.json").string(),
             R"({"secdiff_case": 1, "filters": [{"file": "allow.bpf"}], "inputs": [{"nr": "getpid"}]})");
  back = load_case_file((dir / "f.json").string());
  EXPECT_EQ(back.name, "f");
  ASSERT_EQ(back.filters.size(), 1u);
  EXPECT_EQ(back.filters[0].prog[0].k, 0x7fff0000u);
  EXPECT_THROW(load_case_file((dir / "garbage.case").string()), InputError);
  write_file((dir / "garbage.case").string(), std::string("\x07\x01\x02", 3));
  EXPECT_THROW(load_case_file((dir / "garbage.case").string()), InputError);
  const auto files = collect_case_files({dir.string()});
  EXPECT_EQ(files.size(), 3u);  // f.json, garbage.case, x.case
  fs::remove_all(dir);
}

TEST(CaseFile, BatteryLoads) {
  const auto files = collect_case_files({std::string(SECDIFF_SOURCE_DIR) + "/tests/vm/cases"});
  EXPECT_GE(files.size(), 20u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    Case c;
    ASSERT_NO_THROW(c = load_case_file(f));
    EXPECT_FALSE(c.inputs.empty() && c.filters.empty());
    // Saving and loading again gives the same case.
    EXPECT_EQ(parse_case_file(format_case_file(c), f, "."), c);
  }
}

}  // namespace
}  // namespace secdiff
