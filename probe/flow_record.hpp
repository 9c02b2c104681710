// What a worker hands to the exporter thread for every expired flow.
#pragma once

#include <cstdint>

#include "probe/net/flow_key.hpp"

namespace tapflow {

// IPFIX flowEndReason (IE 136, RFC 5102 / IANA).
enum class EndReason : uint8_t {
    idle = 1,
    active = 2,
    end_of_flow = 3,
    forced = 4,
    lack_of_resources = 5,
};

struct L7Data;

struct FlowRecord {
    FlowKey key;           // key fields; ToS/VLAN are zero here when they are not key fields
    uint64_t packets = 0;
    uint64_t bytes = 0;    // IP-layer octets
    uint64_t first_ns = 0; // earliest packet timestamp
    uint64_t last_ns = 0;  // latest packet timestamp
    uint64_t export_ns = 0;  // worker clock when the flow expired
    uint16_t vlan = 0;     // outermost VLAN id of the first packet
    uint8_t tos = 0;       // ToS / traffic class of the first packet (non-key when -tos)
    uint8_t tcp_flags = 0;
    uint8_t min_ttl = 0;
    uint8_t max_ttl = 0;
    EndReason end_reason = EndReason::idle;
    uint8_t direction = kDirectionUnknown;  // flowDirection (IE 61), set from --local-net
    uint32_t aux = 0;         // the flow entry's DPI state when it ended (worker side only)
    L7Data* l7 = nullptr;     // application values, owned by the record (freed by the exporter)
    // Biflow (--biflow, RFC 5103): the reverse direction, responder → initiator. The key above
    // is the initiator's. All zero when no reverse packet was seen (and always without --biflow).
    uint64_t rev_packets = 0;
    uint64_t rev_bytes = 0;
    uint64_t rev_first_ns = 0;
    uint64_t rev_last_ns = 0;
    uint8_t rev_tcp_flags = 0;
    uint8_t rev_min_ttl = 0;
    uint8_t rev_max_ttl = 0;

    static constexpr uint8_t kDirectionUnknown = 0xFF;
    static constexpr uint8_t kIngress = 0;
    static constexpr uint8_t kEgress = 1;
};

}  // namespace tapflow
