// Bounded single-producer single-consumer ring (worker → exporter thread, DESIGN.md).
// try_push never blocks: the caller decides whether a full ring means "drop and count"
// (live capture) or "wait" (reading a file, where waiting loses nothing).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>
#include <stdexcept>

namespace tapflow {

template <typename T>
class SpscRing {
public:
    explicit SpscRing(size_t capacity)
        : cap_(std::bit_ceil(capacity < 2 ? size_t{2} : capacity)), mask_(cap_ - 1),
          slots_(std::make_unique<T[]>(cap_)) {}

    bool try_push(const T& v) {
        const size_t h = head_.load(std::memory_order_relaxed);
        if (h - tail_cache_ == cap_) {
            tail_cache_ = tail_.load(std::memory_order_acquire);
            if (h - tail_cache_ == cap_) return false;
        }
        slots_[h & mask_] = v;
        head_.store(h + 1, std::memory_order_release);
        return true;
    }

    // Pops up to n items into out; returns how many.
    size_t pop(T* out, size_t n) {
        const size_t t = tail_.load(std::memory_order_relaxed);
        size_t avail = head_cache_ - t;
        if (avail == 0) {
            head_cache_ = head_.load(std::memory_order_acquire);
            avail = head_cache_ - t;
            if (avail == 0) return 0;
        }
        if (n > avail) n = avail;
        for (size_t i = 0; i < n; ++i) out[i] = slots_[(t + i) & mask_];
        tail_.store(t + n, std::memory_order_release);
        return n;
    }

    size_t capacity() const { return cap_; }

private:
    const size_t cap_;
    const size_t mask_;
    std::unique_ptr<T[]> slots_;
    alignas(64) std::atomic<size_t> head_{0};
    size_t tail_cache_ = 0;  // producer's view of tail_
    alignas(64) std::atomic<size_t> tail_{0};
    size_t head_cache_ = 0;  // consumer's view of head_
};

}  // namespace tapflow
