// The flow cache of one worker: a hash table of fixed-size entries and the timers that end
// flows (DESIGN.md "Flow definition", "Performance model").
//
// Table: 64-byte buckets of 8 slots holding a 16-bit tag and an entry index; a lookup reads one
// bucket and compares the full key only on a tag match. A full bucket spills into the next one
// and counts the spill in its overflow counter (as folly's F14), so deletes need no tombstones.
// Entries live in one array allocated once (max_flows entries, touched lazily); no allocation
// per packet.
//
// Timers, all amortised O(1) with intrusive lists (no scans):
//   * idle list   – flows ordered by last update: inactive timeout, and the victim when full
//   * ending list – TCP flows that saw FIN or RST, ordered by last update: --fin-timeout
//   * active list – flows ordered by creation: active timeout
#pragma once

#include <cstddef>
#include <cstdint>

#include "probe/counters.hpp"
#include "probe/flow_record.hpp"
#include "probe/net/decode.hpp"

namespace tapflow {

struct CacheConfig {
    uint64_t active_timeout_ns = 1800ull * 1'000'000'000;
    uint64_t inactive_timeout_ns = 15ull * 1'000'000'000;
    uint64_t fin_timeout_ns = 1ull * 1'000'000'000;
    uint32_t max_flows = 1u << 20;
    KeyFields key;
    bool biflow = false;  // both directions of a connection in one entry (RFC 5103)
    uint64_t hash_seed = 0x5bd1e9955bd1e995ull;
};

// Receives each expired flow; called on the worker thread.
struct RecordSink {
    void (*fn)(void* ctx, const FlowRecord& rec) = nullptr;
    void* ctx = nullptr;
    void operator()(const FlowRecord& r) const { fn(ctx, r); }
};

class FlowCache {
public:
    FlowCache(const CacheConfig& cfg, RecordSink sink);
    ~FlowCache();
    FlowCache(const FlowCache&) = delete;
    FlowCache& operator=(const FlowCache&) = delete;

    // Per-flow fields the cache keeps for the DPI step and hands back on every update.
    struct Hit {
        uint32_t* aux;   // opaque DPI state, 0 for a new flow; copied into the record at the end
        uint32_t* seq0;
        uint8_t* dpi_flags;
        bool responder;  // biflow: the packet went responder → initiator
    };
    // Account one decoded packet; `now_ns` is the worker clock (monotonic max of packet times).
    // Timers are not run here: call expire_if_due() after the packet is fully handled.
    Hit update(const PacketInfo& p, uint64_t now_ns);
    // Expire what the timers say is due at `now_ns`. Cheap when nothing is due.
    void expire(uint64_t now_ns);
    void expire_if_due(uint64_t now_ns) {
        if (now_ns >= next_expire_ns_) expire(now_ns);
    }
    // End every flow (shutdown, end of file).
    void flush_all(uint64_t now_ns, EndReason reason);

    size_t size() const { return live_; }
    size_t capacity() const { return max_flows_; }
    const CacheCounters& counters() const { return c_; }
    CacheCounters& counters() { return c_; }

    static constexpr uint32_t kNil = UINT32_MAX;

    struct Entry;
    struct Reverse;
    struct Bucket;

private:
    enum class List : uint8_t { idle = 0, ending = 1 };
    struct Links {
        uint32_t head = kNil;
        uint32_t tail = kNil;
    };

    uint64_t hash(const FlowKey& k) const;
    uint32_t find(const FlowKey& k, uint64_t h) const;
    uint32_t insert(const FlowKey& k, uint64_t h, uint64_t now_ns);
    void remove(uint32_t idx, uint64_t now_ns, EndReason reason);
    void unlink_touch(uint32_t idx);
    void push_touch(uint32_t idx);
    void unlink_active(uint32_t idx);
    void push_active(uint32_t idx);
    bool expired(const Entry& e, uint64_t now_ns, EndReason& why) const;

    CacheConfig cfg_;
    RecordSink sink_;
    CacheCounters c_;
    Entry* entries_ = nullptr;
    Bucket* buckets_ = nullptr;
    Reverse* reverse_ = nullptr;  // biflow only, parallel to entries_
    size_t reverse_bytes_ = 0;
    size_t entries_bytes_ = 0;
    size_t buckets_bytes_ = 0;
    uint64_t bucket_mask_ = 0;
    uint32_t max_flows_ = 0;
    uint32_t live_ = 0;
    uint32_t high_water_ = 0;   // entries [0, high_water_) have been handed out at least once
    uint32_t free_head_ = kNil; // released entries, linked through touch_next
    Links touch_[2];            // idle, ending
    Links active_;
    uint64_t next_expire_ns_ = 0;
};

}  // namespace tapflow
