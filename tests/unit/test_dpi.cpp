// DPI (dpi/): the pure dissectors (parse_tls, parse_http_request/response, parse_dns,
// parse_dns_tcp, clean_string) on hand-built messages, and class Dpi driven with PacketInfo
// segments the way Worker::packet drives it: reassembly over 2 and 3 segments with and without
// a SYN, reordering, retransmission and overlap, sequence wrap, the window, packet and buffer
// limits, release() ownership; then seeded fuzz loops (random bytes, mutated and truncated
// messages) that only require no crash and clean, bounded strings — they earn their keep in the
// ASan+UBSan build.
#include <catch2/catch.hpp>
#include <tins/tins.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dpi/dpi.hpp"
#include "dpi/l7.hpp"
#include "dpi/parsers.hpp"
#include "dpi/text.hpp"

using namespace tapflow;
using Bytes = std::vector<uint8_t>;

namespace Catch {
template <>
struct StringMaker<Parse> {
    static std::string convert(Parse p) {
        switch (p) {
            case Parse::done: return "done";
            case Parse::need_more: return "need_more";
            case Parse::not_mine: return "not_mine";
        }
        return "?";
    }
};
template <>
struct StringMaker<AppId> {
    static std::string convert(AppId a) { return std::to_string(static_cast<int>(a)); }
};
}  // namespace Catch

namespace {

// ---- byte helpers -------------------------------------------------------------------------

void put8(Bytes& b, uint8_t v) { b.push_back(v); }
void put16(Bytes& b, uint16_t v) {
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
}
void put24(Bytes& b, uint32_t v) {
    b.push_back(uint8_t(v >> 16));
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
}
void put32(Bytes& b, uint32_t v) {
    put16(b, uint16_t(v >> 16));
    put16(b, uint16_t(v));
}
void append(Bytes& b, const Bytes& x) { b.insert(b.end(), x.begin(), x.end()); }
void append(Bytes& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }
Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) append(out, p);
    return out;
}
// A fresh heap block of exactly n bytes (range constructor: capacity == size), so ASan reports
// any read past the end of what a parser was given.
Bytes prefix(const Bytes& b, size_t n) {
    return Bytes(b.begin(), b.begin() + std::min(n, b.size()));
}
size_t find(const Bytes& hay, std::string_view needle) {
    auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end());
    REQUIRE(it != hay.end());
    return size_t(it - hay.begin());
}
std::span<const uint8_t> sp(const Bytes& b) { return {b.data(), b.size()}; }

// "" when every string is printable ASCII and at most max bytes; else what is wrong.
std::string bad_strings(const L7Data& d, size_t max, size_t max_method) {
    const std::pair<const char*, const std::string*> all[] = {
        {"sni", &d.sni},           {"alpn", &d.alpn},           {"http_method", &d.http_method},
        {"http_target", &d.http_target}, {"http_host", &d.http_host}, {"http_ua", &d.http_ua},
        {"dns_qname", &d.dns_qname}};
    for (const auto& [name, s] : all) {
        const size_t lim = std::string_view(name) == "http_method" ? max_method : max;
        if (s->size() > lim)
            return std::string(name) + " is " + std::to_string(s->size()) + " bytes > " +
                   std::to_string(lim);
        for (unsigned char c : *s)
            if (c < 0x20 || c > 0x7E) return std::string(name) + " has byte " + std::to_string(c);
    }
    return {};
}

// ---- TLS builders -------------------------------------------------------------------------

constexpr uint16_t kTls12 = 0x0303, kTls13 = 0x0304, kGrease = 0x7A7A;

struct Ext {
    uint16_t type;
    Bytes body;
    int len = -1;  // declared length when >= 0 (a lying length); else body.size()
};

Ext sni_ext(std::string_view host) {
    Bytes e;
    put16(e, uint16_t(host.size() + 3));  // server_name_list length
    put8(e, 0);                           // host_name
    put16(e, uint16_t(host.size()));
    append(e, host);
    return {0, e};
}
// server_name with every length chosen by the caller.
Ext sni_ext_raw(uint16_t list_len, uint8_t name_type, uint16_t name_len, std::string_view host) {
    Bytes e;
    put16(e, list_len);
    put8(e, name_type);
    put16(e, name_len);
    append(e, host);
    return {0, e};
}
Ext alpn_ext(std::initializer_list<std::string_view> protos) {
    Bytes l;
    for (auto p : protos) {
        put8(l, uint8_t(p.size()));
        append(l, p);
    }
    Bytes e;
    put16(e, uint16_t(l.size()));
    append(e, l);
    return {16, e};
}
Ext client_versions_ext(std::initializer_list<uint16_t> vs) {
    Bytes e;
    put8(e, uint8_t(vs.size() * 2));
    for (uint16_t v : vs) put16(e, v);
    return {43, e};
}
Ext server_version_ext(uint16_t v) {
    Bytes e;
    put16(e, v);
    return {43, e};
}
Ext padding_ext(size_t n) { return {21, Bytes(n, 0)}; }

Bytes ext_block(const std::vector<Ext>& exts, int total = -1) {
    Bytes list;
    for (const auto& x : exts) {
        put16(list, x.type);
        put16(list, uint16_t(x.len >= 0 ? x.len : int(x.body.size())));
        append(list, x.body);
    }
    Bytes b;
    put16(b, uint16_t(total >= 0 ? total : int(list.size())));
    append(b, list);
    return b;
}

struct HelloSpec {
    uint16_t legacy = kTls12;
    uint8_t sid_len = 32;
    uint16_t ciphers = 17;
    std::vector<Ext> exts;
    bool no_extensions = false;  // a hello without the extension block at all
    int ext_total = -1;          // lying extension block length
    int hs_len = -1;             // lying handshake length
};

// Handshake message (type, 24-bit length, body).
Bytes client_hello_msg(const HelloSpec& h) {
    Bytes body;
    put16(body, h.legacy);
    for (int i = 0; i < 32; ++i) put8(body, uint8_t(0xA0 + i));  // random
    put8(body, h.sid_len);
    for (int i = 0; i < h.sid_len; ++i) put8(body, uint8_t(i));
    put16(body, uint16_t(h.ciphers * 2));
    put16(body, 0x0A0A);  // a GREASE cipher suite first, as browsers send
    for (int i = 1; i < h.ciphers; ++i) put16(body, uint16_t(0x1300 + i));
    put8(body, 1);  // compression methods: null
    put8(body, 0);
    if (!h.no_extensions) append(body, ext_block(h.exts, h.ext_total));
    Bytes m;
    put8(m, 1);
    put24(m, h.hs_len >= 0 ? uint32_t(h.hs_len) : uint32_t(body.size()));
    append(m, body);
    return m;
}

Bytes server_hello_msg(uint16_t legacy, const std::vector<Ext>& exts, bool no_extensions = false) {
    Bytes body;
    put16(body, legacy);
    for (int i = 0; i < 32; ++i) put8(body, uint8_t(0x50 + i));
    put8(body, 32);
    for (int i = 0; i < 32; ++i) put8(body, uint8_t(i));
    put16(body, 0x1301);  // cipher suite
    put8(body, 0);        // compression
    if (!no_extensions) append(body, ext_block(exts));
    Bytes m;
    put8(m, 2);
    put24(m, uint32_t(body.size()));
    append(m, body);
    return m;
}

// Handshake bytes in TLS records of the given payload sizes (the last record takes the rest).
Bytes tls_records(const Bytes& hs, std::vector<size_t> sizes = {}, int record_len = -1) {
    Bytes out;
    size_t off = 0;
    size_t i = 0;
    while (off < hs.size() || (off == 0 && hs.empty())) {
        const size_t n = i < sizes.size() ? std::min(sizes[i], hs.size() - off) : hs.size() - off;
        put8(out, 22);
        put16(out, 0x0301);
        put16(out, uint16_t(record_len >= 0 ? record_len : int(n)));
        out.insert(out.end(), hs.begin() + off, hs.begin() + off + n);
        off += n;
        ++i;
        if (hs.empty()) break;
    }
    return out;
}

const char* const kSni = "www.example.com";

std::vector<Ext> default_exts() {
    return {{0x1A1A, {}},  // GREASE extension
            sni_ext(kSni),
            {23, {}},  // extended_master_secret
            alpn_ext({"h2", "http/1.1"}),
            client_versions_ext({kGrease, kTls13, kTls12}),
            {51, Bytes(38, 0x11)}};  // key_share-ish bytes, skipped
}

Bytes default_client_hello() {
    HelloSpec h;
    h.exts = default_exts();
    return tls_records(client_hello_msg(h));
}

Bytes default_server_hello() {
    return tls_records(
        server_hello_msg(kTls12, {{51, Bytes(36, 0x22)}, server_version_ext(kTls13)}));
}

void check_default_client(const L7Data& d) {
    CHECK(d.app == AppId::tls);
    CHECK(d.sni == kSni);
    CHECK(d.alpn == "h2;http/1.1");
    CHECK(d.tls_offered == kTls13);
    CHECK(d.tls_negotiated == 0);
    CHECK(d.http_method.empty());
    CHECK(d.dns_qname.empty());
}

// ---- HTTP ---------------------------------------------------------------------------------

const std::string kRequest =
    "GET /index.html?q=1 HTTP/1.1\r\n"
    "Accept: */*\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: curl/8.5.0\r\n"
    "Accept-Encoding: gzip\r\n"
    "\r\n";

const std::string kResponse =
    "HTTP/1.1 404 Not Found\r\n"
    "Content-Type: text/html\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "oops!";

void check_default_request(const L7Data& d) {
    CHECK(d.app == AppId::http);
    CHECK(d.http_method == "GET");
    CHECK(d.http_target == "/index.html?q=1");
    CHECK(d.http_host == "www.example.com");
    CHECK(d.http_ua == "curl/8.5.0");
    CHECK(d.http_status == 0);
    CHECK(d.sni.empty());
}

// ---- DNS ----------------------------------------------------------------------------------

Bytes dns_name(std::string_view dotted) {
    Bytes b;
    size_t pos = 0;
    while (pos < dotted.size()) {
        size_t dot = dotted.find('.', pos);
        if (dot == std::string_view::npos) dot = dotted.size();
        put8(b, uint8_t(dot - pos));
        append(b, dotted.substr(pos, dot - pos));
        pos = dot + 1;
    }
    put8(b, 0);
    return b;
}

Bytes dns_header(uint16_t flags, uint16_t qd, uint16_t an = 0, uint16_t ns = 0, uint16_t ar = 0) {
    Bytes b;
    put16(b, 0xBEEF);
    put16(b, flags);
    put16(b, qd);
    put16(b, an);
    put16(b, ns);
    put16(b, ar);
    return b;
}

Bytes dns_query(std::string_view name, uint16_t qtype = 1) {
    Bytes b = dns_header(0x0100, 1);
    append(b, dns_name(name));
    put16(b, qtype);
    put16(b, 1);
    return b;
}

// A response whose answer names the question by a compression pointer (0xC00C).
Bytes dns_response(std::string_view name, uint16_t qtype, uint8_t rcode, bool answer = true) {
    Bytes b = dns_header(uint16_t(0x8180 | rcode), 1, answer ? 1 : 0);
    append(b, dns_name(name));
    put16(b, qtype);
    put16(b, 1);
    if (answer) {
        put16(b, 0xC00C);
        put16(b, qtype);
        put16(b, 1);
        put32(b, 300);
        put16(b, 4);
        put32(b, 0x5DB8D822);
    }
    return b;
}

Bytes tcp_prefixed(const Bytes& msg) {
    Bytes b;
    put16(b, uint16_t(msg.size()));
    append(b, msg);
    return b;
}

L7Data run_dns(const Bytes& msg, Parse expect = Parse::done, size_t max = 1024) {
    L7Data d;
    const Bytes exact = prefix(msg, msg.size());
    CHECK(parse_dns(sp(exact), d, max) == expect);
    return d;
}

// ---- Dpi driver ---------------------------------------------------------------------------

constexpr uint8_t kSynFlag = 0x02, kPshAck = 0x18;

// One direction of a flow, fed to Dpi as Worker::packet does: inspect only while the state is
// not kDpiDone, for every TCP packet and for UDP packets with payload.
class Flow {
public:
    Flow(Dpi& dpi, uint8_t proto, uint16_t sport, uint16_t dport) : dpi_(dpi) {
        p_.key.proto = proto;
        p_.key.sport = sport;
        p_.key.dport = dport;
        p_.key.ip_version = 4;
    }
    void syn(uint32_t isn) { packet(isn, kSynFlag, nullptr, 0); }
    void ack(uint32_t seq) { packet(seq, 0x10, nullptr, 0); }
    // bytes [off, off+len) of msg as one segment with sequence number seq
    void seg(uint32_t seq, const Bytes& msg, size_t off, size_t len) {
        const Bytes copy(msg.begin() + off, msg.begin() + off + len);  // exact-size block
        packet(seq, kPshAck, copy.data(), uint32_t(copy.size()));
    }
    void dgram(const Bytes& msg) {
        const Bytes copy(msg.begin(), msg.end());
        packet(0, 0, copy.data(), uint32_t(copy.size()));
    }
    std::unique_ptr<L7Data> release() { return std::unique_ptr<L7Data>(dpi_.release(state)); }

    uint32_t state = kDpiNone;
    uint32_t seq0 = 0;
    uint8_t flags = 0;

private:
    void packet(uint32_t seq, uint8_t tcp_flags, const uint8_t* d, uint32_t n) {
        p_.tcp_seq = seq;
        p_.tcp_flags = tcp_flags;
        p_.payload = d;
        p_.payload_len = n;
        if (state != kDpiDone && (n || p_.key.proto == 6)) dpi_.inspect(p_, state, seq0, flags);
    }
    Dpi& dpi_;
    PacketInfo p_{};
};

struct Piece {
    size_t off, len;
};

// Pieces of an n-byte message cut at the given offsets.
std::vector<Piece> cut(size_t n, std::vector<size_t> at) {
    std::vector<Piece> out;
    size_t prev = 0;
    for (size_t c : at) {
        out.push_back({prev, c - prev});
        prev = c;
    }
    out.push_back({prev, n - prev});
    return out;
}

struct Scenario {
    std::string name;
    bool syn;
    uint32_t isn;  // with SYN: the SYN's sequence; data starts at isn + 1 either way
    std::vector<Piece> pieces;
    std::vector<size_t> order;  // indexes into pieces, repeats allowed (retransmission)
};

// TCP delivery scenarios for an n-byte message. `first` is the shortest first segment the
// classifier needs (TLS 6, HTTP 4, DNS/TCP 1).
std::vector<Scenario> tcp_scenarios(size_t n, size_t first) {
    const size_t h = std::max(first, n / 2), a = std::max(first, n / 3);
    const size_t b = std::max(a + 1, 2 * n / 3);
    const uint32_t isn = 1000;
    std::vector<Scenario> s;
    s.push_back({"1 segment", false, isn, cut(n, {}), {0}});
    s.push_back({"1 segment after SYN", true, isn, cut(n, {}), {0}});
    s.push_back({"2 segments", false, isn, cut(n, {h}), {0, 1}});
    s.push_back({"2 segments after SYN", true, isn, cut(n, {h}), {0, 1}});
    s.push_back({"3 segments", false, isn, cut(n, {a, b}), {0, 1, 2}});
    s.push_back({"3 segments after SYN", true, isn, cut(n, {a, b}), {0, 1, 2}});
    s.push_back({"2 segments reversed after SYN", true, isn, cut(n, {h}), {1, 0}});
    s.push_back({"3 segments 3,1,2 after SYN", true, isn, cut(n, {a, b}), {2, 0, 1}});
    s.push_back({"3 segments 2,3,1 after SYN", true, isn, cut(n, {a, b}), {1, 2, 0}});
    s.push_back({"3 segments 1,3,2 without SYN", false, isn, cut(n, {a, b}), {0, 2, 1}});
    s.push_back({"first segment retransmitted", false, isn, cut(n, {a, b}), {0, 0, 1, 2}});
    s.push_back({"middle segment retransmitted after SYN", true, isn, cut(n, {a, b}),
                 {0, 1, 1, 2}});
    s.push_back({"everything retransmitted after the end", true, isn, cut(n, {a, b}),
                 {0, 1, 2, 0, 1, 2}});
    s.push_back({"last segment first and retransmitted, after SYN", true, isn, cut(n, {a, b}),
                 {2, 2, 1, 0}});
    s.push_back({"overlapping segments", false, isn,
                 {{0, a + 3}, {a, b - a + 3}, {b, n - b}}, {0, 1, 2}});
    s.push_back({"overlapping, out of order after SYN", true, isn,
                 {{0, a + 3}, {a, b - a + 3}, {b - 2, n - b + 2}}, {2, 1, 0}});
    s.push_back({"one big retransmission covering two segments", false, isn,
                 {{0, a}, {a, b - a}, {a, n - a}}, {0, 1, 2}});
    s.push_back({"sequence wraps inside the message after SYN", true, 0xFFFFFFFFu - uint32_t(a) + 2,
                 cut(n, {a, b}), {0, 1, 2}});
    s.push_back({"sequence wraps, out of order", true, 0xFFFFFFF0u, cut(n, {a, b}), {2, 1, 0}});
    s.push_back({"SYN with ISN 0xFFFFFFFF (data at 0)", true, 0xFFFFFFFFu, cut(n, {h}), {0, 1}});
    return s;
}

struct Run {
    std::unique_ptr<L7Data> l7;
    uint32_t state;
    DpiCounters counters;
};

Run run_tcp(const DpiConfig& cfg, uint16_t sport, uint16_t dport, const Bytes& msg,
            const Scenario& sc) {
    Dpi dpi(cfg);
    Flow f(dpi, 6, sport, dport);
    if (sc.syn) {
        f.syn(sc.isn);
        CHECK(f.state == kDpiNone);  // a SYN alone allocates nothing
        f.ack(sc.isn + 1);
        CHECK(f.state == kDpiNone);
    }
    const uint32_t data0 = sc.isn + 1;
    for (size_t i : sc.order) {
        const Piece& p = sc.pieces[i];
        f.seg(data0 + uint32_t(p.off), msg, p.off, p.len);
    }
    Run r;
    r.state = f.state;
    if (f.state != kDpiNone && f.state != kDpiDone) r.l7 = f.release();
    r.counters = dpi.counters();
    return r;
}

// Every scenario must end with the message's values; `check` looks at them.
// `whole`: the values need the whole message (so a split message is always reassembled).
template <typename Check>
void all_tcp_scenarios(const DpiConfig& cfg, uint16_t sport, uint16_t dport, const Bytes& msg,
                       size_t first, Check check, bool whole = true) {
    for (const auto& sc : tcp_scenarios(msg.size(), first)) {
        DYNAMIC_SECTION(sc.name) {
            const Run r = run_tcp(cfg, sport, dport, msg, sc);
            CHECK(r.counters.dpi_flows == 1);
            CHECK(r.counters.dpi_skipped == 0);
            CHECK(r.counters.dpi_gave_up == 0);
            CHECK(r.counters.dpi_window_full == 0);
            CHECK(r.counters.dpi_no_buffer == 0);
            if (whole) CHECK(r.counters.dpi_reassembled == (sc.pieces.size() > 1 ? 1u : 0u));
            else CHECK(r.counters.dpi_reassembled <= 1u);
            REQUIRE(r.state != kDpiNone);
            REQUIRE(r.state != kDpiDone);
            REQUIRE(r.l7);
            check(*r.l7);
        }
    }
}

}  // namespace

// =============================================================================================
// clean_string
// =============================================================================================

TEST_CASE("clean_string: printable ASCII kept, the rest escaped, escapes never split, NUL ends",
          "[dpi]") {
    CHECK(clean_string("www.example.com", 100) == "www.example.com");
    CHECK(clean_string(std::string{'a', '\x01', 'b', '\\', 'c', '\x7f', '\xff'}, 100) ==
          "a\\x01b\\\\c\\x7f\\xff");
    // a value ends at its first NUL
    CHECK(clean_string(std::string("\0", 1), 100).empty());
    CHECK(clean_string(std::string{'a', 'b', '\0', '\x01', 'c', 'd'}, 100) == "ab");
    CHECK(clean_string("abcdef", 4) == "abcd");
    CHECK(clean_string("abcdef", 0).empty());
    // an escape that does not fit whole is left out, and so is everything after it
    CHECK(clean_string("ab\x01z", 5) == "ab");
    CHECK(clean_string("ab\x01z", 6) == "ab\\x01");
    CHECK(clean_string("ab\\z", 3) == "ab");
    CHECK(clean_string("ab\\z", 4) == "ab\\\\");
    CHECK(clean_string("\x01\x01\x01\x01\x01", 16) == "\\x01\\x01\\x01\\x01");
    CHECK(clean_string("\x01\x01\x01\x01\x01", 15) == "\\x01\\x01\\x01");
    CHECK(ieq("HoSt", "hOsT"));
    CHECK_FALSE(ieq("host", "hosts"));
}

// =============================================================================================
// TLS
// =============================================================================================

TEST_CASE("TLS: looks_tls accepts handshake records carrying a hello", "[dpi][tls]") {
    CHECK(looks_tls(sp(default_client_hello())));
    CHECK(looks_tls(sp(default_server_hello())));
    CHECK_FALSE(looks_tls(sp(prefix(default_client_hello(), 5))));  // hello type not seen yet
    CHECK_FALSE(looks_tls(sp(bytes("GET / HTTP/1.1\r\n"))));
    CHECK_FALSE(looks_tls(sp(Bytes{23, 3, 3, 0, 5, 1, 0, 0, 0, 0})));  // application data
    CHECK_FALSE(looks_tls(sp(Bytes{22, 3, 3, 0, 5, 11, 0, 0, 0, 0})));  // certificate
    CHECK_FALSE(looks_tls(sp(Bytes{22, 2, 0, 0, 5, 1, 0, 0, 0, 0})));   // not 3.x
    CHECK_FALSE(looks_tls(sp(Bytes{22, 3, 5, 0, 5, 1, 0, 0, 0, 0})));
    CHECK_FALSE(looks_tls({}));
}

TEST_CASE("TLS ClientHello: SNI, ALPN and offered version, GREASE ignored", "[dpi][tls]") {
    L7Data d;
    const Bytes ch = default_client_hello();
    REQUIRE(parse_tls(sp(ch), d, 1024) == Parse::done);
    check_default_client(d);

    SECTION("offered version without supported_versions is the legacy version") {
        HelloSpec h;
        h.legacy = 0x0302;
        h.exts = {sni_ext("a.example")};
        L7Data e;
        REQUIRE(parse_tls(sp(tls_records(client_hello_msg(h))), e, 1024) == Parse::done);
        CHECK(e.sni == "a.example");
        CHECK(e.alpn.empty());
        CHECK(e.tls_offered == 0x0302);
    }
    SECTION("a hello without extensions, empty session id") {
        HelloSpec h;
        h.no_extensions = true;
        h.sid_len = 0;
        L7Data e;
        REQUIRE(parse_tls(sp(tls_records(client_hello_msg(h))), e, 1024) == Parse::done);
        CHECK(e.app == AppId::tls);
        CHECK(e.sni.empty());
        CHECK(e.tls_offered == kTls12);
    }
    SECTION("supported_versions with only GREASE keeps the legacy version") {
        HelloSpec h;
        h.exts = {client_versions_ext({0x1A1A, 0xFAFA})};
        L7Data e;
        REQUIRE(parse_tls(sp(tls_records(client_hello_msg(h))), e, 1024) == Parse::done);
        CHECK(e.tls_offered == kTls12);
    }
    SECTION("a server_name entry of another name type is skipped") {
        HelloSpec h;
        Bytes body;
        put16(body, 3 + 4 + 3 + 9);
        put8(body, 7);
        put16(body, 4);
        append(body, "junk");
        put8(body, 0);
        put16(body, 9);
        append(body, "b.example");
        h.exts = {{0, body}};
        L7Data e;
        REQUIRE(parse_tls(sp(tls_records(client_hello_msg(h))), e, 1024) == Parse::done);
        CHECK(e.sni == "b.example");
    }
    SECTION("trailing records after the hello do not matter") {
        Bytes two = cat({ch, Bytes{20, 3, 3, 0, 1, 1}, Bytes{23, 3, 3, 0, 2, 0xAB, 0xCD}});
        L7Data e;
        REQUIRE(parse_tls(sp(two), e, 1024) == Parse::done);
        check_default_client(e);
    }
    SECTION("a handshake record with another message type is not mine") {
        L7Data e;
        const Bytes cert = tls_records(Bytes{11, 0, 0, 4, 1, 2, 3, 4});
        CHECK(parse_tls(sp(cert), e, 1024) == Parse::not_mine);
        CHECK(e.empty());
    }
}

TEST_CASE("TLS ClientHello: supported_versions replaces the legacy version",
          "[dpi][tls]") {
    // l7.hpp: tls_offered is the "highest version offered (supported_versions, else legacy)",
    // and RFC 8446 §4.2.1 says legacy_version is not used when the extension is present.
    // Regression: parse_tls once took max(legacy_version, supported_versions), so a hello with
    // legacy 0x0303 and supported_versions {0x0302, 0x0301} reported 0x0303.
    // Expected: 0x0302; actual: 0x0303.
    HelloSpec h;
    h.exts = {client_versions_ext({kGrease, 0x0302, 0x0301})};
    L7Data d;
    REQUIRE(parse_tls(sp(tls_records(client_hello_msg(h))), d, 1024) == Parse::done);
    CHECK(d.tls_offered == 0x0302);
}

TEST_CASE("TLS ServerHello: negotiated version from supported_versions, else legacy",
          "[dpi][tls]") {
    SECTION("TLS 1.3") {
        L7Data d;
        REQUIRE(parse_tls(sp(default_server_hello()), d, 1024) == Parse::done);
        CHECK(d.app == AppId::tls);
        CHECK(d.tls_negotiated == kTls13);
        CHECK(d.tls_offered == 0);
        CHECK(d.sni.empty());
        CHECK(d.alpn.empty());
    }
    SECTION("TLS 1.2 without extensions") {
        L7Data d;
        REQUIRE(parse_tls(sp(tls_records(server_hello_msg(kTls12, {}, true))), d, 1024) ==
                Parse::done);
        CHECK(d.tls_negotiated == kTls12);
    }
    SECTION("server_name and ALPN in a ServerHello are not taken as client values") {
        L7Data d;
        REQUIRE(parse_tls(sp(tls_records(server_hello_msg(
                              kTls12, {sni_ext("x.example"), alpn_ext({"h2"})}))),
                          d, 1024) == Parse::done);
        CHECK(d.tls_negotiated == kTls12);
        CHECK(d.sni.empty());
        CHECK(d.alpn.empty());
    }
    SECTION("followed by Certificate in the same record") {
        Bytes hs = server_hello_msg(kTls12, {server_version_ext(kTls13)});
        append(hs, Bytes{11, 0, 0, 3, 0, 0, 0});
        L7Data d;
        REQUIRE(parse_tls(sp(tls_records(hs)), d, 1024) == Parse::done);
        CHECK(d.tls_negotiated == kTls13);
    }
}

TEST_CASE("TLS: a ClientHello spanning several records", "[dpi][tls]") {
    HelloSpec h;
    h.exts = default_exts();
    const Bytes hs = client_hello_msg(h);
    const std::vector<std::vector<size_t>> layouts = {
        {hs.size() / 2},  // two records
        {2},              // the handshake header itself is split
        {4},              // header in the first, body in the second
        {40, 60},         // three records
        {1, 1, 1, 1, 1},  // many tiny records
    };
    for (size_t li = 0; li < layouts.size(); ++li) {
        const Bytes recs = tls_records(hs, layouts[li]);
        CAPTURE(li, recs.size());
        L7Data d;
        REQUIRE(parse_tls(sp(recs), d, 1024) == Parse::done);
        check_default_client(d);
        // each prefix: never an error, and the result only grows
        for (size_t n = 0; n < recs.size(); ++n) {
            L7Data p;
            const Bytes pre = prefix(recs, n);
            const Parse r = parse_tls(sp(pre), p, 1024);
            if (r != Parse::need_more) FAIL_CHECK("prefix " << n << " gave " << int(r));
            if (!p.sni.empty() && p.sni != kSni) FAIL_CHECK("prefix " << n << " sni " << p.sni);
        }
    }
    SECTION("through Dpi: record 1 in segment 1, record 2 in segment 2") {
        const Bytes recs = tls_records(hs, {hs.size() / 2});
        const size_t second = 5 + hs.size() / 2;  // first byte of the second record
        for (size_t at : {second - 3, second, second + 2, second + 7}) {
            CAPTURE(at);
            Dpi dpi(DpiConfig{});
            Flow f(dpi, 6, 51000, 443);
            f.syn(77);
            f.seg(78, recs, 0, at);
            f.seg(78 + uint32_t(at), recs, at, recs.size() - at);
            auto l7 = f.release();
            REQUIRE(l7);
            check_default_client(*l7);
        }
    }
}

TEST_CASE("TLS truncated: values found so far are kept, a longer prefix never loses them",
          "[dpi][tls]") {
    const Bytes ch = default_client_hello();
    const size_t sni_end = find(ch, kSni) + std::strlen(kSni);
    const size_t alpn_end = find(ch, "http/1.1") + 8;
    const size_t versions_end = alpn_end + 4 + 1 + 6;
    for (size_t n = 0; n <= ch.size(); ++n) {
        const Bytes pre = prefix(ch, n);
        L7Data d;
        const Parse r = parse_tls(sp(pre), d, 1024);
        CAPTURE(n);
        if (n < ch.size()) {
            if (r != Parse::need_more) FAIL_CHECK("prefix " << n);
        } else {
            CHECK(r == Parse::done);
        }
        // legacy version as soon as it is there
        if (n >= 11 && d.tls_offered == 0) FAIL_CHECK("no legacy version at " << n);
        // SNI exactly when its extension is complete, never part of it
        if ((n >= sni_end) != (d.sni == kSni) || (!d.sni.empty() && d.sni != kSni))
            FAIL_CHECK("sni '" << d.sni << "' at " << n);
        if ((n >= alpn_end) != (d.alpn == "h2;http/1.1"))
            FAIL_CHECK("alpn '" << d.alpn << "' at " << n);
        if (n >= versions_end && d.tls_offered != kTls13)
            FAIL_CHECK("offered " << d.tls_offered << " at " << n);
    }
    const Bytes sh = default_server_hello();
    for (size_t n = 0; n <= sh.size(); ++n) {
        const Bytes pre = prefix(sh, n);
        L7Data d;
        const Parse r = parse_tls(sp(pre), d, 1024);
        if ((n < sh.size()) != (r == Parse::need_more)) FAIL_CHECK("server prefix " << n);
        if (d.tls_negotiated != 0 && d.tls_negotiated != kTls12 && d.tls_negotiated != kTls13)
            FAIL_CHECK("negotiated " << d.tls_negotiated << " at " << n);
    }
    L7Data d;
    CHECK(parse_tls(sp(prefix(sh, sh.size())), d, 1024) == Parse::done);
    CHECK(d.tls_negotiated == kTls13);
}

TEST_CASE("TLS malicious lengths", "[dpi][tls]") {
    auto hello = [](std::vector<Ext> exts, int ext_total = -1, int hs_len = -1, int rec = -1) {
        HelloSpec h;
        h.exts = std::move(exts);
        h.ext_total = ext_total;
        h.hs_len = hs_len;
        return tls_records(client_hello_msg(h), {}, rec);
    };
    auto parse = [](const Bytes& b, Parse expect) {
        L7Data d;
        const Bytes exact = prefix(b, b.size());
        CHECK(parse_tls(sp(exact), d, 1024) == expect);
        return d;
    };
    const std::vector<Ext> base = {sni_ext("ok.example"), alpn_ext({"h2"})};

    SECTION("record length 0xFFFF: the bytes present are used") {
        const L7Data d = parse(hello(base, -1, -1, 0xFFFF), Parse::done);
        CHECK(d.sni == "ok.example");
        CHECK(d.alpn == "h2");
    }
    SECTION("record length 0: nothing to parse yet") {
        const L7Data d = parse(hello(base, -1, -1, 0), Parse::need_more);
        CHECK(d.sni.empty());
    }
    SECTION("record length shorter than the hello, no second record") {
        const L7Data d = parse(hello(base, -1, -1, 20), Parse::need_more);
        CHECK(d.sni.empty());
        CHECK(d.tls_offered == kTls12);
    }
    SECTION("handshake length 0xFFFFFF: values found, message never complete") {
        const L7Data d = parse(hello(base, -1, 0xFFFFFF), Parse::need_more);
        CHECK(d.sni == "ok.example");
    }
    SECTION("handshake length 0") {
        const L7Data d = parse(hello(base, -1, 0), Parse::done);
        CHECK(d.sni.empty());
        CHECK(d.tls_offered == 0);
    }
    SECTION("handshake length cuts the SNI extension") {
        const Bytes full = hello(base);
        // handshake body bytes up to the 5th byte of the name
        const size_t body_to_sni = find(full, "ok.example") + 5 - 9;
        const L7Data d = parse(hello(base, -1, int(body_to_sni)), Parse::done);
        CHECK(d.sni.empty());
        CHECK(d.tls_offered == kTls12);
    }
    SECTION("extension block length 0xFFFF") {
        const L7Data d = parse(hello(base, 0xFFFF), Parse::done);
        CHECK(d.sni == "ok.example");
        CHECK(d.alpn == "h2");
    }
    SECTION("extension block length 0") {
        const L7Data d = parse(hello(base, 0), Parse::done);
        CHECK(d.sni.empty());
        CHECK(d.alpn.empty());
    }
    SECTION("extension block length ends inside the SNI extension") {
        const L7Data d = parse(hello(base, 8), Parse::done);
        CHECK(d.sni.empty());
    }
    SECTION("extension length 0xFFFF stops the walk") {
        std::vector<Ext> e = base;
        e[0].len = 0xFFFF;
        const L7Data d = parse(hello(e), Parse::done);
        CHECK(d.sni.empty());
        CHECK(d.alpn.empty());
    }
    SECTION("extension length larger than the data by one") {
        std::vector<Ext> e = {alpn_ext({"h2"}), sni_ext("ok.example")};
        e[1].len = int(e[1].body.size()) + 1;
        const L7Data d = parse(hello(e), Parse::done);
        CHECK(d.alpn == "h2");  // the one before is kept
        CHECK(d.sni.empty());
    }
    SECTION("zero-length server_name extension, the next extension is still read") {
        const L7Data d = parse(hello({{0, {}}, alpn_ext({"h2"})}), Parse::done);
        CHECK(d.sni.empty());
        CHECK(d.alpn == "h2");
    }
    SECTION("SNI list length 0") {
        const L7Data d = parse(hello({sni_ext_raw(0, 0, 10, "ok.example"), alpn_ext({"h2"})}),
                               Parse::done);
        CHECK(d.sni.empty());
        CHECK(d.alpn == "h2");
    }
    SECTION("SNI list length 0xFFFF is clamped to the extension") {
        const L7Data d = parse(hello({sni_ext_raw(0xFFFF, 0, 10, "ok.example")}), Parse::done);
        CHECK(d.sni == "ok.example");
    }
    SECTION("SNI name length past the list") {
        const L7Data d = parse(hello({sni_ext_raw(13, 0, 11, "ok.example")}), Parse::done);
        CHECK(d.sni.empty());
    }
    SECTION("SNI name length 0xFFFF") {
        const L7Data d = parse(hello({sni_ext_raw(13, 0, 0xFFFF, "ok.example"), alpn_ext({"x"})}),
                               Parse::done);
        CHECK(d.sni.empty());
        CHECK(d.alpn == "x");
    }
    SECTION("SNI name length 0") {
        const L7Data d = parse(hello({sni_ext_raw(3, 0, 0, "")}), Parse::done);
        CHECK(d.sni.empty());
    }
    SECTION("server_name extension of 1 byte") {
        const L7Data d = parse(hello({{0, {0x00}}, alpn_ext({"h2"})}), Parse::done);
        CHECK(d.sni.empty());
        CHECK(d.alpn == "h2");
    }
    SECTION("ALPN: list length 0xFFFF clamped, protocol length past the list drops only the rest") {
        Bytes body;
        put16(body, 0xFFFF);
        put8(body, 2);
        append(body, "h2");
        put8(body, 200);
        append(body, "abc");
        const L7Data d = parse(hello({{16, body}}), Parse::done);
        CHECK(d.alpn == "h2");
    }
    SECTION("supported_versions list length 0xFF past the extension") {
        Bytes body{0xFF};
        put16(body, kGrease);
        put16(body, kTls13);
        const L7Data d = parse(hello({{43, body}}), Parse::done);
        CHECK(d.tls_offered == kTls13);
    }
    SECTION("supported_versions list of odd length") {
        Bytes body{3};
        put16(body, kTls13);
        put8(body, 3);
        const L7Data d = parse(hello({{43, body}}), Parse::done);
        CHECK(d.tls_offered == kTls13);
    }
    SECTION("session id length 0xFF past the message") {
        HelloSpec h;
        h.exts = base;
        Bytes m = client_hello_msg(h);
        m[4 + 2 + 32] = 0xFF;
        const L7Data d = parse(tls_records(m), Parse::done);
        CHECK(d.sni.empty());
        CHECK(d.tls_offered == kTls12);
    }
    SECTION("cipher suites length 0xFFFF") {
        HelloSpec h;
        h.exts = base;
        Bytes m = client_hello_msg(h);
        m[4 + 2 + 32 + 1 + 32] = 0xFF;
        m[4 + 2 + 32 + 1 + 32 + 1] = 0xFF;
        const L7Data d = parse(tls_records(m), Parse::done);
        CHECK(d.sni.empty());
    }
    SECTION("a record that is only a header, then garbage") {
        const Bytes b = {22, 3, 1, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF};
        L7Data d;
        CHECK(parse_tls(sp(b), d, 1024) == Parse::need_more);
        CHECK(d.empty());
    }
}

TEST_CASE("TLS SNI and ALPN: escaped by clean_string, cut at max_string", "[dpi][tls]") {
    auto sni_of = [](std::string_view host, size_t max) {
        HelloSpec h;
        h.exts = {sni_ext(host), alpn_ext({"h2", std::string_view("x\x01\\", 3)})};
        L7Data d;
        const Bytes b = tls_records(client_hello_msg(h));
        REQUIRE(parse_tls(sp(b), d, max) == Parse::done);
        return d;
    };
    const L7Data d = sni_of(std::string_view("evil\x01.ex\\ample\x7f\x80.com", 20), 1024);
    CHECK(d.sni == "evil\\x01.ex\\\\ample\\x7f\\x80.com");
    CHECK(sni_of(std::string_view("good.example\0evil.example", 25), 1024).sni == "good.example");
    CHECK(sni_of(std::string_view("\0hidden", 7), 1024).sni.empty());
    CHECK(d.alpn == "h2;x\\x01\\\\");
    CHECK(sni_of(std::string(300, 'a'), 100).sni == std::string(100, 'a'));
    CHECK(sni_of(std::string(300, 'a'), 16).sni == std::string(16, 'a'));
    CHECK(sni_of(std::string(20, '\x01'), 16).sni == "\\x01\\x01\\x01\\x01");
    CHECK(sni_of(std::string(20, '\x01'), 18).sni == "\\x01\\x01\\x01\\x01");
    CHECK(sni_of("abcdefghijklmn\\x", 16).sni == "abcdefghijklmn\\\\");
    CHECK(sni_of("abcdefghijklmno\\", 16).sni == "abcdefghijklmno");
    CHECK(sni_of(std::string(5000, 'z'), 1024).sni.size() == 1024);
}

TEST_CASE("TLS through Dpi: ClientHello over 1, 2 and 3 segments, reordered, retransmitted",
          "[dpi][tls]") {
    all_tcp_scenarios(DpiConfig{}, 51000, 443, default_client_hello(), 6,
                      [](const L7Data& d) { check_default_client(d); });
}

TEST_CASE("TLS through Dpi: ServerHello flow", "[dpi][tls]") {
    all_tcp_scenarios(DpiConfig{}, 443, 51000, default_server_hello(), 6, [](const L7Data& d) {
        CHECK(d.app == AppId::tls);
        CHECK(d.tls_negotiated == kTls13);
        CHECK(d.sni.empty());
    });
}

TEST_CASE("TLS through Dpi: a port other than 443 and a hello in two records and segments",
          "[dpi][tls]") {
    HelloSpec h;
    h.exts = default_exts();
    const Bytes recs = tls_records(client_hello_msg(h), {50});
    all_tcp_scenarios(DpiConfig{}, 40000, 8443, recs, 6,
                      [](const L7Data& d) { check_default_client(d); });
}

TEST_CASE("TLS through Dpi: record header alone in the first segment after a SYN", "[dpi][tls]") {
    // fewer than 6 bytes cannot tell TLS from HTTP: the flow waits for more (tcp_pending)
    const Bytes ch = default_client_hello();
    for (size_t first : {1, 3, 5, 6}) {
        CAPTURE(first);
        Dpi dpi(DpiConfig{});
        Flow f(dpi, 6, 51000, 443);
        f.syn(500);
        f.seg(501, ch, 0, first);
        f.seg(501 + uint32_t(first), ch, first, ch.size() - first);
        CHECK(dpi.counters().dpi_skipped == 0);
        CHECK(f.state != kDpiDone);
        auto l7 = f.release();
        REQUIRE(l7);
        check_default_client(*l7);
    }
}

// =============================================================================================
// HTTP
// =============================================================================================

TEST_CASE("HTTP: looks_http_request / looks_http_response", "[dpi][http]") {
    for (const char* m : {"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ",
                          "CONNECT ", "TRACE ", "PROPFIND ", "PROPPATCH ", "MKCOL ", "COPY ",
                          "MOVE "}) {
        CAPTURE(m);
        CHECK(looks_http_request(sp(bytes(std::string(m) + "/ HTTP/1.1\r\n"))));
    }
    CHECK(looks_http_request(sp(bytes("GET "))));
    CHECK(looks_http_request(sp(bytes("POST"))));  // a prefix of a method, 4 bytes or more
    CHECK_FALSE(looks_http_request(sp(bytes("GET"))));
    CHECK_FALSE(looks_http_request(sp(bytes("get / HTTP/1.1\r\n"))));
    CHECK_FALSE(looks_http_request(sp(bytes("GETX / HTTP/1.1\r\n"))));
    CHECK_FALSE(looks_http_request(sp(bytes("SSH-2.0-OpenSSH_9.6\r\n"))));
    CHECK_FALSE(looks_http_request({}));
    CHECK(looks_http_response(sp(bytes("HTTP/1.1 200 OK\r\n"))));
    CHECK(looks_http_response(sp(bytes("HTTP/1.0 404"))));
    CHECK_FALSE(looks_http_response(sp(bytes("HTTP/2 200"))));
    CHECK_FALSE(looks_http_response(sp(bytes("HTTP/"))));
}

TEST_CASE("HTTP request: method, target, Host, User-Agent", "[dpi][http]") {
    auto parse = [](std::string_view text, Parse expect, size_t max = 1024) {
        L7Data d;
        const Bytes b = bytes(text);
        CHECK(parse_http_request(sp(b), d, max) == expect);
        return d;
    };
    check_default_request(parse(kRequest, Parse::done));

    SECTION("case-insensitive names, first occurrence wins, spaces trimmed") {
        const L7Data d = parse(
            "POST /upload HTTP/1.0\r\nhOsT:   a.example  \r\nUSER-AGENT:\tAgent/1\t\r\n"
            "Host: b.example\r\n c.example\r\nuser-agent: other\r\n\r\n",
            Parse::done);
        CHECK(d.http_method == "POST");
        CHECK(d.http_target == "/upload");
        CHECK(d.http_host == "a.example");
        CHECK(d.http_ua == "Agent/1");
    }
    SECTION("bare LF line ends") {
        const L7Data d =
            parse("GET / HTTP/1.1\nHost: lf.example\nUser-Agent: x\n\nbody", Parse::done);
        CHECK(d.http_host == "lf.example");
        CHECK(d.http_ua == "x");
    }
    SECTION("folded header continuation lines are joined with one space") {
        const L7Data d = parse(
            "GET / HTTP/1.1\r\n  leading-fold: ignored\r\nHost: fold\r\n .example\r\nX-A: 1\r\n"
            " not-host\r\nUser-Agent: Mozilla/5.0\r\n\t(X11;\r\n   Linux)\r\n\r\n",
            Parse::done);
        CHECK(d.http_host == "fold .example");
        CHECK(d.http_ua == "Mozilla/5.0 (X11; Linux)");
    }
    SECTION("a line without a colon is skipped") {
        const L7Data d = parse("GET / HTTP/1.1\r\nnonsense\r\nHost: h\r\n\r\n", Parse::done);
        CHECK(d.http_host == "h");
    }
    SECTION("no header fields at all") {
        const L7Data d = parse("DELETE /x HTTP/1.1\r\n\r\n", Parse::done);
        CHECK(d.http_method == "DELETE");
        CHECK(d.http_target == "/x");
        CHECK(d.http_host.empty());
    }
    SECTION("request line with extra spaces") {
        const L7Data d = parse("GET  /a b  HTTP/1.1\r\n\r\n", Parse::done);
        CHECK(d.http_method == "GET");
        CHECK(d.http_target == "/a b");
    }
    SECTION("not HTTP: no version, HTTP/0.9, leading space") {
        CHECK(parse("GET /\r\n\r\n", Parse::not_mine).empty());
        CHECK(parse("GET / FTP/1.0\r\n\r\n", Parse::not_mine).empty());
        CHECK(parse("GET\r\n\r\n", Parse::not_mine).empty());
    }
    SECTION("no line end yet: need_more, and not_mine once the line is past 16 KiB") {
        CHECK(parse("GET /" + std::string(10000, 'a'), Parse::need_more).empty());
        CHECK(parse("GET /" + std::string(20000, 'a'), Parse::not_mine).empty());
        CHECK(parse("GET / HTTP/1.1\rHost: cr.example\r\r", Parse::need_more).empty());
    }
    SECTION("a 20 KB header line before Host") {
        const L7Data d = parse("GET / HTTP/1.1\r\nX-Pad: " + std::string(20480, 'p') +
                                   "\r\nHost: after.example\r\n\r\n",
                               Parse::done);
        CHECK(d.http_host == "after.example");
    }
    SECTION("a 20 KB Host value and target are cut at max_string") {
        const L7Data d = parse("GET /" + std::string(20480, 't') + " HTTP/1.1\r\nHost: " +
                                   std::string(20480, 'h') + "\r\nUser-Agent: " +
                                   std::string(20480, 'u') + "\r\n\r\n",
                               Parse::done, 100);
        CHECK(d.http_target == "/" + std::string(99, 't'));
        CHECK(d.http_host == std::string(100, 'h'));
        CHECK(d.http_ua == std::string(100, 'u'));
    }
    SECTION("folding cannot grow a value past max_string") {
        std::string req = "GET / HTTP/1.1\r\nHost: h\r\n";
        for (int i = 0; i < 2000; ++i) req += " abcdefgh\r\n";
        req += "\r\n";
        const L7Data d = parse(req, Parse::done, 64);
        CHECK(d.http_host.size() == 64);
        CHECK(d.http_host.starts_with("h abcdefgh abcdefgh"));
    }
    SECTION("non-printable bytes and backslashes are escaped") {
        const L7Data d = parse(std::string("GET /a\\b\x01 HTTP/1.1\r\nHost: h\x7f\xc3\xa9\r\n"
                                           "User-Agent: \x1b[31m\r\n\r\n"),
                               Parse::done);
        CHECK(d.http_target == "/a\\\\b\\x01");
        CHECK(d.http_host == "h\\x7f\\xc3\\xa9");
        CHECK(d.http_ua == "\\x1b[31m");
    }
}

TEST_CASE("HTTP request truncated: values found so far are kept", "[dpi][http]") {
    const Bytes req = bytes(kRequest);
    const size_t line_end = kRequest.find('\n') + 1;
    const size_t host_end = kRequest.find("Host:");
    const size_t host_line_end = kRequest.find('\n', host_end) + 1;
    const size_t ua_line_end = kRequest.find('\n', kRequest.find("User-Agent:")) + 1;
    for (size_t n = 0; n <= req.size(); ++n) {
        const Bytes pre = prefix(req, n);
        L7Data d;
        const Parse r = parse_http_request(sp(pre), d, 1024);
        CAPTURE(n);
        if ((r == Parse::done) != (n == req.size())) FAIL_CHECK("result " << int(r) << " at " << n);
        if (r == Parse::not_mine) FAIL_CHECK("not_mine at " << n);
        if ((n >= line_end) != (d.http_method == "GET" && d.http_target == "/index.html?q=1"))
            FAIL_CHECK("request line at " << n);
        if ((n >= host_line_end) != (d.http_host == "www.example.com")) FAIL_CHECK("host at " << n);
        if ((n >= ua_line_end) != (d.http_ua == "curl/8.5.0")) FAIL_CHECK("ua at " << n);
    }
}

TEST_CASE("HTTP response: status code", "[dpi][http]") {
    auto parse = [](std::string_view text) {
        L7Data d;
        const Bytes b = bytes(text);
        const Parse r = parse_http_response(sp(b), d);
        return std::make_pair(r, d.http_status);
    };
    CHECK(parse(kResponse) == std::make_pair(Parse::done, uint16_t(404)));
    CHECK(parse("HTTP/1.0 200 OK\r\n") == std::make_pair(Parse::done, uint16_t(200)));
    CHECK(parse("HTTP/1.1 101") == std::make_pair(Parse::done, uint16_t(101)));
    CHECK(parse("HTTP/1.1 99") == std::make_pair(Parse::need_more, uint16_t(0)));
    CHECK(parse("HTTP/") == std::make_pair(Parse::need_more, uint16_t(0)));
    CHECK(parse("") == std::make_pair(Parse::need_more, uint16_t(0)));
    CHECK(parse("HTTP/1.1 2x0 OK") == std::make_pair(Parse::not_mine, uint16_t(0)));
    CHECK(parse("HTTP/1.1  200 OK") == std::make_pair(Parse::not_mine, uint16_t(0)));
    CHECK(parse("HTTP/2 200 OK\r\n") == std::make_pair(Parse::not_mine, uint16_t(0)));
    CHECK(parse("SSH-2.0-x\r\n") == std::make_pair(Parse::not_mine, uint16_t(0)));
    L7Data d;
    REQUIRE(parse_http_response(sp(bytes(kResponse)), d) == Parse::done);
    CHECK(d.app == AppId::http);
    CHECK(d.http_method.empty());
}

TEST_CASE("HTTP through Dpi: request over 1, 2 and 3 segments, reordered, retransmitted",
          "[dpi][http]") {
    all_tcp_scenarios(DpiConfig{}, 40001, 80, bytes(kRequest), 4,
                      [](const L7Data& d) { check_default_request(d); });
}

TEST_CASE("HTTP through Dpi: status on the response flow", "[dpi][http]") {
    all_tcp_scenarios(DpiConfig{}, 80, 40001, bytes(kResponse), 7, [](const L7Data& d) {
        CHECK(d.app == AppId::http);
        CHECK(d.http_status == 404);
        CHECK(d.http_method.empty());
    }, false);
}

TEST_CASE("HTTP through Dpi: first segment shorter than the method, after a SYN", "[dpi][http]") {
    const Bytes req = bytes(kRequest);
    for (size_t first : {1, 2, 3, 5}) {
        CAPTURE(first);
        Dpi dpi(DpiConfig{});
        Flow f(dpi, 6, 40002, 80);
        f.syn(9);
        f.seg(10, req, 0, first);
        f.seg(10 + uint32_t(first), req, first, req.size() - first);
        CHECK(dpi.counters().dpi_skipped == 0);
        auto l7 = f.release();
        REQUIRE(l7);
        check_default_request(*l7);
    }
}

TEST_CASE("HTTP through Dpi: the method is cut at max_string", "[dpi][http]") {
    // Regression: looks_http_request accepts a first segment "DELETE" (a 6-byte prefix of
    // "DELETE "); the method was once cut at a fixed 32 bytes, not at max_string.
    DpiConfig cfg;
    cfg.max_string = 16;
    Dpi dpi(cfg);
    Flow f(dpi, 6, 40010, 80);
    const Bytes req = bytes("DELETE" + std::string(40, 'A') + " / HTTP/1.1\r\nHost: h\r\n\r\n");
    f.seg(1, req, 0, 6);
    f.seg(7, req, 6, req.size() - 6);
    auto l7 = f.release();
    REQUIRE(l7);
    CHECK(l7->http_host == "h");
    CHECK(l7->http_method.size() <= cfg.max_string);
}

TEST_CASE("HTTP through Dpi: a head larger than the window keeps the request line", "[dpi][http]") {
    DpiConfig cfg;
    cfg.window = 512;
    const std::string req =
        "GET /big HTTP/1.1\r\nX-Pad: " + std::string(2000, 'p') + "\r\nHost: late\r\n\r\n";
    const Bytes b = bytes(req);
    Dpi dpi(cfg);
    Flow f(dpi, 6, 40003, 80);
    for (size_t off = 0; off < b.size(); off += 400)
        f.seg(100 + uint32_t(off), b, off, std::min<size_t>(400, b.size() - off));
    CHECK(dpi.counters().dpi_window_full == 1);
    auto l7 = f.release();
    REQUIRE(l7);
    CHECK(l7->http_method == "GET");
    CHECK(l7->http_target == "/big");
    CHECK(l7->http_host.empty());
}

// =============================================================================================
// DNS
// =============================================================================================

TEST_CASE("DNS: query and response", "[dpi][dns]") {
    SECTION("query: name and type, no rcode") {
        const L7Data d = run_dns(dns_query("www.example.com", 28));
        CHECK(d.app == AppId::dns);
        CHECK(d.dns_qname == "www.example.com");
        CHECK(d.has_dns_qtype);
        CHECK(d.dns_qtype == 28);
        CHECK_FALSE(d.has_dns_rcode);
        CHECK(d.dns_rcode == 0);
    }
    SECTION("response NXDOMAIN: rcode 3") {
        const L7Data d = run_dns(dns_response("nope.example.org", 1, 3, false));
        CHECK(d.dns_qname == "nope.example.org");
        CHECK(d.dns_qtype == 1);
        CHECK(d.has_dns_rcode);
        CHECK(d.dns_rcode == 3);
    }
    SECTION("response NOERROR with an answer that points at the question") {
        const L7Data d = run_dns(dns_response("www.example.com", 1, 0));
        CHECK(d.dns_qname == "www.example.com");
        CHECK(d.has_dns_rcode);
        CHECK(d.dns_rcode == 0);
    }
    SECTION("root name") {
        const L7Data d = run_dns(dns_query("", 2));
        CHECK(d.dns_qname == "<Root>");
        CHECK(d.dns_qtype == 2);
    }
    SECTION("question name ending in a compression pointer to a later name") {
        Bytes m = dns_header(0x0100, 1, 0, 0, 1);
        append(m, Bytes{3, 'w', 'w', 'w', 0xC0, 0});
        const size_t ptr_at = m.size() - 1;
        put16(m, 16);  // TXT
        put16(m, 1);
        m[ptr_at] = uint8_t(m.size());  // the additional record's name
        append(m, dns_name("example.com"));
        append(m, Bytes{0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});
        const L7Data d = run_dns(m);
        CHECK(d.dns_qname == "www.example.com");
        CHECK(d.dns_qtype == 16);
    }
    SECTION("question name that is only a pointer, through two pointers") {
        Bytes m = dns_header(0x0100, 1);
        append(m, Bytes{0xC0, 18, 0, 1, 0, 1});  // offset 12: -> 18
        append(m, Bytes{1, 'a', 0xC0, 22});      // offset 18: "a" -> 22
        append(m, dns_name("b.c"));              // offset 22
        const L7Data d = run_dns(m);
        CHECK(d.dns_qname == "a.b.c");
        CHECK(d.dns_qtype == 1);
    }
    SECTION("libtins-built query") {
        Tins::DNS q;
        q.id(7);
        q.type(Tins::DNS::QUERY);
        q.recursion_desired(1);
        q.add_query(Tins::DNS::query("mail.example.net", Tins::DNS::MX, Tins::DNS::INTERNET));
        const L7Data d = run_dns(q.serialize());
        CHECK(d.dns_qname == "mail.example.net");
        CHECK(d.dns_qtype == 15);
        CHECK_FALSE(d.has_dns_rcode);
    }
    SECTION("libtins-built response, SERVFAIL") {
        Tins::DNS r;
        r.id(7);
        r.type(Tins::DNS::RESPONSE);
        r.rcode(2);
        r.add_query(Tins::DNS::query("x.example", Tins::DNS::AAAA, Tins::DNS::INTERNET));
        r.add_answer(
            Tins::DNS::resource("x.example", "::1", Tins::DNS::AAAA, Tins::DNS::INTERNET, 60));
        const L7Data d = run_dns(r.serialize());
        CHECK(d.dns_qname == "x.example");
        CHECK(d.dns_qtype == 28);
        CHECK(d.has_dns_rcode);
        CHECK(d.dns_rcode == 2);
    }
    SECTION("name with non-printable bytes, dots and a backslash in a label") {
        Bytes m = dns_header(0x0100, 1);
        append(m, Bytes{5, 'a', '.', 0x01, '\\', 0xFF, 3, 'c', 'o', 'm', 0, 0, 1, 0, 1});
        const L7Data d = run_dns(m);
        CHECK(d.dns_qname == "a.\\x01\\\\\\xff.com");
        CHECK(d.dns_qtype == 1);
    }
    SECTION("a NUL inside a label ends the name") {
        Bytes m = dns_header(0x0100, 1);
        append(m, Bytes{3, 'a', 0x00, 'b', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1});
        const L7Data d = run_dns(m);
        CHECK(d.dns_qname == "a");
        CHECK(d.dns_qtype == 1);
    }
    SECTION("name cut at max_string") {
        const L7Data d = run_dns(dns_query(std::string(60, 'a') + ".example"), Parse::done, 16);
        CHECK(d.dns_qname == std::string(16, 'a'));
    }
}

TEST_CASE("DNS malicious messages", "[dpi][dns]") {
    SECTION("shorter than a header: not mine") {
        L7Data d;
        CHECK(parse_dns(sp(prefix(dns_query("a.b"), 11)), d, 1024) == Parse::not_mine);
        CHECK(d.empty());
    }
    SECTION("qdcount 0: no name; rcode of a response kept") {
        const L7Data d = run_dns(dns_header(0x8182, 0));
        CHECK(d.dns_qname.empty());
        CHECK_FALSE(d.has_dns_qtype);
        CHECK(d.has_dns_rcode);
        CHECK(d.dns_rcode == 2);
    }
    SECTION("qdcount 0xFFFF: the first question is read") {
        Bytes m = dns_query("many.example");
        m[4] = m[5] = 0xFF;
        const L7Data d = run_dns(m);
        CHECK(d.dns_qname == "many.example");
        CHECK(d.dns_qtype == 1);
    }
    SECTION("qdcount 1 but no question bytes") {
        const L7Data d = run_dns(dns_header(0x8183, 1));
        CHECK(d.dns_qname.empty());
        CHECK(d.has_dns_rcode);
        CHECK(d.dns_rcode == 3);
    }
    SECTION("label length past the end") {
        Bytes m = dns_header(0x0100, 1);
        append(m, Bytes{3, 'w', 'w', 'w', 40, 'a', 'b'});
        const L7Data d = run_dns(m);
        CHECK(d.dns_qname.empty());
        CHECK_FALSE(d.has_dns_qtype);
    }
    SECTION("name without its terminating zero") {
        Bytes m = dns_header(0x0100, 1);
        append(m, Bytes{3, 'w', 'w', 'w'});
        CHECK(run_dns(m).dns_qname.empty());
    }
    SECTION("compression pointer to itself") {
        Bytes m = dns_header(0x0100, 1);
        append(m, Bytes{0xC0, 12, 0, 1, 0, 1});
        const L7Data d = run_dns(m);
        CHECK(d.dns_qname.empty());
        CHECK_FALSE(d.has_dns_qtype);
    }
    SECTION("compression loop A -> B -> A") {
        Bytes m = dns_header(0x0100, 1);
        append(m, Bytes{0xC0, 14, 0xC0, 12, 0, 1, 0, 1});
        CHECK(run_dns(m).dns_qname.empty());
    }
    SECTION("compression loop with labels in it") {
        Bytes m = dns_header(0x0100, 1);
        append(m, Bytes{1, 'a', 1, 'b', 0xC0, 12, 0, 1, 0, 1});
        CHECK(run_dns(m).dns_qname.empty());
    }
    SECTION("pointer forward past the end") {
        Bytes m = dns_header(0x0100, 1);
        append(m, Bytes{3, 'w', 'w', 'w', 0xC1, 0x00, 0, 1, 0, 1});
        CHECK(run_dns(m).dns_qname.empty());
        Bytes m2 = dns_header(0x0100, 1);
        append(m2, Bytes{0xFF, 0xFF});
        CHECK(run_dns(m2).dns_qname.empty());
    }
    SECTION("pointer cut after its first byte") {
        Bytes m = dns_header(0x0100, 1);
        append(m, Bytes{3, 'w', 'w', 'w', 0xC0});
        CHECK(run_dns(m).dns_qname.empty());
    }
    SECTION("extended label types 0x40 / 0x80 are refused") {
        for (uint8_t t : {0x41, 0x81}) {
            Bytes m = dns_header(0x0100, 1);
            append(m, Bytes{t, 'x', 0, 0, 1, 0, 1});
            CHECK(run_dns(m).dns_qname.empty());
        }
    }
    SECTION("name longer than 255 bytes") {
        const std::string l63(63, 'x');
        const std::string too_long = l63 + "." + l63 + "." + l63 + "." + l63 + ".com";
        CHECK(run_dns(dns_query(too_long)).dns_qname.empty());
        // through pointers: 5 x 63-byte labels chained by pointers
        Bytes m = dns_header(0x0100, 1);
        append(m, Bytes{0xC0, 18, 0, 1, 0, 1});
        for (int i = 0; i < 5; ++i) {
            const size_t at = m.size();
            put8(m, 63);
            append(m, l63);
            put16(m, uint16_t(0xC000 | (at + 64 + 2)));
        }
        put8(m, 0);
        CHECK(run_dns(m).dns_qname.empty());
    }
    SECTION("the longest legal name (253 characters) is kept") {
        const std::string l63(63, 'x');
        const std::string name = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'y');
        REQUIRE(name.size() == 253);
        CHECK(run_dns(dns_query(name)).dns_qname == name);
    }
    SECTION("qtype cut: name kept, no type") {
        const Bytes q = dns_query("cut.example", 16);
        const L7Data d = run_dns(prefix(q, q.size() - 3));
        CHECK(d.dns_qname == "cut.example");
        CHECK_FALSE(d.has_dns_qtype);
    }
}

TEST_CASE("DNS: a name of 256 octets on the wire is refused", "[dpi][dns]") {
    // RFC 1035 §2.3.4 / §3.1: a name is at most 255 octets including the root label.
    // Regression: read_name once left the final zero out of the count and took 256 octets.
    const std::string l63(63, 'x');
    const std::string name = l63 + "." + l63 + "." + l63 + "." + std::string(62, 'y');
    REQUIRE(dns_name(name).size() == 256);
    CHECK(run_dns(dns_query(name)).dns_qname.empty());
}

TEST_CASE("DNS truncated at every length", "[dpi][dns]") {
    const Bytes r = dns_response("www.example.com", 1, 3);
    const size_t name_end = 12 + dns_name("www.example.com").size();
    for (size_t n = 0; n <= r.size(); ++n) {
        L7Data d;
        const Bytes pre = prefix(r, n);
        const Parse p = parse_dns(sp(pre), d, 1024);
        CAPTURE(n);
        if ((p == Parse::not_mine) != (n < 12)) FAIL_CHECK("result at " << n);
        if (n >= 12 && !(d.has_dns_rcode && d.dns_rcode == 3)) FAIL_CHECK("rcode at " << n);
        if ((n >= name_end) != (d.dns_qname == "www.example.com")) FAIL_CHECK("name at " << n);
        if ((n >= name_end + 2) != d.has_dns_qtype) FAIL_CHECK("qtype at " << n);
    }
}

TEST_CASE("DNS over TCP: length prefix", "[dpi][dns]") {
    const Bytes q = tcp_prefixed(dns_query("tcp.example", 252));
    SECTION("whole message") {
        L7Data d;
        CHECK(parse_dns_tcp(sp(q), d, 1024) == Parse::done);
        CHECK(d.dns_qname == "tcp.example");
        CHECK(d.dns_qtype == 252);
    }
    SECTION("every prefix: need_more, the question as soon as it is there") {
        const size_t name_end = 2 + 12 + dns_name("tcp.example").size();
        for (size_t n = 0; n < q.size(); ++n) {
            L7Data d;
            const Bytes pre = prefix(q, n);
            if (parse_dns_tcp(sp(pre), d, 1024) != Parse::need_more) FAIL_CHECK("at " << n);
            if ((n >= name_end) != (d.dns_qname == "tcp.example")) FAIL_CHECK("name at " << n);
        }
    }
    SECTION("only the first message of two counts") {
        const Bytes two = cat({tcp_prefixed(dns_response("one.example", 1, 0)),
                               tcp_prefixed(dns_response("two.example", 1, 5))});
        L7Data d;
        CHECK(parse_dns_tcp(sp(two), d, 1024) == Parse::done);
        CHECK(d.dns_qname == "one.example");
        CHECK(d.dns_rcode == 0);
    }
    SECTION("length below a header: not mine; length 0xFFFF: need_more") {
        L7Data d;
        Bytes small = q;
        small[0] = 0;
        small[1] = 11;
        CHECK(parse_dns_tcp(sp(small), d, 1024) == Parse::not_mine);
        Bytes big = q;
        big[0] = big[1] = 0xFF;
        CHECK(parse_dns_tcp(sp(big), d, 1024) == Parse::need_more);
        CHECK(d.dns_qname == "tcp.example");  // the question is used while waiting
    }
}

TEST_CASE("DNS through Dpi over UDP: query flow and response flow", "[dpi][dns]") {
    Dpi dpi(DpiConfig{});
    Flow query(dpi, 17, 53000, 53), resp(dpi, 17, 53, 53000);
    query.dgram(dns_query("udp.example", 1));
    resp.dgram(dns_response("udp.example", 1, 3));
    CHECK(dpi.counters().dpi_flows == 2);
    auto q = query.release();
    auto r = resp.release();
    REQUIRE(q);
    REQUIRE(r);
    CHECK(q->dns_qname == "udp.example");
    CHECK_FALSE(q->has_dns_rcode);
    CHECK(r->dns_qname == "udp.example");
    CHECK(r->has_dns_rcode);
    CHECK(r->dns_rcode == 3);
    CHECK(dpi.counters().dpi_dns == 2);

    SECTION("the first message with values wins") {
        Flow f(dpi, 17, 53001, 53);
        f.dgram(dns_query("first.example"));
        f.dgram(dns_query("second.example"));
        auto l7 = f.release();
        REQUIRE(l7);
        CHECK(l7->dns_qname == "first.example");
    }
    SECTION("short datagrams on port 53 until the packet limit: nothing") {
        DpiConfig cfg;
        cfg.max_packets = 3;
        Dpi small(cfg);
        Flow f(small, 17, 53, 53002);
        for (int i = 0; i < 5; ++i) f.dgram(Bytes{1, 2, 3});
        CHECK(f.state == kDpiDone);
        CHECK(small.counters().dpi_gave_up == 1);
        CHECK(f.release() == nullptr);
    }
    SECTION("UDP off port 53 is not looked at") {
        Flow f(dpi, 17, 5353, 5353);
        f.dgram(dns_query("mdns.local"));
        CHECK(f.state == kDpiDone);
        CHECK(f.release() == nullptr);
    }
}

namespace {
// A DNS/TCP server flow (port 53 -> 41000) carrying m cut at `at`, segments in order or reversed.
Run dns_tcp_split(const Bytes& m, bool syn, const std::vector<size_t>& at, bool reversed = false) {
    std::vector<size_t> order(at.size() + 1);
    std::iota(order.begin(), order.end(), 0);
    if (reversed) std::reverse(order.begin(), order.end());
    return run_tcp(DpiConfig{}, 53, 41000, m, {"", syn, 3000, cut(m.size(), at), order});
}
}  // namespace

TEST_CASE("DNS through Dpi over TCP, no SYN: a short first segment is the length prefix",
          "[dpi][dns]") {
    // Without a SYN, Dpi::inspect waits for a first TCP payload of at least 6 bytes (keep-alive
    // probes), but not on port 53: a DNS/TCP sender may write the 2-byte length on its own.
    // Regression: the rule once applied to port 53 too and the message was never found.
    const Bytes m = tcp_prefixed(dns_response("tcp.example.net", 15, 3));
    for (auto at : std::vector<std::vector<size_t>>{{2}, {1}, {1, 2}, {5}}) {
        CAPTURE(at);
        const Run r = dns_tcp_split(m, false, at);
        REQUIRE(r.l7);
        CHECK(r.l7->dns_qname == "tcp.example.net");
        CHECK(r.l7->dns_rcode == 3);
    }
}

TEST_CASE("DNS through Dpi over TCP: 2-byte prefix split across segments", "[dpi][dns]") {
    const Bytes m = tcp_prefixed(dns_response("tcp.example.net", 15, 3));
    auto check = [](const L7Data& d) {
        CHECK(d.app == AppId::dns);
        CHECK(d.dns_qname == "tcp.example.net");
        CHECK(d.dns_qtype == 15);
        CHECK(d.has_dns_rcode);
        CHECK(d.dns_rcode == 3);
    };
    all_tcp_scenarios(DpiConfig{}, 53, 41000, m, 1, check);
    SECTION("prefix split 1 + 1 + rest, and 1 + rest, after a SYN") {
        for (auto at : std::vector<std::vector<size_t>>{{1}, {2}, {1, 2}, {1, 9}, {2, 14}}) {
            CAPTURE(at);
            const Run r = dns_tcp_split(m, true, at);
            REQUIRE(r.l7);
            check(*r.l7);
            CHECK(r.counters.dpi_reassembled == 1);
            const Run q = dns_tcp_split(m, true, at, true);  // the prefix bytes arrive last
            REQUIRE(q.l7);
            check(*q.l7);
        }
    }
    SECTION("no SYN, prefix split after 6 bytes or more") {
        for (auto at : std::vector<std::vector<size_t>>{{6}, {6, 7}, {8, 20}}) {
            CAPTURE(at);
            const Run r = dns_tcp_split(m, false, at);
            REQUIRE(r.l7);
            check(*r.l7);
        }
    }
}

// =============================================================================================
// Dpi: classification, ownership, limits
// =============================================================================================

TEST_CASE("Dpi: flows with nothing to dissect are done after their first payload packet",
          "[dpi]") {
    Dpi dpi(DpiConfig{});
    SECTION("SSH banner on port 22, after a SYN") {
        Flow f(dpi, 6, 22, 52000);
        f.syn(1);
        f.ack(2);
        CHECK(f.state == kDpiNone);
        const Bytes banner = bytes("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n");
        f.seg(2, banner, 0, banner.size());
        CHECK(f.state == kDpiDone);
        CHECK(f.release() == nullptr);
        CHECK(dpi.counters().dpi_skipped == 1);
        CHECK(dpi.counters().dpi_flows == 0);
    }
    SECTION("random bytes on TCP and UDP") {
        std::mt19937 rng(4242);
        for (int i = 0; i < 200; ++i) {
            Bytes junk(6 + rng() % 1400);
            for (auto& b : junk) b = uint8_t(rng());
            junk[0] = uint8_t(0x80 | junk[0]);  // never a method letter, 22 or 'H'
            Flow t(dpi, 6, uint16_t(10000 + i), 9000);
            t.seg(rng(), junk, 0, junk.size());
            CHECK(t.state == kDpiDone);
            CHECK(t.release() == nullptr);
            Flow u(dpi, 17, uint16_t(10000 + i), 9000);
            u.dgram(junk);
            CHECK(u.state == kDpiDone);
            CHECK(u.release() == nullptr);
        }
        CHECK(dpi.counters().dpi_skipped == 400);
        CHECK(dpi.counters().dpi_flows == 0);
    }
    SECTION("ICMP and protocols other than TCP/UDP") {
        Flow f(dpi, 1, 0, 0x0800);
        f.dgram(default_client_hello());
        CHECK(f.state == kDpiDone);
        CHECK(f.release() == nullptr);
    }
    SECTION("a dissector switched off") {
        DpiConfig cfg;
        cfg.tls = false;
        Dpi no_tls(cfg);
        Flow f(no_tls, 6, 51000, 443);
        const Bytes ch = default_client_hello();
        f.seg(1, ch, 0, ch.size());
        CHECK(f.state == kDpiDone);
        CHECK(f.release() == nullptr);
        Flow h(no_tls, 6, 51001, 80);
        const Bytes req = bytes(kRequest);
        h.seg(1, req, 0, req.size());
        auto l7 = h.release();
        REQUIRE(l7);
        CHECK(l7->http_host == "www.example.com");
    }
    SECTION("release of kDpiNone and kDpiDone") {
        CHECK(dpi.release(kDpiNone) == nullptr);
        CHECK(dpi.release(kDpiDone) == nullptr);
    }
}

TEST_CASE("Dpi: a keep-alive byte before the first message does not decide the flow", "[dpi]") {
    Dpi dpi(DpiConfig{});
    const Bytes ch = default_client_hello();
    const Bytes probe = {0x00};
    SECTION("without SYN") {
        Flow f(dpi, 6, 51000, 443);
        f.seg(999, probe, 0, 1);
        CHECK(f.state == kDpiNone);
        f.seg(1000, ch, 0, ch.size());
        auto l7 = f.release();
        REQUIRE(l7);
        check_default_client(*l7);
    }
    SECTION("after a SYN (probe one byte before the stream start)") {
        Flow f(dpi, 6, 51000, 443);
        f.syn(998);
        f.seg(998, probe, 0, 1);
        f.seg(999, ch, 0, ch.size());
        auto l7 = f.release();
        REQUIRE(l7);
        check_default_client(*l7);
    }
    CHECK(dpi.counters().dpi_skipped == 0);
}

TEST_CASE("Dpi: values are returned by release() once, then the state is free", "[dpi]") {
    Dpi dpi(DpiConfig{});
    const Bytes ch = default_client_hello();
    Flow a(dpi, 6, 51000, 443);
    a.seg(10, ch, 0, ch.size());
    const uint32_t sa = a.state;
    REQUIRE(sa != kDpiNone);
    REQUIRE(sa != kDpiDone);
    // later packets of a finished flow change nothing
    a.seg(10 + uint32_t(ch.size()), ch, 0, ch.size());
    CHECK(a.state == sa);
    CHECK(dpi.counters().dpi_tls == 0);  // counted when the values leave
    auto l7 = a.release();
    REQUIRE(l7);
    check_default_client(*l7);
    CHECK(dpi.counters().dpi_tls == 1);
    CHECK(dpi.counters().dpi_flows == 1);

    // the freed state is the next one handed out, and carries nothing of the old flow
    Flow b(dpi, 6, 40000, 80);
    const Bytes req = bytes("GET /b HTTP/1.1\r\n\r\n");
    b.seg(1, req, 0, req.size());
    CHECK(b.state == sa);
    auto l7b = b.release();
    REQUIRE(l7b);
    CHECK(l7b->sni.empty());
    CHECK(l7b->tls_offered == 0);
    CHECK(l7b->http_target == "/b");
    CHECK(dpi.counters().dpi_http == 1);
    CHECK(dpi.counters().dpi_tls == 1);

    // a flow that gave up freed its state at once: the next flow gets the same one again
    DpiConfig cfg;
    cfg.max_packets = 1;
    Dpi one(cfg);
    Flow c(one, 6, 40001, 80);
    const Bytes partial = bytes("GET /no-line-end");
    c.seg(1, partial, 0, partial.size());
    CHECK(c.state == kDpiDone);
    CHECK(one.counters().dpi_gave_up == 1);
    Flow d(one, 6, 40002, 80);
    d.seg(1, req, 0, req.size());
    CHECK(d.state == 1);
    REQUIRE(d.release());
}

TEST_CASE("Dpi: reassembly window of 512 bytes and a 2000-byte ClientHello in 4 segments",
          "[dpi][tls]") {
    DpiConfig cfg;
    cfg.window = 512;
    SECTION("values in the first 512 bytes are kept") {
        HelloSpec h;
        h.exts = default_exts();
        h.exts.push_back(padding_ext(0));
        const size_t base = tls_records(client_hello_msg(h)).size();
        h.exts.back() = padding_ext(2000 - base);
        const Bytes ch = tls_records(client_hello_msg(h));
        REQUIRE(ch.size() == 2000);
        for (bool syn : {false, true}) {
            for (bool reversed : {false, true}) {
                if (reversed && !syn) continue;
                CAPTURE(syn, reversed);
                Dpi dpi(cfg);
                Flow f(dpi, 6, 51000, 443);
                if (syn) f.syn(7);
                std::vector<size_t> order = {0, 1, 2, 3};
                if (reversed) order = {3, 2, 1, 0};
                for (size_t i : order) f.seg(8 + uint32_t(i * 500), ch, i * 500, 500);
                CHECK(dpi.counters().dpi_window_full == 1);
                CHECK(dpi.counters().dpi_reassembled == 1);
                auto l7 = f.release();
                REQUIRE(l7);
                check_default_client(*l7);
            }
        }
    }
    SECTION("SNI beyond the window: only the version") {
        HelloSpec h;
        h.exts = {padding_ext(1500), sni_ext("late.example")};
        const Bytes ch = tls_records(client_hello_msg(h));
        Dpi dpi(cfg);
        Flow f(dpi, 6, 51000, 443);
        const size_t q = (ch.size() + 3) / 4;
        for (size_t off = 0; off < ch.size(); off += q)
            f.seg(8 + uint32_t(off), ch, off, std::min(q, ch.size() - off));
        CHECK(dpi.counters().dpi_window_full == 1);
        auto l7 = f.release();
        REQUIRE(l7);
        CHECK(l7->sni.empty());
        CHECK(l7->tls_offered == kTls12);
    }
    SECTION("one segment larger than the window, then more") {
        HelloSpec h;
        h.exts = {padding_ext(1500), sni_ext("late.example")};
        const Bytes ch = tls_records(client_hello_msg(h));
        Dpi dpi(cfg);
        Flow f(dpi, 6, 51000, 443);
        f.seg(8, ch, 0, 1400);
        f.seg(8 + 1400, ch, 1400, ch.size() - 1400);
        auto l7 = f.release();
        REQUIRE(l7);
        CHECK(l7->tls_offered == kTls12);
        CHECK(dpi.counters().dpi_window_full == 1);
    }
    SECTION("a segment far beyond the window is dropped") {
        const Bytes ch = default_client_hello();
        Dpi dpi(cfg);
        Flow f(dpi, 6, 51000, 443);
        f.syn(7);
        f.seg(8 + 100000, ch, 0, ch.size());   // beyond the window: waits nowhere
        f.seg(8 + 0xFFFFFF00u, ch, 0, ch.size());  // before the stream start
        f.seg(8, ch, 0, ch.size());
        auto l7 = f.release();
        REQUIRE(l7);
        check_default_client(*l7);
    }
}

TEST_CASE("Dpi: max_packets ends a flow's inspection", "[dpi]") {
    DpiConfig cfg;
    cfg.max_packets = 3;
    SECTION("values found so far are kept") {
        const std::vector<std::string> parts = {"GET /m HTTP/1.1\r\n", "Accept: a\r\n",
                                                "X-B: b\r\n", "Host: never.example\r\n", "\r\n"};
        Dpi dpi(cfg);
        Flow f(dpi, 6, 40000, 80);
        uint32_t seq = 100;
        for (const auto& p : parts) {
            const Bytes b = bytes(p);
            f.seg(seq, b, 0, b.size());
            seq += uint32_t(b.size());
        }
        CHECK(dpi.counters().dpi_gave_up == 0);
        auto l7 = f.release();
        REQUIRE(l7);
        CHECK(l7->http_target == "/m");
        CHECK(l7->http_host.empty());
    }
    SECTION("nothing found: gave up, state done, buffer returned") {
        DpiConfig c1 = cfg;
        c1.max_buffers = 1;
        Dpi dpi(c1);
        Flow f(dpi, 6, 40000, 80);
        const Bytes b = bytes("GET /" + std::string(100, 'x'));
        for (uint32_t i = 0; i < 5; ++i) f.seg(1 + i * 20, b, i * 20, 20);
        CHECK(f.state == kDpiDone);
        CHECK(dpi.counters().dpi_gave_up == 1);
        CHECK(f.release() == nullptr);
        // the one buffer is free again
        Flow g(dpi, 6, 40001, 80);
        const Bytes req = bytes(kRequest);
        g.seg(1, req, 0, 30);
        g.seg(31, req, 30, req.size() - 30);
        CHECK(dpi.counters().dpi_no_buffer == 0);
        auto l7 = g.release();
        REQUIRE(l7);
        check_default_request(*l7);
    }
    SECTION("retransmissions count as packets") {
        Dpi dpi(cfg);
        Flow f(dpi, 6, 51000, 443);
        const Bytes ch = default_client_hello();
        for (int i = 0; i < 3; ++i) f.seg(1, ch, 0, 40);
        f.seg(41, ch, 40, ch.size() - 40);
        auto l7 = f.release();
        REQUIRE(l7);
        CHECK(l7->sni.empty());
        CHECK(l7->tls_offered == kTls12);
    }
    SECTION("max_packets 255 (the largest the CLI allows) still ends") {
        DpiConfig c255;
        c255.max_packets = 255;
        Dpi dpi(c255);
        Flow f(dpi, 6, 40000, 80);
        const Bytes b = bytes("GET /" + std::string(300, 'x'));
        f.seg(1, b, 0, 10);
        for (uint32_t i = 10; i < 300; ++i) f.seg(1 + i, b, i, 1);
        CHECK(f.state == kDpiDone);
        CHECK(dpi.counters().dpi_gave_up == 1);
    }
}

TEST_CASE("Dpi: max_packets above 255 still ends inspection", "[dpi]") {
    // Regression: Slot::packets was once a uint8_t, so max_packets > 255 (possible through
    // DpiConfig, not the CLI) wrapped and a flow that never completes was inspected forever.
    DpiConfig cfg;
    cfg.max_packets = 300;
    Dpi dpi(cfg);
    Flow f(dpi, 6, 40000, 80);
    const Bytes b = bytes("GET /" + std::string(500, 'x'));
    f.seg(1, b, 0, 10);
    for (uint32_t i = 10; i < 410; ++i) f.seg(1 + i, b, i, 1);
    CHECK(f.state == kDpiDone);
    CHECK(dpi.counters().dpi_gave_up == 1);
}

TEST_CASE("Dpi: many concurrent flows with max_buffers=2", "[dpi]") {
    DpiConfig cfg;
    cfg.max_buffers = 2;
    Dpi dpi(cfg);
    const Bytes ch = default_client_hello();
    const size_t cut_at = find(ch, kSni) + std::strlen(kSni) + 2;  // after SNI, before ALPN
    constexpr int kFlows = 50;
    std::vector<Flow> flows;
    flows.reserve(kFlows);
    for (int i = 0; i < kFlows; ++i) {
        flows.emplace_back(dpi, 6, uint16_t(50000 + i), 443);
        flows.back().syn(uint32_t(i * 100000));
    }
    for (int i = 0; i < kFlows; ++i) flows[i].seg(uint32_t(i * 100000 + 1), ch, 0, cut_at);
    CHECK(dpi.counters().dpi_no_buffer == kFlows - 2);
    CHECK(dpi.counters().dpi_reassembled == 2);
    for (int i = 0; i < kFlows; ++i)
        flows[i].seg(uint32_t(i * 100000 + 1 + cut_at), ch, cut_at, ch.size() - cut_at);
    for (int i = 0; i < kFlows; ++i) {
        CAPTURE(i);
        auto l7 = flows[i].release();
        REQUIRE(l7);
        CHECK(l7->sni == kSni);  // found in the first segment either way
        CHECK(l7->alpn == (i < 2 ? "h2;http/1.1" : ""));
    }
    // buffers come back: the next two split flows reassemble without a miss
    for (int i = 0; i < 2; ++i) {
        Flow f(dpi, 6, uint16_t(60000 + i), 443);
        f.seg(5, ch, 0, 100);
        f.seg(105, ch, 100, ch.size() - 100);
        auto l7 = f.release();
        REQUIRE(l7);
        check_default_client(*l7);
    }
    CHECK(dpi.counters().dpi_no_buffer == kFlows - 2);
    CHECK(dpi.counters().dpi_tls == kFlows + 2);
}

// =============================================================================================
// Fuzz-style loops (fixed seed). Only: no crash / sanitizer report, strings printable and short.
// =============================================================================================

namespace {

Bytes mutate(const Bytes& in, std::mt19937& rng) {
    Bytes b = in;
    static constexpr uint8_t kInteresting[] = {0x00, 0xFF, 0xC0, 0x3F, 0x7F, 0x80,
                                               0x0A, 0x0D, 0x20, 0x16, 0x01, 0x02};
    const int n = 1 + int(rng() % 6);
    for (int i = 0; i < n && !b.empty(); ++i) {
        const size_t at = rng() % b.size();
        switch (rng() % 4) {
            case 0: b[at] ^= uint8_t(1u << (rng() % 8)); break;
            case 1: b[at] = uint8_t(rng()); break;
            case 2: b[at] = kInteresting[rng() % sizeof(kInteresting)]; break;
            case 3:  // a length-looking pair
                if (at + 1 < b.size()) {
                    b[at] = uint8_t(rng() % 3 == 0 ? 0xFF : rng() % 3);
                    b[at + 1] = uint8_t(rng());
                }
                break;
        }
    }
    if (rng() % 4 == 0) b.resize(rng() % (b.size() + 1));
    return Bytes(b.begin(), b.end());  // exact capacity
}

struct Target {
    const char* name;
    std::vector<Bytes> seeds;
    // parses s with max_string, returns the values
    L7Data (*run)(std::span<const uint8_t> s, size_t max);
};

std::vector<Target> targets() {
    HelloSpec two;
    two.exts = default_exts();
    HelloSpec odd;
    odd.exts = {sni_ext(std::string_view("a\\b\x01\xff", 5)), alpn_ext({"", "x\x02"}),
                client_versions_ext({0x0A0A, 0x0304})};
    const Bytes cqname = [] {
        Bytes m = dns_header(0x0100, 1, 0, 0, 1);
        append(m, Bytes{3, 'w', 'w', 'w', 0xC0, 22, 0, 1, 0, 1});
        append(m, dns_name("example.com"));
        return m;
    }();
    std::vector<Target> t;
    t.push_back({"parse_tls",
                 {default_client_hello(), default_server_hello(),
                  tls_records(client_hello_msg(two), {7, 30}), tls_records(client_hello_msg(odd))},
                 [](std::span<const uint8_t> s, size_t max) {
                     L7Data d;
                     (void)looks_tls(s);
                     parse_tls(s, d, max);
                     return d;
                 }});
    t.push_back({"parse_http_request",
                 {bytes(kRequest),
                  bytes("POST /x HTTP/1.0\nhost: a\n b\nUser-Agent: \\\x01\n\tz\n\n"),
                  bytes("GET / HTTP/1.1\r\n\r\n")},
                 [](std::span<const uint8_t> s, size_t max) {
                     L7Data d;
                     (void)looks_http_request(s);
                     parse_http_request(s, d, max);
                     return d;
                 }});
    t.push_back({"parse_http_response",
                 {bytes(kResponse), bytes("HTTP/1.0 200 OK\r\n\r\n")},
                 [](std::span<const uint8_t> s, size_t) {
                     L7Data d;
                     (void)looks_http_response(s);
                     parse_http_response(s, d);
                     return d;
                 }});
    t.push_back({"parse_dns",
                 {dns_query("www.example.com", 28), dns_response("a.b.c", 1, 3), dns_query(""),
                  cqname},
                 [](std::span<const uint8_t> s, size_t max) {
                     L7Data d;
                     parse_dns(s, d, max);
                     return d;
                 }});
    t.push_back({"parse_dns_tcp",
                 {tcp_prefixed(dns_query("www.example.com", 28)),
                  tcp_prefixed(dns_response("a.b.c", 1, 3)), tcp_prefixed(cqname)},
                 [](std::span<const uint8_t> s, size_t max) {
                     L7Data d;
                     parse_dns_tcp(s, d, max);
                     return d;
                 }});
    return t;
}

}  // namespace

TEST_CASE("DPI fuzz: parsers on random, mutated and truncated input", "[dpi][fuzz]") {
    constexpr int kIterations = 20000;
    for (const Target& t : targets()) {
        DYNAMIC_SECTION(t.name) {
            std::mt19937 rng(20240601);
            size_t runs = 0, bad = 0;
            auto one = [&](const Bytes& input, size_t max) {
                const Bytes exact(input.begin(), input.end());
                const L7Data d = t.run(sp(exact), max);
                ++runs;
                const std::string why = bad_strings(d, max, 32);
                if (!why.empty() && ++bad <= 5) FAIL_CHECK(t.name << ": " << why);
            };
            // every prefix of every seed, and of 100 mutated seeds
            for (const Bytes& s : t.seeds)
                for (size_t n = 0; n <= s.size(); ++n) one(prefix(s, n), 1024);
            for (int i = 0; i < 100; ++i) {
                const Bytes m = mutate(t.seeds[i % t.seeds.size()], rng);
                for (size_t n = 0; n <= m.size(); ++n) one(prefix(m, n), 32);
            }
            for (int i = 0; i < kIterations; ++i) {
                const size_t max = (i & 1) ? 32 : 1024;
                Bytes r(rng() % 600);
                for (auto& b : r) b = uint8_t(rng());
                if (!r.empty() && i % 3 == 0) {  // get past the first check more often
                    const Bytes& s = t.seeds[rng() % t.seeds.size()];
                    std::copy_n(s.begin(), std::min({s.size(), r.size(), size_t(12)}), r.begin());
                }
                one(r, max);
                one(mutate(t.seeds[rng() % t.seeds.size()], rng), max);
            }
            CHECK(bad == 0);
            CHECK(runs >= 2 * kIterations);
        }
    }
}

TEST_CASE("DPI fuzz: Dpi with interleaved flows, random segmentation, order and mutation",
          "[dpi][fuzz]") {
    DpiConfig cfg;
    cfg.window = 512;
    cfg.max_string = 16;
    cfg.max_buffers = 3;
    cfg.max_packets = 6;
    Dpi dpi(cfg);
    std::mt19937 rng(777);

    HelloSpec big;
    big.exts = default_exts();
    big.exts.push_back(padding_ext(900));
    struct Seed {
        uint8_t proto;
        uint16_t sport, dport;
        Bytes msg;
    };
    const std::vector<Seed> seeds = {
        {6, 51000, 443, default_client_hello()},
        {6, 443, 51000, default_server_hello()},
        {6, 51000, 443, tls_records(client_hello_msg(big), {100, 300})},
        {6, 40000, 80, bytes(kRequest)},
        {6, 80, 40000, bytes(kResponse)},
        {6, 41000, 53, tcp_prefixed(dns_query("www.example.com", 28))},
        {6, 53, 41000, tcp_prefixed(dns_response("a.b.c", 1, 3))},
        {17, 53, 41000, dns_response("x.example", 1, 3)},
        {17, 41000, 53, dns_query("y.example")},
        {6, 22, 41000, bytes("SSH-2.0-OpenSSH_9.6\r\n")},
    };

    struct Live {
        std::unique_ptr<Flow> flow;
        Bytes msg;
        std::vector<std::pair<uint32_t, Piece>> packets;  // (seq, piece), 0-length = SYN
        size_t next = 0;
    };
    constexpr int kFlows = 20000;
    std::vector<Live> live;
    size_t bad = 0, done = 0;
    auto finish = [&](Live& l) {
        auto l7 = l.flow->release();
        ++done;
        if (l7) {
            const std::string why = bad_strings(*l7, cfg.max_string, cfg.max_string);
            if (!why.empty() && ++bad <= 5) FAIL_CHECK(why);
        }
    };
    int started = 0;
    while (started < kFlows || !live.empty()) {
        if (started < kFlows && (live.size() < 8 || rng() % 4 == 0) && live.size() < 16) {
            const Seed& s = seeds[rng() % seeds.size()];
            Live l;
            l.flow = std::make_unique<Flow>(dpi, s.proto, s.sport, s.dport);
            l.msg = rng() % 3 == 0 ? mutate(s.msg, rng) : s.msg;
            if (rng() % 10 == 0) {  // random bytes instead
                l.msg.resize(rng() % 700);
                for (auto& b : l.msg) b = uint8_t(rng());
            }
            const uint32_t isn = rng();
            const bool syn = s.proto == 6 && rng() % 2;
            if (syn) l.packets.push_back({isn, {0, 0}});
            // cut into 1..5 pieces, maybe overlapping, then shuffle some and retransmit some
            std::vector<Piece> pieces;
            const size_t n = l.msg.size();
            const size_t k = s.proto == 17 ? 1 : 1 + rng() % 5;
            std::vector<size_t> cuts;
            for (size_t i = 1; i < k && n > 1; ++i) cuts.push_back(1 + rng() % (n - 1));
            std::sort(cuts.begin(), cuts.end());
            cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
            pieces = cut(n, cuts);
            for (auto& p : pieces)
                if (rng() % 5 == 0 && p.off + p.len < n)
                    p.len += std::min<size_t>(n - p.off - p.len, rng() % 20);
            if (rng() % 3 == 0) std::shuffle(pieces.begin(), pieces.end(), rng);
            if (rng() % 4 == 0 && !pieces.empty()) pieces.push_back(pieces[rng() % pieces.size()]);
            for (const auto& p : pieces)
                if (p.len) l.packets.push_back({isn + 1 + uint32_t(p.off), p});
            live.push_back(std::move(l));
            ++started;
            continue;
        }
        const size_t i = rng() % live.size();
        Live& l = live[i];
        if (l.next == l.packets.size()) {
            finish(l);
            live.erase(live.begin() + long(i));
            continue;
        }
        const auto& [seq, p] = l.packets[l.next++];
        if (p.len == 0) l.flow->syn(seq);  // only SYNs have no bytes
        else l.flow->seg(seq, l.msg, p.off, p.len);  // UDP: seq is ignored
    }
    const DpiCounters& c = dpi.counters();
    CHECK(bad == 0);
    CHECK(done == size_t(kFlows));
    CHECK(c.dpi_flows + c.dpi_skipped <= size_t(kFlows));
    CHECK(c.dpi_no_buffer > 0);
    CHECK(c.dpi_reassembled > 0);
    CHECK(c.dpi_tls > 0);
    CHECK(c.dpi_http > 0);
    CHECK(c.dpi_dns > 0);
}
