// TLS ClientHello / ServerHello (RFC 8446 §4.1.2-4.1.3, RFC 6066 §3 SNI, RFC 7301 ALPN).
#include <string>
#include <vector>

#include "dpi/parsers.hpp"
#include "dpi/text.hpp"
#include "probe/net/byte_reader.hpp"

namespace tapflow {

namespace {
constexpr uint8_t kHandshake = 22;
constexpr uint8_t kClientHello = 1;
constexpr uint8_t kServerHello = 2;
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;
constexpr uint16_t kExtSupportedVersions = 43;

bool is_grease(uint16_t v) { return (v & 0x0F0F) == 0x0A0A && (v >> 8) == (v & 0xFF); }

// Parses the extension block of a hello; stops quietly at the first length that does not fit.
void extensions(ByteReader& r, L7Data& out, bool client, size_t max_string) {
    if (!r.has(2)) return;
    const size_t total = r.read<uint16_t>();
    const size_t end = std::min(r.size(), r.pos() + total);
    while (r.pos() + 4 <= end) {
        const uint16_t type = r.read<uint16_t>();
        const uint16_t len = r.read<uint16_t>();
        const size_t start = r.pos();
        if (start + len > end) return;  // lying length, or cut by the window
        ByteReader x(r.data() + start, len);
        if (client && type == kExtServerName && out.sni.empty()) {
            const size_t list = x.read<uint16_t>();
            const size_t lend = std::min<size_t>(x.size(), 2 + list);
            while (x.ok() && x.pos() + 3 <= lend) {
                const uint8_t name_type = x.read<uint8_t>();
                const uint16_t nlen = x.read<uint16_t>();
                if (x.pos() + nlen > lend) break;
                if (name_type == 0) {  // host_name
                    out.sni = clean_string(
                        std::string_view(reinterpret_cast<const char*>(x.cur()), nlen), max_string);
                    break;
                }
                x.skip(nlen);
            }
        } else if (client && type == kExtAlpn && out.alpn.empty()) {
            const size_t list = x.read<uint16_t>();
            const size_t lend = std::min<size_t>(x.size(), 2 + list);
            std::string alpn;
            while (x.ok() && x.pos() + 1 <= lend) {
                const uint8_t plen = x.read<uint8_t>();
                if (x.pos() + plen > lend) break;
                if (!alpn.empty()) alpn += ';';
                alpn += std::string_view(reinterpret_cast<const char*>(x.cur()), plen);
                x.skip(plen);
            }
            out.alpn = clean_string(alpn, max_string);
        } else if (type == kExtSupportedVersions) {
            if (client) {
                // RFC 8446 §4.2.1: when present, supported_versions replaces legacy_version.
                const uint8_t vlen = x.read<uint8_t>();
                uint16_t best = 0;
                for (size_t i = 0; i + 2 <= vlen && x.ok(); i += 2) {
                    const uint16_t v = x.read<uint16_t>();
                    if (x.ok() && !is_grease(v) && v > best) best = v;
                }
                if (best) out.tls_offered = best;
            } else {
                const uint16_t v = x.read<uint16_t>();
                if (x.ok()) out.tls_negotiated = v;
            }
        }
        r.seek(start + len);
    }
}
}  // namespace

bool looks_tls(std::span<const uint8_t> s) {
    // record: type 22, version 3.x (SSL 3.0 - TLS 1.3 all use major 3), then a hello
    return s.size() >= 6 && s[0] == kHandshake && s[1] == 3 && s[2] <= 4 &&
           (s[5] == kClientHello || s[5] == kServerHello);
}

Parse parse_tls(std::span<const uint8_t> s, L7Data& out, size_t max_string) {
    if (s.size() < 6) return Parse::need_more;
    if (!looks_tls(s)) return Parse::not_mine;
    // Collect the handshake bytes of consecutive handshake records. The usual case (one record
    // holds the whole message) is parsed in place; otherwise the record payloads are joined.
    std::span<const uint8_t> hs;
    std::vector<uint8_t> joined;
    size_t off = 0;
    bool records_cut = false;
    while (off + 5 <= s.size()) {
        if (s[off] != kHandshake) break;
        const size_t rlen = (size_t(s[off + 3]) << 8) | s[off + 4];
        const size_t avail = std::min(rlen, s.size() - off - 5);
        const uint8_t* payload = s.data() + off + 5;
        if (off == 0 && joined.empty()) {
            hs = {payload, avail};
        } else {
            if (joined.empty()) joined.assign(hs.begin(), hs.end());
            joined.insert(joined.end(), payload, payload + avail);
            hs = joined;
        }
        if (avail < rlen) {
            records_cut = true;
            break;
        }
        off += 5 + rlen;
        if (hs.size() >= 4) {
            const size_t mlen = (size_t(hs[1]) << 16) | (size_t(hs[2]) << 8) | hs[3];
            if (hs.size() >= 4 + mlen) break;  // the first message is complete
        }
    }
    if (off + 5 > s.size() && off < s.size()) records_cut = true;
    if (hs.size() < 4) return Parse::need_more;
    const uint8_t type = hs[0];
    const size_t mlen = (size_t(hs[1]) << 16) | (size_t(hs[2]) << 8) | hs[3];
    const bool complete = hs.size() >= 4 + mlen;
    ByteReader r(hs.data() + 4, std::min(hs.size() - 4, mlen));
    const uint16_t legacy = r.read<uint16_t>();
    r.skip(32);  // random
    const uint8_t sid = r.read<uint8_t>();
    r.skip(sid);
    if (type == kClientHello) {
        out.app = AppId::tls;
        if (legacy) out.tls_offered = legacy;  // supported_versions below may replace it
        const uint16_t cs = r.read<uint16_t>();
        r.skip(cs);
        const uint8_t comp = r.read<uint8_t>();
        r.skip(comp);
        if (r.ok()) extensions(r, out, true, max_string);
    } else if (type == kServerHello) {
        out.app = AppId::tls;
        r.skip(2 + 1);  // cipher suite, compression
        if (r.ok()) {
            out.tls_negotiated = legacy;
            extensions(r, out, false, max_string);
        }
    } else {
        return Parse::not_mine;
    }
    (void)records_cut;
    return complete ? Parse::done : Parse::need_more;
}

}  // namespace tapflow
