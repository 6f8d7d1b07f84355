# Generates C++ syscall tables from the kernel's x86 syscall tables.
#
#   cmake -DTBL_DIR=<dir> -DOUT=<file.inc> -P gen_syscall_tables.cmake
#
# TBL_DIR holds one directory per kernel version (e.g. 6.1, 6.12, 6.18), each
# with syscall_64.tbl and syscall_32.tbl copied unmodified from the kernel's
# arch/x86/entry/syscalls/. OUT receives, per version:
#   - the native (x86_64) table: every syscall_64.tbl entry with its ABI
#     (common, 64 or x32),
#   - the compat table: every syscall_32.tbl entry (ABI i386),
#   - NR_syscalls and IA32_NR_syscalls computed as the kernel's
#     scripts/syscallhdr.sh --emit-nr does: highest number among the entries of
#     the selected ABIs, plus one. The kernel selects "common,64" for
#     unistd_64.h (so the x32-only 512..547 entries do not count) and "i386"
#     for unistd_32_ia32.h.
# OUT is rewritten only when its content changes, so nothing recompiles when a
# .tbl file is touched without being changed.

cmake_minimum_required(VERSION 3.22)

if(NOT DEFINED TBL_DIR OR NOT DEFINED OUT)
  message(FATAL_ERROR "usage: cmake -DTBL_DIR=<dir> -DOUT=<file> -P gen_syscall_tables.cmake")
endif()
if(NOT IS_DIRECTORY "${TBL_DIR}")
  message(FATAL_ERROR "TBL_DIR '${TBL_DIR}' is not a directory")
endif()

# Parses one .tbl file. Sets in the caller's scope:
#   <out_var>_ENTRIES  C++ initialisers "{nr, \"name\", TblAbi::X},\n"...
#   <out_var>_COUNT    number of entries
#   <out_var>_NR       max nr over the entries whose ABI is in nr_abis, plus one
# allowed_abis: the ABIs that may appear in this file.
function(parse_tbl file allowed_abis nr_abis out_var)
  # Only lines that start with a number are entries; reading just those keeps
  # the comments (which contain '[' and ']') out of CMake's list handling.
  file(STRINGS "${file}" lines REGEX "^[0-9]")
  set(entries "")
  set(count 0)
  set(max_nr -1)
  foreach(line IN LISTS lines)
    string(REGEX MATCHALL "[^ \t]+" fields "${line}")
    list(LENGTH fields nfields)
    if(nfields LESS 3)
      message(FATAL_ERROR "${file}: malformed entry '${line}'")
    endif()
    list(GET fields 0 nr)
    list(GET fields 1 abi)
    list(GET fields 2 name)
    if(NOT nr MATCHES "^[0-9]+$")
      message(FATAL_ERROR "${file}: bad syscall number in '${line}'")
    endif()
    if(NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
      message(FATAL_ERROR "${file}: bad syscall name in '${line}'")
    endif()
    list(FIND allowed_abis "${abi}" abi_idx)
    if(abi_idx EQUAL -1)
      message(FATAL_ERROR "${file}: ABI '${abi}' not expected in this file ('${line}')")
    endif()
    # One number per ABI: the tables never repeat (nr, abi).
    if(DEFINED seen_${abi}_${nr})
      message(FATAL_ERROR "${file}: duplicate entry for ${abi} ${nr}")
    endif()
    set(seen_${abi}_${nr} 1)

    if(abi STREQUAL "common")
      set(cxx_abi "TblAbi::Common")
    elseif(abi STREQUAL "64")
      set(cxx_abi "TblAbi::Abi64")
    elseif(abi STREQUAL "x32")
      set(cxx_abi "TblAbi::X32")
    else()
      set(cxx_abi "TblAbi::I386")
    endif()
    string(APPEND entries "    {${nr}, \"${name}\", ${cxx_abi}},\n")
    math(EXPR count "${count} + 1")

    # scripts/syscallhdr.sh --emit-nr: __NR_syscalls = last nr (after sort -n)
    # of the selected ABIs + 1.
    list(FIND nr_abis "${abi}" nr_idx)
    if(NOT nr_idx EQUAL -1 AND nr GREATER max_nr)
      set(max_nr ${nr})
    endif()
  endforeach()
  if(count EQUAL 0)
    message(FATAL_ERROR "${file}: no entries")
  endif()
  math(EXPR nr_syscalls "${max_nr} + 1")
  set(${out_var}_ENTRIES "${entries}" PARENT_SCOPE)
  set(${out_var}_COUNT ${count} PARENT_SCOPE)
  set(${out_var}_NR ${nr_syscalls} PARENT_SCOPE)
endfunction()

file(GLOB children RELATIVE "${TBL_DIR}" "${TBL_DIR}/*")
set(versions "")
foreach(child IN LISTS children)
  if(IS_DIRECTORY "${TBL_DIR}/${child}")
    if(NOT child MATCHES "^[0-9]+\\.[0-9]+$")
      message(FATAL_ERROR "${TBL_DIR}/${child}: version directories are named MAJOR.MINOR")
    endif()
    foreach(f syscall_64.tbl syscall_32.tbl)
      if(NOT EXISTS "${TBL_DIR}/${child}/${f}")
        message(FATAL_ERROR "${TBL_DIR}/${child}: missing ${f}")
      endif()
    endforeach()
    list(APPEND versions "${child}")
  endif()
endforeach()
if(NOT versions)
  message(FATAL_ERROR "no version directories in ${TBL_DIR}")
endif()
list(SORT versions COMPARE NATURAL)

set(body "")
set(index "")
foreach(v IN LISTS versions)
  string(REPLACE "." "_" id "${v}")
  parse_tbl("${TBL_DIR}/${v}/syscall_64.tbl" "common;64;x32" "common;64" native)
  parse_tbl("${TBL_DIR}/${v}/syscall_32.tbl" "i386" "i386" compat)
  string(APPEND body
    "// ${v}: syscall_64.tbl, ${native_COUNT} entries; NR_syscalls = ${native_NR}\n"
    "constexpr TblEntry kTbl_${id}_64[] = {\n${native_ENTRIES}};\n"
    "// ${v}: syscall_32.tbl, ${compat_COUNT} entries; IA32_NR_syscalls = ${compat_NR}\n"
    "constexpr TblEntry kTbl_${id}_32[] = {\n${compat_ENTRIES}};\n\n")
  string(APPEND index
    "    {\"${v}\", kTbl_${id}_64, ${native_COUNT}, kTbl_${id}_32, ${compat_COUNT}, "
    "${native_NR}, ${compat_NR}},\n")
endforeach()

set(content
"// Generated by cmake/gen_syscall_tables.cmake from oracle/syscalls/tbl/*/syscall_{64,32}.tbl.
// Do not edit; see oracle/syscalls/tbl/README.md.
//
// The including file defines, before the #include:
//   enum class TblAbi { Common, Abi64, X32, I386 };
//   struct TblEntry { int32_t nr; const char* name; TblAbi abi; };
//   struct TblVersion { const char* version; const TblEntry* native; size_t native_len;
//                       const TblEntry* compat; size_t compat_len;
//                       int native_nr; int compat_nr; };
// native_nr / compat_nr are NR_syscalls / IA32_NR_syscalls as
// scripts/syscallhdr.sh --emit-nr computes them (ABIs common,64 and i386).

${body}constexpr TblVersion kTblVersions[] = {
${index}};
")

if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${content}")
