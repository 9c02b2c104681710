// The flow key: Cisco IOS 7-tuple (src/dst IP, src/dst port, protocol, ToS, input ifIndex),
// plus the optional VLAN field (--key +vlan). Trivially copyable, no padding holes, compared
// by bytes and hashed once (STYLE.md "Keys").
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace tapflow {

struct FlowKey {
    std::array<uint8_t, 16> src{};  // IPv4: first 4 bytes, rest zero
    std::array<uint8_t, 16> dst{};
    uint32_t ifindex = 0;
    uint16_t sport = 0;
    uint16_t dport = 0;  // ICMP/ICMPv6: type*256 + code
    uint16_t vlan = 0;   // only when VLAN is a key field
    uint8_t proto = 0;
    uint8_t tos = 0;     // IPv4 ToS / IPv6 traffic class; zero when ToS is not a key field
    uint8_t ip_version = 0;
    uint8_t pad[3] = {};

    bool operator==(const FlowKey& o) const { return std::memcmp(this, &o, sizeof(FlowKey)) == 0; }
    bool is_v6() const { return ip_version == 6; }
};

static_assert(sizeof(FlowKey) == 48);
static_assert(std::has_unique_object_representations_v<FlowKey>);
static_assert(std::is_trivially_copyable_v<FlowKey>);

// Which optional fields take part in the key (Flexible NetFlow "match" fields).
struct KeyFields {
    bool tos = true;
    bool vlan = false;
    bool ports = true;
};

std::string format_ip(const std::array<uint8_t, 16>& a, bool v6);

}  // namespace tapflow
