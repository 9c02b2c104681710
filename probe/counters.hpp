// Every counter tapflow keeps comes from one of these lists (VPP's foreach_flowprobe_error):
// adding a reason is one line, and the stats output and the docs cannot drift apart.
#pragma once

#include <cstdint>

// Capture and decode, per worker. X(name, description)
#define TAPFLOW_DECODE_COUNTERS(X)                                                         \
    X(frames, "frames read from the capture")                                             \
    X(ip_packets, "IPv4/IPv6 packets accounted to a flow")                                \
    X(ip_bytes, "IP-layer octets accounted to flows")                                     \
    X(non_ip, "frames without IPv4/IPv6 (ARP, LLDP, STP, ...), ignored")                  \
    X(unsupported_link, "frames of a pcapng interface whose link type tapflow cannot decode") \
    X(trunc_link, "frame shorter than its link-layer header")                             \
    X(trunc_vlan, "frame cut inside an 802.1Q/802.1ad tag")                               \
    X(vlan_too_deep, "more than 8 VLAN tags")                                             \
    X(trunc_mpls, "frame cut inside an MPLS label stack")                                 \
    X(mpls_too_deep, "MPLS stack deeper than 64 labels")                                  \
    X(mpls_not_ip, "MPLS payload is not IPv4/IPv6 (pseudowire, ...)")                     \
    X(trunc_pppoe, "frame cut inside a PPPoE header")                                     \
    X(trunc_ipv4, "IPv4 header cut by the capture length")                                \
    X(bad_ipv4_version, "IPv4 ethertype but version field is not 4")                      \
    X(bad_ipv4_ihl, "IPv4 header length below 20 bytes")                                  \
    X(bad_ipv4_total_length, "IPv4 total length smaller than its header (counted as is)") \
    X(trunc_ipv6, "IPv6 header cut by the capture length")                                \
    X(bad_ipv6_version, "IPv6 ethertype but version field is not 6")                      \
    X(trunc_ipv6_ext, "IPv6 extension header chain cut by the capture length")            \
    X(ipv6_ext_too_deep, "IPv6 extension header chain longer than 32 headers")            \
    X(ipv6_jumbo, "IPv6 payload length 0 (jumbogram or TSO), counted as 40 bytes")        \
    X(trunc_l4, "transport header cut: ports 0 (< 4 bytes) or no TCP flags (< 14 bytes)")    \
    X(trunc_tunnel, "tunnel header cut short: flow is the outer packet")                  \
    X(tunnel_too_deep, "more than 16 nested tunnels: flow is the 16th header")            \
    X(tunnels, "packets whose flow is an inner (tunnelled) IP header")                    \
    X(frag_first, "first fragments (ports recorded for later fragments)")                 \
    X(frag_later, "non-first fragments")                                                  \
    X(frag_unmatched, "non-first fragments without a known first fragment: ports 0")

// Flow cache, per worker.
#define TAPFLOW_CACHE_COUNTERS(X)                                                 \
    X(flows_created, "flow entries created")                                     \
    X(expired_idle, "flows ended by the inactive timeout (flowEndReason 1)")     \
    X(expired_active, "flows ended by the active timeout (flowEndReason 2)")     \
    X(expired_end, "TCP flows ended after FIN/RST (flowEndReason 3)")            \
    X(expired_forced, "flows ended at shutdown or end of file (flowEndReason 4)") \
    X(expired_emergency, "flows ended because the cache was full (flowEndReason 5)") \
    X(ring_drops, "expired flow records dropped because the exporter ring was full") \
    X(sampled_out, "packets skipped by --sample (not metered)")                      \
    X(time_backwards, "packets whose timestamp is older than the clock (kept)")

// Exporter, per export destination.
#define TAPFLOW_EXPORT_COUNTERS(X)                                                  \
    X(records, "flow records encoded")                                             \
    X(packets, "packets in the exported records")                                  \
    X(octets, "octets in the exported records")                                    \
    X(messages, "export messages built (datagrams, TCP messages, JSON chunks), sent or not")                     \
    X(templates, "template records sent")                                          \
    X(not_exportable, "records this format cannot carry (IPv6 in NetFlow v5)")      \
    X(not_exportable_packets, "packets in records this format cannot carry")       \
    X(counter_clamped, "records cut to fit: v5 32-bit counters, IPFIX strings over the MTU") \
    X(send_errors, "messages the transport could not send (dropped, counted here)")           \
    X(records_dropped, "flow records in those messages")                                      \
    X(sessions, "TCP connections made / IPFIX files opened (1 for UDP)")                     \
    X(connect_failures, "TCP connection attempts that failed")

namespace tapflow {

#define TAPFLOW_FIELD(name, desc) uint64_t name = 0;
struct DecodeCounters {
    TAPFLOW_DECODE_COUNTERS(TAPFLOW_FIELD)
};
struct CacheCounters {
    TAPFLOW_CACHE_COUNTERS(TAPFLOW_FIELD)
};
struct ExportCounters {
    TAPFLOW_EXPORT_COUNTERS(TAPFLOW_FIELD)
};
#undef TAPFLOW_FIELD

}  // namespace tapflow
