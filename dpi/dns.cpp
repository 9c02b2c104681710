// DNS messages (RFC 1035 §4.1): header, first question; names with compression pointers
// (§4.1.4) followed at most 32 times and never longer than 255 bytes, so a pointer loop ends.
#include <string>

#include "dpi/parsers.hpp"
#include "dpi/text.hpp"
#include "probe/net/byte_reader.hpp"

namespace tapflow {

namespace {
constexpr int kMaxJumps = 32;
constexpr size_t kMaxName = 255;

// Reads the name at `off`; returns the offset after it in the message (not after a jump's
// target), or 0 when the name is malformed or cut.
size_t read_name(std::span<const uint8_t> m, size_t off, std::string& name) {
    size_t end_after = 0;
    int jumps = 0;
    size_t wire_len = 0;
    name.clear();
    for (;;) {
        if (off >= m.size()) return 0;
        const uint8_t len = m[off];
        if ((len & 0xC0) == 0xC0) {
            if (off + 1 >= m.size() || ++jumps > kMaxJumps) return 0;
            if (!end_after) end_after = off + 2;
            off = (size_t(len & 0x3F) << 8) | m[off + 1];
            continue;
        }
        if (len & 0xC0) return 0;  // 0x40/0x80: extended label types, not used for names
        if (len == 0) {
            if (wire_len + 1 > kMaxName) return 0;  // the terminating zero counts (RFC 1035 §2.3.4)
            if (!end_after) end_after = off + 1;
            break;
        }
        if (off + 1 + len > m.size()) return 0;
        wire_len += len + 1;
        if (wire_len > kMaxName) return 0;
        if (!name.empty()) name += '.';
        name.append(reinterpret_cast<const char*>(m.data() + off + 1), len);
        off += 1 + len;
    }
    if (name.empty()) name = "<Root>";  // as Wireshark shows the root name
    return end_after;
}
}  // namespace

Parse parse_dns(std::span<const uint8_t> msg, L7Data& out, size_t max_string) {
    ByteReader r(msg);
    r.read<uint16_t>();  // id
    const uint16_t flags = r.read<uint16_t>();
    const uint16_t qd = r.read<uint16_t>();
    r.skip(6);  // an, ns, ar counts
    if (!r.ok()) return Parse::not_mine;
    out.app = AppId::dns;
    if (flags & 0x8000) {
        out.dns_rcode = flags & 0x0F;
        out.has_dns_rcode = true;
    }
    if (qd == 0) return Parse::done;
    std::string name;
    const size_t after = read_name(msg, 12, name);
    if (after == 0) return Parse::done;
    out.dns_qname = clean_string(name, max_string);
    ByteReader q(msg);
    const uint16_t type = q.peek<uint16_t>(after);
    if (q.ok()) {
        out.dns_qtype = type;
        out.has_dns_qtype = true;
    }
    return Parse::done;
}

Parse parse_dns_tcp(std::span<const uint8_t> s, L7Data& out, size_t max_string) {
    if (s.size() < 2) return Parse::need_more;
    const size_t len = (size_t(s[0]) << 8) | s[1];
    if (len < 12) return Parse::not_mine;
    if (s.size() < 2 + len) {
        // The question usually sits in the first bytes: use it, but ask for the rest.
        if (s.size() >= 2 + 12) {
            L7Data tmp;
            parse_dns(s.subspan(2), tmp, max_string);
            if (!tmp.dns_qname.empty()) {
                out = tmp;
                return Parse::need_more;
            }
        }
        return Parse::need_more;
    }
    return parse_dns(s.subspan(2, len), out, max_string);
}

}  // namespace tapflow
