#include "probe/net/decode.hpp"

#include <arpa/inet.h>
#include <pcap/dlt.h>

#include <algorithm>
#include <cstring>

#include "probe/net/byte_reader.hpp"

namespace tapflow {

namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86DD;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88A8;
constexpr uint16_t kEtherQinQOld = 0x9100;
constexpr uint16_t kEtherMplsUc = 0x8847;
constexpr uint16_t kEtherMplsMc = 0x8848;
constexpr uint16_t kEtherPppoeSession = 0x8864;
constexpr uint16_t kEtherTransparentBridging = 0x6558;  // GRE carrying Ethernet
constexpr uint16_t kVxlanPort = 4789;                     // RFC 7348
constexpr int kMaxVlanTags = 8;
constexpr int kMaxMplsLabels = 64;
constexpr int kMaxIpv6ExtHeaders = 32;
constexpr int kMaxTunnelDepth = 16;

bool is_vlan(uint16_t et) { return et == kEtherVlan || et == kEtherQinQ || et == kEtherQinQOld; }

}  // namespace

std::optional<LinkType> link_type_from_dlt(int dlt) {
    switch (dlt) {
        case DLT_EN10MB: return LinkType::ethernet;
        case DLT_NULL: return LinkType::null_host;
        case DLT_LOOP: return LinkType::loop;
        case DLT_RAW:  // 12 (14 on OpenBSD)
        case 101:      // LINKTYPE_RAW as stored in files
            return LinkType::raw;
#ifdef DLT_IPV4
        case DLT_IPV4: return LinkType::ipv4;
#endif
#ifdef DLT_IPV6
        case DLT_IPV6: return LinkType::ipv6;
#endif
        case DLT_LINUX_SLL: return LinkType::linux_sll;
#ifdef DLT_LINUX_SLL2
        case DLT_LINUX_SLL2: return LinkType::linux_sll2;
#endif
        default: return std::nullopt;
    }
}

DecodeResult Decoder::link_layer(LinkType link, const uint8_t* d, uint32_t len, L3& l3) {
    ByteReader r(d, len);
    l3 = L3{0, 0, 0};
    switch (link) {
        case LinkType::ethernet: return ethernet(d, len, 0, l3, true);
        case LinkType::null_host:
        case LinkType::loop: {
            // 4-byte address family: host order for DLT_NULL (either byte order seen in files
            // written on another host), network order for DLT_LOOP.
            uint32_t af = r.peek<uint32_t>(0);
            if (!r.ok()) {
                ++c_.trunc_link;
                return DecodeResult::truncated;
            }
            if (link == LinkType::null_host) {
                uint32_t le = __builtin_bswap32(af);
                af = le > 0xFFFF ? af : le;
            }
            if (af == 2) {
                l3 = L3{4, 4, 0};
                return DecodeResult::ok;
            }
            // AF_INET6 differs per OS: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30 (+23, 26)
            if (af == 10 || af == 23 || af == 24 || af == 26 || af == 28 || af == 30) {
                l3 = L3{6, 4, 0};
                return DecodeResult::ok;
            }
            ++c_.non_ip;
            return DecodeResult::not_ip;
        }
        case LinkType::raw: {
            uint8_t v = r.peek<uint8_t>(0);
            if (!r.ok()) {
                ++c_.trunc_link;
                return DecodeResult::truncated;
            }
            v >>= 4;
            if (v != 4 && v != 6) {
                ++c_.non_ip;
                return DecodeResult::not_ip;
            }
            l3 = L3{v, 0, 0};
            return DecodeResult::ok;
        }
        case LinkType::ipv4: l3 = L3{4, 0, 0}; return DecodeResult::ok;
        case LinkType::ipv6: l3 = L3{6, 0, 0}; return DecodeResult::ok;
        case LinkType::linux_sll: {
            uint16_t proto = r.peek<uint16_t>(14);  // 16-byte header, protocol last
            if (!r.ok()) {
                ++c_.trunc_link;
                return DecodeResult::truncated;
            }
            return ethertype(d, len, proto, 16, l3, true);
        }
        case LinkType::linux_sll2: {
            uint16_t proto = r.peek<uint16_t>(0);  // 20-byte header, protocol first
            if (!r.ok() || len < 20) {
                ++c_.trunc_link;
                return DecodeResult::truncated;
            }
            return ethertype(d, len, proto, 20, l3, true);
        }
    }
    ++c_.non_ip;
    return DecodeResult::not_ip;
}

DecodeResult Decoder::ethernet(const uint8_t* d, uint32_t len, uint32_t off, L3& l3, bool outer) {
    ByteReader r(d, len);
    uint16_t et = r.peek<uint16_t>(off + 12);
    if (!r.ok()) {
        if (outer) ++c_.trunc_link;
        return DecodeResult::truncated;
    }
    return ethertype(d, len, et, off + 14, l3, outer);
}

DecodeResult Decoder::ethertype(const uint8_t* d, uint32_t len, uint16_t et, uint32_t off, L3& l3,
                                bool outer) {
    ByteReader r(d, len);
    bool first_tag = true;
    int tags = 0;
    while (is_vlan(et)) {
        if (++tags > kMaxVlanTags) {
            if (outer) ++c_.vlan_too_deep;
            return DecodeResult::malformed;
        }
        uint16_t tci = r.peek<uint16_t>(off);
        uint16_t next = r.peek<uint16_t>(off + 2);
        if (!r.ok()) {
            if (outer) ++c_.trunc_vlan;
            return DecodeResult::truncated;
        }
        if (first_tag && outer) l3.vlan = tci & 0x0FFF;
        first_tag = false;
        et = next;
        off += 4;
    }
    switch (et) {
        case kEtherIpv4: l3.version = 4; l3.off = off; return DecodeResult::ok;
        case kEtherIpv6: l3.version = 6; l3.off = off; return DecodeResult::ok;
        case kEtherMplsUc:
        case kEtherMplsMc: return mpls(d, len, off, l3, outer);
        case kEtherPppoeSession: {
            // RFC 2516: 6-byte PPPoE header, then the 2-byte PPP protocol.
            uint16_t ppp = r.peek<uint16_t>(off + 6);
            if (!r.ok()) {
                if (outer) ++c_.trunc_pppoe;
                return DecodeResult::truncated;
            }
            if (ppp == 0x0021) { l3.version = 4; l3.off = off + 8; return DecodeResult::ok; }
            if (ppp == 0x0057) { l3.version = 6; l3.off = off + 8; return DecodeResult::ok; }
            break;
        }
        default: break;
    }
    if (outer) ++c_.non_ip;
    return DecodeResult::not_ip;
}

DecodeResult Decoder::mpls(const uint8_t* d, uint32_t len, uint32_t off, L3& l3, bool outer) {
    ByteReader r(d, len);
    for (int i = 0;; ++i) {
        if (i >= kMaxMplsLabels) {
            if (outer) ++c_.mpls_too_deep;
            return DecodeResult::malformed;
        }
        uint32_t label = r.peek<uint32_t>(off);
        if (!r.ok()) {
            if (outer) ++c_.trunc_mpls;
            return DecodeResult::truncated;
        }
        off += 4;
        if (label & 0x100) break;  // bottom of stack
    }
    // No payload type in MPLS: IPv4/IPv6 by the version nibble (RFC 4385 control words start with 0).
    uint8_t v = r.peek<uint8_t>(off);
    if (!r.ok()) {
        if (outer) ++c_.trunc_mpls;
        return DecodeResult::truncated;
    }
    v >>= 4;
    if (v != 4 && v != 6) {
        if (outer) ++c_.mpls_not_ip;
        return DecodeResult::not_ip;
    }
    l3.version = v;
    l3.off = off;
    return DecodeResult::ok;
}

DecodeResult Decoder::ip_header(const uint8_t* d, uint32_t len, uint8_t version, uint32_t off,
                                IpHeader& ip, bool count) {
    ByteReader r(d, len);
    if (version == 4) {
        uint8_t vihl = r.peek<uint8_t>(off);
        r.peek<uint32_t>(off + 16);  // whole 20-byte fixed header present?
        if (!r.ok()) {
            if (count) ++c_.trunc_ipv4;
            return DecodeResult::truncated;
        }
        if ((vihl >> 4) != 4) {
            if (count) ++c_.bad_ipv4_version;
            return DecodeResult::malformed;
        }
        uint32_t ihl = (vihl & 0x0F) * 4u;
        if (ihl < 20) {
            if (count) ++c_.bad_ipv4_ihl;
            return DecodeResult::malformed;
        }
        uint16_t total = r.peek<uint16_t>(off + 2);
        uint16_t frag = r.peek<uint16_t>(off + 6);
        ip.version = 4;
        ip.tos = r.peek<uint8_t>(off + 1);
        ip.ttl = r.peek<uint8_t>(off + 8);
        ip.proto = r.peek<uint8_t>(off + 9);
        ip.frag_id = r.peek<uint16_t>(off + 4);
        ip.bytes = total;
        ip.fragment = (frag & 0x3FFF) != 0;   // MF or offset
        ip.first = (frag & 0x1FFF) == 0;
        ip.src = d + off + 12;
        ip.dst = d + off + 16;
        ip.l4 = off + ihl;
        if (total >= ihl) {
            ip.end = static_cast<uint32_t>(std::min<uint64_t>(len, uint64_t(off) + total));
        } else {
            // Total length cannot be right (TSO captures write 0): keep the captured bytes.
            if (count) ++c_.bad_ipv4_total_length;
            ip.end = len;
        }
        if (ip.l4 > ip.end) ip.l4 = ip.end;  // options cut: transport absent
        return DecodeResult::ok;
    }
    // IPv6 (RFC 8200)
    uint8_t vtc = r.peek<uint8_t>(off);
    r.peek<uint64_t>(off + 32);  // whole 40-byte fixed header present?
    if (!r.ok()) {
        if (count) ++c_.trunc_ipv6;
        return DecodeResult::truncated;
    }
    if ((vtc >> 4) != 6) {
        if (count) ++c_.bad_ipv6_version;
        return DecodeResult::malformed;
    }
    uint16_t plen = r.peek<uint16_t>(off + 4);
    ip.version = 6;
    ip.tos = static_cast<uint8_t>(((vtc & 0x0F) << 4) | (r.peek<uint8_t>(off + 1) >> 4));
    ip.ttl = r.peek<uint8_t>(off + 7);
    ip.bytes = uint32_t(plen) + 40;
    ip.src = d + off + 8;
    ip.dst = d + off + 24;
    ip.fragment = false;
    ip.first = true;
    ip.frag_id = 0;
    if (plen == 0) {
        if (count) ++c_.ipv6_jumbo;
        ip.end = len;
    } else {
        ip.end = static_cast<uint32_t>(std::min<uint64_t>(len, uint64_t(off) + 40 + plen));
    }
    ByteReader x(d, ip.end);
    uint8_t nh = r.peek<uint8_t>(off + 6);
    uint32_t o = off + 40;
    for (int n = 0;; ++n) {
        // Walked: hop-by-hop 0, routing 43, destination options 60, AH 51, fragment 44.
        if (nh != 0 && nh != 43 && nh != 60 && nh != 51 && nh != 44) break;
        if (n >= kMaxIpv6ExtHeaders) {
            if (count) ++c_.ipv6_ext_too_deep;
            o = kNoL4;
            break;
        }
        uint8_t next = x.peek<uint8_t>(o);
        uint8_t hlen = x.peek<uint8_t>(o + 1);
        x.peek<uint32_t>(o + 4);  // every extension header is at least 8 bytes
        if (!x.ok()) {
            if (count) ++c_.trunc_ipv6_ext;
            o = kNoL4;
            break;
        }
        if (nh == 44) {
            uint16_t off_flags = x.peek<uint16_t>(o + 2);
            ip.frag_id = x.peek<uint32_t>(o + 4);
            ip.fragment = true;
            ip.first = (off_flags & 0xFFF8) == 0;
            nh = next;
            o += 8;
            if (!ip.first) break;  // a later fragment: no headers follow in this packet
            continue;
        }
        uint32_t ext_len = nh == 51 ? (uint32_t(hlen) + 2) * 4 : (uint32_t(hlen) + 1) * 8;
        nh = next;
        o += ext_len;
    }
    ip.proto = nh;
    ip.l4 = (o == kNoL4 || o > ip.end) ? kNoL4 : o;
    if (o != kNoL4 && o > ip.end && count) ++c_.trunc_ipv6_ext;
    return DecodeResult::ok;
}

bool Decoder::tunnel_inner(const uint8_t* d, const IpHeader& ip, L3& inner) {
    if (!ip.first || ip.l4 == kNoL4) return false;  // never follow into a later fragment
    ByteReader r(d, ip.end);
    uint32_t o = ip.l4;
    inner = L3{0, 0, 0};
    switch (ip.proto) {
        case 4: inner = L3{4, o, 0}; return true;   // IPv4 in IP (RFC 2003)
        case 41: inner = L3{6, o, 0}; return true;  // IPv6 in IP (6in4, RFC 4213)
        case 47: {                                  // GRE (RFC 2784/2890)
            uint16_t flags = r.peek<uint16_t>(o);
            uint16_t proto = r.peek<uint16_t>(o + 2);
            if (!r.ok()) {
                ++c_.trunc_tunnel;
                return false;
            }
            if (flags & 0x7) return false;  // version 1 (PPTP) is not followed
            o += 4 + ((flags & 0x8000) ? 4 : 0) + ((flags & 0x2000) ? 4 : 0) +
                 ((flags & 0x1000) ? 4 : 0);
            if (proto == kEtherIpv4) { inner = L3{4, o, 0}; return true; }
            if (proto == kEtherIpv6) { inner = L3{6, o, 0}; return true; }
            if (proto == kEtherTransparentBridging)
                return ethernet(d, ip.end, o, inner, false) == DecodeResult::ok;
            if (proto == kEtherMplsUc || proto == kEtherMplsMc)
                return mpls(d, ip.end, o, inner, false) == DecodeResult::ok;
            return false;
        }
        case 17: {  // VXLAN: UDP destination port 4789, 8-byte header, then Ethernet
            uint16_t dport = r.peek<uint16_t>(o + 2);
            r.peek<uint32_t>(o + 4);
            if (!r.ok() || dport != kVxlanPort) return false;
            return ethernet(d, ip.end, o + 16, inner, false) == DecodeResult::ok;
        }
        default: return false;
    }
}

DecodeResult Decoder::decode(LinkType link, const uint8_t* d, uint32_t len, PacketInfo& out) {
    ++c_.frames;
    L3 l3;
    DecodeResult res = link_layer(link, d, len, l3);
    if (res != DecodeResult::ok) return res;
    IpHeader ip;
    res = ip_header(d, len, l3.version, l3.off, ip, true);
    if (res != DecodeResult::ok) return res;

    // Tunnels: the innermost IP header defines the flow (DESIGN.md). A tunnel whose inner
    // packet is not a complete IP header leaves the outer header as the flow.
    int depth = 0;
    for (; depth < kMaxTunnelDepth; ++depth) {
        L3 inner;
        if (!tunnel_inner(d, ip, inner)) break;
        IpHeader next;
        if (ip_header(d, ip.end, inner.version, inner.off, next, false) != DecodeResult::ok) {
            ++c_.trunc_tunnel;
            break;
        }
        ip = next;
    }
    if (depth > 0) ++c_.tunnels;
    if (depth == kMaxTunnelDepth) {
        L3 inner;
        if (tunnel_inner(d, ip, inner)) ++c_.tunnel_too_deep;
    }

    FlowKey& k = out.key;
    k = FlowKey{};
    const uint8_t alen = ip.version == 4 ? 4 : 16;
    std::memcpy(k.src.data(), ip.src, alen);
    std::memcpy(k.dst.data(), ip.dst, alen);
    k.ip_version = ip.version;
    k.proto = ip.proto;
    k.tos = ip.tos;
    k.ifindex = ifindex_;
    out.vlan = l3.vlan;
    out.bytes_l3 = ip.bytes;
    out.ttl = ip.ttl;
    out.tcp_flags = 0;
    out.tcp_seq = 0;
    out.payload = nullptr;
    out.payload_len = 0;

    if (ip.first && ip.l4 != kNoL4) {
        ByteReader r(d, ip.end);
        const uint32_t o = ip.l4;
        switch (ip.proto) {
            case 6:    // TCP
            case 17:   // UDP
            case 132:  // SCTP
            case 136:  // UDP-Lite
            {
                uint16_t sp = r.peek<uint16_t>(o);
                uint16_t dp = r.peek<uint16_t>(o + 2);
                if (!r.ok()) {
                    ++c_.trunc_l4;
                    break;
                }
                k.sport = sp;
                k.dport = dp;
                uint32_t hdr = 8;
                if (ip.proto == 6) {
                    uint8_t flags = r.peek<uint8_t>(o + 13);
                    uint8_t doff = r.peek<uint8_t>(o + 12);
                    if (!r.ok()) {
                        ++c_.trunc_l4;
                        break;
                    }
                    out.tcp_flags = flags;
                    out.tcp_seq = r.peek<uint32_t>(o + 4);
                    hdr = (doff >> 4) * 4u;
                } else if (ip.proto == 132) {
                    hdr = 12;
                }
                if (hdr >= 8 && o + hdr <= ip.end) {
                    out.payload = d + o + hdr;
                    out.payload_len = ip.end - (o + hdr);
                }
                break;
            }
            case 1:    // ICMP
            case 58: { // ICMPv6: NetFlow convention, dport = type*256 + code
                uint16_t tc = r.peek<uint16_t>(o);
                if (!r.ok()) {
                    ++c_.trunc_l4;
                    break;
                }
                k.dport = tc;
                break;
            }
            default: break;
        }
    } else if (ip.first && ip.l4 == kNoL4) {
        ++c_.trunc_l4;
    }

    if (ip.fragment) {
        if (ip.first) {
            ++c_.frag_first;
            frags_.put(ip.src, ip.dst, alen, ip.proto, ip.frag_id, k.sport, k.dport);
        } else {
            ++c_.frag_later;
            if (!frags_.get(ip.src, ip.dst, alen, ip.proto, ip.frag_id, k.sport, k.dport))
                ++c_.frag_unmatched;
        }
    }
    ++c_.ip_packets;
    c_.ip_bytes += ip.bytes;
    return DecodeResult::ok;
}

std::string format_ip(const std::array<uint8_t, 16>& a, bool v6) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(v6 ? AF_INET6 : AF_INET, a.data(), buf, sizeof buf);
    return buf;
}

}  // namespace tapflow
