// Shared by the encoder unit tests: reference flow records, a message collector and readers for
// the bytes on the wire (big-endian fields, sets).
#pragma once

#include <arpa/inet.h>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "exporter/encoder.hpp"
#include "probe/flow_record.hpp"

namespace tapflow::wire {

using Bytes = std::vector<uint8_t>;

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kBootNs = 1299012200 * kSec;
constexpr uint64_t kNowNs = 1299012320 * kSec + 1;
constexpr uint64_t kFirstNs = 1299012313 * kSec + 266'123'456;
constexpr uint64_t kLastNs = 1299012315 * kSec + 766'999'999;

inline void set_addr(std::array<uint8_t, 16>& a, const char* text) {
    a = {};
    const bool v6 = std::strchr(text, ':') != nullptr;
    REQUIRE(inet_pton(v6 ? AF_INET6 : AF_INET, text, a.data()) == 1);
}

// 192.0.2.1:40000 → 198.51.100.7:443 TCP.
inline FlowRecord reference_v4() {
    FlowRecord r;
    set_addr(r.key.src, "192.0.2.1");
    set_addr(r.key.dst, "198.51.100.7");
    r.key.sport = 40000;
    r.key.dport = 443;
    r.key.proto = 6;
    r.key.tos = 0x28;
    r.key.ifindex = 3;
    r.key.ip_version = 4;
    r.packets = 10;
    r.bytes = 5000;
    r.first_ns = kFirstNs;
    r.last_ns = kLastNs;
    r.export_ns = kNowNs;
    r.vlan = 100;
    r.tos = 0x28;
    r.tcp_flags = 0x1B;
    r.min_ttl = 50;
    r.max_ttl = 64;
    r.end_reason = EndReason::idle;
    return r;
}

// [2001:db8::1]:5353 → [2001:db8:0:1::2]:53 UDP, ended at shutdown.
inline FlowRecord reference_v6() {
    FlowRecord r = reference_v4();
    set_addr(r.key.src, "2001:db8::1");
    set_addr(r.key.dst, "2001:db8:0:1::2");
    r.key.ip_version = 6;
    r.key.proto = 17;
    r.key.sport = 5353;
    r.key.dport = 53;
    r.tcp_flags = 0;
    r.end_reason = EndReason::forced;
    return r;
}

struct Message {
    Bytes bytes;
    uint32_t records;  // flow records, as the encoder told its sink
};

struct Collector {
    std::vector<Message> messages;
    MessageSink sink() {
        return [this](std::span<const uint8_t> m, uint32_t n) {
            messages.push_back({Bytes(m.begin(), m.end()), n});
        };
    }
};

inline uint64_t rd(const Bytes& b, size_t off, size_t n) {
    REQUIRE(off + n <= b.size());
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = v << 8 | b[off + i];
    return v;
}

inline Bytes slice(const Bytes& b, size_t off, size_t n) {
    REQUIRE(off + n <= b.size());
    return Bytes(b.begin() + long(off), b.begin() + long(off + n));
}

// A v9 FlowSet / IPFIX set.
struct Set {
    uint16_t id;
    Bytes body;         // without the 4-byte set header
    size_t length = 0;  // the set header's length
};

// The sets after the header; their lengths must tile the message exactly.
inline std::vector<Set> sets_of(const Bytes& msg, size_t header) {
    std::vector<Set> out;
    size_t off = header;
    while (off < msg.size()) {
        const uint16_t id = uint16_t(rd(msg, off, 2));
        const uint16_t len = uint16_t(rd(msg, off + 2, 2));
        REQUIRE(len >= 4);
        REQUIRE(off + len <= msg.size());
        out.push_back({id, slice(msg, off + 4, len - 4u), len});
        off += len;
    }
    CHECK(off == msg.size());
    return out;
}

}  // namespace tapflow::wire
