// The one table of information elements (STYLE.md "One table"): NetFlow v9 and IPFIX templates,
// the record encoder, the JSON names and docs/fields.md all come from it.
// Numbers and names from the IANA IPFIX registry (RFC 7012), as Wireshark's cflow dissector lists
// them (`tshark -G values | grep template_field_type`).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace tapflow {

enum class IeType : uint8_t {
    unsigned8,
    unsigned16,
    unsigned32,
    unsigned64,
    ipv4Address,
    ipv6Address,
    dateTimeMilliseconds,
    string,
    octetArray,
};

// Encoded length of variable-length IEs in an IPFIX template (RFC 7011 §7).
inline constexpr uint16_t kVariableLength = 0xFFFF;

// X(name, id, type, encoded length in bytes, description)
// tcpControlBits is unsigned16 in IPFIX; tapflow sends the reduced-size 1-byte form
// (RFC 7011 §6.2) because pmacct shows 0 for a 2-byte one in v9, and the high bits are never set
// by the flags byte it reads.
#define TAPFLOW_IES(X)                                                                        \
    X(octetDeltaCount, 1, unsigned64, 8, "IP-layer octets of the flow")                       \
    X(packetDeltaCount, 2, unsigned64, 8, "packets of the flow")                              \
    X(protocolIdentifier, 4, unsigned8, 1, "IP protocol (innermost IP header)")               \
    X(ipClassOfService, 5, unsigned8, 1, "IPv4 ToS / IPv6 traffic class of the first packet") \
    X(tcpControlBits, 6, unsigned16, 1, "OR of the TCP flags byte of every packet")           \
    X(sourceTransportPort, 7, unsigned16, 2, "TCP/UDP/SCTP source port, 0 otherwise")         \
    X(sourceIPv4Address, 8, ipv4Address, 4, "source address")                                 \
    X(ingressInterface, 10, unsigned32, 4, "input ifIndex of the capture (--ifindex)")        \
    X(destinationTransportPort, 11, unsigned16, 2,                                            \
      "destination port; ICMP/ICMPv6: type*256 + code")                                       \
    X(destinationIPv4Address, 12, ipv4Address, 4, "destination address")                      \
    X(flowEndSysUpTime, 21, unsigned32, 4, "last packet, ms since exporter boot (v9)")         \
    X(icmpTypeCodeIPv4, 32, unsigned16, 2,                                                    \
      "v9 ICMP_TYPE (RFC 3954: any ICMP, v4 or v6): type*256 + code, 0 for other protocols")  \
    X(flowStartSysUpTime, 22, unsigned32, 4, "first packet, ms since exporter boot (v9)")      \
    X(sourceIPv6Address, 27, ipv6Address, 16, "source address")                               \
    X(destinationIPv6Address, 28, ipv6Address, 16, "destination address")                     \
    X(minimumTTL, 52, unsigned8, 1, "smallest IPv4 TTL / IPv6 hop limit seen")                \
    X(maximumTTL, 53, unsigned8, 1, "largest IPv4 TTL / IPv6 hop limit seen")                 \
    X(vlanId, 58, unsigned16, 2, "outermost VLAN id of the first packet, 0 if untagged")      \
    X(ipVersion, 60, unsigned8, 1, "4 or 6")                                                  \
    X(flowDirection, 61, unsigned8, 1,                                                        \
      "0 ingress (toward --local-net), 1 egress (from it); only with --local-net")             \
    X(applicationId, 95, octetArray, 3,                                                       \
      "application found by DPI: engine 6 (user-defined) + 2-byte id, see the application table") \
    X(flowEndReason, 136, unsigned8, 1,                                                       \
      "1 idle, 2 active timeout, 3 end of flow (FIN/RST), 4 forced end, 5 cache full")        \
    X(flowStartMilliseconds, 152, dateTimeMilliseconds, 8, "first packet, ms since the epoch") \
    X(flowEndMilliseconds, 153, dateTimeMilliseconds, 8, "last packet, ms since the epoch")

// Elements of the option records (statistics, sampling, interface and application tables).
#define TAPFLOW_OPTION_IES(X)                                                                   \
    X(observationDomainId, 149, unsigned32, 4, "scope: the observation domain (--observation-domain)") \
    X(systemInitTimeMilliseconds, 160, dateTimeMilliseconds, 8,                                \
      "exporter boot: origin of flowStart/EndSysUpTime (v9)")                                  \
    X(exportedOctetTotalCount, 40, unsigned64, 8, "octets of export messages sent")           \
    X(exportedMessageTotalCount, 41, unsigned64, 8, "export messages sent")                   \
    X(exportedFlowRecordTotalCount, 42, unsigned64, 8, "flow records sent")                   \
    X(ignoredPacketTotalCount, 164, unsigned64, 8,                                           \
      "packets not metered: dropped by the kernel/interface (live) or not IP")               \
    X(notSentFlowTotalCount, 166, unsigned64, 8,                                             \
      "flow records lost: exporter ring full, transport could not send")                      \
    X(samplingInterval, 34, unsigned32, 4, "v9 sampler: 1 packet in N (--sample)")            \
    X(samplingAlgorithm, 35, unsigned8, 1, "v9 sampler: 1 deterministic, 2 random")           \
    X(selectorId, 302, unsigned64, 8, "IPFIX sampler: selector id (0: applies to every flow record)")                       \
    X(selectorAlgorithm, 304, unsigned16, 2,                                                  \
      "IPFIX sampler: 1 systematic count-based, 3 random n-out-of-N")                         \
    X(samplingPacketInterval, 305, unsigned32, 4, "IPFIX sampler: packets selected per N (1)") \
    X(samplingPacketSpace, 306, unsigned32, 4, "IPFIX sampler: packets skipped per N (N-1)")  \
    X(samplingSize, 309, unsigned32, 4, "IPFIX random sampler: packets selected (1)")         \
    X(samplingPopulation, 310, unsigned32, 4, "IPFIX random sampler: out of N packets")       \
    X(interfaceName, 82, string, kVariableLength, "capture interface name (--if-name)")       \
    X(interfaceDescription, 83, string, kVariableLength, "capture interface description")    \
    X(applicationName, 96, string, kVariableLength, "application name (tls, http, dns)")     \
    X(applicationDescription, 94, string, kVariableLength, "application description")

// Application-layer IEs (DPI). X(name, id, PEN, type, length, description). HTTP: IANA. TLS SNI
// and DNS: IANA has none; tapflow uses CERT's published numbers (PEN 6871, the YAF and
// super_mediator vocabulary that libfixbuf's ipfixDump names), see docs/fields.md.
// dnsResponseCode is CERT's element 177, which CERT calls dnsNXDomain (it carries the RCODE).
#define TAPFLOW_L7_IES(X)                                                                      \
    X(sslServerName, 294, 6871, string, kVariableLength, "TLS ClientHello server_name (SNI)")  \
    X(httpRequestMethod, 459, 0, string, kVariableLength, "HTTP request method")               \
    X(httpRequestHost, 460, 0, string, kVariableLength, "HTTP Host header")                    \
    X(httpRequestTarget, 461, 0, string, kVariableLength, "HTTP request target (URI)")         \
    X(httpUserAgent, 468, 0, string, kVariableLength, "HTTP User-Agent header")                \
    X(httpStatusCode, 457, 0, unsigned16, 2, "HTTP response status code")                      \
    X(dnsQName, 179, 6871, string, kVariableLength, "DNS first question name")                 \
    X(dnsQRType, 175, 6871, unsigned16, 2, "DNS first question type")                          \
    X(dnsResponseCode, 177, 6871, unsigned8, 1, "DNS response code (responses only)")

// Biflow (RFC 5103): the reverse direction of an IANA element is the same number under the
// reverse PEN 29305. X(name, id, PEN, type, length, description)
#define TAPFLOW_REVERSE_IES(X)                                                                  \
    X(reverseOctetDeltaCount, 1, 29305, unsigned64, 8, "octets responder → initiator")        \
    X(reversePacketDeltaCount, 2, 29305, unsigned64, 8, "packets responder → initiator")      \
    X(reverseTcpControlBits, 6, 29305, unsigned16, 1, "OR of the responder's TCP flags")      \
    X(reverseMinimumTTL, 52, 29305, unsigned8, 1, "smallest TTL of the responder's packets")   \
    X(reverseMaximumTTL, 53, 29305, unsigned8, 1, "largest TTL of the responder's packets")    \
    X(reverseFlowStartMilliseconds, 152, 29305, dateTimeMilliseconds, 8,                      \
      "responder's first packet (0 when it sent none)")                                      \
    X(reverseFlowEndMilliseconds, 153, 29305, dateTimeMilliseconds, 8,                        \
      "responder's last packet (0 when it sent none)")

enum class Ie : uint16_t {
#define TAPFLOW_IE_ENUM(name, ...) name,
    TAPFLOW_IES(TAPFLOW_IE_ENUM)
    TAPFLOW_OPTION_IES(TAPFLOW_IE_ENUM)
    TAPFLOW_L7_IES(TAPFLOW_IE_ENUM)
    TAPFLOW_REVERSE_IES(TAPFLOW_IE_ENUM)
#undef TAPFLOW_IE_ENUM
};

struct InfoElement {
    Ie ie;
    uint16_t id;
    uint32_t pen;  // 0 = IANA
    IeType type;
    uint16_t length;
    std::string_view name;
    std::string_view description;
};

inline constexpr InfoElement kInfoElements[] = {
#define TAPFLOW_IE_ROW(name, id, type, len, desc) \
    {Ie::name, id, 0, IeType::type, len, #name, desc},
#define TAPFLOW_L7_ROW(name, id, pen, type, len, desc) \
    {Ie::name, id, pen, IeType::type, len, #name, desc},
    TAPFLOW_IES(TAPFLOW_IE_ROW)
    TAPFLOW_OPTION_IES(TAPFLOW_IE_ROW)
    TAPFLOW_L7_IES(TAPFLOW_L7_ROW)
    TAPFLOW_REVERSE_IES(TAPFLOW_L7_ROW)
#undef TAPFLOW_IE_ROW
#undef TAPFLOW_L7_ROW
};

constexpr const InfoElement& info(Ie ie) { return kInfoElements[static_cast<uint16_t>(ie)]; }

// The record layouts tapflow exports. Order is the order on the wire.
inline constexpr Ie kIpfixV4[] = {
    Ie::sourceIPv4Address, Ie::destinationIPv4Address, Ie::sourceTransportPort,
    Ie::destinationTransportPort, Ie::protocolIdentifier, Ie::ipClassOfService,
    Ie::tcpControlBits, Ie::ingressInterface, Ie::vlanId, Ie::minimumTTL, Ie::maximumTTL,
    Ie::flowEndReason, Ie::packetDeltaCount, Ie::octetDeltaCount, Ie::flowStartMilliseconds,
    Ie::flowEndMilliseconds};
inline constexpr Ie kIpfixV6[] = {
    Ie::sourceIPv6Address, Ie::destinationIPv6Address, Ie::sourceTransportPort,
    Ie::destinationTransportPort, Ie::protocolIdentifier, Ie::ipClassOfService,
    Ie::tcpControlBits, Ie::ingressInterface, Ie::vlanId, Ie::minimumTTL, Ie::maximumTTL,
    Ie::flowEndReason, Ie::packetDeltaCount, Ie::octetDeltaCount, Ie::flowStartMilliseconds,
    Ie::flowEndMilliseconds};
inline constexpr Ie kV9V4[] = {
    Ie::sourceIPv4Address, Ie::destinationIPv4Address, Ie::sourceTransportPort,
    Ie::destinationTransportPort, Ie::protocolIdentifier, Ie::ipClassOfService,
    Ie::tcpControlBits, Ie::ingressInterface, Ie::vlanId, Ie::minimumTTL, Ie::maximumTTL,
    Ie::flowEndReason, Ie::packetDeltaCount, Ie::octetDeltaCount, Ie::flowStartSysUpTime,
    Ie::flowEndSysUpTime, Ie::icmpTypeCodeIPv4};
// v9 also carries ICMP type/code in ICMP_TYPE (32), as Cisco does, for IPv4 and IPv6 alike
// (RFC 3954 defines it for ICMP in general; IPFIX later split it into 32 and 139): nfdump's v9
// decoder takes them from there and shows port 0 without it (IPFIX readers use the port).
inline constexpr Ie kV9V6[] = {
    Ie::sourceIPv6Address, Ie::destinationIPv6Address, Ie::sourceTransportPort,
    Ie::destinationTransportPort, Ie::protocolIdentifier, Ie::ipClassOfService,
    Ie::tcpControlBits, Ie::ingressInterface, Ie::vlanId, Ie::minimumTTL, Ie::maximumTTL,
    Ie::flowEndReason, Ie::packetDeltaCount, Ie::octetDeltaCount, Ie::flowStartSysUpTime,
    Ie::flowEndSysUpTime, Ie::icmpTypeCodeIPv4};

// Numbering of the application IEs on the wire. cert (default): IANA HTTP IEs + CERT PEN 6871
// for SNI and DNS (YAF, super_mediator, ipfixDump). ntop: nProbe/ntopng PEN 35632 numbers for all
// of them (as Wireshark's cflow dissector names them: SSL_SERVER_NAME 188, HTTP_URL 180, ...).
enum class L7Vocabulary : uint8_t { cert, ntop };
struct WireId {
    uint16_t id;
    uint32_t pen;
};
constexpr WireId wire_id(Ie ie, L7Vocabulary v) {
    constexpr uint32_t kNtop = 35632;
    if (v == L7Vocabulary::ntop) {
        switch (ie) {
            case Ie::sslServerName: return {188, kNtop};
            case Ie::httpRequestMethod: return {360, kNtop};
            case Ie::httpRequestHost: return {187, kNtop};
            case Ie::httpRequestTarget: return {180, kNtop};
            case Ie::httpUserAgent: return {183, kNtop};
            case Ie::httpStatusCode: return {181, kNtop};
            case Ie::dnsQName: return {205, kNtop};
            case Ie::dnsQRType: return {207, kNtop};
            case Ie::dnsResponseCode: return {208, kNtop};
            default: break;
        }
    }
    return {info(ie).id, info(ie).pen};
}

// Extra fields of the records of flows with application values, one layout per kind of flow,
// appended to the base layout (separate templates, so plain flows carry no empty strings).
enum class L7Shape : uint8_t { none, tls, http_request, http_response, dns_query, dns_response };
inline constexpr int kL7Shapes = 6;
inline constexpr Ie kL7Tls[] = {Ie::applicationId, Ie::sslServerName};
inline constexpr Ie kL7HttpRequest[] = {Ie::applicationId, Ie::httpRequestMethod, Ie::httpRequestHost,
                                        Ie::httpRequestTarget, Ie::httpUserAgent};
inline constexpr Ie kL7HttpResponse[] = {Ie::applicationId, Ie::httpStatusCode};
inline constexpr Ie kL7DnsQuery[] = {Ie::applicationId, Ie::dnsQName, Ie::dnsQRType};
inline constexpr Ie kL7DnsResponse[] = {Ie::applicationId, Ie::dnsQName, Ie::dnsQRType,
                                        Ie::dnsResponseCode};
constexpr std::span<const Ie> l7_fields(L7Shape s) {
    switch (s) {
        case L7Shape::tls: return kL7Tls;
        case L7Shape::http_request: return kL7HttpRequest;
        case L7Shape::http_response: return kL7HttpResponse;
        case L7Shape::dns_query: return kL7DnsQuery;
        case L7Shape::dns_response: return kL7DnsResponse;
        case L7Shape::none: break;
    }
    return {};
}

// The reverse elements a biflow record carries (IPFIX only; v5/v9 get two uniflow records).
inline constexpr Ie kReverse[] = {Ie::reversePacketDeltaCount, Ie::reverseOctetDeltaCount,
                                  Ie::reverseTcpControlBits, Ie::reverseMinimumTTL,
                                  Ie::reverseMaximumTTL, Ie::reverseFlowStartMilliseconds,
                                  Ie::reverseFlowEndMilliseconds};

// Applications the DPI step names, as applicationId (RFC 6759): classification engine 6
// (user-defined) and a 2-byte selector. Each selector's low byte is 6 too, so every id reads the
// same in either byte order: nfdump 1.7.1 stores an IPFIX applicationId byte-swapped and would
// otherwise never match it against the application table.
struct AppInfo {
    uint8_t app;  // AppId (dpi/l7.hpp)
    uint32_t id;  // the 3 bytes of applicationId
    std::string_view name;
    std::string_view description;
};
inline constexpr AppInfo kApps[] = {
    {1, 0x060106, "tls", "TLS (SNI from the ClientHello)"},
    {2, 0x060206, "http", "HTTP/1.x"},
    {3, 0x060306, "dns", "DNS over UDP or TCP"},
};

// Fixed-length part of a layout (variable-length strings not counted).
constexpr uint16_t record_length(std::span<const Ie> t) {
    uint16_t n = 0;
    for (Ie ie : t)
        if (info(ie).length != kVariableLength) n = static_cast<uint16_t>(n + info(ie).length);
    return n;
}

}  // namespace tapflow
