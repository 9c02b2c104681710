// Link layer → innermost IP header → transport ports, for one captured frame.
// The flow definition (DESIGN.md "Flow definition") lives here: which header defines the
// flow, which bytes are counted, how fragments and tunnels are attributed.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "probe/counters.hpp"
#include "probe/net/flow_key.hpp"
#include "probe/net/frag_table.hpp"

namespace tapflow {

enum class LinkType : uint8_t { ethernet, null_host, loop, raw, ipv4, ipv6, linux_sll, linux_sll2 };

// pcap DLT value → link type, nullopt when tapflow cannot decode it.
std::optional<LinkType> link_type_from_dlt(int dlt);

enum class DecodeResult : uint8_t {
    ok,         // an IP packet: out is filled and must be accounted
    not_ip,     // a valid frame that carries no IPv4/IPv6 (ARP, STP, ...)
    truncated,  // cut by the capture length before an IP header was complete
    malformed,  // a header field that cannot be right (IHL < 5, bad version, ...)
};

struct PacketInfo {
    FlowKey key;               // every key field filled; the cache masks what is not a key
    uint64_t ts_ns = 0;
    uint32_t bytes_l3 = 0;     // IPv4 total length / IPv6 payload length + 40
    uint16_t vlan = 0;         // outermost 802.1Q/802.1ad id of the outermost L2 header
    uint8_t tcp_flags = 0;
    uint8_t ttl = 0;
    uint32_t tcp_seq = 0;              // TCP sequence number (DPI reassembly)
    const uint8_t* payload = nullptr;  // transport payload (first fragments only), for DPI
    uint32_t payload_len = 0;
};

class Decoder {
public:
    explicit Decoder(uint32_t ifindex) : ifindex_(ifindex) {}

    // data/caplen is the captured frame; never reads outside it. A pcapng file may mix link
    // types, so the link type comes with every frame.
    DecodeResult decode(LinkType link, const uint8_t* data, uint32_t caplen, PacketInfo& out);

    const DecodeCounters& counters() const { return c_; }
    DecodeCounters& counters() { return c_; }

private:
    struct L3 {
        uint8_t version;  // 4/6, or 0 when the link layer carried no IP
        uint32_t off;     // offset of the IP header
        uint16_t vlan;
    };
    struct IpHeader {
        uint8_t version;
        uint8_t tos;
        uint8_t ttl;
        uint8_t proto;
        uint32_t bytes;
        uint32_t l4;       // offset of the transport header; kNoL4 when the ext chain is cut
        uint32_t end;      // min(captured, declared end of the IP packet)
        uint32_t frag_id;
        bool fragment;
        bool first;        // offset 0 (not a fragment, or the first fragment)
        const uint8_t* src;
        const uint8_t* dst;
    };
    static constexpr uint32_t kNoL4 = UINT32_MAX;

    DecodeResult link_layer(LinkType link, const uint8_t* d, uint32_t len, L3& l3);
    DecodeResult ethernet(const uint8_t* d, uint32_t len, uint32_t off, L3& l3, bool outer);
    DecodeResult ethertype(const uint8_t* d, uint32_t len, uint16_t et, uint32_t off, L3& l3,
                           bool outer);
    DecodeResult mpls(const uint8_t* d, uint32_t len, uint32_t off, L3& l3, bool outer);
    DecodeResult ip_header(const uint8_t* d, uint32_t len, uint8_t version, uint32_t off,
                           IpHeader& ip, bool count);
    // If ip carries a followed tunnel, the inner IP's version and offset.
    bool tunnel_inner(const uint8_t* d, const IpHeader& ip, L3& inner);

    uint32_t ifindex_;
    DecodeCounters c_;
    FragTable frags_;
};

}  // namespace tapflow
