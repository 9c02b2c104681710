// One worker: capture → decode → flow cache → ring to the exporter thread (DESIGN.md).
// Owns its decoder, cache, clock and counters; nothing on this path is shared or locked.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include "dpi/dpi.hpp"
#include "probe/cache/flow_cache.hpp"
#include "probe/capture/source.hpp"
#include "probe/net/decode.hpp"
#include "probe/spsc_ring.hpp"

namespace tapflow {

// Packet sampling before metering (--sample): systematic count-based (every Nth packet) or
// random n-out-of-N (one packet at a random position in each window of N), RFC 5475.
class Sampler {
public:
    Sampler(uint32_t interval, bool random, uint64_t seed = 0x9E3779B97F4A7C15ull)
        : n_(interval), random_(random), rng_(seed | 1) {
        pick_ = random_ ? next() % n_ : 0;
    }
    // True when this packet is metered.
    bool take() {
        const bool hit = pos_ == pick_;
        if (++pos_ == n_) {
            pos_ = 0;
            if (random_) pick_ = next() % n_;
        }
        return hit;
    }

private:
    uint64_t next() {  // xorshift64*: deterministic, so a file gives the same flows every run
        rng_ ^= rng_ >> 12;
        rng_ ^= rng_ << 25;
        rng_ ^= rng_ >> 27;
        return rng_ * 0x2545F4914F6CDD1Dull;
    }
    uint32_t n_;
    bool random_;
    uint64_t rng_;
    uint32_t pos_ = 0;
    uint32_t pick_ = 0;
};

struct WorkerOptions {
    uint32_t sample = 1;          // 1 in N; 1 = every packet
    bool sample_random = false;
    uint64_t stats_interval_ns = 60ull * 1'000'000'000;  // statistics markers to the exporters
};

class Worker final : public Source::Handler {
public:
    // lossless: wait for room in the ring instead of dropping (reading a file loses nothing by
    // waiting; a live capture must never stall, so it drops and counts).
    // first_ts (may be null): receives the first packet's time before any record is pushed.
    // dpi: null when DPI is off.
    Worker(uint32_t ifindex, const CacheConfig& cc, SpscRing<FlowRecord>& ring, bool lossless,
           std::atomic<uint64_t>* first_ts, const DpiConfig* dpi, const WorkerOptions& wo = {})
        : decoder_(ifindex), cache_(cc, RecordSink{&Worker::push, this}), ring_(ring),
          lossless_(lossless), first_ts_(first_ts),
          dpi_(dpi && dpi->any() ? std::make_unique<Dpi>(*dpi) : nullptr), wo_(wo),
          sampler_(wo.sample > 1 ? std::make_optional<Sampler>(wo.sample, wo.sample_random)
                                 : std::nullopt) {}

    void packet(const Frame& f) override {
        if (first_ts_) [[unlikely]] {
            first_ts_->store(f.ts_ns, std::memory_order_release);
            first_ts_ = nullptr;
            next_stats_ns_ = f.ts_ns + wo_.stats_interval_ns;
        }
        // Time is packet time (DESIGN.md); the clock never goes back, packet timestamps may.
        if (f.ts_ns > clock_ns_) clock_ns_ = f.ts_ns;
        else if (f.ts_ns < clock_ns_) ++cache_.counters().time_backwards;
        meter(f);
        cache_.expire_if_due(clock_ns_);
        // After the flows this packet's time ended, so the marker follows them in the ring.
        if (clock_ns_ >= next_stats_ns_) [[unlikely]] push_stats();
    }

    void idle(uint64_t wall_ns) override {
        if (wall_ns > clock_ns_) clock_ns_ = wall_ns;
        if (next_stats_ns_ == UINT64_MAX) next_stats_ns_ = clock_ns_;  // live, no packet yet
        cache_.expire(clock_ns_);
        if (clock_ns_ >= next_stats_ns_) push_stats();
    }

    void capture_drops(uint64_t total) override { capture_drops_ = total; }

    // End every flow still in the cache (end of file, SIGINT/SIGTERM), then send the final
    // statistics, so collectors get the totals.
    // Capture has stopped by then, so waiting for the exporter costs nothing: nothing is dropped
    // at shutdown, even with more flows in the cache than the ring holds.
    void finish() {
        lossless_ = true;
        cache_.flush_all(clock_ns_, EndReason::forced);
        push_stats();
    }

    const Decoder& decoder() const { return decoder_; }
    const FlowCache& cache() const { return cache_; }
    const Dpi* dpi() const { return dpi_.get(); }

private:
    void meter(const Frame& f) {
        if (sampler_ && !sampler_->take()) {
            ++cache_.counters().sampled_out;
            return;
        }
        if (f.dlt != dlt_) {
            dlt_ = f.dlt;
            link_ = link_type_from_dlt(f.dlt);
        }
        if (!link_) {
            ++decoder_.counters().frames;
            ++decoder_.counters().unsupported_link;
            return;
        }
        PacketInfo pi;
        if (decoder_.decode(*link_, f.data, f.caplen, pi) == DecodeResult::ok) {
            pi.ts_ns = f.ts_ns;
            const FlowCache::Hit h = cache_.update(pi, clock_ns_);
            // DPI only while the flow's state says there may be something to find.
            // Biflow: the dissectors follow one direction, the initiator's.
            if (dpi_ && !h.responder && *h.aux != kDpiDone && (pi.payload_len || pi.key.proto == 6))
                dpi_->inspect(pi, *h.aux, *h.seq0, *h.dpi_flags);
        }
    }

    // A statistics marker through the ring (key.ip_version 0): it reaches the exporters in
    // order with the flows, so the counts a file run reports are the same every run.
    void push_stats() {
        next_stats_ns_ = clock_ns_ + wo_.stats_interval_ns;
        const DecodeCounters& d = decoder_.counters();
        FlowRecord m;
        m.key.ip_version = 0;
        m.packets = d.frames - d.ip_packets + capture_drops_;  // seen but not metered
        m.bytes = cache_.counters().ring_drops;
        m.export_ns = clock_ns_;
        if (!ring_.try_push(m)) {
            if (!lossless_) return;  // live: the next marker carries the totals
            while (!ring_.try_push(m)) std::this_thread::yield();
        }
    }

    static void push(void* ctx, const FlowRecord& rec) {
        auto* w = static_cast<Worker*>(ctx);
        FlowRecord r = rec;
        if (w->dpi_) r.l7 = w->dpi_->release(r.aux);
        while (!w->ring_.try_push(r)) {
            if (!w->lossless_) {
                ++w->cache_.counters().ring_drops;
                delete r.l7;
                return;
            }
            std::this_thread::yield();
        }
    }

    Decoder decoder_;
    FlowCache cache_;
    SpscRing<FlowRecord>& ring_;
    bool lossless_;
    std::atomic<uint64_t>* first_ts_;
    std::unique_ptr<Dpi> dpi_;
    WorkerOptions wo_;
    std::optional<Sampler> sampler_;
    uint64_t clock_ns_ = 0;
    uint64_t capture_drops_ = 0;
    uint64_t next_stats_ns_ = UINT64_MAX;  // set by the first packet (or the first idle tick)
    int dlt_ = -1;
    std::optional<LinkType> link_;
};

}  // namespace tapflow
