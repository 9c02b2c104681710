// Decoder (probe/net/decode.cpp): link layer → innermost IP header → ports, one section per layer.
// Common stacks are crafted with libtins; what libtins cannot build (MPLS, GRE options, VXLAN,
// SLL/SLL2, BSD null, PPPoE, IPv6 extension headers, fragments) is written byte by byte.
#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <tins/tins.h>

#include <array>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "probe/net/decode.hpp"

using namespace tapflow;
using Bytes = std::vector<uint8_t>;

namespace Catch {
template <>
struct StringMaker<DecodeResult> {
    static std::string convert(DecodeResult r) {
        switch (r) {
            case DecodeResult::ok: return "ok";
            case DecodeResult::not_ip: return "not_ip";
            case DecodeResult::truncated: return "truncated";
            case DecodeResult::malformed: return "malformed";
        }
        return "?";
    }
};
}  // namespace Catch

namespace {

// ---- byte helpers -------------------------------------------------------------------------

template <typename P>
Bytes ser(P&& pdu) {
    return pdu.serialize();
}

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

Bytes be16(uint16_t v) { return {uint8_t(v >> 8), uint8_t(v)}; }
Bytes be32(uint32_t v) { return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}; }
Bytes le32(uint32_t v) { return {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)}; }

std::array<uint8_t, 16> addr(const char* text) {
    std::array<uint8_t, 16> a{};
    const bool v6 = std::strchr(text, ':') != nullptr;
    REQUIRE(inet_pton(v6 ? AF_INET6 : AF_INET, text, a.data()) == 1);
    return a;
}

Bytes addr_bytes(const char* text) {
    const auto a = addr(text);
    return Bytes(a.begin(), a.begin() + (std::strchr(text, ':') ? 16 : 4));
}

// ---- headers written by hand --------------------------------------------------------------

Bytes eth_hdr(uint16_t ethertype) {
    return cat({{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}, {0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb},
                be16(ethertype)});
}

struct V4 {
    uint8_t tos = 0;
    uint8_t ttl = 64;
    uint8_t proto = 17;
    uint16_t id = 1;
    uint16_t frag = 0;  // flags (MF = 0x2000) and offset in 8-byte units
    const char* src = "10.0.0.1";
    const char* dst = "10.0.0.2";
    Bytes options;            // appended after the fixed header; IHL follows from the size
    int ihl_words = -1;       // override the IHL field
    int total_length = -1;    // override the total length field
};

Bytes ipv4(const V4& h, const Bytes& payload) {
    REQUIRE(h.options.size() % 4 == 0);
    const size_t hlen = 20 + h.options.size();
    const int ihl = h.ihl_words >= 0 ? h.ihl_words : int(hlen / 4);
    const int total = h.total_length >= 0 ? h.total_length : int(hlen + payload.size());
    Bytes b = cat({{uint8_t(0x40 | (ihl & 0x0F)), h.tos}, be16(uint16_t(total)), be16(h.id),
                   be16(h.frag), {h.ttl, h.proto, 0, 0}, addr_bytes(h.src), addr_bytes(h.dst),
                   h.options});
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < hlen; i += 2) sum += uint32_t(b[i] << 8 | b[i + 1]);
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    b[10] = uint8_t(~sum >> 8);
    b[11] = uint8_t(~sum);
    return cat({b, payload});
}

Bytes ipv6(uint8_t next_header, const Bytes& payload, const char* src = "2001:db8::1",
           const char* dst = "2001:db8::2", uint8_t tclass = 0, uint8_t hop_limit = 64) {
    return cat({{uint8_t(0x60 | tclass >> 4), uint8_t(tclass << 4), 0x00, 0x00},
                be16(uint16_t(payload.size())), {next_header, hop_limit}, addr_bytes(src),
                addr_bytes(dst), payload});
}

Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload) {
    return cat({be16(sport), be16(dport), be16(uint16_t(8 + payload.size())), {0, 0}, payload});
}

Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags) {
    return cat({be16(sport), be16(dport), be32(1000), be32(0), {0x50, flags}, be16(65535),
                {0, 0, 0, 0}});
}

// One MPLS label stack entry: label(20) TC(3) S(1) TTL(8).
Bytes mpls_label(uint32_t label, bool bottom, uint8_t ttl = 64) {
    return be32(label << 12 | (bottom ? 0x100u : 0u) | ttl);
}

// A plain Ethernet/IPv4/UDP packet from libtins, the inner packet of the tunnel tests.
Bytes inner_ipv4_udp() {
    Tins::IP ip("172.16.0.2", "172.16.0.1");
    ip.ttl(17);
    ip.tos(0x10);
    return ser(ip / Tins::UDP(5353, 6000) / Tins::RawPDU("inner"));
}

// ---- running the decoder ------------------------------------------------------------------

struct Decoded {
    DecodeResult res;
    PacketInfo pi;
    Bytes captured;  // the bytes pi.payload points into
};

// Decodes the first `len` bytes of frame from a heap copy of exactly that size, so that
// AddressSanitizer reports any read past the captured length.
Decoded run(Decoder& d, LinkType link, const Bytes& frame, size_t len = SIZE_MAX) {
    len = std::min(len, frame.size());
    Decoded out{DecodeResult::malformed, PacketInfo{}, Bytes(frame.begin(), frame.begin() + len)};
    out.res = d.decode(link, out.captured.data(), uint32_t(len), out.pi);
    return out;
}

std::string src_of(const PacketInfo& p) { return format_ip(p.key.src, p.key.is_v6()); }
std::string dst_of(const PacketInfo& p) { return format_ip(p.key.dst, p.key.is_v6()); }

}  // namespace

// =============================================================================================
// Transport layer over Ethernet/IPv4 and IPv6
// =============================================================================================

TEST_CASE("Ethernet/IPv4/TCP: addresses, ports, flags, ttl, tos and IP-layer bytes",
          "[decode][ipv4][tcp]") {
    Tins::IP ip("10.0.0.2", "10.0.0.1");
    ip.tos(0x28);
    ip.ttl(61);
    Tins::TCP t(80, 40000);
    t.flags(Tins::TCP::SYN | Tins::TCP::ACK);
    Bytes frame = ser(Tins::EthernetII() / ip / t / Tins::RawPDU("hello"));
    REQUIRE(frame.size() == 60);              // 14 + 20 + 20 + 5 = 59, padded to the minimum
    frame.insert(frame.end(), 8, 0xEE);       // and a trailer some switches append

    Decoder d(7);
    const auto r = run(d, LinkType::ethernet, frame);
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(src_of(r.pi) == "10.0.0.1");
    CHECK(dst_of(r.pi) == "10.0.0.2");
    CHECK(r.pi.key.ip_version == 4);
    CHECK(r.pi.key.proto == 6);
    CHECK(r.pi.key.sport == 40000);
    CHECK(r.pi.key.dport == 80);
    CHECK(r.pi.key.tos == 0x28);
    CHECK(r.pi.key.ifindex == 7u);
    CHECK(r.pi.key.vlan == 0);
    CHECK(r.pi.vlan == 0);
    CHECK(r.pi.ttl == 61);
    CHECK(r.pi.tcp_flags == 0x12);
    CHECK(r.pi.bytes_l3 == 45u);  // the IP total length: never the padding or trailer
    REQUIRE(r.pi.payload != nullptr);
    CHECK(r.pi.payload_len == 5u);
    CHECK(std::string(reinterpret_cast<const char*>(r.pi.payload), r.pi.payload_len) == "hello");
    CHECK(d.counters().frames == 1);
    CHECK(d.counters().ip_packets == 1);
    CHECK(d.counters().ip_bytes == 45);
}

TEST_CASE("Ethernet/IPv4/UDP: ports and payload stop at the UDP datagram", "[decode][ipv4][udp]") {
    Bytes frame = ser(Tins::EthernetII() / Tins::IP("192.0.2.9", "192.0.2.1") /
                      Tins::UDP(53, 5353) / Tins::RawPDU("abcd"));
    Decoder d(0);
    const auto r = run(d, LinkType::ethernet, frame);
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(r.pi.key.proto == 17);
    CHECK(r.pi.key.sport == 5353);
    CHECK(r.pi.key.dport == 53);
    CHECK(r.pi.bytes_l3 == 32u);
    CHECK(r.pi.tcp_flags == 0);
    CHECK(r.pi.payload_len == 4u);
}

TEST_CASE("IPv4/SCTP: ports from the SCTP common header", "[decode][ipv4][sctp]") {
    // Common header: source port, destination port, verification tag, checksum; then a chunk.
    const Bytes sctp = cat({be16(5000), be16(36412), be32(0xdeadbeef), be32(0), be32(0x01000010),
                            be32(0), be32(0), be32(0)});
    V4 h;
    h.proto = 132;
    Decoder d(0);
    const auto r = run(d, LinkType::ethernet, cat({eth_hdr(0x0800), ipv4(h, sctp)}));
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(r.pi.key.proto == 132);
    CHECK(r.pi.key.sport == 5000);
    CHECK(r.pi.key.dport == 36412);
    CHECK(r.pi.payload_len == 16u);  // after the 12-byte common header
}

TEST_CASE("ICMP: source port 0, destination port type*256+code", "[decode][ipv4][icmp]") {
    Decoder d(0);
    SECTION("echo request 8/0") {
        const auto r = run(d, LinkType::ethernet,
                           ser(Tins::EthernetII() / Tins::IP("10.0.0.2", "10.0.0.1") /
                               Tins::ICMP(Tins::ICMP::ECHO_REQUEST)));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.proto == 1);
        CHECK(r.pi.key.sport == 0);
        CHECK(r.pi.key.dport == 8 * 256);
    }
    SECTION("port unreachable 3/3") {
        Tins::ICMP icmp(Tins::ICMP::DEST_UNREACHABLE);
        icmp.code(3);
        const auto r = run(d, LinkType::ethernet,
                           ser(Tins::EthernetII() / Tins::IP("10.0.0.2", "10.0.0.1") / icmp));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.sport == 0);
        CHECK(r.pi.key.dport == 3 * 256 + 3);
    }
}

TEST_CASE("IPv6/ICMPv6: type*256+code, traffic class, hop limit, bytes = payload + 40",
          "[decode][ipv6][icmp]") {
    Tins::IPv6 ip("2001:db8::2", "2001:db8::1");
    ip.traffic_class(0xB8);
    ip.hop_limit(33);
    Tins::ICMPv6 icmp(Tins::ICMPv6::DEST_UNREACHABLE);
    icmp.code(4);
    const Bytes frame = ser(Tins::EthernetII() / ip / icmp);
    Decoder d(0);
    const auto r = run(d, LinkType::ethernet, frame);
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(r.pi.key.ip_version == 6);
    CHECK(r.pi.key.is_v6());
    CHECK(src_of(r.pi) == "2001:db8::1");
    CHECK(dst_of(r.pi) == "2001:db8::2");
    CHECK(r.pi.key.proto == 58);
    CHECK(r.pi.key.sport == 0);
    CHECK(r.pi.key.dport == 1 * 256 + 4);
    CHECK(r.pi.key.tos == 0xB8);
    CHECK(r.pi.ttl == 33);
    CHECK(r.pi.bytes_l3 == uint32_t(frame.size() - 14));

    const auto echo = run(d, LinkType::ethernet,
                          ser(Tins::EthernetII() / Tins::IPv6("::2", "::1") /
                              Tins::ICMPv6(Tins::ICMPv6::ECHO_REQUEST)));
    REQUIRE(echo.res == DecodeResult::ok);
    CHECK(echo.pi.key.dport == 128 * 256);
}

TEST_CASE("IPv6 extension headers are walked to the upper layer", "[decode][ipv6]") {
    const Bytes data = {'d', 'a', 't', 'a'};
    // hop-by-hop (8 bytes, PadN) → routing type 0 with one address (24) → destination options
    // (16, PadN) → UDP.
    const Bytes hbh = {43, 0, 1, 4, 0, 0, 0, 0};
    const Bytes routing = cat({{60, 2, 0, 1, 0, 0, 0, 0}, addr_bytes("2001:db8::99")});
    const Bytes dstopts = cat({{17, 1, 1, 12}, Bytes(12, 0)});
    const Bytes pkt = ipv6(0, cat({hbh, routing, dstopts, udp(1111, 2222, data)}));
    Decoder d(0);
    const auto r = run(d, LinkType::ethernet, cat({eth_hdr(0x86DD), pkt, Bytes(6, 0)}));
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(r.pi.key.proto == 17);
    CHECK(r.pi.key.sport == 1111);
    CHECK(r.pi.key.dport == 2222);
    CHECK(r.pi.bytes_l3 == 40u + 8 + 24 + 16 + 12);
    CHECK(r.pi.payload_len == 4u);
    CHECK(d.counters().trunc_ipv6_ext == 0);
    CHECK(d.counters().trunc_l4 == 0);

    SECTION("an extension header cut by the capture leaves no transport") {
        Decoder d2(0);
        const Bytes frame = cat({eth_hdr(0x86DD), pkt});
        const auto cut = run(d2, LinkType::ethernet, frame, 14 + 40 + 8 + 10);
        REQUIRE(cut.res == DecodeResult::ok);
        CHECK(cut.pi.key.sport == 0);
        CHECK(cut.pi.key.dport == 0);
        CHECK(d2.counters().trunc_ipv6_ext == 1);
        CHECK(d2.counters().trunc_l4 == 1);
    }
}

TEST_CASE("IPv6 payload length 0 (jumbogram/TSO) counts 40 bytes", "[decode][ipv6]") {
    Bytes pkt = ipv6(17, udp(1, 2, {}));
    pkt[4] = pkt[5] = 0;
    Decoder d(0);
    const auto r = run(d, LinkType::raw, pkt);
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(r.pi.bytes_l3 == 40u);
    CHECK(r.pi.key.dport == 2);
    CHECK(d.counters().ipv6_jumbo == 1);
}

// =============================================================================================
// VLAN, MPLS, PPPoE
// =============================================================================================

TEST_CASE("802.1Q: vlan is the tag id, priority bits masked", "[decode][vlan]") {
    Tins::Dot1Q tag(100);
    tag.priority(5);
    const Bytes frame = ser(Tins::EthernetII() / tag / Tins::IP("10.0.0.2", "10.0.0.1") /
                            Tins::UDP(53, 1000));
    Decoder d(0);
    const auto r = run(d, LinkType::ethernet, frame);
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(r.pi.vlan == 100);
    CHECK(r.pi.key.vlan == 0);  // the cache decides whether VLAN is a key field
    CHECK(r.pi.key.sport == 1000);
    CHECK(r.pi.bytes_l3 == 28u);
}

TEST_CASE("QinQ 802.1ad + 802.1Q: vlan is the outermost id", "[decode][vlan]") {
    // libtins writes 0x88A8 as the inner TPID, so the two tags are written by hand.
    const Bytes ip = ser(Tins::IP("10.0.0.2", "10.0.0.1") / Tins::UDP(53, 1000));
    uint16_t outer_tpid = 0;
    SECTION("802.1ad 0x88A8") { outer_tpid = 0x88A8; }
    SECTION("pre-standard 0x9100") { outer_tpid = 0x9100; }
    SECTION("two 0x8100 tags") { outer_tpid = 0x8100; }
    const Bytes frame =
        cat({eth_hdr(outer_tpid), be16(0xA000 | 200), be16(0x8100), be16(100), be16(0x0800), ip});
    Decoder d(0);
    const auto r = run(d, LinkType::ethernet, frame);
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(r.pi.vlan == 200);
    CHECK(r.pi.key.dport == 53);
    CHECK(r.pi.bytes_l3 == 28u);
}

TEST_CASE("More than 8 VLAN tags is malformed", "[decode][vlan]") {
    Bytes tags;
    for (int i = 0; i < 9; ++i) tags = cat({tags, be16(uint16_t(i + 1)), be16(0x8100)});
    tags[tags.size() - 2] = 0x08;
    tags[tags.size() - 1] = 0x00;
    Decoder d(0);
    const auto r = run(d, LinkType::ethernet, cat({eth_hdr(0x8100), tags, ipv4({}, udp(1, 2, {}))}));
    CHECK(r.res == DecodeResult::malformed);
    CHECK(d.counters().vlan_too_deep == 1);
}

TEST_CASE("MPLS: label stacks are walked to the IP packet", "[decode][mpls]") {
    const Bytes inner = ser(Tins::IP("10.9.9.2", "10.9.9.1") / Tins::TCP(443, 50000));
    Decoder d(0);
    SECTION("3 labels then IPv4") {
        const Bytes frame = cat({eth_hdr(0x8847), mpls_label(100, false), mpls_label(200, false),
                                 mpls_label(300, true), inner});
        const auto r = run(d, LinkType::ethernet, frame);
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(src_of(r.pi) == "10.9.9.1");
        CHECK(r.pi.key.sport == 50000);
        CHECK(r.pi.key.dport == 443);
        CHECK(r.pi.bytes_l3 == 40u);
    }
    SECTION("multicast ethertype, 1 label, IPv6") {
        const Bytes v6 = ser(Tins::IPv6("2001:db8::2", "2001:db8::1") / Tins::UDP(53, 999));
        const auto r = run(d, LinkType::ethernet,
                           cat({eth_hdr(0x8848), mpls_label(16, true), v6}));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.ip_version == 6);
        CHECK(r.pi.key.sport == 999);
    }
    SECTION("64 labels is the deepest stack accepted") {
        Bytes stack;
        for (int i = 0; i < 64; ++i) stack = cat({stack, mpls_label(uint32_t(1000 + i), i == 63)});
        const auto r = run(d, LinkType::ethernet, cat({eth_hdr(0x8847), stack, inner}));
        CHECK(r.res == DecodeResult::ok);
        CHECK(d.counters().mpls_too_deep == 0);
    }
    SECTION("100 labels is malformed") {
        Bytes stack;
        for (int i = 0; i < 100; ++i) stack = cat({stack, mpls_label(uint32_t(1000 + i), i == 99)});
        const auto r = run(d, LinkType::ethernet, cat({eth_hdr(0x8847), stack, inner}));
        CHECK(r.res == DecodeResult::malformed);
        CHECK(d.counters().mpls_too_deep == 1);
        CHECK(d.counters().ip_packets == 0);
    }
    SECTION("a stack without bottom-of-stack bit cut by the capture is truncated") {
        const auto r = run(d, LinkType::ethernet,
                           cat({eth_hdr(0x8847), mpls_label(1, false), mpls_label(2, false)}));
        CHECK(r.res == DecodeResult::truncated);
        CHECK(d.counters().trunc_mpls == 1);
    }
    SECTION("a pseudowire control word is not IP") {
        const auto r = run(d, LinkType::ethernet,
                           cat({eth_hdr(0x8847), mpls_label(1, true), be32(0), inner}));
        CHECK(r.res == DecodeResult::not_ip);
        CHECK(d.counters().mpls_not_ip == 1);
    }
}

TEST_CASE("PPPoE session: PPP IPv4 and IPv6, other PPP protocols are not IP", "[decode][pppoe]") {
    auto pppoe = [](uint16_t ppp_proto, const Bytes& payload) {
        // RFC 2516: ver/type 0x11, code 0 (session data), session id, length (PPP part).
        return cat({eth_hdr(0x8864), {0x11, 0x00}, be16(0x1234),
                    be16(uint16_t(2 + payload.size())), be16(ppp_proto), payload});
    };
    Decoder d(0);
    SECTION("0x0021 IPv4") {
        V4 h;
        h.proto = 6;
        const auto r = run(d, LinkType::ethernet, pppoe(0x0021, ipv4(h, tcp(1234, 80, 0x02))));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.sport == 1234);
        CHECK(r.pi.key.dport == 80);
        CHECK(r.pi.tcp_flags == 0x02);
        CHECK(r.pi.bytes_l3 == 40u);
    }
    SECTION("0x0057 IPv6") {
        const auto r = run(d, LinkType::ethernet, pppoe(0x0057, ipv6(17, udp(5, 6, {}))));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.ip_version == 6);
        CHECK(r.pi.key.dport == 6);
    }
    SECTION("LCP 0xC021") {
        const auto r = run(d, LinkType::ethernet, pppoe(0xC021, Bytes(20, 1)));
        CHECK(r.res == DecodeResult::not_ip);
        CHECK(d.counters().non_ip == 1);
    }
    SECTION("cut before the PPP protocol") {
        const auto r = run(d, LinkType::ethernet, cat({eth_hdr(0x8864), {0x11, 0x00, 0x12}}));
        CHECK(r.res == DecodeResult::truncated);
        CHECK(d.counters().trunc_pppoe == 1);
    }
}

TEST_CASE("ARP is not IP and counted as non_ip", "[decode][ethernet]") {
    const Bytes frame = ser(Tins::EthernetII() / Tins::ARP("10.0.0.1", "10.0.0.2"));
    Decoder d(0);
    const auto r = run(d, LinkType::ethernet, frame);
    CHECK(r.res == DecodeResult::not_ip);
    CHECK(d.counters().non_ip == 1);
    CHECK(d.counters().frames == 1);
    CHECK(d.counters().ip_packets == 0);
    CHECK(d.counters().ip_bytes == 0);
}

// =============================================================================================
// Tunnels: the innermost IP header defines the flow
// =============================================================================================

namespace {
void check_inner_flow(const Decoded& r, const Decoder& d) {
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(src_of(r.pi) == "172.16.0.1");
    CHECK(dst_of(r.pi) == "172.16.0.2");
    CHECK(r.pi.key.proto == 17);
    CHECK(r.pi.key.sport == 6000);
    CHECK(r.pi.key.dport == 5353);
    CHECK(r.pi.key.tos == 0x10);
    CHECK(r.pi.ttl == 17);
    CHECK(r.pi.bytes_l3 == 20u + 8 + 5);  // the inner IP packet
    CHECK(r.pi.payload_len == 5u);
    CHECK(d.counters().tunnels == 1);
}

Bytes outer_ipv4(uint8_t proto, const Bytes& payload) {
    Tins::IP ip("198.51.100.2", "198.51.100.1");
    ip.protocol(proto);
    ip.ttl(200);
    return ser(Tins::EthernetII() / ip / Tins::RawPDU(payload));
}
}  // namespace

TEST_CASE("GRE carrying IPv4", "[decode][tunnel][gre]") {
    Decoder d(0);
    SECTION("plain 4-byte header") {
        check_inner_flow(run(d, LinkType::ethernet,
                             outer_ipv4(47, cat({be16(0x0000), be16(0x0800), inner_ipv4_udp()}))),
                         d);
    }
    SECTION("checksum, key and sequence option words (C+K+S)") {
        const Bytes gre = cat({be16(0xB000), be16(0x0800), be32(0xAAAA0000), be32(0x00001234),
                               be32(0x00000007)});
        check_inner_flow(run(d, LinkType::ethernet, outer_ipv4(47, cat({gre, inner_ipv4_udp()}))),
                         d);
    }
    SECTION("key only (K)") {
        const Bytes gre = cat({be16(0x2000), be16(0x0800), be32(42)});
        check_inner_flow(run(d, LinkType::ethernet, outer_ipv4(47, cat({gre, inner_ipv4_udp()}))),
                         d);
    }
    SECTION("GRE version 1 (PPTP) is not followed: the outer header is the flow") {
        const Bytes gre = cat({be16(0x3001), be16(0x880B), be16(4), be16(1), be32(1)});
        const auto r = run(d, LinkType::ethernet, outer_ipv4(47, cat({gre, inner_ipv4_udp()})));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(src_of(r.pi) == "198.51.100.1");
        CHECK(r.pi.key.proto == 47);
        CHECK(d.counters().tunnels == 0);
    }
    SECTION("inner header cut short: the outer header is the flow") {
        const Bytes inner = inner_ipv4_udp();
        const Bytes frame =
            outer_ipv4(47, cat({be16(0), be16(0x0800), Bytes(inner.begin(), inner.begin() + 12)}));
        const auto r = run(d, LinkType::ethernet, frame);
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(src_of(r.pi) == "198.51.100.1");
        CHECK(r.pi.key.proto == 47);
        CHECK(d.counters().trunc_tunnel == 1);
    }
}

TEST_CASE("GRE carrying Ethernet (0x6558)", "[decode][tunnel][gre]") {
    Decoder d(0);
    SECTION("untagged, with trailing bytes after the inner packet") {
        const Bytes frame = outer_ipv4(
            47, cat({be16(0), be16(0x6558), eth_hdr(0x0800), inner_ipv4_udp(), Bytes(10, 0)}));
        check_inner_flow(run(d, LinkType::ethernet, frame), d);
    }
    SECTION("the outer VLAN is kept, an inner tag is ignored") {
        Tins::IP outer("198.51.100.2", "198.51.100.1");
        outer.protocol(47);
        const Bytes inner_eth = cat({eth_hdr(0x8100), be16(55), be16(0x0800), inner_ipv4_udp()});
        const Bytes frame = ser(Tins::EthernetII() / Tins::Dot1Q(10) / outer /
                                Tins::RawPDU(cat({be16(0), be16(0x6558), inner_eth})));
        const auto r = run(d, LinkType::ethernet, frame);
        check_inner_flow(r, d);
        CHECK(r.pi.vlan == 10);
    }
}

TEST_CASE("VXLAN (UDP 4789) carrying Ethernet", "[decode][tunnel][vxlan]") {
    const Bytes vxlan = cat({be32(0x08000000), be32(5001u << 8)});
    const Bytes inner = cat({eth_hdr(0x0800), inner_ipv4_udp()});
    Decoder d(0);
    SECTION("port 4789 is followed") {
        const Bytes frame = ser(Tins::EthernetII() / Tins::IP("198.51.100.2", "198.51.100.1") /
                                Tins::UDP(4789, 49152) / Tins::RawPDU(cat({vxlan, inner})));
        check_inner_flow(run(d, LinkType::ethernet, frame), d);
    }
    SECTION("another port is an ordinary UDP flow") {
        const Bytes frame = ser(Tins::EthernetII() / Tins::IP("198.51.100.2", "198.51.100.1") /
                                Tins::UDP(4790, 49152) / Tins::RawPDU(cat({vxlan, inner})));
        const auto r = run(d, LinkType::ethernet, frame);
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(src_of(r.pi) == "198.51.100.1");
        CHECK(r.pi.key.dport == 4790);
        CHECK(d.counters().tunnels == 0);
    }
}

TEST_CASE("IP-in-IP (4) and 6in4 (41)", "[decode][tunnel]") {
    Decoder d(0);
    SECTION("IPv4 in IPv4") {
        check_inner_flow(run(d, LinkType::ethernet, outer_ipv4(4, inner_ipv4_udp())), d);
    }
    SECTION("IPv6 in IPv4") {
        const Bytes v6 = ser(Tins::IPv6("2001:db8::2", "2001:db8::1") / Tins::UDP(53, 1053) /
                             Tins::RawPDU("q"));
        const auto r = run(d, LinkType::ethernet, outer_ipv4(41, v6));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.ip_version == 6);
        CHECK(src_of(r.pi) == "2001:db8::1");
        CHECK(r.pi.key.proto == 17);
        CHECK(r.pi.key.sport == 1053);
        CHECK(r.pi.key.dport == 53);
        CHECK(r.pi.bytes_l3 == 40u + 9);
        CHECK(d.counters().tunnels == 1);
    }
    SECTION("IPv4 in IPv6") {
        const auto r = run(d, LinkType::raw, ipv6(4, inner_ipv4_udp()));
        check_inner_flow(r, d);
    }
}

TEST_CASE("Tunnels nested more than 16 deep stop at the 16th decapsulation", "[decode][tunnel]") {
    // 17 IP-in-IP headers around the UDP packet; header i has source 10.0.0.i (0 = outermost).
    Bytes pkt = inner_ipv4_udp();
    static const char* const kSrc[] = {"10.0.0.0",  "10.0.0.1",  "10.0.0.2",  "10.0.0.3",
                                       "10.0.0.4",  "10.0.0.5",  "10.0.0.6",  "10.0.0.7",
                                       "10.0.0.8",  "10.0.0.9",  "10.0.0.10", "10.0.0.11",
                                       "10.0.0.12", "10.0.0.13", "10.0.0.14", "10.0.0.15",
                                       "10.0.0.16"};
    for (int i = 16; i >= 0; --i) {
        V4 h;
        h.proto = 4;
        h.src = kSrc[i];
        pkt = ipv4(h, pkt);
    }
    Decoder d(0);
    const auto r = run(d, LinkType::raw, pkt);
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(src_of(r.pi) == "10.0.0.16");
    CHECK(r.pi.key.proto == 4);
    CHECK(d.counters().tunnels == 1);
    CHECK(d.counters().tunnel_too_deep == 1);

    SECTION("16 levels are followed to the end") {
        Decoder d2(0);
        const Bytes sixteen(pkt.begin() + 20, pkt.end());  // drop the outermost header
        const auto r2 = run(d2, LinkType::raw, sixteen);
        check_inner_flow(r2, d2);
        CHECK(d2.counters().tunnel_too_deep == 0);
    }
}

// =============================================================================================
// IPv4 header checks
// =============================================================================================

TEST_CASE("IPv4 options: IHL 6..15 moves the transport header", "[decode][ipv4]") {
    for (int ihl = 6; ihl <= 15; ++ihl) {
        CAPTURE(ihl);
        V4 h;
        h.options = Bytes(size_t(ihl - 5) * 4, 0x01);  // NOPs
        h.options.back() = 0x00;                          // end of options list
        const Bytes pkt = ipv4(h, udp(4000, 5000, {1, 2, 3}));
        Decoder d(0);
        const auto r = run(d, LinkType::ethernet, cat({eth_hdr(0x0800), pkt}));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.sport == 4000);
        CHECK(r.pi.key.dport == 5000);
        CHECK(r.pi.bytes_l3 == uint32_t(ihl * 4 + 11));
        CHECK(r.pi.payload_len == 3u);
    }
}

TEST_CASE("IPv4 IHL below 5 is malformed", "[decode][ipv4]") {
    for (int ihl = 0; ihl < 5; ++ihl) {
        CAPTURE(ihl);
        V4 h;
        h.ihl_words = ihl;
        Decoder d(0);
        const auto r = run(d, LinkType::ethernet, cat({eth_hdr(0x0800), ipv4(h, udp(1, 2, {}))}));
        CHECK(r.res == DecodeResult::malformed);
        CHECK(d.counters().bad_ipv4_ihl == 1);
        CHECK(d.counters().ip_packets == 0);
    }
}

TEST_CASE("IPv4 ethertype with version 6 in the header is malformed", "[decode][ipv4]") {
    Decoder d(0);
    const auto r = run(d, LinkType::ethernet, cat({eth_hdr(0x0800), ipv6(17, udp(1, 2, {}))}));
    CHECK(r.res == DecodeResult::malformed);
    CHECK(d.counters().bad_ipv4_version == 1);
}

TEST_CASE("IPv4 total length below the header length is counted as is", "[decode][ipv4]") {
    for (int total : {0, 10, 19}) {
        CAPTURE(total);
        V4 h;
        h.total_length = total;
        Decoder d(0);
        const auto r = run(d, LinkType::ethernet, cat({eth_hdr(0x0800), ipv4(h, udp(7, 9, {}))}));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.bytes_l3 == uint32_t(total));
        CHECK(d.counters().bad_ipv4_total_length == 1);
        CHECK(d.counters().ip_packets == 1);
    }
}

namespace {
// The 60-byte frame the truncation tests cut: Ethernet (14) IPv4 (20) TCP (20) padding (6).
Bytes tcp_frame() {
    Tins::TCP t(443, 51000);
    t.flags(Tins::TCP::PSH | Tins::TCP::ACK);
    return ser(Tins::EthernetII() / Tins::IP("10.0.0.2", "10.0.0.1") / t);
}
constexpr size_t kIpStart = 14;
constexpr size_t kL4Start = 34;
constexpr size_t kL4End = 54;
}  // namespace

TEST_CASE("A TCP/IPv4 frame cut at every length never crashes or reads past the capture",
          "[decode][truncated]") {
    const Bytes frame = tcp_frame();
    REQUIRE(frame.size() == 60);
    for (size_t len = 0; len <= frame.size(); ++len) {
        CAPTURE(len);
        Decoder d(0);
        const auto r = run(d, LinkType::ethernet, frame, len);
        const auto& c = d.counters();
        if (len < kIpStart) {
            CHECK(r.res == DecodeResult::truncated);
            CHECK(c.trunc_link == 1);
            continue;
        }
        if (len < kL4Start) {
            CHECK(r.res == DecodeResult::truncated);
            CHECK(c.trunc_ipv4 == 1);
            CHECK(c.ip_packets == 0);
            continue;
        }
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.bytes_l3 == 40u);  // the declared length, whatever was captured
        CHECK(src_of(r.pi) == "10.0.0.1");
        CHECK(r.pi.key.proto == 6);
        if (len < kL4Start + 4) {
            CHECK(r.pi.key.sport == 0);
            CHECK(r.pi.key.dport == 0);
            CHECK(r.pi.tcp_flags == 0);
            CHECK(c.trunc_l4 == 1);
        } else if (len >= kL4End) {
            CHECK(r.pi.key.sport == 51000);
            CHECK(r.pi.key.dport == 443);
            CHECK(r.pi.tcp_flags == 0x18);
            CHECK(c.trunc_l4 == 0);
        } else {
            // Partly captured transport header: the ports are either unknown or right.
            const bool none = r.pi.key.sport == 0 && r.pi.key.dport == 0;
            const bool right = r.pi.key.sport == 51000 && r.pi.key.dport == 443;
            CHECK((none || right));
        }
    }
}

// The contract of the trunc_l4 counter, as in the flow definition (truth.py): the ports need the
// first 4 bytes of the transport header, the TCP flags its 14th byte. A header cut before the
// ports gives ports 0; cut after the ports but before the flags, ports but no flags; both count
// trunc_l4. Once the flags byte is in, the rest of the header is not needed for the flow.
TEST_CASE("A cut TCP header keeps what it has: ports from 4 bytes, flags from 14", "[decode][truncated]") {
    const Bytes frame = tcp_frame();
    for (size_t len = kL4Start; len < kL4End; ++len) {
        CAPTURE(len);
        Decoder d(0);
        const auto r = run(d, LinkType::ethernet, frame, len);
        REQUIRE(r.res == DecodeResult::ok);
        const size_t have = len - kL4Start;
        if (have < 4) {
            CHECK(r.pi.key.sport == 0);
            CHECK(r.pi.key.dport == 0);
        } else {
            CHECK(r.pi.key.sport == 51000);
            CHECK(r.pi.key.dport == 443);
        }
        if (have < 14) {
            CHECK(r.pi.tcp_flags == 0);
            CHECK(d.counters().trunc_l4 == 1);
        } else {
            CHECK(r.pi.tcp_flags != 0);
            CHECK(d.counters().trunc_l4 == 0);
        }
    }
}

TEST_CASE("Every prefix of every crafted frame decodes within bounds", "[decode][truncated]") {
    const Bytes inner = inner_ipv4_udp();
    const Bytes v6 = ser(Tins::IPv6("2001:db8::2", "2001:db8::1") / Tins::TCP(80, 1234));
    const Bytes v6ext = ipv6(0, cat({{44, 0, 0, 0, 0, 0, 0, 0}, {17, 0, 0x00, 0x01}, be32(9),
                                     udp(1, 2, {3})}));
    struct Case {
        const char* name;
        LinkType link;
        Bytes frame;
    };
    const std::vector<Case> cases = {
        {"vlan", LinkType::ethernet,
         ser(Tins::EthernetII() / Tins::Dot1Q(7) / Tins::IP("1.1.1.1", "2.2.2.2") / Tins::TCP(1, 2))},
        {"mpls", LinkType::ethernet,
         cat({eth_hdr(0x8847), mpls_label(1, false), mpls_label(2, true), inner})},
        {"gre cks", LinkType::ethernet,
         outer_ipv4(47, cat({be16(0xB000), be16(0x0800), be32(0), be32(1), be32(2), inner}))},
        {"gre eth", LinkType::ethernet,
         outer_ipv4(47, cat({be16(0), be16(0x6558), eth_hdr(0x0800), inner}))},
        {"vxlan", LinkType::ethernet,
         ser(Tins::EthernetII() / Tins::IP("9.9.9.9", "8.8.8.8") / Tins::UDP(4789, 1) /
             Tins::RawPDU(cat({be32(0x08000000), be32(0x100), eth_hdr(0x0800), inner})))},
        {"6in4", LinkType::ethernet, outer_ipv4(41, v6)},
        {"ipv6 frag ext", LinkType::raw, v6ext},
        {"pppoe", LinkType::ethernet,
         cat({eth_hdr(0x8864), {0x11, 0, 0, 1}, be16(uint16_t(inner.size() + 2)), be16(0x21), inner})},
        {"sll", LinkType::linux_sll, cat({Bytes(14, 0), be16(0x0800), inner})},
        {"sll2", LinkType::linux_sll2, cat({be16(0x86DD), Bytes(18, 0), v6})},
        {"null", LinkType::null_host, cat({le32(2), inner})},
        {"loop", LinkType::loop, cat({be32(30), v6})},
        {"ipv4", LinkType::ipv4, inner},
        {"ipv6", LinkType::ipv6, v6},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        Decoder d(0);
        // The whole frame decodes to IP; every prefix stays within bounds (ASan watches).
        REQUIRE(run(d, c.link, c.frame).res == DecodeResult::ok);
        for (size_t len = 0; len < c.frame.size(); ++len) run(d, c.link, c.frame, len);
        CHECK(d.counters().frames == c.frame.size() + 1);
    }
}

// =============================================================================================
// Fragments
// =============================================================================================

TEST_CASE("IPv4 fragments: later fragments get the first fragment's ports", "[decode][fragment]") {
    Decoder d(0);
    V4 first;
    first.id = 77;
    first.frag = 0x2000;  // MF, offset 0
    const auto r1 = run(d, LinkType::ethernet,
                        cat({eth_hdr(0x0800), ipv4(first, udp(1000, 2000, Bytes(16, 0x55)))}));
    REQUIRE(r1.res == DecodeResult::ok);
    CHECK(r1.pi.key.sport == 1000);
    CHECK(r1.pi.key.dport == 2000);
    CHECK(d.counters().frag_first == 1);

    V4 later = first;
    later.frag = 3;  // offset 24 bytes, last fragment; its payload starts with bytes that are not ports
    const auto r2 =
        run(d, LinkType::ethernet, cat({eth_hdr(0x0800), ipv4(later, Bytes(16, 0xAB))}));
    REQUIRE(r2.res == DecodeResult::ok);
    CHECK(r2.pi.key.proto == 17);
    CHECK(r2.pi.key.sport == 1000);
    CHECK(r2.pi.key.dport == 2000);
    CHECK(r2.pi.bytes_l3 == 36u);
    CHECK(r2.pi.payload == nullptr);
    CHECK(d.counters().frag_later == 1);
    CHECK(d.counters().frag_unmatched == 0);

    SECTION("an unmatched later fragment has ports 0") {
        V4 other = later;
        other.id = 78;
        const auto r3 =
            run(d, LinkType::ethernet, cat({eth_hdr(0x0800), ipv4(other, Bytes(16, 0xAB))}));
        REQUIRE(r3.res == DecodeResult::ok);
        CHECK(r3.pi.key.sport == 0);
        CHECK(r3.pi.key.dport == 0);
        CHECK(d.counters().frag_unmatched == 1);
    }
    SECTION("the same IP id from another source does not match") {
        V4 other = later;
        other.src = "10.0.0.3";
        const auto r3 =
            run(d, LinkType::ethernet, cat({eth_hdr(0x0800), ipv4(other, Bytes(16, 0xAB))}));
        REQUIRE(r3.res == DecodeResult::ok);
        CHECK(r3.pi.key.sport == 0);
        CHECK(d.counters().frag_unmatched == 1);
    }
}

TEST_CASE("IPv6 fragment header: later fragments get the first fragment's ports",
          "[decode][fragment][ipv6]") {
    auto frag_hdr = [](uint8_t next, uint16_t offset_units, bool more, uint32_t id) {
        return cat({{next, 0}, be16(uint16_t(offset_units << 3 | (more ? 1 : 0))), be32(id)});
    };
    Decoder d(0);
    const auto r1 = run(d, LinkType::raw,
                        ipv6(44, cat({frag_hdr(17, 0, true, 0x12345678), udp(3000, 4000, Bytes(24, 1))})));
    REQUIRE(r1.res == DecodeResult::ok);
    CHECK(r1.pi.key.proto == 17);
    CHECK(r1.pi.key.sport == 3000);
    CHECK(r1.pi.key.dport == 4000);
    CHECK(d.counters().frag_first == 1);

    const auto r2 =
        run(d, LinkType::raw, ipv6(44, cat({frag_hdr(17, 4, false, 0x12345678), Bytes(16, 0xCD)})));
    REQUIRE(r2.res == DecodeResult::ok);
    CHECK(r2.pi.key.proto == 17);
    CHECK(r2.pi.key.sport == 3000);
    CHECK(r2.pi.key.dport == 4000);
    CHECK(r2.pi.bytes_l3 == 40u + 8 + 16);
    CHECK(d.counters().frag_later == 1);
    CHECK(d.counters().frag_unmatched == 0);

    const auto r3 =
        run(d, LinkType::raw, ipv6(44, cat({frag_hdr(17, 4, false, 0x12345679), Bytes(16, 0xCD)})));
    REQUIRE(r3.res == DecodeResult::ok);
    CHECK(r3.pi.key.proto == 17);
    CHECK(r3.pi.key.sport == 0);
    CHECK(r3.pi.key.dport == 0);
    CHECK(d.counters().frag_unmatched == 1);
}

// =============================================================================================
// Link layers other than Ethernet
// =============================================================================================

TEST_CASE("Linux cooked capture SLL (protocol at offset 14) and SLL2 (offset 0)",
          "[decode][link]") {
    const Bytes v4 = inner_ipv4_udp();
    const Bytes v6 = ser(Tins::IPv6("2001:db8::2", "2001:db8::1") / Tins::TCP(80, 1234));
    // SLL: packet type, ARPHRD, address length, 8-byte address, protocol.
    auto sll = [](uint16_t proto, const Bytes& payload) {
        return cat({be16(0), be16(1), be16(6), {0, 1, 2, 3, 4, 5, 0, 0}, be16(proto), payload});
    };
    // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address length, 8-byte address.
    auto sll2 = [](uint16_t proto, const Bytes& payload) {
        return cat({be16(proto), be16(0), be32(3), be16(1), {0, 6}, {0, 1, 2, 3, 4, 5, 0, 0},
                    payload});
    };
    Decoder d(0);
    SECTION("SLL IPv4") {
        const auto r = run(d, LinkType::linux_sll, sll(0x0800, v4));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.sport == 6000);
    }
    SECTION("SLL 802.1Q IPv6") {
        const auto r = run(d, LinkType::linux_sll, sll(0x8100, cat({be16(42), be16(0x86DD), v6})));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.vlan == 42);
        CHECK(r.pi.key.dport == 80);
    }
    SECTION("SLL ARP") {
        CHECK(run(d, LinkType::linux_sll, sll(0x0806, Bytes(28, 0))).res == DecodeResult::not_ip);
        CHECK(d.counters().non_ip == 1);
    }
    SECTION("SLL2 IPv6") {
        const Bytes frame = sll2(0x86DD, v6);
        REQUIRE(frame.size() == 20 + v6.size());
        const auto r = run(d, LinkType::linux_sll2, frame);
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.ip_version == 6);
        CHECK(r.pi.key.sport == 1234);
    }
    SECTION("SLL2 IPv4") {
        const auto r = run(d, LinkType::linux_sll2, sll2(0x0800, v4));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.dport == 5353);
    }
    SECTION("headers cut short") {
        CHECK(run(d, LinkType::linux_sll, sll(0x0800, {}), 15).res == DecodeResult::truncated);
        CHECK(run(d, LinkType::linux_sll2, sll2(0x0800, {}), 19).res == DecodeResult::truncated);
        CHECK(d.counters().trunc_link == 2);
    }
}

TEST_CASE("BSD null: address family in either byte order", "[decode][link]") {
    const Bytes v4 = inner_ipv4_udp();
    const Bytes v6 = ser(Tins::IPv6("2001:db8::2", "2001:db8::1") / Tins::UDP(53, 1234));
    Decoder d(0);
    SECTION("AF_INET 2, little-endian host") {
        const auto r = run(d, LinkType::null_host, cat({le32(2), v4}));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.ip_version == 4);
        CHECK(r.pi.key.sport == 6000);
    }
    SECTION("AF_INET 2, big-endian host") {
        const auto r = run(d, LinkType::null_host, cat({be32(2), v4}));
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.ip_version == 4);
    }
    for (uint32_t af : {10u, 24u, 28u, 30u}) {
        DYNAMIC_SECTION("AF_INET6 " << af) {
            for (bool big : {false, true}) {
                CAPTURE(big);
                const auto r = run(d, LinkType::null_host, cat({big ? be32(af) : le32(af), v6}));
                REQUIRE(r.res == DecodeResult::ok);
                CHECK(r.pi.key.ip_version == 6);
                CHECK(r.pi.key.sport == 1234);
            }
        }
    }
    SECTION("another family is not IP") {
        CHECK(run(d, LinkType::null_host, cat({le32(7), v4})).res == DecodeResult::not_ip);
        CHECK(d.counters().non_ip == 1);
    }
    SECTION("cut inside the family") {
        CHECK(run(d, LinkType::null_host, {2, 0, 0}).res == DecodeResult::truncated);
        CHECK(d.counters().trunc_link == 1);
    }
}

TEST_CASE("DLT_LOOP: address family in network order", "[decode][link]") {
    const Bytes v4 = inner_ipv4_udp();
    const Bytes v6 = ser(Tins::IPv6("2001:db8::2", "2001:db8::1") / Tins::UDP(53, 1234));
    Decoder d(0);
    auto r = run(d, LinkType::loop, cat({be32(2), v4}));
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(r.pi.key.ip_version == 4);
    r = run(d, LinkType::loop, cat({be32(24), v6}));
    REQUIRE(r.res == DecodeResult::ok);
    CHECK(r.pi.key.ip_version == 6);
    // Host order is not DLT_LOOP's encoding.
    CHECK(run(d, LinkType::loop, cat({le32(2), v4})).res == DecodeResult::not_ip);
}

TEST_CASE("Raw IP link types", "[decode][link]") {
    const Bytes v4 = inner_ipv4_udp();
    const Bytes v6 = ser(Tins::IPv6("2001:db8::2", "2001:db8::1") / Tins::UDP(53, 1234));
    Decoder d(0);
    SECTION("raw: version nibble decides") {
        auto r = run(d, LinkType::raw, v4);
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.ip_version == 4);
        CHECK(r.pi.bytes_l3 == uint32_t(v4.size()));
        r = run(d, LinkType::raw, v6);
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.ip_version == 6);
        CHECK(run(d, LinkType::raw, Bytes{0x50, 0, 0, 0}).res == DecodeResult::not_ip);
        CHECK(run(d, LinkType::raw, Bytes{}).res == DecodeResult::truncated);
    }
    SECTION("ipv4 and ipv6 link types") {
        auto r = run(d, LinkType::ipv4, v4);
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.dport == 5353);
        r = run(d, LinkType::ipv6, v6);
        REQUIRE(r.res == DecodeResult::ok);
        CHECK(r.pi.key.dport == 53);
        // The link type says IPv6, the header says otherwise.
        CHECK(run(d, LinkType::ipv6, v4).res != DecodeResult::ok);
    }
}

TEST_CASE("link_type_from_dlt maps the supported link types", "[decode][link]") {
    CHECK(link_type_from_dlt(1) == LinkType::ethernet);     // DLT_EN10MB
    CHECK(link_type_from_dlt(0) == LinkType::null_host);    // DLT_NULL
    CHECK(link_type_from_dlt(108) == LinkType::loop);       // DLT_LOOP
    CHECK(link_type_from_dlt(12) == LinkType::raw);         // DLT_RAW (Linux)
    CHECK(link_type_from_dlt(101) == LinkType::raw);        // LINKTYPE_RAW in files
    CHECK(link_type_from_dlt(228) == LinkType::ipv4);       // LINKTYPE_IPV4
    CHECK(link_type_from_dlt(229) == LinkType::ipv6);       // LINKTYPE_IPV6
    CHECK(link_type_from_dlt(113) == LinkType::linux_sll);  // LINKTYPE_LINUX_SLL
    CHECK(link_type_from_dlt(276) == LinkType::linux_sll2); // LINKTYPE_LINUX_SLL2
    CHECK_FALSE(link_type_from_dlt(195).has_value());       // IEEE 802.15.4
    CHECK_FALSE(link_type_from_dlt(105).has_value());       // 802.11
    CHECK_FALSE(link_type_from_dlt(127).has_value());       // radiotap
    CHECK_FALSE(link_type_from_dlt(-1).has_value());
}
