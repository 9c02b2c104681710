// The DPI step of a worker (DESIGN.md "DPI"): fed the first packets of each flow, keeps bounded
// per-flow state only for flows that look like TLS, HTTP or DNS, and hands the values found to
// the flow record when the flow ends. A flow with nothing to dissect costs one classification of
// its first payload packet; after that its entry says "done" and DPI is never called again.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dpi/l7.hpp"
#include "dpi/parsers.hpp"
#include "probe/net/decode.hpp"

// X(name, description)
#define TAPFLOW_DPI_COUNTERS(X)                                                       \
    X(dpi_flows, "flows whose first payload was classified as TLS, HTTP or DNS")      \
    X(dpi_skipped, "flows with payload that DPI classified as nothing to dissect")    \
    X(dpi_tls, "flows with TLS values")                                               \
    X(dpi_http, "flows with HTTP values")                                             \
    X(dpi_dns, "flows with DNS values")                                               \
    X(dpi_reassembled, "flows that needed TCP reassembly (message over several segments)") \
    X(dpi_window_full, "flows whose reassembly window filled before the message ended") \
    X(dpi_no_buffer, "flows that needed a reassembly buffer when all were in use")    \
    X(dpi_gave_up, "flows whose inspection ended at the packet limit without a value")

namespace tapflow {

struct DpiCounters {
#define TAPFLOW_FIELD(name, desc) uint64_t name = 0;
    TAPFLOW_DPI_COUNTERS(TAPFLOW_FIELD)
#undef TAPFLOW_FIELD
};

struct DpiConfig {
    bool tls = true;
    bool http = true;
    bool dns = true;
    uint32_t max_packets = 10;    // payload packets inspected per flow direction
    uint32_t window = 8192;       // reassembly bytes per flow direction
    uint32_t max_string = 1024;   // longest string kept (after escaping)
    uint32_t max_buffers = 4096;  // reassembly buffers in use at once (window bytes each)
    bool any() const { return tls || http || dns; }
};

// Per-flow DPI fields kept in the flow entry.
constexpr uint32_t kDpiNone = 0;           // not looked at yet
constexpr uint32_t kDpiDone = UINT32_MAX;  // nothing (more) to do for this flow
constexpr uint8_t kDpiSeq0Known = 1;       // seq0 holds SYN's sequence + 1

class Dpi {
public:
    explicit Dpi(const DpiConfig& cfg);
    ~Dpi();
    Dpi(const Dpi&) = delete;
    Dpi& operator=(const Dpi&) = delete;

    // One packet of a flow whose state is not kDpiDone. state/seq0/flags live in the flow entry.
    void inspect(const PacketInfo& p, uint32_t& state, uint32_t& seq0, uint8_t& flags);
    // The flow ended: its values (nullptr if none) and the state is freed. Caller owns the result.
    L7Data* release(uint32_t state);

    const DpiCounters& counters() const { return c_; }
    const DpiConfig& config() const { return cfg_; }

private:
    enum class Kind : uint8_t { tls, http_request, http_response, dns_udp, dns_tcp, tcp_pending };
    struct Buffer;
    struct Slot {
        std::unique_ptr<L7Data> l7;
        Buffer* buf = nullptr;
        uint32_t base = 0;   // TCP sequence number of the stream's first byte
        uint32_t have = 0;   // contiguous bytes from base
        uint32_t next_free = 0;
        uint32_t packets = 0;
        Kind kind = Kind::tls;
        bool finished = false;
    };

    uint32_t alloc_slot();
    void free_slot(uint32_t idx);
    Buffer* alloc_buffer();
    void free_buffer(Buffer* b);
    void finish(Slot& s, uint32_t& state);
    void feed_tcp(Slot& s, const PacketInfo& p, uint32_t& state);
    Parse parse_stream(Slot& s, std::span<const uint8_t> data);
    static bool classify(std::span<const uint8_t> payload, const DpiConfig& cfg, Kind& kind);

    DpiConfig cfg_;
    DpiCounters c_;
    std::vector<Slot> slots_;
    uint32_t free_head_ = 0;  // 1-based; 0 = none
    std::vector<Buffer*> free_buffers_;
    uint32_t buffers_ = 0;
};

}  // namespace tapflow
