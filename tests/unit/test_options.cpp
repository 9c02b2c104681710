// Option records on the wire (exporter/template_encoder.cpp: templates 270-274, statistics(),
// session preambles), v9 absolute times, flowDirection and LocalNets, biflow export (Exporter
// split for v5/v9/JSON, reverse IEs in IPFIX), the Sampler (probe/worker.hpp) and the
// per-destination URI settings (exporter/exporter.cpp parse_destination, destination_options).
//
// Expected bytes are written from docs/fields.md and docs/exporting.md, not from the encoder.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "dpi/l7.hpp"
#include "exporter/encoder.hpp"
#include "exporter/exporter.hpp"
#include "exporter/ie.hpp"
#include "probe/worker.hpp"
#include "wire.hpp"

using namespace tapflow;
using namespace tapflow::wire;
namespace fs = std::filesystem;

namespace {

constexpr uint32_t kDomain = 0x01020304;
constexpr uint32_t kReversePen = 29305;

// An interface description longer than the 64-byte field: sent cut to 63 bytes + NUL.
const std::string kIfDescription =
    "uplink to the core switch, building 7, rack 12, port 3 (mirror session 2)";

// The reference flow with a responder direction (biflow).
FlowRecord reference_biflow() {
    FlowRecord r = reference_v4();
    r.rev_packets = 7;
    r.rev_bytes = 9000;
    r.rev_first_ns = kFirstNs + 40'000'000;   // +40 ms
    r.rev_last_ns = kLastNs - 100'000'000;    // -100 ms
    r.rev_tcp_flags = 0x12 | 0x04;            // SYN|ACK, RST (differs from the forward 0x1B)
    r.rev_min_ttl = 57;
    r.rev_max_ttl = 58;
    return r;
}

// Big-endian n-byte value.
Bytes be(uint64_t v, size_t n) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[n - 1 - i] = uint8_t(v >> (8 * i));
    return b;
}

// A fixed-length option string: at most n-1 bytes of s, NUL-padded to n.
Bytes fixed_str(const std::string& s, size_t n) {
    Bytes b(n, 0);
    std::memcpy(b.data(), s.data(), std::min(s.size(), n - 1));
    return b;
}

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

struct Field {
    uint16_t id;
    uint16_t length;
    uint32_t pen = 0;
    bool operator==(const Field& o) const {
        return id == o.id && length == o.length && pen == o.pen;
    }
};
using Fields = std::vector<Field>;

// Data template records (set 0 / 2) → fields, enterprise bit understood.
std::map<uint16_t, Fields> templates_of(const Bytes& body) {
    std::map<uint16_t, Fields> out;
    size_t off = 0;
    while (off + 4 <= body.size()) {
        const uint16_t id = uint16_t(rd(body, off, 2));
        const uint16_t count = uint16_t(rd(body, off + 2, 2));
        off += 4;
        Fields f;
        for (uint16_t i = 0; i < count; ++i) {
            uint16_t fid = uint16_t(rd(body, off, 2));
            const uint16_t len = uint16_t(rd(body, off + 2, 2));
            off += 4;
            uint32_t pen = 0;
            if (fid & 0x8000) {
                fid &= 0x7FFF;
                pen = uint32_t(rd(body, off, 4));
                off += 4;
            }
            f.push_back({fid, len, pen});
        }
        CHECK(out.count(id) == 0);
        out[id] = f;
    }
    CHECK(off == body.size());
    return out;
}

// One options template record, the only record of its set.
struct OptionTemplate {
    uint16_t id = 0;
    Fields scope;
    Fields fields;
};

OptionTemplate parse_option_template(bool ipfix, const Set& s) {
    OptionTemplate t;
    const Bytes& b = s.body;
    if (ipfix) {
        REQUIRE(s.id == 3);
        t.id = uint16_t(rd(b, 0, 2));
        const uint16_t count = uint16_t(rd(b, 2, 2));
        const uint16_t scopes = uint16_t(rd(b, 4, 2));
        REQUIRE(scopes >= 1);
        REQUIRE(scopes <= count);
        size_t off = 6;
        for (uint16_t i = 0; i < count; ++i) {
            const uint16_t fid = uint16_t(rd(b, off, 2));
            CHECK((fid & 0x8000) == 0);  // every option IE is IANA
            const Field f{fid, uint16_t(rd(b, off + 2, 2))};
            (i < scopes ? t.scope : t.fields).push_back(f);
            off += 4;
        }
        CHECK(off == b.size());  // alone in its set, no padding
    } else {
        REQUIRE(s.id == 1);
        t.id = uint16_t(rd(b, 0, 2));
        const uint16_t scope_len = uint16_t(rd(b, 2, 2));
        const uint16_t option_len = uint16_t(rd(b, 4, 2));
        REQUIRE(scope_len % 4 == 0);
        REQUIRE(option_len % 4 == 0);
        size_t off = 6;
        for (size_t i = 0; i < scope_len / 4u; ++i, off += 4)
            t.scope.push_back({uint16_t(rd(b, off, 2)), uint16_t(rd(b, off + 2, 2))});
        for (size_t i = 0; i < option_len / 4u; ++i, off += 4)
            t.fields.push_back({uint16_t(rd(b, off, 2)), uint16_t(rd(b, off + 2, 2))});
        // Alone in its FlowSet: what follows the record is padding to 4 bytes, all zero.
        CHECK(b.size() - off < 4);
        for (size_t i = off; i < b.size(); ++i) CHECK(b[i] == 0);
        CHECK(s.length % 4 == 0);
    }
    return t;
}

size_t record_length(const OptionTemplate& t) {
    size_t n = 0;
    for (const Field& f : t.scope) n += f.length;
    for (const Field& f : t.fields) n += f.length;
    return n;
}

// The records of an option data set (v9: followed by zero padding to 4 bytes).
std::vector<Bytes> option_records(bool ipfix, const OptionTemplate& t, const Set& s) {
    const size_t len = record_length(t);
    REQUIRE(len > 0);
    std::vector<Bytes> out;
    size_t off = 0;
    while (s.body.size() - off >= len) {
        out.push_back(slice(s.body, off, len));
        off += len;
    }
    if (ipfix) {
        CHECK(off == s.body.size());
    } else {
        CHECK(s.length % 4 == 0);
        CHECK(s.body.size() - off < 4);
        for (size_t i = off; i < s.body.size(); ++i) CHECK(s.body[i] == 0);
    }
    return out;
}

// An option table message: the options template set, then its records (IPFIX: one record per
// set, for nfdump 1.7.1; v9: one FlowSet). `first` is the index of the template set.
struct OptionTable {
    OptionTemplate t;
    std::vector<Bytes> rows;
    size_t next = 0;  // index of the set after the table
};

OptionTable parse_option_table(bool ipfix, const std::vector<Set>& sets, size_t first,
                               size_t expected_rows) {
    REQUIRE(first < sets.size());
    OptionTable ot{parse_option_template(ipfix, sets[first]), {}, 0};
    const size_t data_sets = ipfix ? expected_rows : 1;
    REQUIRE(first + 1 + data_sets <= sets.size());
    for (size_t i = first + 1; i < first + 1 + data_sets; ++i) {
        CHECK(sets[i].id == ot.t.id);
        const auto rows = option_records(ipfix, ot.t, sets[i]);
        if (ipfix) CHECK(rows.size() == 1);
        ot.rows.insert(ot.rows.end(), rows.begin(), rows.end());
    }
    ot.next = first + 1 + data_sets;
    return ot;
}

// A message that holds one option table and nothing else.
OptionTable option_message(bool ipfix, const Bytes& m, size_t expected_rows) {
    const auto sets = sets_of(m, ipfix ? 16 : 20);
    const OptionTable ot = parse_option_table(ipfix, sets, 0, expected_rows);
    CHECK(ot.next == sets.size());
    return ot;
}

// What docs/fields.md says an options template holds, and its static records.
struct Expected {
    uint16_t id;
    Fields scope;
    Fields fields;
    std::vector<Bytes> rows;
};

std::vector<Expected> expected_tables(bool ipfix, bool random) {
    std::vector<Expected> v;
    const Fields domain_scope = ipfix ? Fields{{149, 4}} : Fields{{1, 4}};  // v9: System scope
    const Bytes domain = be(kDomain, 4);
    if (ipfix) {
        v.push_back({271, {{302, 8}}, {{305, 4}, {306, 4}}, {cat({be(0, 8), be(1, 4), be(9, 4)})}});
        if (random)
            v.push_back({272, {{302, 8}}, {{304, 2}, {309, 4}, {310, 4}},
                         {cat({be(0, 8), be(3, 2), be(1, 4), be(10, 4)})}});
        else
            v.push_back({272, {{302, 8}}, {{304, 2}, {305, 4}, {306, 4}},
                         {cat({be(0, 8), be(1, 2), be(1, 4), be(9, 4)})}});
    } else {
        v.push_back({271, domain_scope, {{34, 4}}, {cat({domain, be(10, 4)})}});
        v.push_back({272, domain_scope, {{34, 4}, {35, 1}},
                     {cat({domain, be(10, 4), be(random ? 2 : 1, 1)})}});
    }
    v.push_back({273, domain_scope, {{10, 4}, {82, 32}, {83, 64}},
                 {cat({domain, be(3, 4), fixed_str("eth0", 32), fixed_str(kIfDescription, 64)})}});
    Expected apps{274, domain_scope, {{95, 3}, {96, 32}, {94, 64}}, {}};
    const std::pair<uint32_t, const char*> ids[] = {{0x060106, "tls"}, {0x060206, "http"}, {0x060306, "dns"}};
    for (size_t i = 0; i < 3; ++i) {
        REQUIRE(kApps[i].id == ids[i].first);
        apps.rows.push_back(cat({domain, be(ids[i].first, 3), fixed_str(ids[i].second, 32),
                                 fixed_str(std::string(kApps[i].description), 64)}));
    }
    v.push_back(apps);
    return v;
}

EncoderOptions options() {
    EncoderOptions o;
    o.boot_ns = kBootNs;
    o.domain = kDomain;
    return o;
}

// --sample 10, one interface, DPI on.
EncoderOptions option_tables(bool random) {
    EncoderOptions o = options();
    o.sampler.interval = 10;
    o.sampler.random = random;
    o.interfaces.push_back({3, "eth0", kIfDescription});
    o.applications = true;
    return o;
}

size_t header_of(bool ipfix) { return ipfix ? 16 : 20; }

// Set ids of a message.
std::vector<uint16_t> set_ids(bool ipfix, const Bytes& m) {
    std::vector<uint16_t> ids;
    for (const Set& s : sets_of(m, header_of(ipfix))) ids.push_back(s.id);
    return ids;
}

bool has_option_template(bool ipfix, const Bytes& m) {
    for (uint16_t id : set_ids(ipfix, m))
        if (id == (ipfix ? 3 : 1)) return true;
    return false;
}

bool has_data_template(bool ipfix, const Bytes& m) {
    for (uint16_t id : set_ids(ipfix, m))
        if (id == (ipfix ? 2 : 0)) return true;
    return false;
}

}  // namespace

// =============================================================================================
// Options templates and their records on the wire
// =============================================================================================

TEST_CASE("Option tables: each options template alone, in its own message with its records, "
          "before the first data message",
          "[options][v9][ipfix]") {
    for (bool ipfix : {false, true}) {
        for (bool random : {false, true}) {
            CAPTURE(ipfix, random);
            Collector c;
            auto enc = make_encoder(ipfix ? ExportFormat::ipfix : ExportFormat::v9,
                                    option_tables(random), c.sink());
            REQUIRE(enc->add(reference_v4(), kNowNs));
            enc->flush(kNowNs);
            const auto want = expected_tables(ipfix, random);
            REQUIRE(c.messages.size() == want.size() + 1);

            uint64_t ipfix_seq = 0;
            for (size_t k = 0; k < want.size(); ++k) {
                CAPTURE(k, want[k].id);
                const Bytes& m = c.messages[k].bytes;
                // The options template set alone, then its records, nothing else.
                const OptionTable ot = option_message(ipfix, m, want[k].rows.size());
                CHECK(ot.t.id == want[k].id);
                CHECK(ot.t.scope == want[k].scope);
                CHECK(ot.t.fields == want[k].fields);
                CHECK(ot.rows == want[k].rows);
                CHECK(c.messages[k].records == 0);  // option records are no flow records
                if (ipfix) {
                    CHECK(rd(m, 0, 2) == 10);
                    CHECK(rd(m, 2, 2) == m.size());
                    CHECK(rd(m, 8, 4) == ipfix_seq);  // option data records count
                    CHECK(rd(m, 12, 4) == kDomain);
                    ipfix_seq += want[k].rows.size();
                } else {
                    CHECK(rd(m, 0, 2) == 9);
                    CHECK(rd(m, 2, 2) == 1 + want[k].rows.size());  // template + records
                    CHECK(rd(m, 12, 4) == k);                       // packets before
                    CHECK(rd(m, 16, 4) == kDomain);
                }
            }
            // Then the first data message: data templates and the record.
            const Bytes& d = c.messages.back().bytes;
            const auto ids = set_ids(ipfix, d);
            REQUIRE(ids.size() == 2);
            CHECK(ids[0] == (ipfix ? 2 : 0));
            CHECK(ids[1] == 256);
            CHECK(c.messages.back().records == 1);
            if (ipfix) {
                CHECK(ipfix_seq == 6);  // 1 + 1 + 1 + 3 option records
                CHECK(rd(d, 8, 4) == 6);
            } else {
                CHECK(rd(d, 2, 2) == 2 + 1);  // 256 and 257, one record
                CHECK(rd(d, 12, 4) == 4);
            }

            // The next data message: no option table, sequence goes on.
            REQUIRE(enc->add(reference_v4(), kNowNs + kSec));
            enc->flush(kNowNs + kSec);
            REQUIRE(c.messages.size() == want.size() + 2);
            const Bytes& n = c.messages.back().bytes;
            CHECK(set_ids(ipfix, n) == std::vector<uint16_t>{256});
            CHECK(rd(n, ipfix ? 8 : 12, 4) == (ipfix ? 7u : 5u));
            if (!ipfix) CHECK(rd(n, 2, 2) == 1);
        }
    }
}

TEST_CASE("Option tables: none without --sample, interfaces or DPI", "[options][v9][ipfix]") {
    for (bool ipfix : {false, true}) {
        CAPTURE(ipfix);
        Collector c;
        auto enc = make_encoder(ipfix ? ExportFormat::ipfix : ExportFormat::v9, options(), c.sink());
        REQUIRE(enc->add(reference_v4(), kNowNs));
        enc->flush(kNowNs);
        REQUIRE(c.messages.size() == 1);
        CHECK_FALSE(has_option_template(ipfix, c.messages[0].bytes));
        CHECK(rd(c.messages[0].bytes, ipfix ? 8 : 12, 4) == 0);
    }
}

TEST_CASE("Option tables: an interface name is cut to 31 bytes and NUL-terminated",
          "[options][v9][ipfix]") {
    for (bool ipfix : {false, true}) {
        CAPTURE(ipfix);
        EncoderOptions o = options();
        const std::string name = "an-interface-name-longer-than-32-bytes";
        o.interfaces.push_back({70000, name, "x"});
        Collector c;
        auto enc = make_encoder(ipfix ? ExportFormat::ipfix : ExportFormat::v9, o, c.sink());
        REQUIRE(enc->add(reference_v4(), kNowNs));
        enc->flush(kNowNs);
        REQUIRE(c.messages.size() == 2);
        const OptionTable ot = option_message(ipfix, c.messages[0].bytes, 1);
        CHECK(ot.t.id == 273);
        const auto& rows = ot.rows;
        REQUIRE(rows.size() == 1);
        REQUIRE(rows[0].size() == 4 + 4 + 32 + 64);
        CHECK(rd(rows[0], 4, 4) == 70000);
        CHECK(slice(rows[0], 8, 31) == Bytes(name.begin(), name.begin() + 31));
        CHECK(rows[0][8 + 31] == 0);
        CHECK(rows[0][40] == 'x');
        CHECK(slice(rows[0], 41, 63) == Bytes(63, 0));
    }
}

TEST_CASE("Option tables: a table larger than the MTU goes in several messages, each with the "
          "template",
          "[options][v9][ipfix]") {
    for (bool ipfix : {false, true}) {
        CAPTURE(ipfix);
        EncoderOptions o = options();
        o.mtu = 512;
        for (uint32_t i = 1; i <= 20; ++i) o.interfaces.push_back({i, "if" + std::to_string(i), ""});
        Collector c;
        auto enc = make_encoder(ipfix ? ExportFormat::ipfix : ExportFormat::v9, o, c.sink());
        REQUIRE(enc->add(reference_v4(), kNowNs));
        enc->flush(kNowNs);
        REQUIRE(c.messages.size() >= 3);
        std::vector<uint64_t> ifindexes;
        uint64_t seq = 0;
        for (size_t k = 0; k + 1 < c.messages.size(); ++k) {
            CAPTURE(k);
            const Bytes& m = c.messages[k].bytes;
            CHECK(m.size() <= 512);
            const auto sets = sets_of(m, header_of(ipfix));
            REQUIRE(sets.size() >= 2);
            const OptionTable ot = option_message(ipfix, m, ipfix ? sets.size() - 1 : 0);
            CHECK(ot.t.id == 273);
            const auto& rows = ot.rows;
            CHECK(!rows.empty());
            CHECK(c.messages[k].records == 0);
            if (!ipfix) CHECK(rd(m, 2, 2) == 1 + rows.size());
            for (const Bytes& r : rows) ifindexes.push_back(rd(r, 4, 4));
            CHECK(rd(m, ipfix ? 8 : 12, 4) == (ipfix ? seq : k));
            seq += rows.size();
        }
        std::vector<uint64_t> want;
        for (uint64_t i = 1; i <= 20; ++i) want.push_back(i);
        CHECK(ifindexes == want);
        CHECK(set_ids(ipfix, c.messages.back().bytes).back() == 256);
    }
}

TEST_CASE("Option tables are re-sent on the template time, not every template_packets messages",
          "[options][v9][ipfix]") {
    for (bool ipfix : {false, true}) {
        CAPTURE(ipfix);
        EncoderOptions o = option_tables(false);
        o.template_packets = 2;
        o.template_interval_ns = 10 * kSec;
        Collector c;
        auto enc = make_encoder(ipfix ? ExportFormat::ipfix : ExportFormat::v9, o, c.sink());
        // One data message per second of export time, then one at 11 s.
        std::vector<std::string> got;  // per message: "O" option table, "T" data with templates, "D" data
        for (uint64_t s : {0ull, 1ull, 2ull, 3ull, 4ull, 5ull, 11ull}) {
            REQUIRE(enc->add(reference_v4(), kNowNs + s * kSec));
            enc->flush(kNowNs + s * kSec);
        }
        uint64_t data_records = 0, option_records_sent = 0;
        for (const Message& m : c.messages) {
            if (has_option_template(ipfix, m.bytes)) {
                got.push_back("O");
                CHECK_FALSE(has_data_template(ipfix, m.bytes));
                CHECK(m.records == 0);
                const auto sets = sets_of(m.bytes, header_of(ipfix));
                option_records_sent +=
                    option_message(ipfix, m.bytes, ipfix ? sets.size() - 1 : 0).rows.size();
            } else {
                got.push_back(has_data_template(ipfix, m.bytes) ? "T" : "D");
                data_records += m.records;
            }
        }
        const std::vector<std::string> want = {"O", "O", "O", "O", "T", "D", "T", "D", "T", "D",
                                                "O", "O", "O", "O", "T"};
        CHECK(got == want);
        CHECK(data_records == 7);
        CHECK(option_records_sent == 12);
        if (ipfix) {  // the last message's sequence counts every data record before it
            const Bytes& last = c.messages.back().bytes;
            CHECK(rd(last, 8, 4) == 6 + 6 + 6);
        } else {
            CHECK(rd(c.messages.back().bytes, 12, 4) == c.messages.size() - 1);
        }
    }
}

// =============================================================================================
// statistics()
// =============================================================================================

TEST_CASE("statistics(): template 270 and one record in a message of its own",
          "[options][statistics][v9][ipfix]") {
    for (bool ipfix : {false, true}) {
        CAPTURE(ipfix);
        Collector c;
        auto enc = make_encoder(ipfix ? ExportFormat::ipfix : ExportFormat::v9,
                                option_tables(false), c.sink());
        ExportStats st;
        st.messages = 5;
        st.octets = 0x123456789Aull;
        st.records = 42;
        st.ignored_packets = 7;
        st.not_sent_records = 3;
        enc->statistics(st, kNowNs);
        REQUIRE(c.messages.size() == 1);  // no option tables, no data templates with it
        const Bytes& m = c.messages[0].bytes;
        CHECK(c.messages[0].records == 0);  // no flow record in it
        const auto sets = sets_of(m, header_of(ipfix));
        REQUIRE(sets.size() == 2);
        const OptionTemplate t = parse_option_template(ipfix, sets[0]);
        CHECK(t.id == 270);
        CHECK(t.scope == (ipfix ? Fields{{149, 4}} : Fields{{1, 4}}));
        CHECK(t.fields == Fields{{160, 8}, {40, 8}, {41, 8}, {42, 8}, {164, 8}, {166, 8}});
        CHECK(sets[1].id == 270);
        const auto rows = option_records(ipfix, t, sets[1]);
        REQUIRE(rows.size() == 1);
        CHECK(rows[0] == cat({be(kDomain, 4), be(kBootNs / 1'000'000, 8), be(0x123456789Aull, 8),
                              be(5, 8), be(42, 8), be(7, 8), be(3, 8)}));
        if (ipfix) {
            CHECK(rd(m, 8, 4) == 0);
            CHECK(rd(m, 4, 4) == 1299012321);
        } else {
            CHECK(rd(m, 2, 2) == 2);  // template + record
            CHECK(rd(m, 12, 4) == 0);
            CHECK(rd(m, 4, 4) == 121000);  // sysUpTime
        }

        // The boot moves with set_boot_ns; the statistics record follows.
        enc->set_boot_ns(kBootNs + 5 * kSec + 999'999);
        enc->statistics(st, kNowNs + kSec);
        REQUIRE(c.messages.size() == 2);
        const auto sets2 = sets_of(c.messages[1].bytes, header_of(ipfix));
        REQUIRE(sets2.size() == 2);
        const auto rows2 = option_records(ipfix, parse_option_template(ipfix, sets2[0]), sets2[1]);
        REQUIRE(rows2.size() == 1);
        CHECK(rd(rows2[0], 4, 8) == (kBootNs + 5 * kSec) / 1'000'000);
        CHECK(rd(c.messages[1].bytes, ipfix ? 8 : 12, 4) == 1);  // one record / one packet before

        // The following data message counts the statistics record (IPFIX) or message (v9).
        REQUIRE(enc->add(reference_v4(), kNowNs + kSec));
        enc->flush(kNowNs + kSec);
        const Bytes& d = c.messages.back().bytes;
        CHECK(set_ids(ipfix, d).back() == 256);
        if (ipfix) CHECK(rd(d, 8, 4) == 2 + 6);  // 2 statistics records + 6 table records
        else CHECK(rd(d, 12, 4) == c.messages.size() - 1);
    }
}

// =============================================================================================
// Session mode (IPFIX over TCP, IPFIX files)
// =============================================================================================

TEST_CASE("Session mode: templates only in the preamble; the stream has data sets only",
          "[options][session][ipfix]") {
    EncoderOptions o = option_tables(true);
    o.session = true;
    o.template_packets = 1;
    o.template_interval_ns = kSec;
    Collector c;
    auto enc = make_encoder(ExportFormat::ipfix, o, c.sink());

    L7Data tls;
    tls.app = AppId::tls;
    tls.sni = "example.com";
    uint64_t now = kNowNs;
    for (int i = 0; i < 30; ++i, now += 2 * kSec) {
        FlowRecord r = i % 3 == 0 ? reference_v4() : i % 3 == 1 ? reference_v6() : reference_v4();
        if (i % 3 == 2) r.l7 = &tls;
        REQUIRE(enc->add(r, now));
        enc->flush(now);
    }
    ExportStats st;
    st.records = 30;
    enc->statistics(st, now);
    REQUIRE(c.messages.size() == 31);
    uint64_t seq = 0;
    for (size_t k = 0; k < c.messages.size(); ++k) {
        CAPTURE(k);
        const Bytes& m = c.messages[k].bytes;
        for (uint16_t id : set_ids(true, m)) CHECK(id >= 256);  // no set 2 or 3, ever
        CHECK(rd(m, 8, 4) == seq);  // one data record per message
        CHECK(c.messages[k].records == (k < 30 ? 1u : 0u));
        ++seq;
    }

    // statistics() in a session: the data set alone.
    const auto stats_sets = sets_of(c.messages.back().bytes, 16);
    REQUIRE(stats_sets.size() == 1);
    CHECK(stats_sets[0].id == 270);
    CHECK(stats_sets[0].body.size() == 4 + 6 * 8);
    CHECK(rd(stats_sets[0].body, 4 + 24, 8) == 30);  // exportedFlowRecordTotalCount

    // The preamble: every template and the static option records, numbered up to S.
    const uint32_t S = 1000;
    const Bytes p = enc->preamble(now, S);
    REQUIRE(p.size() >= 16);
    CHECK(rd(p, 0, 2) == 10);
    CHECK(rd(p, 2, 2) == p.size());
    CHECK(rd(p, 4, 4) == export_seconds(now));
    CHECK(rd(p, 8, 4) == S - 6);  // 1 + 1 + 1 + 3 option records lead up to S
    CHECK(rd(p, 12, 4) == kDomain);
    const auto sets = sets_of(p, 16);
    REQUIRE(!sets.empty());
    CHECK(sets[0].id == 2);
    const auto data_templates = templates_of(sets[0].body);
    std::set<uint16_t> ids;
    for (const auto& [id, f] : data_templates) ids.insert(id);
    std::set<uint16_t> want_ids;
    for (uint16_t id = 256; id <= 267; ++id) want_ids.insert(id);
    CHECK(ids == want_ids);

    // Then 270 (template only: its record is sent by statistics()) and 271-274 each with records.
    const auto want = expected_tables(true, true);
    REQUIRE(sets.size() >= 2);
    const OptionTemplate stats = parse_option_template(true, sets[1]);
    CHECK(stats.id == 270);
    CHECK(stats.fields.size() == 6);
    size_t at = 2;
    for (size_t k = 0; k < want.size(); ++k) {
        CAPTURE(want[k].id);
        const OptionTable ot = parse_option_table(true, sets, at, want[k].rows.size());
        CHECK(ot.t.id == want[k].id);
        CHECK(ot.t.scope == want[k].scope);
        CHECK(ot.t.fields == want[k].fields);
        CHECK(ot.rows == want[k].rows);
        at = ot.next;
    }
    CHECK(at == sets.size());

    // Asking for a preamble does not disturb the stream's numbering.
    REQUIRE(enc->add(reference_v4(), now));
    enc->flush(now);
    CHECK(rd(c.messages.back().bytes, 8, 4) == 31);
    CHECK(set_ids(true, c.messages.back().bytes) == std::vector<uint16_t>{256});
}

TEST_CASE("Session mode without option tables: the preamble holds the 12 data templates and 270",
          "[options][session][ipfix]") {
    EncoderOptions o = options();
    o.session = true;
    Collector c;
    auto enc = make_encoder(ExportFormat::ipfix, o, c.sink());
    const Bytes p = enc->preamble(kNowNs, 77);
    CHECK(rd(p, 8, 4) == 77);  // no option records in it
    const auto sets = sets_of(p, 16);
    REQUIRE(sets.size() == 2);
    CHECK(templates_of(sets[0].body).size() == 12);
    CHECK(parse_option_template(true, sets[1]).id == 270);
    CHECK(c.messages.empty());  // the preamble is returned, not sent
}

// =============================================================================================
// v9 absolute times, flowDirection, LocalNets
// =============================================================================================

TEST_CASE("v9 absolute time: templates carry 152/153 instead of 22/21, in ms since the epoch",
          "[v9][v9time]") {
    EncoderOptions o = options();
    o.v9_time = V9Time::absolute;
    Collector c;
    auto enc = make_encoder(ExportFormat::v9, o, c.sink());
    REQUIRE(enc->add(reference_v4(), kNowNs));
    REQUIRE(enc->add(reference_v6(), kNowNs));
    enc->flush(kNowNs);
    REQUIRE(c.messages.size() == 1);
    const auto sets = sets_of(c.messages[0].bytes, 20);
    REQUIRE(sets.size() == 3);
    const auto t = templates_of(sets[0].body);
    const Fields head = {{7, 2}, {11, 2}, {4, 1}, {5, 1}, {6, 1}, {10, 4}, {58, 2},
                         {52, 1}, {53, 1}, {136, 1}, {2, 8}, {1, 8}, {152, 8}, {153, 8}, {32, 2}};
    Fields v4 = {{8, 4}, {12, 4}};
    v4.insert(v4.end(), head.begin(), head.end());
    Fields v6 = {{27, 16}, {28, 16}};
    v6.insert(v6.end(), head.begin(), head.end());
    CHECK(t.at(256) == v4);
    CHECK(t.at(257) == v6);

    // IPv4 record: 58 bytes, padded to 60.
    REQUIRE(sets[1].id == 256);
    REQUIRE(sets[1].body.size() == 60);
    CHECK(rd(sets[1].body, 40, 8) == 1299012313266ull);
    CHECK(rd(sets[1].body, 48, 8) == 1299012315766ull);
    CHECK(rd(sets[1].body, 56, 2) == 0);  // ICMP_TYPE
    REQUIRE(sets[2].id == 257);
    CHECK(rd(sets[2].body, 64, 8) == 1299012313266ull);
    CHECK(rd(sets[2].body, 72, 8) == 1299012315766ull);

    SECTION("and through a URI setting") {
        EncoderOptions g = options();
        const EncoderOptions d =
            destination_options(parse_destination("v9://127.0.0.1:2055?v9-time=absolute"), g);
        CHECK(d.v9_time == V9Time::absolute);
        CHECK(describe_templates(false, d)[0].fields[14].ie == Ie::flowStartMilliseconds);
        CHECK(describe_templates(false, g)[0].fields[14].ie == Ie::flowStartSysUpTime);
    }
}

TEST_CASE("flowDirection (61) is appended to every data template with --local-net",
          "[v9][ipfix][direction]") {
    for (bool ipfix : {false, true}) {
        CAPTURE(ipfix);
        EncoderOptions o = options();
        o.direction = true;
        Collector c;
        auto enc = make_encoder(ipfix ? ExportFormat::ipfix : ExportFormat::v9, o, c.sink());
        FlowRecord egress = reference_v4();
        egress.direction = FlowRecord::kEgress;
        FlowRecord ingress = reference_v4();
        ingress.direction = FlowRecord::kIngress;
        REQUIRE(enc->add(egress, kNowNs));
        REQUIRE(enc->add(ingress, kNowNs));
        enc->flush(kNowNs);
        REQUIRE(c.messages.size() == 1);
        const auto sets = sets_of(c.messages[0].bytes, header_of(ipfix));
        REQUIRE(sets.size() == 2);
        const auto t = templates_of(sets[0].body);
        for (uint16_t id : {256, 257}) {
            REQUIRE(t.count(id) == 1);
            CHECK(t.at(id).back() == Field{61, 1});
            CHECK(t.at(id).size() == (ipfix ? 17u : 18u));
        }
        const size_t len = ipfix ? 57 : 51;
        REQUIRE(sets[1].id == 256);
        REQUIRE(sets[1].body.size() >= 2 * len);
        CHECK(sets[1].body[len - 1] == 1);
        CHECK(sets[1].body[2 * len - 1] == 0);

        // Without --local-net there is no flowDirection at all.
        Collector plain;
        auto enc2 = make_encoder(ipfix ? ExportFormat::ipfix : ExportFormat::v9, options(), plain.sink());
        REQUIRE(enc2->add(egress, kNowNs));
        enc2->flush(kNowNs);
        const auto t2 = templates_of(sets_of(plain.messages.at(0).bytes, header_of(ipfix))[0].body);
        for (const Field& f : t2.at(256)) CHECK(f.id != 61);
    }
}

namespace {
FlowKey key(const char* src, const char* dst) {
    FlowKey k;
    set_addr(k.src, src);
    set_addr(k.dst, dst);
    k.ip_version = std::strchr(src, ':') ? 6 : 4;
    return k;
}
}  // namespace

TEST_CASE("LocalNets: prefixes, hosts, /0, and which side is local", "[direction][localnet]") {
    LocalNets n;
    CHECK(n.empty());
    n.add("10.0.0.0/8");
    n.add("172.16.0.0/12");
    n.add("2001:db8::/32");
    n.add("192.0.2.1");  // a host
    CHECK_FALSE(n.empty());

    auto src_local = [&](const char* a) { return n.contains(key(a, a), true); };
    CHECK(src_local("10.0.0.1"));
    CHECK(src_local("10.255.255.255"));
    CHECK_FALSE(src_local("11.0.0.1"));
    CHECK_FALSE(src_local("9.255.255.255"));
    CHECK(src_local("172.16.0.1"));
    CHECK(src_local("172.31.255.255"));   // /12: 172.16-172.31
    CHECK_FALSE(src_local("172.32.0.0"));
    CHECK_FALSE(src_local("172.15.255.255"));
    CHECK(src_local("192.0.2.1"));
    CHECK_FALSE(src_local("192.0.2.2"));
    CHECK_FALSE(src_local("192.0.2.0"));
    CHECK(src_local("2001:db8::1"));
    CHECK(src_local("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    CHECK_FALSE(src_local("2001:db9::1"));
    // An IPv4 prefix never matches an IPv6 address with the same leading bytes, and back.
    CHECK_FALSE(src_local("a00::1"));         // 0a00:: starts like 10.0.0.0
    CHECK_FALSE(n.contains(key("32.1.13.184", "32.1.13.184"), true));  // 0x20010db8

    // contains(k, false) looks at the destination.
    CHECK(n.contains(key("8.8.8.8", "10.1.1.1"), false));
    CHECK_FALSE(n.contains(key("8.8.8.8", "10.1.1.1"), true));

    // egress only from local to non-local.
    CHECK(n.direction(key("10.1.1.1", "8.8.8.8")) == FlowRecord::kEgress);
    CHECK(n.direction(key("8.8.8.8", "10.1.1.1")) == FlowRecord::kIngress);
    CHECK(n.direction(key("10.1.1.1", "172.20.0.1")) == FlowRecord::kIngress);  // local ↔ local
    CHECK(n.direction(key("8.8.8.8", "1.1.1.1")) == FlowRecord::kIngress);      // transit
    CHECK(n.direction(key("2001:db8::5", "2001:4860::8888")) == FlowRecord::kEgress);
    CHECK(n.direction(key("2001:4860::8888", "2001:db8::5")) == FlowRecord::kIngress);
    // Independent of which address is numerically smaller.
    CHECK(n.direction(key("192.0.2.1", "8.8.8.8")) == FlowRecord::kEgress);
    CHECK(n.direction(key("192.0.2.1", "203.0.113.9")) == FlowRecord::kEgress);

    SECTION("/0 makes every address of that family local") {
        LocalNets all4;
        all4.add("0.0.0.0/0");
        CHECK(all4.contains(key("203.0.113.9", "1.2.3.4"), true));
        CHECK(all4.contains(key("1.2.3.4", "255.255.255.255"), false));
        CHECK_FALSE(all4.contains(key("2001:db8::1", "2001:db8::1"), true));
        CHECK(all4.direction(key("1.2.3.4", "5.6.7.8")) == FlowRecord::kIngress);  // both local
        LocalNets all6;
        all6.add("::/0");
        CHECK(all6.contains(key("2001:db8::1", "::1"), true));
        CHECK_FALSE(all6.contains(key("10.0.0.1", "10.0.0.1"), true));
    }
    SECTION("host prefixes: /32 and /128") {
        LocalNets h;
        h.add("198.51.100.7/32");
        h.add("2001:db8::7/128");
        CHECK(h.contains(key("198.51.100.7", "1.1.1.1"), true));
        CHECK_FALSE(h.contains(key("198.51.100.6", "1.1.1.1"), true));
        CHECK(h.contains(key("2001:db8::7", "::1"), true));
        CHECK_FALSE(h.contains(key("2001:db8::6", "::1"), true));
    }
}

TEST_CASE("LocalNets: bad prefixes throw, naming the input", "[direction][localnet]") {
    const char* bad[] = {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/8x",
                         "10.0.0.0/-1", "10.0.0", "host.example", "10.0.0.0/8/8", "2001:db8::/ 32",
                         "300.1.1.1/8"};
    for (const char* p : bad) {
        CAPTURE(p);
        LocalNets n;
        CHECK_THROWS_AS(n.add(p), std::invalid_argument);
        CHECK(n.empty());
    }
    LocalNets n;
    CHECK_THROWS_WITH(n.add("10.0.0.0/33"), Catch::Contains("10.0.0.0/33"));
    CHECK_THROWS_WITH(n.add("bogus"), Catch::Contains("bogus"));
}

// =============================================================================================
// Biflow export
// =============================================================================================

TEST_CASE("IPFIX biflow: the 7 reverse IEs (PEN 29305) and their values", "[biflow][ipfix]") {
    EncoderOptions o = options();
    o.biflow = true;
    Collector c;
    auto enc = make_encoder(ExportFormat::ipfix, o, c.sink());
    REQUIRE(enc->add(reference_biflow(), kNowNs));
    enc->flush(kNowNs);
    REQUIRE(c.messages.size() == 1);
    const auto sets = sets_of(c.messages[0].bytes, 16);
    REQUIRE(sets.size() == 2);
    const auto t = templates_of(sets[0].body);
    const Fields reverse = {{2, 8, kReversePen},   {1, 8, kReversePen},   {6, 1, kReversePen},
                            {52, 1, kReversePen},  {53, 1, kReversePen},  {152, 8, kReversePen},
                            {153, 8, kReversePen}};
    for (uint16_t id : {256, 257}) {
        CAPTURE(id);
        const Fields& f = t.at(id);
        REQUIRE(f.size() == 16 + 7);
        CHECK(Fields(f.begin() + 16, f.end()) == reverse);
        CHECK(f[12] == Field{2, 8});  // the forward counters stay IANA
    }
    REQUIRE(sets[1].id == 256);
    const Bytes& r = sets[1].body;
    REQUIRE(r.size() == 56 + 35);
    CHECK(rd(r, 24, 8) == 10);  // forward packets
    CHECK(rd(r, 56, 8) == 7);
    CHECK(rd(r, 64, 8) == 9000);
    CHECK(rd(r, 72, 1) == 0x16);
    CHECK(rd(r, 73, 1) == 57);
    CHECK(rd(r, 74, 1) == 58);
    CHECK(rd(r, 75, 8) == (kFirstNs + 40'000'000) / 1'000'000);
    CHECK(rd(r, 83, 8) == (kLastNs - 100'000'000) / 1'000'000);

    SECTION("with flowDirection and an application: base, 61, reverse, application fields") {
        EncoderOptions o2 = o;
        o2.direction = true;
        const auto d = describe_templates(true, o2);
        const auto& tls = d.at(2);  // template 258: TLS, IPv4
        REQUIRE(tls.id == 258);
        REQUIRE(tls.fields.size() == 16 + 1 + 7 + 2);
        CHECK(tls.fields[16].ie == Ie::flowDirection);
        CHECK(tls.fields[17].ie == Ie::reversePacketDeltaCount);
        CHECK(tls.fields[23].ie == Ie::reverseFlowEndMilliseconds);
        CHECK(tls.fields[24].ie == Ie::applicationId);
    }
    SECTION("v9 never carries reverse IEs") {
        for (const auto& ti : describe_templates(false, o))
            for (const auto& f : ti.fields) CHECK(info(f.ie).pen != kReversePen);
    }
}

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/tapflow-options-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i)
        if (s[i] == '\n') {
            out.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    CHECK(start == s.size());
    return out;
}

// The raw value of "name": in a flat JSON object ("" when absent); strings without quotes.
std::string json_value(const std::string& line, const std::string& name) {
    const std::string k = "\"" + name + "\":";
    const size_t at = line.find(k);
    if (at == std::string::npos) return "";
    size_t i = at + k.size();
    if (line[i] == '"') {
        const size_t end = line.find('"', i + 1);
        return line.substr(i + 1, end - i - 1);
    }
    const size_t end = line.find_first_of(",}", i);
    return line.substr(i, end - i);
}

// A UDP socket on 127.0.0.1 that collects datagrams (for v5/v9 destinations).
struct UdpCollector {
    int fd = -1;
    uint16_t port = 0;
    UdpCollector() {
        fd = socket(AF_INET, SOCK_DGRAM, 0);
        REQUIRE(fd >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port = ntohs(a.sin_port);
    }
    ~UdpCollector() { ::close(fd); }
    std::string uri(const char* scheme) const {
        return std::string(scheme) + "://127.0.0.1:" + std::to_string(port);
    }
    // Every datagram that arrives within `ms` of the last one.
    std::vector<Bytes> receive(int ms = 2000) {
        std::vector<Bytes> out;
        for (;;) {
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, out.empty() ? ms : 200) <= 0) break;
            Bytes b(65536);
            const ssize_t n = recv(fd, b.data(), b.size(), 0);
            REQUIRE(n >= 0);
            b.resize(size_t(n));
            out.push_back(b);
        }
        return out;
    }
};

}  // namespace

TEST_CASE("Exporter: a biflow goes to JSON lines as two records, forward then reverse",
          "[biflow][exporter][json]") {
    TempDir dir;
    const fs::path file = dir.path / "flows.jsonl";
    L7Data l7;
    l7.app = AppId::tls;
    l7.sni = "example.org";
    {
        Exporter e(parse_destination("jsonl:" + file.string()), options());
        FlowRecord r = reference_biflow();
        r.direction = FlowRecord::kEgress;
        r.l7 = &l7;
        e.add(r, kNowNs);
        FlowRecord only_reverse = reference_biflow();  // the initiator's packets were not seen
        only_reverse.packets = 0;
        only_reverse.bytes = 0;
        e.add(only_reverse, kNowNs);
        e.add(reference_v4(), kNowNs);  // no reverse packets: one record, as it is
        e.close(kNowNs);
        CHECK(e.counters().records == 4);
    }
    const auto ls = lines(read_text(file));
    REQUIRE(ls.size() == 4);

    const std::string& fwd = ls[0];
    CHECK(json_value(fwd, "sourceIPv4Address") == "192.0.2.1");
    CHECK(json_value(fwd, "destinationIPv4Address") == "198.51.100.7");
    CHECK(json_value(fwd, "sourceTransportPort") == "40000");
    CHECK(json_value(fwd, "destinationTransportPort") == "443");
    CHECK(json_value(fwd, "packetDeltaCount") == "10");
    CHECK(json_value(fwd, "octetDeltaCount") == "5000");
    CHECK(json_value(fwd, "tcpControlBits") == "27");
    CHECK(json_value(fwd, "minimumTTL") == "50");
    CHECK(json_value(fwd, "maximumTTL") == "64");
    CHECK(json_value(fwd, "flowStartMilliseconds") == "1299012313266");
    CHECK(json_value(fwd, "flowDirection") == "1");
    CHECK(json_value(fwd, "sslServerName") == "example.org");

    const std::string& rev = ls[1];
    CHECK(json_value(rev, "sourceIPv4Address") == "198.51.100.7");
    CHECK(json_value(rev, "destinationIPv4Address") == "192.0.2.1");
    CHECK(json_value(rev, "sourceTransportPort") == "443");
    CHECK(json_value(rev, "destinationTransportPort") == "40000");
    CHECK(json_value(rev, "protocolIdentifier") == "6");
    CHECK(json_value(rev, "packetDeltaCount") == "7");
    CHECK(json_value(rev, "octetDeltaCount") == "9000");
    CHECK(json_value(rev, "tcpControlBits") == "22");
    CHECK(json_value(rev, "minimumTTL") == "57");
    CHECK(json_value(rev, "maximumTTL") == "58");
    CHECK(json_value(rev, "flowStartMilliseconds") == std::to_string((kFirstNs + 40'000'000) / 1'000'000));
    CHECK(json_value(rev, "flowEndMilliseconds") == std::to_string((kLastNs - 100'000'000) / 1'000'000));
    CHECK(json_value(rev, "flowDirection") == "0");  // the reverse of egress
    CHECK(json_value(rev, "sslServerName").empty());  // application values stay forward

    // Only the responder sent: one record, the reverse one.
    CHECK(json_value(ls[2], "sourceIPv4Address") == "198.51.100.7");
    CHECK(json_value(ls[2], "packetDeltaCount") == "7");
    CHECK(json_value(ls[3], "sourceIPv4Address") == "192.0.2.1");
    CHECK(json_value(ls[3], "packetDeltaCount") == "10");
    CHECK(json_value(ls[3], "flowDirection").empty());  // unknown direction: not written
}

TEST_CASE("Exporter: a biflow goes to NetFlow v9 and v5 as two uniflow records",
          "[biflow][exporter][v9][v5]") {
    for (const char* scheme : {"v9", "v5"}) {
        CAPTURE(scheme);
        UdpCollector col;
        const bool v9 = std::string(scheme) == "v9";
        {
            Exporter e(parse_destination(col.uri(scheme)), options());
            e.add(reference_biflow(), kNowNs);
            e.close(kNowNs);
            CHECK(e.counters().records == 2);
        }
        const auto msgs = col.receive();
        REQUIRE(msgs.size() == 1);
        const Bytes& m = msgs[0];
        Bytes recs;  // the two records, back to back
        size_t len = 0, src = 0, dst = 4, sport = 0, pkts = 0, ttl_or_flags = 0;
        if (v9) {
            CHECK(rd(m, 2, 2) == 2 + 2);
            const auto sets = sets_of(m, 20);
            REQUIRE(sets.size() == 2);
            REQUIRE(sets[1].id == 256);
            recs = sets[1].body;
            len = 50, sport = 8, pkts = 24, ttl_or_flags = 21;  // minimumTTL
        } else {
            CHECK(rd(m, 2, 2) == 2);
            recs = slice(m, 24, m.size() - 24);
            len = 48, sport = 32, pkts = 16, ttl_or_flags = 37;  // tcp_flags
        }
        REQUIRE(recs.size() >= 2 * len);
        CHECK(slice(recs, src, 4) == Bytes{192, 0, 2, 1});
        CHECK(slice(recs, dst, 4) == Bytes{198, 51, 100, 7});
        CHECK(rd(recs, sport, 2) == 40000);
        CHECK(rd(recs, sport + 2, 2) == 443);
        CHECK(rd(recs, pkts, 4 + (v9 ? 4 : 0)) == 10);
        CHECK(rd(recs, ttl_or_flags, 1) == (v9 ? 50 : 0x1B));
        CHECK(slice(recs, len + src, 4) == Bytes{198, 51, 100, 7});
        CHECK(slice(recs, len + dst, 4) == Bytes{192, 0, 2, 1});
        CHECK(rd(recs, len + sport, 2) == 443);
        CHECK(rd(recs, len + sport + 2, 2) == 40000);
        CHECK(rd(recs, len + pkts, 4 + (v9 ? 4 : 0)) == 7);
        CHECK(rd(recs, len + ttl_or_flags, 1) == (v9 ? 57 : 0x16));
    }
}

namespace {
std::vector<Bytes> split_ipfix(const Bytes& file) {
    std::vector<Bytes> out;
    size_t off = 0;
    while (off + 16 <= file.size()) {
        const size_t len = size_t(rd(file, off + 2, 2));
        REQUIRE(len >= 16);
        out.push_back(slice(file, off, len));
        off += len;
    }
    CHECK(off == file.size());
    return out;
}
}  // namespace

TEST_CASE("Exporter: IPFIX keeps a biflow as one record (file destination, session preamble)",
          "[biflow][exporter][ipfix][session]") {
    TempDir dir;
    const fs::path file = dir.path / "flows.ipfix";
    EncoderOptions o = options();
    o.biflow = true;
    o.template_packets = 1;
    {
        Exporter e(parse_destination("ipfix-file:" + file.string()), o);
        e.add(reference_biflow(), kNowNs);
        e.flush(kNowNs);
        e.add(reference_biflow(), kNowNs + kSec);
        e.close(kNowNs + kSec);
        CHECK(e.counters().records == 2);
    }
    const std::string text = read_text(file);
    const auto msgs = split_ipfix(Bytes(text.begin(), text.end()));
    REQUIRE(msgs.size() == 3);  // preamble, two data messages
    CHECK(set_ids(true, msgs[0]).front() == 2);
    CHECK(rd(msgs[0], 8, 4) == 0);
    for (size_t k = 1; k < 3; ++k) {
        CAPTURE(k);
        const auto sets = sets_of(msgs[k], 16);
        REQUIRE(sets.size() == 1);  // session: never a template in the stream
        CHECK(sets[0].id == 256);
        REQUIRE(sets[0].body.size() == 91);
        CHECK(rd(sets[0].body, 56, 8) == 7);
        CHECK(rd(msgs[k], 8, 4) == k - 1);
    }
}

// =============================================================================================
// Sampler
// =============================================================================================

TEST_CASE("Sampler: deterministic 1-in-N takes exactly every Nth packet", "[sampler]") {
    for (uint32_t n : {2u, 3u, 10u, 100u}) {
        CAPTURE(n);
        Sampler s(n, false);
        std::vector<size_t> taken;
        for (size_t i = 0; i < 50 * n; ++i)
            if (s.take()) taken.push_back(i);
        REQUIRE(taken.size() == 50);
        for (size_t k = 0; k < taken.size(); ++k) CHECK(taken[k] == k * n);
    }
    Sampler one(1, false);
    for (int i = 0; i < 10; ++i) CHECK(one.take());
}

TEST_CASE("Sampler: random takes exactly one packet per window of N, at varying positions",
          "[sampler]") {
    auto positions = [](uint32_t n, uint64_t seed, size_t windows) {
        Sampler s(n, true, seed);
        std::vector<uint32_t> pos;
        for (size_t w = 0; w < windows; ++w) {
            int hits = 0;
            for (uint32_t i = 0; i < n; ++i)
                if (s.take()) {
                    ++hits;
                    pos.push_back(i);
                }
            CHECK(hits == 1);
        }
        return pos;
    };
    for (uint32_t n : {2u, 10u, 1000u}) {
        CAPTURE(n);
        const auto a = positions(n, 12345, 200);
        REQUIRE(a.size() == 200);
        const std::set<uint32_t> distinct(a.begin(), a.end());
        CHECK(distinct.size() >= std::min<size_t>(n, 10));  // not always the same position
        for (uint32_t p : a) CHECK(p < n);
        CHECK(positions(n, 12345, 200) == a);  // same seed, same sequence
        CHECK(positions(n, 999, 200) != a);    // another seed, another one
    }
    // The default seed is fixed too: two samplers agree.
    Sampler x(10, true), y(10, true);
    for (int i = 0; i < 1000; ++i) REQUIRE(x.take() == y.take());
    // Over many windows, every position comes up about equally often.
    Sampler s(10, true, 42);
    std::vector<int> hist(10, 0);
    for (int w = 0; w < 10000; ++w)
        for (int i = 0; i < 10; ++i)
            if (s.take()) ++hist[size_t(i)];
    for (int h : hist) CHECK((h > 800 && h < 1200));
}

// =============================================================================================
// parse_destination and destination_options
// =============================================================================================

TEST_CASE("parse_destination: every scheme", "[config][export][uri]") {
    const Destination v5 = parse_destination("v5://10.0.0.1:2055");
    CHECK(v5.format == ExportFormat::v5);
    CHECK(v5.transport == TransportKind::udp);
    CHECK(v5.host == "10.0.0.1");
    CHECK(v5.port == "2055");

    const Destination v9 = parse_destination("v9://[2001:db8::5]:9995");
    CHECK(v9.format == ExportFormat::v9);
    CHECK(v9.transport == TransportKind::udp);
    CHECK(v9.host == "2001:db8::5");
    CHECK(v9.port == "9995");

    const Destination ipfix = parse_destination("ipfix://collector.example:4739");
    CHECK(ipfix.format == ExportFormat::ipfix);
    CHECK(ipfix.transport == TransportKind::udp);
    CHECK(ipfix.host == "collector.example");

    const Destination tcp = parse_destination("ipfix+tcp://[::1]:4739");
    CHECK(tcp.format == ExportFormat::ipfix);
    CHECK(tcp.transport == TransportKind::tcp);
    CHECK(tcp.host == "::1");
    CHECK(tcp.port == "4739");

    const Destination file = parse_destination("ipfix-file:/var/lib/tapflow/%Y%m%d.ipfix");
    CHECK(file.format == ExportFormat::ipfix);
    CHECK(file.transport == TransportKind::ipfix_file);
    CHECK(file.path == "/var/lib/tapflow/%Y%m%d.ipfix");
    CHECK(file.host.empty());

    const Destination json = parse_destination("jsonl:flows.jsonl");
    CHECK(json.format == ExportFormat::jsonl);
    CHECK(json.transport == TransportKind::text_file);
    CHECK(json.path == "flows.jsonl");

    // The URI is kept whole, settings included; no setting given leaves them unset.
    const Destination q = parse_destination("ipfix://h:1?mtu=1500");
    CHECK(q.uri == "ipfix://h:1?mtu=1500");
    CHECK(q.port == "1");
    CHECK_FALSE(ipfix.mtu);
    CHECK_FALSE(ipfix.template_refresh_s);
    CHECK_FALSE(ipfix.template_packets);
    CHECK_FALSE(ipfix.v9_time);
    CHECK_FALSE(ipfix.l7_vocabulary);
}

TEST_CASE("parse_destination: every ?key=value setting", "[config][export][uri]") {
    SECTION("mtu, with K suffix") {
        CHECK(parse_destination("v5://h:1?mtu=512").mtu == 512u);
        CHECK(parse_destination("v9://h:1?mtu=9000").mtu == 9000u);
        CHECK(parse_destination("ipfix://h:1?mtu=4K").mtu == 4096u);
        CHECK(parse_destination("ipfix+tcp://h:1?mtu=65000").mtu == 65000u);
        CHECK(parse_destination("ipfix-file:x?mtu=1400").mtu == 1400u);
    }
    SECTION("template-refresh: seconds, s/m/h suffixes, fractions") {
        CHECK(parse_destination("v9://h:1?template-refresh=30").template_refresh_s == 30.0);
        CHECK(parse_destination("v9://h:1?template-refresh=45s").template_refresh_s == 45.0);
        CHECK(parse_destination("ipfix://h:1?template-refresh=5m").template_refresh_s == 300.0);
        CHECK(parse_destination("ipfix://h:1?template-refresh=1h").template_refresh_s == 3600.0);
        CHECK(parse_destination("ipfix://h:1?template-refresh=0.5").template_refresh_s == 0.5);
    }
    SECTION("template-packets") {
        CHECK(parse_destination("v9://h:1?template-packets=1").template_packets == 1u);
        CHECK(parse_destination("ipfix://h:1?template-packets=1000000").template_packets == 1000000u);
    }
    SECTION("v9-time") {
        CHECK(parse_destination("v9://h:1?v9-time=absolute").v9_time == V9Time::absolute);
        CHECK(parse_destination("v9://h:1?v9-time=uptime").v9_time == V9Time::uptime);
    }
    SECTION("l7-ies") {
        CHECK(parse_destination("v9://h:1?l7-ies=ntop").l7_vocabulary == L7Vocabulary::ntop);
        CHECK(parse_destination("ipfix://h:1?l7-ies=cert").l7_vocabulary == L7Vocabulary::cert);
    }
    SECTION("buffer, backoff-max, linger (ipfix+tcp)") {
        const Destination d =
            parse_destination("ipfix+tcp://[2001:db8::1]:4739?buffer=64M&backoff-max=2m&linger=1.5");
        CHECK(d.host == "2001:db8::1");
        CHECK(d.tcp.buffer_bytes == 64u << 20);
        CHECK(d.tcp.backoff_max_s == 120.0);
        CHECK(d.tcp.linger_s == 1.5);
        CHECK(parse_destination("ipfix+tcp://h:1?buffer=64K").tcp.buffer_bytes == 65536u);
        CHECK(parse_destination("ipfix+tcp://h:1?buffer=65536").tcp.buffer_bytes == 65536u);
        CHECK(parse_destination("ipfix+tcp://h:1?linger=0").tcp.linger_s == 0.0);
        // backoff-max never goes below the first delay (0.5 s)
        CHECK(parse_destination("ipfix+tcp://h:1?backoff-max=0.1").tcp.backoff_max_s == 0.5);
        // defaults
        const Destination plain = parse_destination("ipfix+tcp://h:1");
        CHECK(plain.tcp.buffer_bytes == 8u << 20);
        CHECK(plain.tcp.backoff_max_s == 30.0);
        CHECK(plain.tcp.linger_s == 5.0);
    }
    SECTION("rotate, rotate-size (ipfix-file)") {
        const Destination d = parse_destination("ipfix-file:/tmp/f-%H%M.ipfix?rotate=5m&rotate-size=1M");
        CHECK(d.path == "/tmp/f-%H%M.ipfix");
        CHECK(d.rotation.seconds == 300.0);
        CHECK(d.rotation.bytes == 1u << 20);
        CHECK(parse_destination("ipfix-file:f?rotate=1h").rotation.seconds == 3600.0);
        CHECK(parse_destination("ipfix-file:f?rotate=90").rotation.seconds == 90.0);
        CHECK(parse_destination("ipfix-file:f?rotate-size=64K").rotation.bytes == 65536u);
        CHECK(parse_destination("ipfix-file:f?rotate-size=2G").rotation.bytes == 2ull << 30);
    }
    SECTION("several settings together; the last of a key wins") {
        const Destination d = parse_destination(
            "v9://10.0.0.5:2055?v9-time=absolute&mtu=1400&template-refresh=1m&template-packets=5"
            "&l7-ies=ntop&mtu=1300");
        CHECK(d.mtu == 1300u);
        CHECK(d.v9_time == V9Time::absolute);
        CHECK(d.template_refresh_s == 60.0);
        CHECK(d.template_packets == 5u);
        CHECK(d.l7_vocabulary == L7Vocabulary::ntop);
        CHECK(d.port == "2055");
    }
}

TEST_CASE("parse_destination: bad settings throw, naming the URI and the setting",
          "[config][export][uri]") {
    struct Bad {
        const char* uri;
        const char* says;  // part of the message
    };
    const Bad bad[] = {
        {"ipfix://h:1?color=red", "unknown setting 'color'"},
        {"ipfix://h:1?mtu", "not key=value"},
        {"ipfix://h:1?=5", "not key=value"},
        {"ipfix://h:1?mtu=1500&&linger=1", "not key=value"},
        {"ipfix://h:1?mtu=511", "512-65000"},
        {"ipfix://h:1?mtu=65001", "512-65000"},
        {"ipfix://h:1?mtu=64K", "512-65000"},
        {"ipfix://h:1?mtu=abc", "mtu=abc"},
        {"ipfix://h:1?mtu=", "mtu="},
        {"ipfix://h:1?mtu=1.5K", "mtu=1.5K"},
        {"ipfix://h:1?mtu=-1", "mtu=-1"},
        // a key for another kind of destination
        {"ipfix://h:1?v9-time=absolute", "v9-time applies to v9 only"},
        {"ipfix+tcp://h:1?v9-time=uptime", "v9-time applies to v9 only"},
        {"v5://h:1?v9-time=absolute", "v9-time applies to v9 only"},
        {"v5://h:1?template-refresh=30", "applies to v9 and IPFIX only"},
        {"jsonl:x?template-packets=5", "applies to v9 and IPFIX only"},
        {"v5://h:1?l7-ies=ntop", "applies to v9 and IPFIX only"},
        {"ipfix://h:1?buffer=1M", "applies to ipfix+tcp only"},
        {"ipfix-file:x?linger=1", "applies to ipfix+tcp only"},
        {"v9://h:1?backoff-max=10", "applies to ipfix+tcp only"},
        {"ipfix+tcp://h:1?rotate=1h", "applies to ipfix-file only"},
        {"jsonl:x?rotate-size=1M", "applies to ipfix-file only"},
        // bad values
        {"v9://h:1?v9-time=relative", "uptime or absolute"},
        {"ipfix://h:1?l7-ies=yaf", "cert or ntop"},
        {"ipfix://h:1?template-refresh=0", "must be > 0"},
        {"ipfix://h:1?template-refresh=-5", "template-refresh=-5"},
        {"ipfix://h:1?template-refresh=5x", "template-refresh=5x"},
        {"ipfix://h:1?template-refresh=s", "template-refresh=s"},
        {"ipfix://h:1?template-packets=0", "1-1000000"},
        {"ipfix://h:1?template-packets=1000001", "1-1000000"},
        {"ipfix+tcp://h:1?buffer=64000", "at least 64K"},
        {"ipfix+tcp://h:1?buffer=8X", "buffer=8X"},
        {"ipfix+tcp://h:1?linger=soon", "linger=soon"},
        {"ipfix-file:x?rotate-size=1K", "at least 64K"},
        {"ipfix-file:x?rotate=-1", "rotate=-1"},
        // bad forms
        {"ipfix-file:-", "file name"},
        {"ipfix-file:", "empty path"},
        {"ipfix-file:?rotate=1h", "empty path"},
        {"ipfix+udp://h:1", "unknown scheme"},
        {"ipfix+tcp://[::1]", "IPv6"},
        {"ipfix+tcp://h", "missing :PORT"},
    };
    for (const Bad& b : bad) {
        CAPTURE(b.uri);
        CHECK_THROWS_AS(parse_destination(b.uri), std::invalid_argument);
        CHECK_THROWS_WITH(parse_destination(b.uri), Catch::Contains(b.uri));
        CHECK_THROWS_WITH(parse_destination(b.uri), Catch::Contains(b.says));
    }
}

TEST_CASE("parse_destination: non-finite or oversized numbers are bad values",
          "[config][export][uri]") {
    // std::from_chars accepts "inf" and "nan" (NaN passes "x < 0" and "<= 0"), and a size
    // multiplied by its suffix can wrap: (2^54 + 1) K is 1024 modulo 2^64. Durations that do
    // not fit the nanosecond clocks (1e30 s) once became a 0 ns template refresh.
    const char* bad[] = {
        "ipfix://h:1?template-refresh=nan",
        "ipfix://h:1?template-refresh=inf",
        "ipfix://h:1?template-refresh=1e30",
        "ipfix+tcp://h:1?linger=nan",
        "ipfix+tcp://h:1?backoff-max=inf",
        "ipfix-file:x?rotate=nan",
        "ipfix://h:1?mtu=18014398509481985K",
        "ipfix+tcp://h:1?buffer=17179869248G",
    };
    for (const char* uri : bad) {
        CAPTURE(uri);
        CHECK_THROWS_AS(parse_destination(uri), std::invalid_argument);
        CHECK_THROWS_WITH(parse_destination(uri), Catch::Contains(uri));
    }
    // Long but sane values still pass.
    CHECK(parse_destination("ipfix://h:1?template-refresh=30d").template_refresh_s == 30 * 86400.0);
    CHECK(destination_options(parse_destination("ipfix://h:1?template-refresh=30d"), {})
              .template_interval_ns == 30ull * 86400 * kSec);
}

TEST_CASE("destination_options: URI settings override the global options; session for TCP and "
          "files",
          "[config][export][uri]") {
    EncoderOptions g;
    g.mtu = 1400;
    g.template_interval_ns = 600 * kSec;
    g.template_packets = 20;
    g.v9_time = V9Time::uptime;
    g.l7_vocabulary = L7Vocabulary::cert;
    g.domain = 77;
    g.sampler.interval = 4;

    const EncoderOptions same = destination_options(parse_destination("v9://h:1"), g);
    CHECK(same.mtu == 1400);
    CHECK(same.template_interval_ns == 600 * kSec);
    CHECK(same.template_packets == 20);
    CHECK(same.v9_time == V9Time::uptime);
    CHECK(same.l7_vocabulary == L7Vocabulary::cert);
    CHECK_FALSE(same.session);

    const EncoderOptions o = destination_options(
        parse_destination("v9://h:1?mtu=9000&template-refresh=1m&template-packets=7&v9-time=absolute"
                          "&l7-ies=ntop"),
        g);
    CHECK(o.mtu == 9000);
    CHECK(o.template_interval_ns == 60 * kSec);
    CHECK(o.template_packets == 7);
    CHECK(o.v9_time == V9Time::absolute);
    CHECK(o.l7_vocabulary == L7Vocabulary::ntop);
    CHECK(o.domain == 77);               // not a URI setting: the global value
    CHECK(o.sampler.interval == 4);
    CHECK_FALSE(o.session);

    CHECK(destination_options(parse_destination("ipfix://h:1?template-refresh=0.25"), g)
              .template_interval_ns == kSec / 4);
    CHECK(destination_options(parse_destination("ipfix://h:1?template-refresh=2h"), g)
              .template_interval_ns == 7200 * kSec);

    CHECK(destination_options(parse_destination("ipfix+tcp://h:1"), g).session);
    CHECK(destination_options(parse_destination("ipfix-file:x"), g).session);
    g.session = true;  // a global value never leaks into datagram destinations
    CHECK_FALSE(destination_options(parse_destination("ipfix://h:1"), g).session);
    CHECK_FALSE(destination_options(parse_destination("v9://h:1"), g).session);
    CHECK_FALSE(destination_options(parse_destination("jsonl:-"), g).session);
}
