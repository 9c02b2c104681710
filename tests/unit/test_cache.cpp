// FlowCache (probe/cache/flow_cache.cpp): timers, end reasons, emergency expiry, key fields and
// per-flow counters, with synthetic packets and nanosecond timestamps.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "probe/cache/flow_cache.hpp"

using namespace tapflow;

namespace Catch {
template <>
struct StringMaker<EndReason> {
    static std::string convert(EndReason r) { return std::to_string(static_cast<int>(r)); }
};
}  // namespace Catch

namespace {

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kT0 = 1'700'000'000 * kSec;  // an arbitrary start of packet time

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

struct Pkt {
    uint32_t src = 0x0A000001;  // 10.0.0.1
    uint32_t dst = 0x0A000002;
    uint16_t sport = 40000;
    uint16_t dport = 80;
    uint8_t proto = 6;
    uint64_t ts_ns = kT0;
    uint32_t bytes = 100;
    uint8_t flags = 0;
    uint8_t tos = 0;
    uint16_t vlan = 0;
    uint8_t ttl = 64;
};

PacketInfo make(const Pkt& p) {
    PacketInfo pi;
    pi.key = FlowKey{};
    for (int i = 0; i < 4; ++i) {
        pi.key.src[i] = uint8_t(p.src >> (24 - 8 * i));
        pi.key.dst[i] = uint8_t(p.dst >> (24 - 8 * i));
    }
    pi.key.sport = p.sport;
    pi.key.dport = p.dport;
    pi.key.proto = p.proto;
    pi.key.tos = p.tos;
    pi.key.ip_version = 4;
    pi.key.ifindex = 1;
    pi.ts_ns = p.ts_ns;
    pi.bytes_l3 = p.bytes;
    pi.vlan = p.vlan;
    pi.tcp_flags = p.flags;
    pi.ttl = p.ttl;
    return pi;
}

// A cache whose sink appends every record to `records`, and whose clock is the largest packet
// time seen (as the worker's).
struct Harness {
    std::vector<FlowRecord> records;
    FlowCache cache;
    uint64_t clock = 0;

    explicit Harness(const CacheConfig& cfg) : cache(cfg, RecordSink{&Harness::sink, this}) {}

    static void sink(void* ctx, const FlowRecord& r) {
        static_cast<Harness*>(ctx)->records.push_back(r);
    }
    // As the worker does: account the packet, then run the timers if they are due.
    void packet(const Pkt& p) {
        clock = std::max(clock, p.ts_ns);
        cache.update(make(p), clock);
        cache.expire_if_due(clock);
    }
};

CacheConfig config(uint32_t max_flows = 1024) {
    CacheConfig c;
    c.active_timeout_ns = 1800 * kSec;
    c.inactive_timeout_ns = 15 * kSec;
    c.fin_timeout_ns = 1 * kSec;
    c.max_flows = max_flows;
    return c;
}

uint64_t sum_packets(const std::vector<FlowRecord>& rs) {
    uint64_t n = 0;
    for (const auto& r : rs) n += r.packets;
    return n;
}

}  // namespace

TEST_CASE("Per-flow counters: packets, bytes, times, TTL range, OR of TCP flags", "[cache]") {
    Harness h(config());
    h.packet({.ts_ns = kT0, .bytes = 60, .flags = kSyn, .ttl = 64});
    h.packet({.ts_ns = kT0 + 10 * kMs, .bytes = 1500, .flags = kAck, .ttl = 50});
    h.packet({.ts_ns = kT0 + 20 * kMs, .bytes = 40, .flags = kPsh | kAck, .ttl = 128});
    CHECK(h.cache.size() == 1);
    CHECK(h.records.empty());
    h.cache.flush_all(kT0 + 30 * kMs, EndReason::forced);
    REQUIRE(h.records.size() == 1);
    const FlowRecord& r = h.records[0];
    CHECK(r.packets == 3);
    CHECK(r.bytes == 1600);
    CHECK(r.first_ns == kT0);
    CHECK(r.last_ns == kT0 + 20 * kMs);
    CHECK(r.export_ns == kT0 + 30 * kMs);
    CHECK(r.min_ttl == 50);
    CHECK(r.max_ttl == 128);
    CHECK(r.tcp_flags == (kSyn | kAck | kPsh));
    CHECK(r.end_reason == EndReason::forced);
    CHECK(r.key.sport == 40000);
    CHECK(r.key.dport == 80);
    CHECK(r.key.proto == 6);
    CHECK(r.key.ifindex == 1u);
    CHECK(h.cache.counters().flows_created == 1);
    CHECK(h.cache.size() == 0);
}

TEST_CASE("Out-of-order timestamps: first is the smallest, last the largest", "[cache]") {
    Harness h(config());
    h.packet({.ts_ns = kT0 + 5 * kMs});
    h.packet({.ts_ns = kT0 + 2 * kMs});
    h.packet({.ts_ns = kT0 + 9 * kMs});
    h.packet({.ts_ns = kT0 + 7 * kMs});
    h.cache.flush_all(h.clock, EndReason::forced);
    REQUIRE(h.records.size() == 1);
    CHECK(h.records[0].first_ns == kT0 + 2 * kMs);
    CHECK(h.records[0].last_ns == kT0 + 9 * kMs);
    CHECK(h.records[0].packets == 4);
}

TEST_CASE("Inactive timeout ends a flow (reason idle)", "[cache][timers]") {
    Harness h(config());
    h.packet({.ts_ns = kT0});
    h.packet({.ts_ns = kT0 + 1 * kSec});

    SECTION("by expire()") {
        h.cache.expire(kT0 + 16 * kSec);  // exactly 15 s after the last packet: not yet
        CHECK(h.records.empty());
        h.cache.expire(kT0 + 16 * kSec + 1);
        REQUIRE(h.records.size() == 1);
        CHECK(h.records[0].end_reason == EndReason::idle);
        CHECK(h.records[0].packets == 2);
        CHECK(h.records[0].first_ns == kT0);
        CHECK(h.records[0].last_ns == kT0 + 1 * kSec);
        // Exported as of when its timer fell due (last update + 15 s), not when noticed.
        CHECK(h.records[0].export_ns == kT0 + 16 * kSec);
        CHECK(h.cache.counters().expired_idle == 1);
        CHECK(h.cache.size() == 0);
    }
    SECTION("by a packet of the same flow arriving after the timeout") {
        h.packet({.ts_ns = kT0 + 20 * kSec, .bytes = 7});
        REQUIRE(h.records.size() == 1);
        CHECK(h.records[0].end_reason == EndReason::idle);
        CHECK(h.records[0].packets == 2);
        CHECK(h.records[0].last_ns == kT0 + 1 * kSec);
        CHECK(h.cache.size() == 1);  // a new flow started with that packet
        CHECK(h.cache.counters().flows_created == 2);
        h.cache.flush_all(h.clock, EndReason::forced);
        REQUIRE(h.records.size() == 2);
        CHECK(h.records[1].packets == 1);
        CHECK(h.records[1].bytes == 7);
        CHECK(h.records[1].first_ns == kT0 + 20 * kSec);
        CHECK(h.records[1].end_reason == EndReason::forced);
    }
    SECTION("a packet of another flow moves the clock and expires it") {
        h.packet({.sport = 1, .ts_ns = kT0 + 17 * kSec});
        REQUIRE(h.records.size() == 1);
        CHECK(h.records[0].key.sport == 40000);
        CHECK(h.records[0].end_reason == EndReason::idle);
    }
}

TEST_CASE("Active timeout splits a continuous flow (reason active)", "[cache][timers]") {
    CacheConfig cfg = config();
    cfg.active_timeout_ns = 60 * kSec;
    Harness h(cfg);
    for (uint64_t s = 0; s <= 150; ++s) h.packet({.ts_ns = kT0 + s * kSec});
    REQUIRE(h.records.size() == 2);
    for (const auto& r : h.records) CHECK(r.end_reason == EndReason::active);
    CHECK(h.records[0].first_ns == kT0);
    CHECK(h.records[0].packets == 61);  // 0..60 s; the packet at 61 s starts the next record
    CHECK(h.records[0].last_ns == kT0 + 60 * kSec);
    CHECK(h.records[1].first_ns == kT0 + 61 * kSec);
    CHECK(h.records[1].packets == 61);
    CHECK(h.cache.counters().expired_active == 2);
    h.cache.flush_all(h.clock, EndReason::forced);
    REQUIRE(h.records.size() == 3);
    CHECK(h.records[2].first_ns == kT0 + 122 * kSec);
    CHECK(h.records[2].end_reason == EndReason::forced);
    CHECK(sum_packets(h.records) == 151);
}

TEST_CASE("TCP FIN and RST end a flow after the FIN timeout (reason end of flow)",
          "[cache][timers][tcp]") {
    Harness h(config());
    uint8_t last_flags = 0;
    SECTION("FIN") { last_flags = kFin | kAck; }
    SECTION("RST") { last_flags = kRst; }
    h.packet({.ts_ns = kT0, .flags = kSyn});
    h.packet({.ts_ns = kT0 + 100 * kMs, .flags = kAck});
    h.packet({.ts_ns = kT0 + 200 * kMs, .flags = last_flags});
    h.cache.expire(kT0 + 1200 * kMs);  // exactly the FIN timeout: not yet
    CHECK(h.records.empty());
    h.cache.expire(kT0 + 1201 * kMs);
    REQUIRE(h.records.size() == 1);
    CHECK(h.records[0].end_reason == EndReason::end_of_flow);
    CHECK(h.records[0].packets == 3);
    CHECK(h.records[0].tcp_flags == (kSyn | kAck | last_flags));
    CHECK(h.cache.counters().expired_end == 1);
    CHECK(h.cache.size() == 0);
}

TEST_CASE("A late ACK within the FIN timeout stays in the same record", "[cache][timers][tcp]") {
    Harness h(config());
    h.packet({.ts_ns = kT0, .flags = kSyn});
    h.packet({.ts_ns = kT0 + 100 * kMs, .flags = kFin | kAck});
    h.packet({.ts_ns = kT0 + 600 * kMs, .flags = kAck});  // the peer's last ACK
    CHECK(h.cache.counters().flows_created == 1);
    h.cache.expire(kT0 + 1500 * kMs);  // 0.9 s after the late ACK
    CHECK(h.records.empty());
    h.cache.expire(kT0 + 1601 * kMs);
    REQUIRE(h.records.size() == 1);
    CHECK(h.records[0].packets == 3);
    CHECK(h.records[0].last_ns == kT0 + 600 * kMs);
    CHECK(h.records[0].end_reason == EndReason::end_of_flow);

    SECTION("a packet after the FIN timeout starts a new flow") {
        h.packet({.ts_ns = kT0 + 5 * kSec, .flags = kSyn});
        CHECK(h.cache.counters().flows_created == 2);
        CHECK(h.cache.size() == 1);
    }
}

TEST_CASE("A packet after the FIN timeout ends the old record and starts a new one",
          "[cache][timers][tcp]") {
    Harness h(config());
    h.packet({.ts_ns = kT0, .flags = kFin | kAck});
    h.packet({.ts_ns = kT0 + 2 * kSec, .flags = kSyn});
    REQUIRE(h.records.size() == 1);
    CHECK(h.records[0].end_reason == EndReason::end_of_flow);
    CHECK(h.records[0].packets == 1);
    CHECK(h.cache.size() == 1);
    h.cache.flush_all(h.clock, EndReason::forced);
    REQUIRE(h.records.size() == 2);
    CHECK(h.records[1].tcp_flags == kSyn);
}

TEST_CASE("flush_all ends every flow: forced, or end of flow after FIN", "[cache][timers]") {
    Harness h(config());
    h.packet({.sport = 1, .ts_ns = kT0});
    h.packet({.sport = 2, .ts_ns = kT0 + 1 * kMs, .flags = kFin});
    h.packet({.sport = 3, .proto = 17, .ts_ns = kT0 + 2 * kMs});
    h.cache.flush_all(kT0 + 3 * kMs, EndReason::forced);
    REQUIRE(h.records.size() == 3);
    std::map<uint16_t, EndReason> reason;
    for (const auto& r : h.records) reason[r.key.sport] = r.end_reason;
    CHECK(reason[1] == EndReason::forced);
    CHECK(reason[2] == EndReason::end_of_flow);
    CHECK(reason[3] == EndReason::forced);
    CHECK(h.cache.counters().expired_forced == 2);
    CHECK(h.cache.counters().expired_end == 1);
    CHECK(h.cache.size() == 0);
    for (const auto& r : h.records) CHECK(r.export_ns == kT0 + 3 * kMs);
}

TEST_CASE("A full cache ends the least recently updated flow (reason lack of resources)",
          "[cache][emergency]") {
    Harness h(config(4));
    REQUIRE(h.cache.capacity() == 4);
    for (uint16_t i = 1; i <= 4; ++i) h.packet({.sport = i, .ts_ns = kT0 + i * kMs});
    h.packet({.sport = 1, .ts_ns = kT0 + 5 * kMs});  // flow 1 is now the most recent
    CHECK(h.records.empty());
    h.packet({.sport = 5, .ts_ns = kT0 + 6 * kMs});
    REQUIRE(h.records.size() == 1);
    CHECK(h.records[0].key.sport == 2);
    CHECK(h.records[0].end_reason == EndReason::lack_of_resources);
    CHECK(h.cache.counters().expired_emergency == 1);
    CHECK(h.cache.size() == 4);
    h.packet({.sport = 6, .ts_ns = kT0 + 7 * kMs});
    REQUIRE(h.records.size() == 2);
    CHECK(h.records[1].key.sport == 3);
    h.cache.flush_all(h.clock, EndReason::forced);
    std::set<uint16_t> rest;
    for (size_t i = 2; i < h.records.size(); ++i) rest.insert(h.records[i].key.sport);
    CHECK(rest == std::set<uint16_t>{1, 4, 5, 6});
    CHECK(sum_packets(h.records) == 7);
}

TEST_CASE("Key fields: ToS", "[cache][key]") {
    SECTION("default key: two ToS values are two flows") {
        Harness h(config());
        h.packet({.ts_ns = kT0, .tos = 0x00});
        h.packet({.ts_ns = kT0 + 1, .tos = 0x10});
        CHECK(h.cache.size() == 2);
        h.cache.flush_all(h.clock, EndReason::forced);
        REQUIRE(h.records.size() == 2);
        std::set<uint8_t> key_tos, tos;
        for (const auto& r : h.records) {
            key_tos.insert(r.key.tos);
            tos.insert(r.tos);
            CHECK(r.key.tos == r.tos);
        }
        CHECK(key_tos == std::set<uint8_t>{0x00, 0x10});
    }
    SECTION("-tos: one flow that exports the first packet's ToS") {
        CacheConfig cfg = config();
        cfg.key.tos = false;
        Harness h(cfg);
        h.packet({.ts_ns = kT0, .tos = 0x10});
        h.packet({.ts_ns = kT0 + 1, .tos = 0x00});
        h.packet({.ts_ns = kT0 + 2, .tos = 0xB8});
        CHECK(h.cache.size() == 1);
        h.cache.flush_all(h.clock, EndReason::forced);
        REQUIRE(h.records.size() == 1);
        CHECK(h.records[0].packets == 3);
        CHECK(h.records[0].tos == 0x10);
        CHECK(h.records[0].key.tos == 0);
    }
}

TEST_CASE("Key fields: VLAN", "[cache][key]") {
    SECTION("+vlan: two VLANs are two flows") {
        CacheConfig cfg = config();
        cfg.key.vlan = true;
        Harness h(cfg);
        h.packet({.ts_ns = kT0, .vlan = 10});
        h.packet({.ts_ns = kT0 + 1, .vlan = 20});
        h.packet({.ts_ns = kT0 + 2, .vlan = 10});
        CHECK(h.cache.size() == 2);
        h.cache.flush_all(h.clock, EndReason::forced);
        REQUIRE(h.records.size() == 2);
        for (const auto& r : h.records) {
            CHECK(r.key.vlan == r.vlan);
            CHECK(r.packets == (r.vlan == 10 ? 2u : 1u));
        }
    }
    SECTION("default: VLAN is not a key field, the first packet's VLAN is exported") {
        Harness h(config());
        h.packet({.ts_ns = kT0, .vlan = 10});
        h.packet({.ts_ns = kT0 + 1, .vlan = 20});
        CHECK(h.cache.size() == 1);
        h.cache.flush_all(h.clock, EndReason::forced);
        REQUIRE(h.records.size() == 1);
        CHECK(h.records[0].packets == 2);
        CHECK(h.records[0].vlan == 10);
        CHECK(h.records[0].key.vlan == 0);
    }
}

TEST_CASE("Key fields: -ports merges flows that differ only in ports", "[cache][key]") {
    CacheConfig cfg = config();
    cfg.key.ports = false;
    Harness h(cfg);
    h.packet({.sport = 1000, .ts_ns = kT0});
    h.packet({.sport = 1001, .ts_ns = kT0 + 1});
    CHECK(h.cache.size() == 1);
    h.cache.flush_all(h.clock, EndReason::forced);
    REQUIRE(h.records.size() == 1);
    CHECK(h.records[0].key.sport == 0);
    CHECK(h.records[0].key.dport == 0);
}

TEST_CASE("Churn: 200k flows through a 1000-flow cache", "[cache][emergency][churn]") {
    constexpr uint32_t kMax = 1000;
    constexpr uint32_t kFlows = 200'000;
    Harness h(config(kMax));
    auto key_of = [](uint32_t i) {
        return Pkt{.src = 0x0A000000 | (i >> 16), .sport = uint16_t(i), .dport = 443};
    };
    uint64_t packets_in = 0;
    uint32_t over_capacity = 0, lookup_misses = 0;
    for (uint32_t i = 0; i < kFlows; ++i) {
        Pkt p = key_of(i);
        p.ts_ns = kT0 + uint64_t(i) * 1000;  // 1 µs apart: only emergency expiry ends flows
        h.packet(p);
        ++packets_in;
        if (h.cache.size() > kMax) ++over_capacity;
        if (i >= 8) {
            // A flow updated 8 inserts ago is still live: its lookup must find it.
            Pkt again = key_of(i - 8);
            again.ts_ns = p.ts_ns;
            const uint64_t created = h.cache.counters().flows_created;
            h.packet(again);
            ++packets_in;
            if (h.cache.counters().flows_created != created) ++lookup_misses;
        }
    }
    CHECK(over_capacity == 0);
    CHECK(lookup_misses == 0);
    CHECK(h.cache.size() == kMax);
    CHECK(h.cache.counters().expired_emergency == kFlows - kMax);
    h.cache.flush_all(h.clock, EndReason::forced);
    CHECK(h.cache.size() == 0);
    REQUIRE(h.records.size() == kFlows);
    CHECK(sum_packets(h.records) == packets_in);
    // Every flow delivered exactly once, with both its packets (the last 8 got one).
    std::vector<uint8_t> seen(kFlows, 0);
    uint32_t bad = 0;
    for (const auto& r : h.records) {
        const uint32_t id = uint32_t(r.key.src[3]) << 16 | r.key.sport;
        if (id >= kFlows || seen[id]++) ++bad;
        if (r.packets != (id + 8 < kFlows ? 2u : 1u)) ++bad;
    }
    CHECK(bad == 0);
}

TEST_CASE("Churn against a model: lookups find exactly the live flows", "[cache][churn]") {
    // Random keys from a pool three times the cache size, random packet times within the
    // inactive timeout: flows end by emergency expiry; the sink tells the model which ones.
    constexpr uint32_t kMax = 1000;
    struct Model {
        std::set<uint32_t> live;
        uint64_t packets_out = 0;
    } model;
    struct Ctx {
        Model* model;
        std::vector<FlowRecord>* records;
    };
    std::vector<FlowRecord> records;
    Ctx ctx{&model, &records};
    CacheConfig cfg = config(kMax);
    cfg.hash_seed = 12345;
    FlowCache cache(cfg, RecordSink{[](void* c, const FlowRecord& r) {
                                        auto* x = static_cast<Ctx*>(c);
                                        x->model->live.erase(uint32_t(r.key.sport) << 16 |
                                                             r.key.dport);
                                        x->model->packets_out += r.packets;
                                        x->records->push_back(r);
                                    },
                                    &ctx});
    std::mt19937 rng(7);
    std::uniform_int_distribution<uint32_t> pick(0, 3 * kMax - 1);
    uint64_t clock = kT0;
    uint32_t mismatches = 0;
    for (int n = 0; n < 300'000; ++n) {
        // Skewed: half the packets go to the first 500 keys.
        const uint32_t id = (n & 1) ? pick(rng) % 500 : pick(rng);
        const Pkt p{.sport = uint16_t(id >> 8), .dport = uint16_t(id & 0xFF), .ts_ns = clock};
        const uint32_t model_key = uint32_t(p.sport) << 16 | p.dport;
        const bool was_live = model.live.count(model_key) != 0;
        const uint64_t created = cache.counters().flows_created;
        cache.update(make(p), clock);
        cache.expire_if_due(clock);
        model.live.insert(model_key);
        const bool created_one = cache.counters().flows_created == created + 1;
        if (created_one == was_live) ++mismatches;
        if (cache.size() != model.live.size()) ++mismatches;
        clock += 1000;
    }
    CHECK(mismatches == 0);
    cache.flush_all(clock, EndReason::forced);
    CHECK(model.live.empty());
    CHECK(model.packets_out == 300'000);
    CHECK(records.size() == cache.counters().flows_created);
}

TEST_CASE("Churn through small tables: spills and deletions keep lookups working",
          "[cache][churn]") {
    // Small tables spill into neighbour buckets all the time. A deletion that leaves a bucket's
    // overflow count wrong either hides live flows (a lookup misses, a duplicate flow is
    // created) or, when counts only grow, makes a lookup of a new key walk the table forever.
    for (uint32_t max_flows : {8u, 64u}) {
        CAPTURE(max_flows);
        Harness h(config(max_flows));
        constexpr uint32_t kFlows = 500'000;
        uint32_t over_capacity = 0, lookup_misses = 0;
        uint64_t packets_in = 0;
        for (uint32_t i = 0; i < kFlows; ++i) {
            const uint64_t t = kT0 + uint64_t(i) * 100;
            h.packet({.src = i, .sport = uint16_t(i * 7), .ts_ns = t});
            ++packets_in;
            if (h.cache.size() > max_flows) ++over_capacity;
            if (i >= 2) {
                const uint64_t created = h.cache.counters().flows_created;
                h.packet({.src = i - 2, .sport = uint16_t((i - 2) * 7), .ts_ns = t});
                ++packets_in;
                if (h.cache.counters().flows_created != created) ++lookup_misses;
            }
            if (h.records.size() > 4096) {  // keep memory flat: only the totals matter here
                for (const auto& r : h.records) packets_in -= r.packets;
                h.records.clear();
            }
        }
        CHECK(over_capacity == 0);
        CHECK(lookup_misses == 0);
        h.cache.flush_all(h.clock, EndReason::forced);
        CHECK(sum_packets(h.records) == packets_in);
        CHECK(h.cache.counters().flows_created == kFlows);
    }
}

// =============================================================================================
// Biflow (CacheConfig::biflow, RFC 5103): one entry per connection, keyed by the initiator
// =============================================================================================

namespace {

CacheConfig biflow_config(uint32_t max_flows = 1024) {
    CacheConfig c = config(max_flows);
    c.biflow = true;
    return c;
}

// As Harness::packet, and returns the cache's answer (responder or not).
bool responder(Harness& h, const Pkt& p) {
    h.clock = std::max(h.clock, p.ts_ns);
    const FlowCache::Hit hit = h.cache.update(make(p), h.clock);
    h.cache.expire_if_due(h.clock);
    return hit.responder;
}

std::array<uint8_t, 16> v4(uint32_t a) {
    std::array<uint8_t, 16> out{};
    for (int i = 0; i < 4; ++i) out[size_t(i)] = uint8_t(a >> (24 - 8 * i));
    return out;
}

// Initiator A and responder B; the two orders make the canonical key the initiator's in one
// case and the responder's in the other.
struct Ends {
    uint32_t a, b;
};
constexpr Ends kEnds[] = {{0x0A000001, 0x0A000002}, {0x0A000009, 0x0A000002}};

}  // namespace

TEST_CASE("Biflow: both directions in one record, keyed by the initiator", "[cache][biflow]") {
    for (const Ends e : kEnds) {
        CAPTURE(e.a, e.b);
        Harness h(biflow_config());
        const Pkt fwd{.src = e.a, .dst = e.b, .sport = 40000, .dport = 80};
        const Pkt rev{.src = e.b, .dst = e.a, .sport = 80, .dport = 40000};
        auto at = [](Pkt p, uint64_t ms, uint32_t bytes, uint8_t flags, uint8_t ttl) {
            p.ts_ns = kT0 + ms * kMs;
            p.bytes = bytes;
            p.flags = flags;
            p.ttl = ttl;
            return p;
        };
        CHECK_FALSE(responder(h, at(fwd, 0, 60, kSyn, 64)));
        CHECK(responder(h, at(rev, 1, 60, kSyn | kAck, 50)));
        CHECK_FALSE(responder(h, at(fwd, 2, 52, kAck, 63)));
        CHECK(responder(h, at(rev, 3, 1500, kPsh | kAck, 52)));
        CHECK_FALSE(responder(h, at(fwd, 4, 52, kAck, 64)));
        CHECK(h.cache.size() == 1);
        CHECK(h.cache.counters().flows_created == 1);
        h.cache.flush_all(kT0 + 10 * kMs, EndReason::forced);
        REQUIRE(h.records.size() == 1);
        const FlowRecord& r = h.records[0];
        CHECK(r.key.src == v4(e.a));
        CHECK(r.key.dst == v4(e.b));
        CHECK(r.key.sport == 40000);
        CHECK(r.key.dport == 80);
        CHECK(r.packets == 3);
        CHECK(r.bytes == 164);
        CHECK(r.tcp_flags == (kSyn | kAck));
        CHECK(r.min_ttl == 63);
        CHECK(r.max_ttl == 64);
        CHECK(r.first_ns == kT0);
        CHECK(r.last_ns == kT0 + 4 * kMs);
        CHECK(r.rev_packets == 2);
        CHECK(r.rev_bytes == 1560);
        CHECK(r.rev_tcp_flags == (kSyn | kAck | kPsh));
        CHECK(r.rev_min_ttl == 50);
        CHECK(r.rev_max_ttl == 52);
        CHECK(r.rev_first_ns == kT0 + 1 * kMs);
        CHECK(r.rev_last_ns == kT0 + 3 * kMs);
        CHECK(r.end_reason == EndReason::forced);
    }
}

TEST_CASE("Biflow: a SYN/ACK seen first makes its receiver the initiator", "[cache][biflow]") {
    for (const Ends e : kEnds) {
        CAPTURE(e.a, e.b);
        Harness h(biflow_config());
        // The capture starts after A's SYN: first B → A SYN/ACK, then A's ACK, then B's data.
        CHECK(responder(h, {.src = e.b, .dst = e.a, .sport = 443, .dport = 50000, .ts_ns = kT0,
                            .bytes = 60, .flags = kSyn | kAck, .ttl = 50}));
        CHECK_FALSE(responder(h, {.src = e.a, .dst = e.b, .sport = 50000, .dport = 443,
                                  .ts_ns = kT0 + kMs, .bytes = 52, .flags = kAck, .ttl = 64}));
        CHECK(responder(h, {.src = e.b, .dst = e.a, .sport = 443, .dport = 50000,
                            .ts_ns = kT0 + 2 * kMs, .bytes = 1500, .flags = kPsh | kAck, .ttl = 51}));
        h.cache.flush_all(kT0 + 3 * kMs, EndReason::forced);
        REQUIRE(h.records.size() == 1);
        const FlowRecord& r = h.records[0];
        CHECK(r.key.src == v4(e.a));
        CHECK(r.key.dst == v4(e.b));
        CHECK(r.key.sport == 50000);
        CHECK(r.key.dport == 443);
        CHECK(r.packets == 1);
        CHECK(r.bytes == 52);
        CHECK(r.tcp_flags == kAck);
        CHECK(r.first_ns == kT0 + kMs);  // the initiator's own packets
        CHECK(r.last_ns == kT0 + kMs);
        CHECK(r.rev_packets == 2);
        CHECK(r.rev_bytes == 1560);
        CHECK(r.rev_tcp_flags == (kSyn | kAck | kPsh));
        CHECK(r.rev_min_ttl == 50);
        CHECK(r.rev_max_ttl == 51);
        CHECK(r.rev_first_ns == kT0);
        CHECK(r.rev_last_ns == kT0 + 2 * kMs);
    }
    SECTION("a SYN/ACK alone: the key is still its receiver's, no forward packets") {
        Harness h(biflow_config());
        h.packet({.src = 0x0A000002, .dst = 0x0A000001, .sport = 443, .dport = 50000,
                  .flags = kSyn | kAck});
        h.cache.flush_all(kT0 + kMs, EndReason::forced);
        REQUIRE(h.records.size() == 1);
        CHECK(h.records[0].key.src == v4(0x0A000001));
        CHECK(h.records[0].key.sport == 50000);
        CHECK(h.records[0].packets == 0);
        CHECK(h.records[0].rev_packets == 1);
    }
    SECTION("a SYN alone, or any other first packet: the sender initiates") {
        for (uint8_t flags : {kSyn, kAck, uint8_t(kSyn | kAck | kFin), uint8_t(kPsh | kAck)}) {
            CAPTURE(int(flags));
            Harness h(biflow_config());
            const bool synack = (flags & (kSyn | kAck)) == (kSyn | kAck);
            h.packet({.src = 0x0A000002, .dst = 0x0A000001, .sport = 443, .dport = 50000,
                      .flags = flags});
            h.cache.flush_all(kT0 + kMs, EndReason::forced);
            REQUIRE(h.records.size() == 1);
            CHECK(h.records[0].key.src == v4(synack ? 0x0A000001 : 0x0A000002));
        }
    }
    SECTION("UDP has no SYN/ACK: the first sender initiates") {
        Harness h(biflow_config());
        h.packet({.src = 0x0A000002, .dst = 0x0A000001, .sport = 53, .dport = 50000, .proto = 17,
                  .flags = kSyn | kAck});  // not TCP: the flags byte means nothing
        h.packet({.src = 0x0A000001, .dst = 0x0A000002, .sport = 50000, .dport = 53, .proto = 17,
                  .ts_ns = kT0 + kMs});
        h.cache.flush_all(kT0 + 2 * kMs, EndReason::forced);
        REQUIRE(h.records.size() == 1);
        CHECK(h.records[0].key.src == v4(0x0A000002));
        CHECK(h.records[0].key.sport == 53);
        CHECK(h.records[0].packets == 1);
        CHECK(h.records[0].rev_packets == 1);
    }
}

TEST_CASE("Biflow: packets that differ in ports, protocol or ToS do not pair", "[cache][biflow]") {
    Harness h(biflow_config());
    h.packet({.src = 0x0A000001, .dst = 0x0A000002, .sport = 40000, .dport = 80});
    h.packet({.src = 0x0A000002, .dst = 0x0A000001, .sport = 81, .dport = 40000, .ts_ns = kT0 + 1});
    h.packet({.src = 0x0A000002, .dst = 0x0A000001, .sport = 80, .dport = 40001, .ts_ns = kT0 + 2});
    h.packet({.src = 0x0A000002, .dst = 0x0A000001, .sport = 80, .dport = 40000, .proto = 17,
              .ts_ns = kT0 + 3});
    h.packet({.src = 0x0A000002, .dst = 0x0A000001, .sport = 80, .dport = 40000, .ts_ns = kT0 + 4,
              .tos = 0x20});
    h.packet({.src = 0x0A000003, .dst = 0x0A000001, .sport = 80, .dport = 40000, .ts_ns = kT0 + 5});
    CHECK(h.cache.size() == 6);
    h.cache.flush_all(h.clock, EndReason::forced);
    REQUIRE(h.records.size() == 6);
    for (const FlowRecord& r : h.records) {
        CHECK(r.packets == 1);
        CHECK(r.rev_packets == 0);
        CHECK(r.rev_bytes == 0);
        CHECK(r.rev_first_ns == 0);
        CHECK(r.rev_last_ns == 0);
        CHECK(r.rev_min_ttl == 0);
        CHECK(r.rev_max_ttl == 0);
    }
}

TEST_CASE("Biflow: same address on both ends pairs by ports", "[cache][biflow]") {
    Harness h(biflow_config());
    h.packet({.src = 0x7F000001, .dst = 0x7F000001, .sport = 5000, .dport = 4000, .bytes = 10});
    CHECK(responder(h, {.src = 0x7F000001, .dst = 0x7F000001, .sport = 4000, .dport = 5000,
                        .ts_ns = kT0 + 1, .bytes = 20}));
    h.cache.flush_all(h.clock, EndReason::forced);
    REQUIRE(h.records.size() == 1);
    CHECK(h.records[0].key.sport == 5000);
    CHECK(h.records[0].key.dport == 4000);
    CHECK(h.records[0].bytes == 10);
    CHECK(h.records[0].rev_bytes == 20);
}

TEST_CASE("Biflow: timers see the connection as a whole", "[cache][biflow][timers]") {
    Harness h(biflow_config());
    h.packet({.src = 0x0A000001, .dst = 0x0A000002, .ts_ns = kT0});
    h.packet({.src = 0x0A000002, .dst = 0x0A000001, .sport = 80, .dport = 40000,
              .ts_ns = kT0 + 10 * kSec});
    // 20 s after the first packet, 10 s after the last one: still within the 15 s idle timeout.
    h.packet({.src = 0x0B000001, .dst = 0x0B000002, .ts_ns = kT0 + 20 * kSec});
    CHECK(h.records.empty());
    h.packet({.src = 0x0B000001, .dst = 0x0B000002, .ts_ns = kT0 + 26 * kSec});
    REQUIRE(h.records.size() == 1);
    const FlowRecord& r = h.records[0];
    CHECK(r.end_reason == EndReason::idle);
    CHECK(r.packets == 1);
    CHECK(r.last_ns == kT0);
    CHECK(r.rev_packets == 1);
    CHECK(r.rev_last_ns == kT0 + 10 * kSec);

    SECTION("a FIN from the responder ends the connection after the FIN timeout") {
        Harness f(biflow_config());
        f.packet({.src = 0x0A000001, .dst = 0x0A000002, .ts_ns = kT0, .flags = kSyn});
        f.packet({.src = 0x0A000002, .dst = 0x0A000001, .sport = 80, .dport = 40000,
                  .ts_ns = kT0 + kMs, .flags = kFin | kAck});
        f.packet({.src = 0x0B000001, .dst = 0x0B000002, .ts_ns = kT0 + 2 * kSec});
        REQUIRE(f.records.size() == 1);
        CHECK(f.records[0].end_reason == EndReason::end_of_flow);
        CHECK(f.records[0].key.src == v4(0x0A000001));
        CHECK(f.records[0].rev_tcp_flags == (kFin | kAck));
    }
}

TEST_CASE("Uniflow mode is unchanged: each direction its own record, no reverse values",
          "[cache][biflow]") {
    Harness h(config());
    CHECK_FALSE(responder(h, {.src = 0x0A000009, .dst = 0x0A000002, .sport = 40000, .dport = 80,
                              .flags = kSyn}));
    CHECK_FALSE(responder(h, {.src = 0x0A000002, .dst = 0x0A000009, .sport = 80, .dport = 40000,
                              .ts_ns = kT0 + 1, .flags = kSyn | kAck}));
    CHECK(h.cache.size() == 2);
    h.cache.flush_all(h.clock, EndReason::forced);
    REQUIRE(h.records.size() == 2);
    std::set<uint32_t> sources;
    for (const FlowRecord& r : h.records) {
        sources.insert(uint32_t(r.key.src[3]));
        CHECK(r.packets == 1);
        CHECK(r.rev_packets == 0);
        CHECK(r.rev_first_ns == 0);
        CHECK(r.rev_tcp_flags == 0);
    }
    CHECK(sources == std::set<uint32_t>{2, 9});
}

TEST_CASE("Biflow churn: every packet counted once, in one direction or the other",
          "[cache][biflow][churn]") {
    // Connections between 2000 address pairs through a 256-flow cache; each packet goes a random
    // way. Whatever ends when, forward + reverse packets add up to what went in.
    Harness h(biflow_config(256));
    std::mt19937 rng(11);
    std::uniform_int_distribution<uint32_t> pick(0, 1999);
    uint64_t in = 0;
    uint32_t over_capacity = 0;
    for (int n = 0; n < 100'000; ++n) {
        const uint32_t c = pick(rng);
        const bool back = rng() & 1;
        Pkt p{.src = 0x0A000000 | c, .dst = 0x0B000000 | (c * 7 % 2000), .sport = uint16_t(1024 + c),
              .dport = 443, .ts_ns = kT0 + uint64_t(n) * 1000};
        if (back) {
            std::swap(p.src, p.dst);
            std::swap(p.sport, p.dport);
        }
        h.packet(p);
        ++in;
        if (h.cache.size() > 256) ++over_capacity;
    }
    CHECK(over_capacity == 0);
    h.cache.flush_all(h.clock, EndReason::forced);
    uint64_t out = 0;
    uint32_t bad_keys = 0;
    for (const FlowRecord& r : h.records) {
        out += r.packets + r.rev_packets;
        // The key is always one of the real endpoints' views: 10.x port 1024+c, or 11.x port 443.
        const bool from_10 = r.key.src[0] == 10;
        if ((from_10 ? r.key.dport : r.key.sport) != 443) ++bad_keys;
    }
    CHECK(bad_keys == 0);
    CHECK(out == in);
    CHECK(h.records.size() == h.cache.counters().flows_created);
}
