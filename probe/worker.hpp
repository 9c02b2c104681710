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

class Worker final : public Source::Handler {
public:
    // lossless: wait for room in the ring instead of dropping (reading a file loses nothing by
    // waiting; a live capture must never stall, so it drops and counts).
    // first_ts (may be null): receives the first packet's time before any record is pushed.
    // dpi: null when DPI is off.
    Worker(uint32_t ifindex, const CacheConfig& cc, SpscRing<FlowRecord>& ring, bool lossless,
           std::atomic<uint64_t>* first_ts, const DpiConfig* dpi)
        : decoder_(ifindex), cache_(cc, RecordSink{&Worker::push, this}), ring_(ring),
          lossless_(lossless), first_ts_(first_ts),
          dpi_(dpi && dpi->any() ? std::make_unique<Dpi>(*dpi) : nullptr) {}

    void packet(const Frame& f) override {
        if (first_ts_) [[unlikely]] {
            first_ts_->store(f.ts_ns, std::memory_order_release);
            first_ts_ = nullptr;
        }
        // Time is packet time (DESIGN.md); the clock never goes back, packet timestamps may.
        if (f.ts_ns > clock_ns_) clock_ns_ = f.ts_ns;
        else if (f.ts_ns < clock_ns_) ++cache_.counters().time_backwards;
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
            if (dpi_ && *h.aux != kDpiDone && (pi.payload_len || pi.key.proto == 6))
                dpi_->inspect(pi, *h.aux, *h.seq0, *h.dpi_flags);
        }
        cache_.expire_if_due(clock_ns_);
    }

    void idle(uint64_t wall_ns) override {
        if (wall_ns > clock_ns_) clock_ns_ = wall_ns;
        cache_.expire(clock_ns_);
    }

    // End every flow still in the cache (end of file, SIGINT/SIGTERM).
    void finish() { cache_.flush_all(clock_ns_, EndReason::forced); }

    const Decoder& decoder() const { return decoder_; }
    const FlowCache& cache() const { return cache_; }
    const Dpi* dpi() const { return dpi_.get(); }

private:
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
    uint64_t clock_ns_ = 0;
    int dlt_ = -1;
    std::optional<LinkType> link_;
};

}  // namespace tapflow
