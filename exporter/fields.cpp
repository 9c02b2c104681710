#include <cstring>

#include "dpi/l7.hpp"
#include "exporter/encoder.hpp"

namespace tapflow {

namespace {
uint64_t uptime_ms(uint64_t t_ns, uint64_t boot_ms) {
    const uint64_t ms = t_ns / 1'000'000;
    return ms > boot_ms ? (ms - boot_ms) & 0xFFFFFFFFu : 0;  // 32-bit, wraps after 49.7 days
}
}  // namespace

uint64_t field_value(Ie ie, const FlowRecord& r, uint64_t boot_ms) {
    switch (ie) {
        case Ie::octetDeltaCount: return r.bytes;
        case Ie::packetDeltaCount: return r.packets;
        case Ie::protocolIdentifier: return r.key.proto;
        case Ie::ipClassOfService: return r.tos;
        case Ie::tcpControlBits: return r.tcp_flags;
        case Ie::sourceTransportPort: return r.key.sport;
        case Ie::destinationTransportPort: return r.key.dport;
        case Ie::ingressInterface: return r.key.ifindex;
        case Ie::flowEndSysUpTime: return uptime_ms(r.last_ns, boot_ms);
        case Ie::flowStartSysUpTime: return uptime_ms(r.first_ns, boot_ms);
        case Ie::minimumTTL: return r.min_ttl;
        case Ie::maximumTTL: return r.max_ttl;
        case Ie::vlanId: return r.vlan;
        case Ie::ipVersion: return r.key.ip_version;
        case Ie::flowEndReason: return static_cast<uint8_t>(r.end_reason);
        case Ie::icmpTypeCodeIPv4: return r.key.proto == 1 || r.key.proto == 58 ? r.key.dport : 0;
        case Ie::flowStartMilliseconds: return r.first_ns / 1'000'000;
        case Ie::flowEndMilliseconds: return r.last_ns / 1'000'000;
        case Ie::flowDirection: return r.direction;
        case Ie::applicationId:
            if (r.l7)
                for (const AppInfo& a : kApps)
                    if (a.app == static_cast<uint8_t>(r.l7->app)) return a.id;
            return 0;
        case Ie::reverseOctetDeltaCount: return r.rev_bytes;
        case Ie::reversePacketDeltaCount: return r.rev_packets;
        case Ie::reverseTcpControlBits: return r.rev_tcp_flags;
        case Ie::reverseMinimumTTL: return r.rev_min_ttl;
        case Ie::reverseMaximumTTL: return r.rev_max_ttl;
        case Ie::reverseFlowStartMilliseconds: return r.rev_first_ns / 1'000'000;
        case Ie::reverseFlowEndMilliseconds: return r.rev_last_ns / 1'000'000;
        case Ie::httpStatusCode: return r.l7 ? r.l7->http_status : 0;
        case Ie::dnsQRType: return r.l7 ? r.l7->dns_qtype : 0;
        case Ie::dnsResponseCode: return r.l7 ? r.l7->dns_rcode : 0;
        default: return 0;  // addresses and strings
    }
}

L7Shape l7_shape(const FlowRecord& r) {
    if (!r.l7) return L7Shape::none;
    const L7Data& l = *r.l7;
    if (!l.sni.empty()) return L7Shape::tls;
    if (!l.http_method.empty()) return L7Shape::http_request;
    if (l.http_status) return L7Shape::http_response;
    if (l.has_dns_rcode) return L7Shape::dns_response;
    if (!l.dns_qname.empty() || l.has_dns_qtype) return L7Shape::dns_query;
    return L7Shape::none;
}

std::string_view string_value(Ie ie, const FlowRecord& r) {
    if (!r.l7) return {};
    switch (ie) {
        case Ie::sslServerName: return r.l7->sni;
        case Ie::httpRequestMethod: return r.l7->http_method;
        case Ie::httpRequestHost: return r.l7->http_host;
        case Ie::httpRequestTarget: return r.l7->http_target;
        case Ie::httpUserAgent: return r.l7->http_ua;
        case Ie::dnsQName: return r.l7->dns_qname;
        default: return {};
    }
}

uint8_t* put_field(uint8_t* p, Ie ie, const FlowRecord& r, uint64_t boot_ms) {
    switch (ie) {
        case Ie::sourceIPv4Address: std::memcpy(p, r.key.src.data(), 4); return p + 4;
        case Ie::destinationIPv4Address: std::memcpy(p, r.key.dst.data(), 4); return p + 4;
        case Ie::sourceIPv6Address: std::memcpy(p, r.key.src.data(), 16); return p + 16;
        case Ie::destinationIPv6Address: std::memcpy(p, r.key.dst.data(), 16); return p + 16;
        default: break;
    }
    const uint64_t v = field_value(ie, r, boot_ms);
    switch (info(ie).length) {
        case 1: return put8(p, v);
        case 2: return put16(p, v);
        case 3: return put8(put16(p, v >> 8), v);
        case 4: return put32(p, v);
        default: return put64(p, v);
    }
}

}  // namespace tapflow
