// errno names and numbers of include/uapi/asm-generic/errno{-base,}.h (x86).
#pragma once

#include <optional>
#include <string_view>

namespace secdiff {

// "EINVAL" for 22; nullopt for numbers without a name.
std::optional<std::string_view> errno_name(int e);
// 22 for "EINVAL" (also the aliases EWOULDBLOCK, EDEADLOCK).
std::optional<int> errno_number(std::string_view name);

}  // namespace secdiff
