// Bounds-checked big-endian reader over a packet (STYLE.md "Parsing").
// Every read checks the remaining length; a failed read sets a sticky flag and returns 0,
// so a decoder can read a whole header and test ok() once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

namespace tapflow {

class ByteReader {
public:
    ByteReader() = default;
    ByteReader(const uint8_t* data, size_t len) : data_(data), len_(len) {}
    explicit ByteReader(std::span<const uint8_t> s) : data_(s.data()), len_(s.size()) {}

    size_t remaining() const { return pos_ <= len_ ? len_ - pos_ : 0; }
    size_t pos() const { return pos_; }
    size_t size() const { return len_; }
    bool ok() const { return ok_; }
    bool has(size_t n) const { return ok_ && remaining() >= n; }
    const uint8_t* data() const { return data_; }
    const uint8_t* cur() const { return data_ + pos_; }

    template <typename T>
    T read() {
        static_assert(std::is_unsigned_v<T>);
        if (!has(sizeof(T))) {
            ok_ = false;
            return 0;
        }
        T v = peek_unchecked<T>(pos_);
        pos_ += sizeof(T);
        return v;
    }

    // Read at an absolute offset without moving; returns 0 and fails when out of bounds.
    template <typename T>
    T peek(size_t off) {
        static_assert(std::is_unsigned_v<T>);
        if (!ok_ || off > len_ || len_ - off < sizeof(T)) {
            ok_ = false;
            return 0;
        }
        return peek_unchecked<T>(off);
    }

    bool skip(size_t n) {
        if (!has(n)) {
            ok_ = false;
            return false;
        }
        pos_ += n;
        return true;
    }

    bool seek(size_t off) {
        if (!ok_ || off > len_) {
            ok_ = false;
            return false;
        }
        pos_ = off;
        return true;
    }

    // Copy n bytes out; fails (and leaves dst untouched) when fewer remain.
    bool read_bytes(void* dst, size_t n) {
        if (!has(n)) {
            ok_ = false;
            return false;
        }
        std::memcpy(dst, data_ + pos_, n);
        pos_ += n;
        return true;
    }

    // Shrink the view to at most n bytes from the start (a header's declared length),
    // so trailing padding and lying lengths can never be read past (tcpdump's nd_push_snaplen).
    void limit(size_t n) {
        if (n < len_) len_ = n;
    }

private:
    template <typename T>
    T peek_unchecked(size_t off) const {
        T v;
        std::memcpy(&v, data_ + off, sizeof(T));
        if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
        if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
        if constexpr (sizeof(T) == 8) v = __builtin_bswap64(v);
        return v;
    }

    const uint8_t* data_ = nullptr;
    size_t len_ = 0;
    size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace tapflow
