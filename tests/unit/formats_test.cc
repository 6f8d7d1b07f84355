// Filter formats: raw, bpf_asm (assembler and disassembler), ops, ddd, C.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <sstream>
#include <string>

#include "oracle/formats/formats.h"
#include "oracle/seccomp_abi.h"

namespace secdiff {
namespace {

using namespace bpf;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f) << path;
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::string profile(const std::string& rel) { return read_file(std::string(SECDIFF_PROFILES_DIR) + "/" + rel); }

std::string dump(const Program& p) {
  std::ostringstream s;
  for (const Insn& in : p) s << "{" << in.code << "," << int{in.jt} << "," << int{in.jf} << "," << in.k << "} ";
  return s.str();
}

// The error a parse throws; fails the test when it does not throw.
FormatError error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e;
  }
  ADD_FAILURE() << "no FormatError";
  return FormatError("", -1);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The line of `text` that holds `part`.
std::string line_with(const std::string& text, const std::string& part) {
  std::istringstream s(text);
  for (std::string line; std::getline(s, line);)
    if (contains(line, part)) return line;
  return {};
}

// --- the kernel documentation's examples (Documentation/networking/filter.rst) ---

constexpr const char* kSeccompExample = R"(
  ld [4]                  /* offsetof(struct seccomp_data, arch) */
  jne #0xc000003e, bad    /* AUDIT_ARCH_X86_64 */
  ld [0]                  /* offsetof(struct seccomp_data, nr) */
  jeq #15, good           /* __NR_rt_sigreturn */
  jeq #231, good          /* __NR_exit_group */
  jeq #60, good           /* __NR_exit */
  jeq #0, good            /* __NR_read */
  jeq #1, good            /* __NR_write */
  jeq #5, good            /* __NR_fstat */
  jeq #9, good            /* __NR_mmap */
  jeq #14, good           /* __NR_rt_sigprocmask */
  jeq #13, good           /* __NR_rt_sigaction */
  jeq #35, good           /* __NR_nanosleep */
  bad: ret #0             /* SECCOMP_RET_KILL_THREAD */
  good: ret #0x7fff0000   /* SECCOMP_RET_ALLOW */
)";

TEST(BpfAsm, KernelSeccompExample) {
  const Program p = assemble(kSeccompExample);
  ASSERT_EQ(p.size(), 15u);
  EXPECT_EQ(p[0], (Insn{0x20, 0, 0, 4}));
  EXPECT_EQ(p[1], (Insn{0x15, 0, 11, 0xc000003e}));  // jne: jt = 0, jf -> bad (13)
  EXPECT_EQ(p[2], (Insn{0x20, 0, 0, 0}));
  const uint32_t nrs[] = {15, 231, 60, 0, 1, 5, 9, 14, 13, 35};
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(p[3 + i], (Insn{0x15, static_cast<uint8_t>(10 - i), 0, nrs[i]})) << i;
  EXPECT_EQ(p[13], (Insn{0x06, 0, 0, 0}));
  EXPECT_EQ(p[14], (Insn{0x06, 0, 0, 0x7fff0000}));
  EXPECT_EQ(assemble(disassemble(p)), p);
  // Same program through the named constants.
  EXPECT_EQ(assemble(R"(
    ld [4]
    jne #AUDIT_ARCH_X86_64, bad
    ld [0]
    jeq #__NR_rt_sigreturn, good
    jeq #__NR_exit_group, good
    jeq #__NR_exit, good
    jeq #__NR_read, good
    jeq #__NR_write, good
    jeq #__NR_fstat, good
    jeq #__NR_mmap, good
    jeq #__NR_rt_sigprocmask, good
    jeq #__NR_rt_sigaction, good
    jeq #__NR_nanosleep, good
    bad: ret #SECCOMP_RET_KILL_THREAD
    good: ret #ALLOW)"),
            p);
}

TEST(BpfAsm, KernelArpExampleMatchesDocumentedOutput) {
  const char* src = "ldh [12]\njne #0x806, drop\nret #-1\ndrop: ret #0\n";
  const Program p = assemble(src);
  // "$ ./bpf_asm foo" in filter.rst.
  EXPECT_EQ(write_ops(p), "4,40 0 0 12,21 0 1 2054,6 0 0 4294967295,6 0 0 0,\n");
  // "$ ./bpf_asm -c foo", whose zero is printed by %#010x as 0000000000.
  EXPECT_EQ(parse_c_array("{ 0x28,  0,  0, 0x0000000c },\n{ 0x15,  0,  1, 0x00000806 },\n"
                          "{ 0x06,  0,  0, 0xffffffff },\n{ 0x06,  0,  0, 0000000000 },\n"),
            p);
  EXPECT_EQ(write_c_array(p),
            "{ 0x28,  0,  0, 0x0000000c },\n{ 0x15,  0,  1, 0x00000806 },\n"
            "{ 0x06,  0,  0, 0xffffffff },\n{ 0x06,  0,  0, 0x00000000 },\n");
}

TEST(BpfAsm, KernelPacketExamples) {
  // IPv4 TCP; jneq; icmp sampling with a line-start '#' comment, an extension and mod.
  EXPECT_EQ(write_ops(assemble("ldh [12]\njne #0x800, drop\nldb [23]\njneq #6, drop\nret #-1\ndrop: ret #0\n")),
            "6,40 0 0 12,21 0 3 2048,48 0 0 23,21 0 1 6,6 0 0 4294967295,6 0 0 0,\n");
  const Program icmp = assemble(
      "ldh [12]\njne #0x800, drop\nldb [23]\njneq #1, drop\n# get a random uint32 number\n"
      "ld rand\nmod #4\njneq #1, drop\nret #-1\ndrop: ret #0\n");
  ASSERT_EQ(icmp.size(), 9u);
  EXPECT_EQ(icmp[4], (Insn{LD | W | ABS, 0, 0, SKF_AD_OFF + 56}));
  EXPECT_EQ(icmp[5], (Insn{ALU | MOD | K, 0, 0, 4}));
  EXPECT_EQ(icmp[6], (Insn{JMP | JEQ | K, 0, 1, 1}));
  EXPECT_EQ(assemble("ld ifidx\njneq #13, drop\nret #-1\ndrop: ret #0")[0], (Insn{0x20, 0, 0, 0xfffff008}));
  EXPECT_EQ(assemble("ld #vlan_tci\njneq #10, drop\nret #-1\ndrop: ret #0")[0], (Insn{0x20, 0, 0, 0xfffff02c}));
  EXPECT_EQ(assemble("ldh #proto\nret a")[0], (Insn{0x28, 0, 0, 0xfffff000}));
}

// --- the bpf_asm grammar (tools/bpf/bpf_exp.y) ---

TEST(BpfAsm, EveryMnemonicAndAddressingMode) {
  const char* src = R"(
    ld #7
    ldi #8
    ldi 9
    ld #len
    ld len
    ld M[3]
    ld [x + 5]
    ld [%x+6]
    ld [4]
    ldh [x + 1]
    ldh [2]
    ldb [%x + 3]
    ldb [4]
    ldx #10
    ldxi #11
    ldxi 12
    ldx #len
    ldx M[15]
    ldx 4*([14]&0xf)
    ldxb 4 * ( [ 15 ] & 0xf )
    st M[1]
    stx M[2]
    add #1
    sub x
    mul %x
    div #3
    mod #4
    neg
    and #0xff
    or x
    xor #0b1010
    lsh #017
    rsh x
    tax
    txa
    ret a
    ret %a
    ret x
    ret %x
    ret #-2
  )";
  const Program expect = {
      {LD | IMM, 0, 0, 7},          {LD | IMM, 0, 0, 8},          {LD | IMM, 0, 0, 9},
      {LD | W | LEN, 0, 0, 0},      {LD | W | LEN, 0, 0, 0},      {LD | MEM, 0, 0, 3},
      {LD | W | IND, 0, 0, 5},      {LD | W | IND, 0, 0, 6},      {LD | W | ABS, 0, 0, 4},
      {LD | H | IND, 0, 0, 1},      {LD | H | ABS, 0, 0, 2},      {LD | B | IND, 0, 0, 3},
      {LD | B | ABS, 0, 0, 4},      {LDX | IMM, 0, 0, 10},        {LDX | IMM, 0, 0, 11},
      {LDX | IMM, 0, 0, 12},        {LDX | W | LEN, 0, 0, 0},     {LDX | MEM, 0, 0, 15},
      {LDX | MSH | B, 0, 0, 14},    {LDX | MSH | B, 0, 0, 15},    {ST, 0, 0, 1},
      {STX, 0, 0, 2},               {ALU | ADD | K, 0, 0, 1},     {ALU | SUB | X, 0, 0, 0},
      {ALU | MUL | X, 0, 0, 0},     {ALU | DIV | K, 0, 0, 3},     {ALU | MOD | K, 0, 0, 4},
      {ALU | NEG, 0, 0, 0},         {ALU | AND | K, 0, 0, 0xff},  {ALU | OR | X, 0, 0, 0},
      {ALU | XOR | K, 0, 0, 10},    {ALU | LSH | K, 0, 0, 15},    {ALU | RSH | X, 0, 0, 0},
      {MISC | TAX, 0, 0, 0},        {MISC | TXA, 0, 0, 0},        {RET | A, 0, 0, 0},
      {RET | A, 0, 0, 0},           {RET | X, 0, 0, 0},           {RET | X, 0, 0, 0},
      {RET | K, 0, 0, 0xfffffffe},
  };
  EXPECT_EQ(dump(assemble(src)), dump(expect));
}

TEST(BpfAsm, JumpsResolveLikeBpfAsm) {
  const Program p = assemble(R"(
        jeq #1, a1, b1      ; 0: jt 2, jf 4
        jgt x, a1           ; 1: jt 1, jf 0
        jge %x, a1, b1      ; 2: jt 0, jf 2
    a1: jset #4, b1, b1     ; 3: jt 1, jf 1
        jne #5, b1          ; 4: JEQ, jt 0, jf 0
    b1: jlt #6, c1          ; 5: JGE, jf 1
        jle x, c1           ; 6: JGT|X, jf 0
    c1: jmp d1              ; 7: k 1
        ja d1               ; 8: k 0
    d1: jneq %x, e1         ; 9: JEQ|X, jf 0
    e1: ret #0
  )");
  const Program expect = {
      {JMP | JEQ | K, 2, 4, 1}, {JMP | JGT | X, 1, 0, 0}, {JMP | JGE | X, 0, 2, 0},
      {JMP | JSET | K, 1, 1, 4}, {JMP | JEQ | K, 0, 0, 5}, {JMP | JGE | K, 0, 1, 6},
      {JMP | JGT | X, 0, 0, 0}, {JMP | JA, 0, 0, 1},       {JMP | JA, 0, 0, 0},
      {JMP | JEQ | X, 0, 0, 0}, {RET | K, 0, 0, 0},
  };
  EXPECT_EQ(dump(p), dump(expect));
}

TEST(BpfAsm, LexicalDetails) {
  // Case-insensitive keywords, free-form layout, all comment styles, number bases.
  const Program p = assemble(
      "# line comment\n  # indented line comment\nLD [4] ; trailing\n/* multi\nline */ RET #0x10 // c++\n"
      "top:\n  Ret #0b11 ret #010 ret #-1 ret # 0 RET %A");
  EXPECT_EQ(dump(p), dump(Program{{0x20, 0, 0, 4}, {6, 0, 0, 16}, {6, 0, 0, 3}, {6, 0, 0, 8},
                                  {6, 0, 0, 0xffffffff}, {6, 0, 0, 0}, {0x16, 0, 0, 0}}));
  EXPECT_EQ(assemble("ret #4294967295")[0].k, 0xffffffffu);
  EXPECT_EQ(assemble("ret #-2147483648")[0].k, 0x80000000u);
  EXPECT_TRUE(assemble("").empty());
  EXPECT_TRUE(assemble("; nothing\n/* at all */\n").empty());
  // Labels are case-sensitive and may share a line with their instruction.
  EXPECT_EQ(assemble("ja Next\nnext: ret #1\nNext: ret #2")[0].k, 1u);
}

TEST(BpfAsm, SeccompSugar) {
  EXPECT_EQ(assemble("ret #ALLOW")[0].k, SECCOMP_RET_ALLOW);
  EXPECT_EQ(assemble("ret #SECCOMP_RET_ALLOW")[0].k, SECCOMP_RET_ALLOW);
  EXPECT_EQ(assemble("ret #KILL_PROCESS")[0].k, SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(assemble("ret #SECCOMP_RET_KILL_PROCESS")[0].k, SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(assemble("ret #KILL_THREAD")[0].k, SECCOMP_RET_KILL_THREAD);
  EXPECT_EQ(assemble("ret #SECCOMP_RET_KILL")[0].k, SECCOMP_RET_KILL_THREAD);
  EXPECT_EQ(assemble("ret #USER_NOTIF")[0].k, SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(assemble("ret #LOG")[0].k, SECCOMP_RET_LOG);
  EXPECT_EQ(assemble("ret #ERRNO(1)")[0].k, 0x50001u);
  EXPECT_EQ(assemble("ret #SECCOMP_RET_ERRNO(EPERM)")[0].k, 0x50001u);
  EXPECT_EQ(assemble("ret #errno(38)")[0].k, 0x50026u);
  EXPECT_EQ(assemble("ret #ERRNO | ENOSYS")[0].k, 0x50026u);
  EXPECT_EQ(assemble("ret #TRAP(0x12)")[0].k, 0x30012u);
  EXPECT_EQ(assemble("ret #TRACE(7)")[0].k, 0x7ff00007u);
  EXPECT_EQ(assemble("ret #ALLOW(0x5)")[0].k, 0x7fff0005u);
  EXPECT_EQ(assemble("jeq #AUDIT_ARCH_I386, x1\nx1: ret #0")[0].k, AUDIT_ARCH_I386);
  EXPECT_EQ(assemble("jset #X32_SYSCALL_BIT, x1\nx1: ret #0")[0].k, X32_SYSCALL_BIT);
  EXPECT_EQ(assemble("jeq #__NR_execve, x1\nx1: ret #0")[0].k, 59u);
  // .insn spells anything, including what no mnemonic can.
  EXPECT_EQ(assemble(".insn 0x6, 5, 0, 0x7fff0000")[0], (Insn{6, 5, 0, 0x7fff0000}));
  EXPECT_EQ(assemble(".INSN 0xffff, 255, 255, -1")[0], (Insn{0xffff, 255, 255, 0xffffffff}));
  EXPECT_EQ(assemble(".insn 0x15, 0, 0, ERRNO(3)")[0], (Insn{0x15, 0, 0, 0x50003}));
}

// --- errors carry a line and say what is wrong ---

TEST(BpfAsm, Errors) {
  struct Case {
    const char* src;
    int line;
    const char* msg;
  } cases[] = {
      {"ld [0]\n\n  frob #1\n", 3, "unknown mnemonic 'frob'"},
      {"ld [0]\njeq #1, kill\nok: ret #0\n", 2, "unknown label 'kill'"},
      {"ld [0]\njeq #1, ok, kill\nok: ret #0\n", 2, "unknown label 'kill'"},
      {"top: ld [0]\nja top\n", 2, "backward jump to 'top'"},
      {"a1: ret #0\na1: ret #1\n", 2, "duplicate label 'a1'"},
      {"ret #0\nend:\n", 2, "label 'end' is not followed by an instruction"},
      {"ret #ERRNO(70000)", 1, "does not fit in 16 bits"},
      {"ret #NOPE", 1, "unknown constant 'NOPE'"},
      {"ret #EPERM(1)", 1, "'EPERM' does not take an argument"},
      {"ret #4294967296", 1, "out of range"},
      {"ret #-2147483649", 1, "out of range"},
      {"ret #08", 1, "bad number '08'"},
      {"ret #12ab", 1, "bad number '12ab'"},
      {"ld [0]\n/* open", 2, "unterminated /* comment"},
      {"ret $", 1, "unexpected character '$'"},
      {"ldxb 2*([3]&0xf)", 1, "ldxb supports only 4*([k]&0xf)"},
      {"ld [0]\njne #1, a1, b1\na1: b1: ret #0", 2, "'jne' takes one label"},
      {"ld\n", 2, "expected '#k', '[k]'"},
      {"jeq #1 a1\na1: ret #0", 1, "expected ','"},
      {".insn 1, 256, 0, 0", 1, "jt 256 does not fit in 8 bits"},
      {".insn 0x10000, 0, 0, 0", 1, "does not fit in 16 bits"},
      {".byte 1", 1, "unknown directive '.byte'"},
      {"ret #0\n42", 2, "expected an instruction or a label"},
  };
  for (const Case& c : cases) {
    const FormatError e = error_of([&] { assemble(c.src); });
    EXPECT_EQ(e.line(), c.line) << c.src;
    EXPECT_TRUE(contains(e.what(), c.msg)) << c.src << " -> " << e.what();
  }
  // A jump farther than 255 instructions.
  std::string far = "ld [0]\njeq #1, far\n";
  for (int i = 0; i < 300; ++i) far += "ld [0]\n";
  far += "far: ret #0\n";
  const FormatError e = error_of([&] { assemble(far); });
  EXPECT_EQ(e.line(), 2);
  EXPECT_TRUE(contains(e.what(), "jump target out of range (offset 300 > 255)")) << e.what();
  // 255 is the farthest.
  std::string ok = "jeq #1, far\n";
  for (int i = 0; i < 255; ++i) ok += "ld [0]\n";
  ok += "far: ret #0\n";
  EXPECT_EQ(assemble(ok)[0].jt, 255);
}

TEST(Formats, Errors) {
  FormatError e = error_of([] { parse_raw(std::string(12, '\0')); });
  EXPECT_TRUE(contains(e.what(), "12 bytes")) << e.what();
  EXPECT_EQ(error_of([] { parse_program(std::string("\x06\0\0\0\0\0\0\0\x06", 9)); }).line(), 0);

  e = error_of([] { parse_ops("3,6 0 0 0,6 0 0 1,"); });
  EXPECT_TRUE(contains(e.what(), "count 3 does not match the 2 instructions")) << e.what();
  e = error_of([] { parse_ops("1,6 0 0 0,\n6 0 0 1,"); });
  EXPECT_EQ(e.line(), 2);
  EXPECT_TRUE(contains(e.what(), "more instructions than the count 1")) << e.what();
  e = error_of([] { parse_ops("2,6 0 0 0,6 0 0,"); });
  EXPECT_TRUE(contains(e.what(), "expected k")) << e.what();
  e = error_of([] { parse_ops("1,6 0 256 0,"); });
  EXPECT_TRUE(contains(e.what(), "jf out of range")) << e.what();
  e = error_of([] { parse_ops("1,65536 0 0 0,"); });
  EXPECT_TRUE(contains(e.what(), "code out of range")) << e.what();

  e = error_of([] { parse_ddd("3\n6 0 0 0\n6 0 0 1\n\n"); });
  EXPECT_EQ(e.line(), 4);
  EXPECT_TRUE(contains(e.what(), "count 3 but only 2 instructions")) << e.what();
  e = error_of([] { parse_ddd("1\n6 0 0 0\n6 0 0 1\n"); });
  EXPECT_EQ(e.line(), 3);
  EXPECT_TRUE(contains(e.what(), "more instructions than the count 1")) << e.what();
  e = error_of([] { parse_ddd("1\n6 0 0 0 7\n"); });
  EXPECT_EQ(e.line(), 2);
  e = error_of([] { parse_ddd("1 2\n"); });
  EXPECT_EQ(e.line(), 1);
  e = error_of([] { parse_ddd("2\n6 0 0 4294967296\n"); });
  EXPECT_TRUE(contains(e.what(), "k out of range")) << e.what();

  e = error_of([] { parse_c_array("{ 0x06, 0, 0, 0 },\n{ 0x06, 0, 0 },\n"); });
  EXPECT_EQ(e.line(), 2);
  e = error_of([] { parse_c_array("struct sock_filter f[] = {\n  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_NOPE),\n};"); });
  EXPECT_EQ(e.line(), 2);
  EXPECT_TRUE(contains(e.what(), "unknown name 'SECCOMP_RET_NOPE'")) << e.what();
  e = error_of([] { parse_c_array("{ 0x106, 256, 0, 0 },"); });
  EXPECT_TRUE(contains(e.what(), "jt 256 out of range")) << e.what();
  e = error_of([] { parse_c_array("BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[6]))"); });
  EXPECT_TRUE(contains(e.what(), "args index 6 out of range")) << e.what();

  EXPECT_FALSE(detect_format("").has_value());
  EXPECT_THROW(parse_program("  \n"), FormatError);
}

// --- each format on fixed programs ---

const Program kSample = {
    {0x20, 0, 0, 4}, {0x15, 1, 0, 0xc000003e}, {0x06, 0, 0, 0}, {0x20, 0, 0, 0},
    {0x15, 0, 1, 59}, {0x06, 0, 0, 0x50001},   {0x06, 0, 0, 0x7fff0000},
};

TEST(Formats, Raw) {
  const std::string bytes = write_raw(kSample);
  ASSERT_EQ(bytes.size(), 56u);
  EXPECT_EQ(bytes.substr(8, 8), std::string("\x15\x00\x01\x00\x3e\x00\x00\xc0", 8));
  EXPECT_EQ(parse_raw(bytes), kSample);
  EXPECT_EQ(detect_format(bytes), Format::Raw);
  EXPECT_EQ(parse_program(bytes), kSample);
  EXPECT_TRUE(parse_raw("").empty());
}

TEST(Formats, Ops) {
  const std::string ops = write_ops(kSample);
  EXPECT_EQ(ops, "7,32 0 0 4,21 1 0 3221225534,6 0 0 0,32 0 0 0,21 0 1 59,6 0 0 327681,6 0 0 2147418112,\n");
  EXPECT_EQ(parse_ops(ops), kSample);
  EXPECT_EQ(detect_format(ops), Format::Ops);
  // tcpdump -ddd | tr '\n' ',', without the trailing comma, with blanks, hex.
  EXPECT_EQ(parse_ops("2,6 0 0 0,6 0 0 0x7fff0000"), (Program{{6, 0, 0, 0}, {6, 0, 0, 0x7fff0000}}));
  EXPECT_EQ(parse_ops(" 2 , 6 0 0 0 ,\n 6\t0 0 1 , \n"), (Program{{6, 0, 0, 0}, {6, 0, 0, 1}}));
  EXPECT_TRUE(parse_ops("0,").empty());
}

TEST(Formats, Ddd) {
  const std::string ddd = write_ddd(kSample);
  EXPECT_EQ(ddd.substr(0, 14), "7\n32 0 0 4\n21 ");
  EXPECT_EQ(parse_ddd(ddd), kSample);
  EXPECT_EQ(parse_ddd(ddd + "\n\n  \n"), kSample);
  EXPECT_EQ(parse_ddd("2\r\n6 0 0 0\r\n6 0 0 1\r\n"), (Program{{6, 0, 0, 0}, {6, 0, 0, 1}}));
  EXPECT_EQ(detect_format(ddd), Format::Ddd);
  EXPECT_EQ(detect_format("0\n"), Format::Ddd);
  EXPECT_TRUE(parse_program("0\n").empty());
}

TEST(Formats, CArray) {
  const std::string c = write_c_array(kSample);
  EXPECT_EQ(line_with(c, "0xc000003e"), "{ 0x15,  1,  0, 0xc000003e },");
  EXPECT_EQ(parse_c_array(c), kSample);
  EXPECT_EQ(detect_format(c), Format::C);
  // tcpdump -dd.
  EXPECT_EQ(parse_program("{ 0x28, 0, 0, 0x0000000c },\n{ 0x6, 0, 0, 0x00040000 },\n"),
            (Program{{0x28, 0, 0, 12}, {6, 0, 0, 0x40000}}));
  // A C source file with macros, offsetof, comments and the sock_fprog after it.
  const char* src = R"(#include <linux/filter.h>
#include <linux/seccomp.h>
/* x86_64 only */
static struct sock_filter filter[] = {
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (offsetof(struct seccomp_data, arch))),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),  // arch ok
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  BPF_STMT(BPF_LD+BPF_W+BPF_ABS, offsetof(struct seccomp_data, nr)),
  BPF_JUMP(BPF_JMP+BPF_JEQ+BPF_K, __NR_execve, 0, 1),
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  { 0x20, 0, 0, offsetof(struct seccomp_data, args[1]) + 4 },
  { BPF_RET | BPF_K, 0, 0, -1 },
};
struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
)";
  Program expect = kSample;
  expect[2].k = SECCOMP_RET_KILL_PROCESS;
  expect.push_back({0x20, 0, 0, 28});
  expect.push_back({0x06, 0, 0, 0xffffffff});
  EXPECT_EQ(detect_format(src), Format::C);
  EXPECT_EQ(dump(parse_program(src)), dump(expect));
  EXPECT_EQ(parse_c_array("{ { 6, 0, 0, 0 }, { 6, 0, 0, 1, }, }"), (Program{{6, 0, 0, 0}, {6, 0, 0, 1}}));
  EXPECT_TRUE(parse_c_array("struct sock_filter f[] = {};").empty());
}

TEST(Formats, NamesAndDetection) {
  for (Format f : {Format::Raw, Format::BpfAsm, Format::Ops, Format::Ddd, Format::C})
    EXPECT_EQ(parse_format_name(format_name(f)), f);
  EXPECT_EQ(parse_format_name("asm"), Format::BpfAsm);
  EXPECT_FALSE(parse_format_name("json").has_value());
  EXPECT_EQ(detect_format(kSeccompExample), Format::BpfAsm);
  EXPECT_EQ(detect_format(disassemble(kSample)), Format::BpfAsm);
  EXPECT_EQ(detect_format("ret #0"), Format::BpfAsm);
  EXPECT_EQ(detect_format("BPF_STMT(BPF_RET|BPF_K, 0)"), Format::C);
  for (Format f : {Format::Raw, Format::BpfAsm, Format::Ops, Format::Ddd, Format::C}) {
    const std::string w = write_program(kSample, f);
    EXPECT_EQ(detect_format(w), f) << format_name(f);
    EXPECT_EQ(parse_program(w), kSample) << format_name(f);
  }
}

// --- the disassembler ---

TEST(Disasm, AnnotatesSeccompFields) {
  const Program p = assemble(R"(
    ld [4]
    jne #AUDIT_ARCH_X86_64, kill
    ld [0]
    jge #X32_SYSCALL_BIT, kill
    jeq #59, kill
    jeq #0x40000000|520, kill
    ld [16]
    ld [20]
    ld [8]
    ld [12]
    ld [64]
    ret #ERRNO(1)
    ret #TRAP(0x12)
    ret #TRACE
    ret #0x12340000
    kill: ret #KILL_PROCESS
  )");
  const std::string d = disassemble(p);
  EXPECT_EQ(assemble(d), p);
  EXPECT_TRUE(contains(line_with(d, "ld [4]"), "; arch")) << d;
  EXPECT_TRUE(contains(line_with(d, "jne #0xc000003e, L15"), "; AUDIT_ARCH_X86_64")) << d;
  EXPECT_TRUE(contains(line_with(d, "ld [0]"), "; nr")) << d;
  EXPECT_TRUE(contains(line_with(d, "jge #0x40000000"), "; X32_SYSCALL_BIT")) << d;
  EXPECT_TRUE(contains(line_with(d, "jeq #59,"), "; execve")) << d;
  EXPECT_TRUE(contains(line_with(d, "jeq #0x40000208,"), "; x32 execve")) << d;
  EXPECT_TRUE(contains(line_with(d, "ld [16]"), "; args[0] low")) << d;
  EXPECT_TRUE(contains(line_with(d, "ld [20]"), "; args[0] high")) << d;
  EXPECT_TRUE(contains(line_with(d, "ld [8]"), "; instruction_pointer low")) << d;
  EXPECT_TRUE(contains(line_with(d, "ld [12]"), "; instruction_pointer high")) << d;
  EXPECT_TRUE(contains(line_with(d, "ld [64]"), "not a seccomp_data word")) << d;
  EXPECT_TRUE(contains(line_with(d, "ret #0x50001"), "; ERRNO(1)")) << d;
  EXPECT_TRUE(contains(line_with(d, "ret #0x30012"), "; TRAP(0x12)")) << d;
  EXPECT_TRUE(contains(line_with(d, "ret #0x7ff00000"), "; TRACE")) << d;
  EXPECT_TRUE(contains(line_with(d, "ret #0x12340000"), "unknown action 0x12340000")) << d;
  EXPECT_TRUE(contains(line_with(d, "ret #0x80000000"), "; KILL_PROCESS")) << d;
  EXPECT_EQ(line_with(d, "L15:"), "L15:");
  EXPECT_TRUE(contains(d, "/* 0000 */ ld [4]")) << d;
  // Without comments: plain bpf_asm that the kernel's tool accepts too.
  DisasmOptions plain;
  plain.comments = false;
  const std::string q = disassemble(p, plain);
  EXPECT_FALSE(contains(q, ";"));
  EXPECT_FALSE(contains(q, "/*"));
  EXPECT_EQ(assemble(q), p);
  // After an arch check, that arch's names; without one, opt.arch's.
  EXPECT_TRUE(contains(line_with(disassemble(assemble("ld [4]\njne #AUDIT_ARCH_I386, k1\nld [0]\njeq #11, k1\nk1: ret #0")), "jeq #11"),
                       "; execve"));
  EXPECT_FALSE(contains(line_with(disassemble(assemble("ld [4]\njne #AUDIT_ARCH_AARCH64, k1\nld [0]\njeq #59, k1\nk1: ret #0")), "jeq #59"),
                        ";"));
  DisasmOptions i386;
  i386.arch = Arch::I386;
  EXPECT_TRUE(contains(line_with(disassemble(assemble("ld [0]\njeq #11, a1\na1: ret #0"), i386), "jeq"), "; execve"));
}

TEST(Disasm, TracksTheLoadedFieldAcrossJumps) {
  // A is nr at 3 on both paths; at 6 one path loaded arch.
  const Program p = assemble(R"(
        ld [0]
        jeq #1, a1
        jeq #2, a1
    a1: jeq #59, b1
        ld [4]
    b1: ret #0
        ret #1
  )");
  const Program q = {p[0], p[1], p[2], p[3], p[4], {JMP | JEQ | K, 0, 0, 60}, {RET | K, 0, 0, 0}};
  const std::string d = disassemble(p);
  EXPECT_TRUE(contains(line_with(d, "jeq #59"), "; execve")) << d;
  const std::string e = disassemble(q);
  EXPECT_FALSE(contains(line_with(e, "jeq #60"), "; exit")) << e;
}

TEST(Disasm, RawEncodingsUseInsn) {
  const Program p = {
      {RET | K, 5, 0, 0x7fff0000},  // jt on a non-jump
      {LD | IMM, 200, 0, 1},        // jt on a load
      {ALU | NEG, 0, 0, 7},         // k on neg
      {RET | A, 0, 0, 1},           // k on ret a
      {0x1234, 0, 0, 0},            // bits 8-15
      {0xff, 0, 0, 0},              // unknown opcode
      {LD | H | IMM, 0, 0, 0},      // no mnemonic
      {JMP | JA, 0, 0, 100},        // ja past the end
      {JMP | JA, 0, 1, 0},          // ja with jf
      {JMP | JEQ | X, 0, 0, 3},     // k on jeq x
      {JMP | JEQ | K, 9, 0, 3},     // past the end
      {RET | K, 0, 0, 0},
  };
  const std::string d = disassemble(p);
  EXPECT_EQ(assemble(d), p) << d;
  EXPECT_TRUE(contains(line_with(d, "0000 */"), ".insn 0x6, 5, 0, 0x7fff0000")) << d;
  EXPECT_TRUE(contains(line_with(d, "0000 */"), "ret #0x7fff0000 with jt/jf set; ALLOW")) << d;
  EXPECT_TRUE(contains(line_with(d, "0004 */"), ".insn 0x1234, 0, 0, 0x0")) << d;
  EXPECT_TRUE(contains(line_with(d, "0005 */"), "unknown opcode")) << d;
  EXPECT_TRUE(contains(line_with(d, "0007 */"), "ja past the end")) << d;
  EXPECT_TRUE(contains(line_with(d, "0010 */"), "jump past the end")) << d;
  EXPECT_EQ(line_with(d, "0011 */"), "/* 0011 */ ret #0                       ; KILL_THREAD");
}

// --- random programs: every format round-trips, and so does the disassembly ---

uint32_t interesting_k(std::mt19937_64& rng) {
  static constexpr uint32_t kValues[] = {0, 1, 4, 16, 20, 59, 63, 64, 255, 256, 1023, 1024, 0x40000000,
                                         0xc000003e, 0x40000003, 0x7fff0000, 0x50001, 0x80000000,
                                         0xfffff000, 0xffffffff, 0x7ffc0000, 0x30000};
  switch (rng() % 3) {
    case 0: return kValues[rng() % std::size(kValues)];
    case 1: return static_cast<uint32_t>(rng() % 600);
    default: return static_cast<uint32_t>(rng());
  }
}

Program random_garbage(std::mt19937_64& rng, size_t n) {
  Program p(n);
  for (Insn& in : p) {
    const uint64_t r = rng();
    in.code = static_cast<uint16_t>(r % 4 == 0 ? r >> 16 : (r >> 16) & 0xff);
    in.jt = static_cast<uint8_t>(r >> 32);
    in.jf = static_cast<uint8_t>(r >> 40);
    in.k = static_cast<uint32_t>(rng());
    if (r % 7 == 0) in.jt = in.jf = 0;
    if (r % 5 == 0) in.k = interesting_k(rng);
  }
  return p;
}

Program random_valid(std::mt19937_64& rng, size_t n) {
  static constexpr uint16_t kCodes[] = {
      LD | IMM, LD | W | ABS, LD | H | ABS, LD | B | ABS, LD | W | IND, LD | H | IND, LD | B | IND,
      LD | MEM, LD | W | LEN, LDX | IMM, LDX | MEM, LDX | W | LEN, LDX | MSH | B, ST, STX,
      ALU | ADD | K, ALU | SUB | X, ALU | MUL | K, ALU | DIV | X, ALU | MOD | K, ALU | NEG, ALU | AND | K,
      ALU | OR | X, ALU | XOR | K, ALU | LSH | K, ALU | RSH | X, JMP | JA, JMP | JEQ | K, JMP | JEQ | X,
      JMP | JGT | K, JMP | JGE | K, JMP | JSET | K, JMP | JGT | X, RET | K, RET | A, RET | X, MISC | TAX,
      MISC | TXA};
  Program p(n);
  for (size_t i = 0; i < n; ++i) {
    Insn& in = p[i];
    in.code = kCodes[rng() % std::size(kCodes)];
    in.k = interesting_k(rng);
    const size_t room = n - i - 1;  // instructions after this one
    if (class_of(in.code) == JMP) {
      if (op_of(in.code) == JA) in.k = room ? static_cast<uint32_t>(rng() % room) : 0;
      else {
        const size_t lim = room ? std::min<size_t>(room, 256) : 1;
        in.jt = static_cast<uint8_t>(rng() % lim);
        in.jf = static_cast<uint8_t>(rng() % 3 == 0 ? 0 : rng() % lim);
      }
      if (src_of(in.code) == X && op_of(in.code) != JA) in.k = 0;
    } else if (in.code == (ALU | NEG) || in.code == (RET | A) || in.code == (RET | X) ||
               in.code == (MISC | TAX) || in.code == (MISC | TXA) || in.code == (LD | W | LEN) ||
               in.code == (LDX | W | LEN) || (class_of(in.code) == ALU && src_of(in.code) == X)) {
      in.k = 0;
    }
    if (rng() % 50 == 0) in = random_garbage(rng, 1)[0];  // mostly valid
  }
  return p;
}

TEST(RoundTrip, RandomPrograms) {
  std::mt19937_64 rng(20241121);
  const auto start = std::chrono::steady_clock::now();
  DisasmOptions plain;
  plain.comments = false;
  size_t insn_lines = 0;
  for (int iter = 0; iter < 100000; ++iter) {
    const size_t n = 1 + rng() % 64;
    const Program p = iter % 2 ? random_garbage(rng, n) : random_valid(rng, n);
    ASSERT_EQ(parse_raw(write_raw(p)), p) << dump(p);
    ASSERT_EQ(parse_ops(write_ops(p)), p) << dump(p);
    ASSERT_EQ(parse_ddd(write_ddd(p)), p) << dump(p);
    ASSERT_EQ(parse_c_array(write_c_array(p)), p) << dump(p);
    const std::string d = disassemble(p);
    Program back;
    ASSERT_NO_THROW(back = assemble(d)) << d;
    ASSERT_EQ(back, p) << d;
    if (iter % 10 == 0) {
      ASSERT_EQ(assemble(disassemble(p, plain)), p);
      std::string c;  // write_c_array prints what bpf_asm -c's printf would (but 0 as 0x...)
      char buf[64];
      for (const Insn& in : p) {
        std::snprintf(buf, sizeof buf, "{ %#04x, %2u, %2u, %#010x },\n", in.code, in.jt, in.jf, in.k);
        c += buf;
      }
      for (size_t i = 0; (i = c.find("{ 0000,", i)) != std::string::npos;) c.replace(i, 6, "{ 0x00");
      for (size_t i = 0; (i = c.find(", 0000000000 }", i)) != std::string::npos;) c.replace(i, 12, ", 0x00000000");
      ASSERT_EQ(write_c_array(p), c);
    }
    if (iter % 2 == 0) {
      for (Format f : {Format::Ops, Format::Ddd, Format::C, Format::BpfAsm})
        ASSERT_EQ(parse_program(write_program(p, f)), p) << format_name(f);
      for (size_t i = d.find(".insn"); i != std::string::npos; i = d.find(".insn", i + 1)) ++insn_lines;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("seconds", std::to_string(secs));
  std::printf("100k random programs in %.2fs (%zu .insn lines in the even half)\n", secs, insn_lines);
  EXPECT_GT(insn_lines, 0u);
}

TEST(RoundTrip, EveryOpcodeAndOffsetShape) {
  // Each of the 65536 codes, with jt/jf/k chosen to hit both canonical and raw forms.
  for (uint32_t code = 0; code <= 0xffff; ++code) {
    for (const Insn& in : {Insn{static_cast<uint16_t>(code), 0, 0, 0}, Insn{static_cast<uint16_t>(code), 1, 0, 1},
                           Insn{static_cast<uint16_t>(code), 0, 1, 0}, Insn{static_cast<uint16_t>(code), 1, 1, 0xffffffff}}) {
      const Program p = {in, {RET | K, 0, 0, 0}, {RET | K, 0, 0, 1}};
      ASSERT_EQ(assemble(disassemble(p)), p) << disassemble(p);
    }
  }
}

TEST(RoundTrip, MutatedTextOnlyThrowsFormatError) {
  // Parsers run in fuzzers: damaged input must parse or throw FormatError, nothing else.
  std::mt19937_64 rng(7);
  const Program base = assemble(kSeccompExample);
  const std::string seeds[] = {disassemble(base), write_ops(base), write_ddd(base), write_c_array(base),
                               kSeccompExample, "BPF_STMT(BPF_LD|BPF_W|BPF_ABS, offsetof(struct seccomp_data, args[1]))"};
  static constexpr char kAlphabet[] = "#%[]()+-*&|:,;./{}=\n 0123456789xXabMLlen_";
  int parsed = 0;
  for (int iter = 0; iter < 30000; ++iter) {
    std::string t = seeds[iter % std::size(seeds)];
    for (int m = 1 + static_cast<int>(rng() % 4); m > 0 && !t.empty(); --m) {
      const size_t at = rng() % t.size();
      switch (rng() % 4) {
        case 0: t[at] = kAlphabet[rng() % (sizeof kAlphabet - 1)]; break;
        case 1: t.erase(at, 1 + rng() % 8); break;
        case 2: t.insert(at, 1, kAlphabet[rng() % (sizeof kAlphabet - 1)]); break;
        default: t[at] = static_cast<char>(rng()); break;
      }
    }
    for (Format f : {Format::BpfAsm, Format::Ops, Format::Ddd, Format::C, Format::Raw}) {
      try {
        const Program p = parse_program(t, f);
        ASSERT_EQ(assemble(disassemble(p)), p);
        ++parsed;
      } catch (const FormatError& e) {
        ASSERT_GE(e.line(), 0);
      }
    }
    try {
      parse_program(t);
    } catch (const FormatError&) {
    }
  }
  EXPECT_GT(parsed, 1000);
}

// --- real compiled filters ---

TEST(Profiles, FirejailAndBubblewrap) {
  for (const char* name : {"firejail/bpf/seccomp", "firejail/bpf/seccomp.32", "firejail/bpf/seccomp.debug",
                           "firejail/bpf/seccomp.mdwx", "firejail/bpf/seccomp.mdwx.32",
                           "firejail/bpf/seccomp.block_secondary", "bubblewrap/flatpak.bpf"}) {
    const std::string bytes = profile(name);
    ASSERT_FALSE(bytes.empty()) << name;
    EXPECT_EQ(detect_format(bytes), Format::Raw) << name;
    const Program p = parse_program(bytes);
    ASSERT_EQ(p.size() * 8, bytes.size());
    const std::string d = disassemble(p);
    EXPECT_EQ(assemble(d), p) << name << "\n" << d;
    // Only firejail's final `ret ERRNO(1)` has jf = 1 set (its compiler's quirk).
    for (size_t i = 0; i + 1 < p.size(); ++i)
      EXPECT_FALSE(contains(line_with(d, "/* " + std::string(i < 10 ? "000" : "00") + std::to_string(i) + " */"), ".insn"))
          << name << "\n" << d;
    for (Format f : {Format::Ops, Format::Ddd, Format::C, Format::BpfAsm, Format::Raw})
      EXPECT_EQ(parse_program(write_program(p, f)), p) << name << " " << format_name(f);
  }
}

TEST(Profiles, FirejailGolden) {
  const std::string d = disassemble(parse_raw(profile("firejail/bpf/seccomp")));
  EXPECT_EQ(line_with(d, "0000 */"), "/* 0000 */ ld [4]                       ; arch") << d;
  EXPECT_TRUE(contains(line_with(d, "0001 */"), "jeq #0xc000003e, L3")) << d;
  EXPECT_TRUE(contains(line_with(d, "0001 */"), "; AUDIT_ARCH_X86_64")) << d;
  EXPECT_TRUE(contains(line_with(d, "ld [0]"), "; nr")) << d;
  EXPECT_TRUE(contains(line_with(d, "ret #0x7fff0000"), "; ALLOW")) << d;
  EXPECT_TRUE(contains(line_with(d, "ret #0x50001"), "; ERRNO(1)")) << d;
  EXPECT_TRUE(contains(line_with(d, "#165,"), "; mount")) << d;
  EXPECT_TRUE(contains(line_with(d, "#101,"), "; ptrace")) << d;
  EXPECT_EQ(line_with(d, "0079 */"), "/* 0079 */ .insn 0x6, 0, 1, 0x50001     ; ret #0x50001 with jt/jf set; ERRNO(1)");

  const std::string b = disassemble(parse_raw(profile("firejail/bpf/seccomp.block_secondary")));
  EXPECT_EQ(b,
            "/* 0000 */ ld [4]                       ; arch\n"
            "/* 0001 */ jeq #0xc000003e, L3          ; AUDIT_ARCH_X86_64\n"
            "/* 0002 */ ret #0x50001                 ; ERRNO(1)\n"
            "L3:\n"
            "/* 0003 */ ld [0]                       ; nr\n"
            "/* 0004 */ jge #0x40000000, L6          ; X32_SYSCALL_BIT\n"
            "/* 0005 */ jge #0, L7                   ; read\n"
            "L6:\n"
            "/* 0006 */ ret #0x50001                 ; ERRNO(1)\n"
            "L7:\n"
            "/* 0007 */ jne #135, L14                ; personality\n"
            "/* 0008 */ ld [16]                      ; args[0] low\n"
            "/* 0009 */ jeq #0, L11\n"
            "/* 0010 */ jne #0xffffffff, L13\n"
            "L11:\n"
            "/* 0011 */ ld [20]                      ; args[0] high\n"
            "/* 0012 */ jeq #0, L14\n"
            "L13:\n"
            "/* 0013 */ ret #0x50001                 ; ERRNO(1)\n"
            "L14:\n"
            "/* 0014 */ ret #0x7fff0000              ; ALLOW\n");

  const std::string f = disassemble(parse_raw(profile("bubblewrap/flatpak.bpf")));
  EXPECT_TRUE(contains(line_with(f, "0000 */"), "ld [4]")) << f;
  EXPECT_TRUE(contains(line_with(f, "ld [4]"), "; arch")) << f;
  EXPECT_TRUE(contains(f, "; AUDIT_ARCH_X86_64")) << f;
  EXPECT_TRUE(contains(f, "; AUDIT_ARCH_I386")) << f;
  EXPECT_TRUE(contains(line_with(f, "ret #0x7fff0000"), "; ALLOW")) << f;
  // Names follow the arch the filter checked: x86_64, x32, then the i386 section.
  EXPECT_TRUE(contains(line_with(f, "0003 */"), "jeq #101, L91                ; ptrace")) << f;
  EXPECT_TRUE(contains(line_with(f, "0019 */"), "jeq #0x40000067, L91         ; x32 syslog")) << f;
  EXPECT_TRUE(contains(line_with(f, "0067 */"), "jeq #26, L91                 ; ptrace")) << f;
  EXPECT_TRUE(contains(line_with(f, "0086 */"), "jne #120, L90                ; clone")) << f;
  const std::string f32 = disassemble(parse_raw(profile("firejail/bpf/seccomp.32")));
  EXPECT_TRUE(contains(line_with(f32, "0004 */"), "jeq #21, L53                 ; mount")) << f32;
}

}  // namespace
}  // namespace secdiff
