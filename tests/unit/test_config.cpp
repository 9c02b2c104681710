// Configuration parsing: --key changes (probe/config.cpp) and -e export URIs
// (exporter/exporter.cpp parse_destination).
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "exporter/exporter.hpp"
#include "probe/config.hpp"

using namespace tapflow;

TEST_CASE("parse_key_fields: defaults and +/- changes", "[config][key]") {
    SECTION("no change: the IOS 7-tuple (ToS in, VLAN out, ports in)") {
        const KeyFields k = parse_key_fields({});
        CHECK(k.tos);
        CHECK_FALSE(k.vlan);
        CHECK(k.ports);
    }
    SECTION("+vlan") {
        const KeyFields k = parse_key_fields({"+vlan"});
        CHECK(k.vlan);
        CHECK(k.tos);
    }
    SECTION("-tos") {
        const KeyFields k = parse_key_fields({"-tos"});
        CHECK_FALSE(k.tos);
        CHECK_FALSE(k.vlan);
    }
    SECTION("+vlan,-tos in one item") {
        const KeyFields k = parse_key_fields({"+vlan,-tos"});
        CHECK(k.vlan);
        CHECK_FALSE(k.tos);
        CHECK(k.ports);
    }
    SECTION("+vlan and -tos as two items, -ports") {
        const KeyFields k = parse_key_fields({"+vlan", "-tos", "-ports"});
        CHECK(k.vlan);
        CHECK_FALSE(k.tos);
        CHECK_FALSE(k.ports);
    }
    SECTION("the last change of a field wins") {
        CHECK_FALSE(parse_key_fields({"+vlan", "-vlan"}).vlan);
        CHECK(parse_key_fields({"-tos,+tos"}).tos);
    }
}

TEST_CASE("parse_key_fields: unknown fields and missing signs throw", "[config][key]") {
    CHECK_THROWS_AS(parse_key_fields({"+mpls"}), std::invalid_argument);
    CHECK_THROWS_AS(parse_key_fields({"+vlan,-bogus"}), std::invalid_argument);
    CHECK_THROWS_AS(parse_key_fields({"vlan"}), std::invalid_argument);
    CHECK_THROWS_AS(parse_key_fields({"*tos"}), std::invalid_argument);
    CHECK_THROWS_AS(parse_key_fields({"+"}), std::invalid_argument);
    CHECK_THROWS_WITH(parse_key_fields({"+mpls"}), Catch::Contains("+mpls"));
}

TEST_CASE("parse_destination: the accepted forms", "[config][export]") {
    SECTION("v5://127.0.0.1:2055") {
        const Destination d = parse_destination("v5://127.0.0.1:2055");
        CHECK(d.format == ExportFormat::v5);
        CHECK(d.host == "127.0.0.1");
        CHECK(d.port == "2055");
        CHECK(d.uri == "v5://127.0.0.1:2055");
    }
    SECTION("v9://host:9995") {
        const Destination d = parse_destination("v9://collector.example:9995");
        CHECK(d.format == ExportFormat::v9);
        CHECK(d.host == "collector.example");
        CHECK(d.port == "9995");
    }
    SECTION("ipfix://[::1]:4739") {
        const Destination d = parse_destination("ipfix://[::1]:4739");
        CHECK(d.format == ExportFormat::ipfix);
        CHECK(d.host == "::1");
        CHECK(d.port == "4739");
    }
    SECTION("ipfix port 65535") {
        CHECK(parse_destination("ipfix://10.0.0.1:65535").port == "65535");
    }
    SECTION("jsonl:- (stdout)") {
        const Destination d = parse_destination("jsonl:-");
        CHECK(d.format == ExportFormat::jsonl);
        CHECK(d.path == "-");
        CHECK(d.host.empty());
    }
    SECTION("jsonl:/tmp/x") {
        const Destination d = parse_destination("jsonl:/tmp/x");
        CHECK(d.format == ExportFormat::jsonl);
        CHECK(d.path == "/tmp/x");
    }
}

TEST_CASE("parse_destination: malformed URIs throw std::invalid_argument", "[config][export]") {
    const char* bad[] = {
        "v5://127.0.0.1",         // no port
        "v5://127.0.0.1:",        // empty port
        "v9://host:0",            // port 0
        "ipfix://host:70000",     // port out of range
        "ipfix://host:4739x",     // trailing junk
        "ipfix://host:-1",        // negative
        "v9://:9995",             // no host
        "ipfix://[::1]4739",      // no colon after the bracket
        "ipfix://[::1",           // unclosed bracket
        "sflow://127.0.0.1:6343", // unknown scheme
        "127.0.0.1:2055",         // no scheme
        "jsonl:",                 // empty path
        "",
    };
    for (const char* uri : bad) {
        CAPTURE(uri);
        CHECK_THROWS_AS(parse_destination(uri), std::invalid_argument);
    }
    // The message names the URI, so the user sees which -e was wrong.
    CHECK_THROWS_WITH(parse_destination("v9://host:0"), Catch::Contains("v9://host:0"));
}
