// Ports for non-first IP fragments (DESIGN.md): a first fragment records
// (src, dst, proto, IP id) → (sport, dport); later fragments look it up.
// Fixed size, 4-way set associative, oldest way replaced: no allocation per packet.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

namespace tapflow {

class FragTable {
public:
    FragTable() : sets_(kSets) {}

    void put(const uint8_t* src, const uint8_t* dst, uint8_t addr_len, uint8_t proto,
             uint32_t id, uint16_t sport, uint16_t dport) {
        Key k = make_key(src, dst, addr_len, proto, id);
        Set& s = sets_[index(k)];
        for (auto& e : s.ways) {
            if (e.used && e.key == k) {
                e.sport = sport;
                e.dport = dport;
                return;
            }
        }
        Entry& e = s.ways[s.next];
        s.next = (s.next + 1) % kWays;
        e = Entry{k, sport, dport, true};
    }

    bool get(const uint8_t* src, const uint8_t* dst, uint8_t addr_len, uint8_t proto,
             uint32_t id, uint16_t& sport, uint16_t& dport) const {
        Key k = make_key(src, dst, addr_len, proto, id);
        const Set& s = sets_[index(k)];
        for (const auto& e : s.ways) {
            if (e.used && e.key == k) {
                sport = e.sport;
                dport = e.dport;
                return true;
            }
        }
        return false;
    }

private:
    struct Key {
        std::array<uint8_t, 32> addrs;
        uint32_t id;
        uint8_t proto;
        uint8_t addr_len;
        uint8_t pad[2];
        bool operator==(const Key& o) const { return std::memcmp(this, &o, sizeof(Key)) == 0; }
    };
    struct Entry {
        Key key{};
        uint16_t sport = 0;
        uint16_t dport = 0;
        bool used = false;
    };
    static constexpr size_t kWays = 4;
    static constexpr size_t kSets = 4096;
    struct Set {
        std::array<Entry, kWays> ways{};
        uint8_t next = 0;
    };

    static Key make_key(const uint8_t* src, const uint8_t* dst, uint8_t addr_len, uint8_t proto,
                        uint32_t id) {
        Key k{};
        std::memcpy(k.addrs.data(), src, addr_len);
        std::memcpy(k.addrs.data() + 16, dst, addr_len);
        k.id = id;
        k.proto = proto;
        k.addr_len = addr_len;
        return k;
    }
    static size_t index(const Key& k) {
        uint64_t h = 0x9E3779B97F4A7C15ull ^ k.id;
        for (size_t i = 0; i < 32; i += 8) {
            uint64_t w;
            std::memcpy(&w, k.addrs.data() + i, 8);
            h = (h ^ w) * 0xff51afd7ed558ccdull;
            h ^= h >> 29;
        }
        h ^= k.proto;
        h *= 0xc4ceb9fe1a85ec53ull;
        return (h >> 40) % kSets;
    }

    std::vector<Set> sets_;
};

}  // namespace tapflow
