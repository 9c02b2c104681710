#include "probe/cache/flow_cache.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <stdexcept>

namespace tapflow {

namespace {
constexpr uint64_t kTimerTickNs = 100'000'000;  // timers run at most every 100 ms of packet time
constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpRst = 0x04;

void* map_zeroed(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);  // fewer TLB misses on a large table; ignored if THP is off
#endif
    return p;
}

inline uint64_t mum(uint64_t a, uint64_t b) {
    __uint128_t r = static_cast<__uint128_t>(a) * b;
    return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
}  // namespace

struct alignas(64) FlowCache::Entry {
    FlowKey key;
    uint64_t packets;
    uint64_t bytes;
    uint64_t first_ns;
    uint64_t last_ns;
    uint64_t touch_ns;  // clock at the last update (orders the idle/ending lists)
    uint32_t touch_prev, touch_next;
    uint32_t active_prev, active_next;  // ordered by creation; active timeout from first_ns
    uint32_t home;      // home bucket
    uint32_t aux;       // DPI state (opaque here)
    uint32_t seq0;      // DPI: TCP stream start
    uint16_t vlan;
    uint8_t tos;
    uint8_t tcp_flags;
    uint8_t min_ttl;
    uint8_t max_ttl;
    List list;
    uint8_t dpi_flags;
    uint8_t init_reversed;  // biflow: the initiator sent the canonical key's reverse
};
static_assert(sizeof(FlowCache::Entry) <= 128, "flow entries must stay within two cache lines");

// Biflow only (a side array, so uniflow entries stay 128 bytes): the initiator's own times and
// the responder's direction. The entry's first_ns/last_ns then span both directions (timers).
struct FlowCache::Reverse {
    uint64_t fwd_first_ns, fwd_last_ns;
    uint64_t packets, bytes, first_ns, last_ns;
    uint8_t tcp_flags, min_ttl, max_ttl;
};

struct alignas(64) FlowCache::Bucket {
    uint16_t tag[8];
    uint32_t idx[8];
    uint32_t overflow;  // entries whose home is at or before this bucket that are stored after it
    uint8_t used;       // slot bitmap
};
static_assert(sizeof(FlowCache::Bucket) == 64);

FlowCache::FlowCache(const CacheConfig& cfg, RecordSink sink) : cfg_(cfg), sink_(sink) {
    if (cfg_.max_flows == 0) throw std::invalid_argument("max_flows must be at least 1");
    max_flows_ = cfg_.max_flows;
    // At most half the slots are ever used, so probe sequences stay short.
    uint64_t nbuckets = std::bit_ceil(std::max<uint64_t>(2, (uint64_t(max_flows_) * 2 + 7) / 8));
    bucket_mask_ = nbuckets - 1;
    buckets_bytes_ = nbuckets * sizeof(Bucket);
    entries_bytes_ = uint64_t(max_flows_) * sizeof(Entry);
    buckets_ = static_cast<Bucket*>(map_zeroed(buckets_bytes_));
    try {
        entries_ = static_cast<Entry*>(map_zeroed(entries_bytes_));
        if (cfg_.biflow) {
            reverse_bytes_ = uint64_t(max_flows_) * sizeof(Reverse);
            reverse_ = static_cast<Reverse*>(map_zeroed(reverse_bytes_));
        }
    } catch (...) {
        if (entries_) munmap(entries_, entries_bytes_);
        munmap(buckets_, buckets_bytes_);
        throw;
    }
}

FlowCache::~FlowCache() {
    if (reverse_) munmap(reverse_, reverse_bytes_);
    munmap(entries_, entries_bytes_);
    munmap(buckets_, buckets_bytes_);
}

uint64_t FlowCache::hash(const FlowKey& k) const {
    uint64_t w[6];
    std::memcpy(w, &k, sizeof w);
    const uint64_t s = cfg_.hash_seed;
    uint64_t h = mum(w[0] ^ s ^ 0xa0761d6478bd642full, w[1] ^ 0xe7037ed1a0b428dbull) ^
                 mum(w[2] ^ s ^ 0x8ebc6af09c88c6e3ull, w[3] ^ 0x589965cc75374cc3ull) ^
                 mum(w[4] ^ s ^ 0x1d8e4e27c47d124full, w[5] ^ 0xa0761d6478bd642full);
    return mum(h, 0x9E3779B97F4A7C15ull ^ s);
}

uint32_t FlowCache::find(const FlowKey& k, uint64_t h) const {
    uint64_t b = h & bucket_mask_;
    const uint16_t tag = static_cast<uint16_t>(h >> 48);
    for (;;) {
        const Bucket& bk = buckets_[b];
        for (unsigned i = 0; i < 8; ++i) {
            if ((bk.used >> i & 1) && bk.tag[i] == tag && entries_[bk.idx[i]].key == k)
                return bk.idx[i];
        }
        if (bk.overflow == 0) return kNil;
        b = (b + 1) & bucket_mask_;
    }
}

uint32_t FlowCache::insert(const FlowKey& k, uint64_t h, uint64_t now_ns) {
    uint32_t idx;
    if (free_head_ != kNil) {
        idx = free_head_;
        free_head_ = entries_[idx].touch_next;
    } else {
        idx = high_water_++;
    }
    const uint64_t home = h & bucket_mask_;
    uint64_t b = home;
    for (;;) {
        Bucket& bk = buckets_[b];
        if (bk.used != 0xFF) {
            unsigned slot = static_cast<unsigned>(std::countr_one(bk.used));
            bk.used |= uint8_t(1u << slot);
            bk.tag[slot] = static_cast<uint16_t>(h >> 48);
            bk.idx[slot] = idx;
            break;
        }
        ++bk.overflow;
        b = (b + 1) & bucket_mask_;
    }
    Entry& e = entries_[idx];
    e.key = k;
    e.packets = 0;
    e.bytes = 0;
    e.first_ns = UINT64_MAX;
    e.last_ns = 0;
    e.touch_ns = now_ns;
    e.aux = 0;
    e.seq0 = 0;
    e.dpi_flags = 0;
    e.home = static_cast<uint32_t>(home);
    e.tcp_flags = 0;
    e.min_ttl = 255;
    e.max_ttl = 0;
    e.list = List::idle;
    push_touch(idx);
    push_active(idx);
    ++live_;
    ++c_.flows_created;
    return idx;
}

void FlowCache::unlink_touch(uint32_t idx) {
    Entry& e = entries_[idx];
    Links& l = touch_[static_cast<int>(e.list)];
    if (e.touch_prev != kNil) entries_[e.touch_prev].touch_next = e.touch_next;
    else l.head = e.touch_next;
    if (e.touch_next != kNil) entries_[e.touch_next].touch_prev = e.touch_prev;
    else l.tail = e.touch_prev;
}

void FlowCache::push_touch(uint32_t idx) {
    Entry& e = entries_[idx];
    Links& l = touch_[static_cast<int>(e.list)];
    e.touch_next = kNil;
    e.touch_prev = l.tail;
    if (l.tail != kNil) entries_[l.tail].touch_next = idx;
    else l.head = idx;
    l.tail = idx;
}

void FlowCache::unlink_active(uint32_t idx) {
    Entry& e = entries_[idx];
    if (e.active_prev != kNil) entries_[e.active_prev].active_next = e.active_next;
    else active_.head = e.active_next;
    if (e.active_next != kNil) entries_[e.active_next].active_prev = e.active_prev;
    else active_.tail = e.active_prev;
}

void FlowCache::push_active(uint32_t idx) {
    Entry& e = entries_[idx];
    e.active_next = kNil;
    e.active_prev = active_.tail;
    if (active_.tail != kNil) entries_[active_.tail].active_next = idx;
    else active_.head = idx;
    active_.tail = idx;
}

void FlowCache::remove(uint32_t idx, uint64_t now_ns, EndReason reason) {
    Entry& e = entries_[idx];
    FlowRecord r;
    r.key = e.key;
    r.packets = e.packets;
    r.bytes = e.bytes;
    r.first_ns = e.first_ns;
    r.last_ns = e.last_ns;
    // When the flow's timer fell due, not when it was noticed: reading a file, the next packet
    // may come days later, and the record's export time must stay close to the flow.
    uint64_t due = now_ns;
    switch (reason) {
        case EndReason::idle: due = e.touch_ns + cfg_.inactive_timeout_ns; break;
        case EndReason::end_of_flow: due = e.touch_ns + cfg_.fin_timeout_ns; break;
        case EndReason::active: due = e.first_ns + cfg_.active_timeout_ns; break;
        default: break;
    }
    r.export_ns = std::max(std::min(now_ns, due), e.last_ns);
    r.vlan = e.vlan;
    r.tos = e.tos;
    r.tcp_flags = e.tcp_flags;
    r.min_ttl = e.min_ttl;
    r.max_ttl = e.max_ttl;
    r.end_reason = reason;
    r.aux = e.aux;
    if (reverse_) {
        const Reverse& v = reverse_[idx];
        if (e.init_reversed) {  // the entry holds the canonical key: turn it to the initiator's
            std::swap(r.key.src, r.key.dst);
            std::swap(r.key.sport, r.key.dport);
        }
        if (r.packets) {
            r.first_ns = v.fwd_first_ns;
            r.last_ns = v.fwd_last_ns;
        }
        r.rev_packets = v.packets;
        r.rev_bytes = v.bytes;
        r.rev_first_ns = v.packets ? v.first_ns : 0;
        r.rev_last_ns = v.last_ns;
        r.rev_tcp_flags = v.tcp_flags;
        r.rev_min_ttl = v.packets ? v.min_ttl : 0;
        r.rev_max_ttl = v.max_ttl;
    }
    switch (reason) {
        case EndReason::idle: ++c_.expired_idle; break;
        case EndReason::active: ++c_.expired_active; break;
        case EndReason::end_of_flow: ++c_.expired_end; break;
        case EndReason::forced: ++c_.expired_forced; break;
        case EndReason::lack_of_resources: ++c_.expired_emergency; break;
    }
    sink_(r);

    unlink_touch(idx);
    unlink_active(idx);
    uint64_t b = e.home;
    for (;;) {
        Bucket& bk = buckets_[b];
        bool found = false;
        for (unsigned i = 0; i < 8; ++i) {
            if ((bk.used >> i & 1) && bk.idx[i] == idx) {
                bk.used &= uint8_t(~(1u << i));
                found = true;
                break;
            }
        }
        if (found) break;
        --bk.overflow;  // this entry had spilled past this bucket
        b = (b + 1) & bucket_mask_;
    }
    e.touch_next = free_head_;
    free_head_ = idx;
    --live_;
}

bool FlowCache::expired(const Entry& e, uint64_t now_ns, EndReason& why) const {
    if (e.list == List::ending && now_ns - e.touch_ns > cfg_.fin_timeout_ns) {
        why = EndReason::end_of_flow;
        return true;
    }
    if (now_ns - e.touch_ns > cfg_.inactive_timeout_ns) {
        why = EndReason::idle;
        return true;
    }
    if (now_ns > e.first_ns && now_ns - e.first_ns > cfg_.active_timeout_ns) {
        why = EndReason::active;
        return true;
    }
    return false;
}

FlowCache::Hit FlowCache::update(const PacketInfo& p, uint64_t now_ns) {
    FlowKey k = p.key;
    if (!cfg_.key.tos) k.tos = 0;
    if (!cfg_.key.vlan) k.vlan = 0;
    else k.vlan = p.vlan;
    if (!cfg_.key.ports) k.sport = k.dport = 0;
    // Biflow: both directions look up one canonical key (the endpoint with the smaller address
    // and port first); the entry remembers which way the initiator sent.
    bool swapped = false;
    if (reverse_) {
        const int c = std::memcmp(k.src.data(), k.dst.data(), 16);
        if (c > 0 || (c == 0 && k.sport > k.dport)) {
            std::swap(k.src, k.dst);
            std::swap(k.sport, k.dport);
            swapped = true;
        }
    }
    const uint64_t h = hash(k);
    uint32_t idx = find(k, h);
    if (idx != kNil) {
        EndReason why;
        if (expired(entries_[idx], now_ns, why)) {
            remove(idx, now_ns, why);
            idx = kNil;
        }
    }
    if (idx == kNil) {
        if (live_ >= max_flows_) {
            // Emergency expiry: end the flow that has waited longest, preferring ones already ending.
            uint32_t victim = touch_[1].head != kNil ? touch_[1].head : touch_[0].head;
            remove(victim, now_ns, EndReason::lack_of_resources);
        }
        idx = insert(k, h, now_ns);
        Entry& e = entries_[idx];
        e.vlan = p.vlan;
        e.tos = p.key.tos;
        if (reverse_) {
            // The sender of the first packet initiated, unless it is a SYN/ACK: then the
            // connection was opened by the other side before the capture saw it.
            constexpr uint8_t kSynAck = 0x12;
            e.init_reversed = swapped != (k.proto == 6 && (p.tcp_flags & kSynAck) == kSynAck);
            reverse_[idx] = Reverse{UINT64_MAX, 0, 0, 0, UINT64_MAX, 0, 0, 255, 0};
        }
    }
    Entry& e = entries_[idx];
    e.first_ns = std::min(e.first_ns, p.ts_ns);
    e.last_ns = std::max(e.last_ns, p.ts_ns);
    e.touch_ns = now_ns;
    const bool responder = reverse_ && swapped != static_cast<bool>(e.init_reversed);
    if (responder) {
        Reverse& v = reverse_[idx];
        ++v.packets;
        v.bytes += p.bytes_l3;
        v.first_ns = std::min(v.first_ns, p.ts_ns);
        v.last_ns = std::max(v.last_ns, p.ts_ns);
        v.tcp_flags |= p.tcp_flags;
        v.min_ttl = std::min(v.min_ttl, p.ttl);
        v.max_ttl = std::max(v.max_ttl, p.ttl);
    } else {
        if (reverse_) {
            Reverse& v = reverse_[idx];
            v.fwd_first_ns = std::min(v.fwd_first_ns, p.ts_ns);
            v.fwd_last_ns = std::max(v.fwd_last_ns, p.ts_ns);
        }
        ++e.packets;
        e.bytes += p.bytes_l3;
        e.tcp_flags |= p.tcp_flags;
        e.min_ttl = std::min(e.min_ttl, p.ttl);
        e.max_ttl = std::max(e.max_ttl, p.ttl);
    }
    unlink_touch(idx);
    if (k.proto == 6 && (p.tcp_flags & (kTcpFin | kTcpRst))) e.list = List::ending;
    push_touch(idx);
    return Hit{&e.aux, &e.seq0, &e.dpi_flags, responder};
}

void FlowCache::expire(uint64_t now_ns) {
    while (touch_[1].head != kNil &&
           now_ns - entries_[touch_[1].head].touch_ns > cfg_.fin_timeout_ns)
        remove(touch_[1].head, now_ns, EndReason::end_of_flow);
    while (touch_[0].head != kNil &&
           now_ns - entries_[touch_[0].head].touch_ns > cfg_.inactive_timeout_ns)
        remove(touch_[0].head, now_ns, EndReason::idle);
    // Creation order: first_ns grows along the list except for packets older than the clock,
    // which a hit check catches (expired()), so stopping at the first young head is safe.
    while (active_.head != kNil && now_ns > entries_[active_.head].first_ns &&
           now_ns - entries_[active_.head].first_ns > cfg_.active_timeout_ns)
        remove(active_.head, now_ns, EndReason::active);
    next_expire_ns_ = now_ns + kTimerTickNs;
}

void FlowCache::flush_all(uint64_t now_ns, EndReason reason) {
    // TCP flows that already saw FIN/RST ended on their own; report them as such.
    while (touch_[1].head != kNil) remove(touch_[1].head, now_ns, EndReason::end_of_flow);
    while (active_.head != kNil) remove(active_.head, now_ns, reason);
}

}  // namespace tapflow
