// Strings from packets are validated before they reach an encoder (DPI issue): a value ends at
// its first NUL byte (as Wireshark and C-string collectors show it, and so a NUL cannot smuggle a
// second value), printable ASCII is kept, a backslash becomes "\\", every other byte "\xHH",
// and the result is cut at max_len bytes without splitting an escape. The output is therefore valid UTF-8 and safe in JSON (after
// its own quoting), IPFIX and NetFlow v9, whatever a sender put in the packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tapflow {

inline std::string clean_string(std::string_view in, size_t max_len) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(in.size() < max_len ? in.size() : max_len);
    for (unsigned char c : in) {
        if (c == 0) break;
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            if (out.size() + 1 > max_len) break;
            out.push_back(static_cast<char>(c));
        } else if (c == '\\') {
            if (out.size() + 2 > max_len) break;
            out += "\\\\";
        } else {
            if (out.size() + 4 > max_len) break;
            out += "\\x";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

inline bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

}  // namespace tapflow
