#include "probe/config.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdlib>
#include <stdexcept>

#ifndef TAPFLOW_VERSION
#define TAPFLOW_VERSION "0"
#endif

namespace tapflow {

KeyFields parse_key_fields(const std::vector<std::string>& changes) {
    KeyFields k;
    for (const auto& item : changes) {
        // Accept comma-separated lists too: --key +vlan,-tos
        size_t start = 0;
        while (start <= item.size()) {
            size_t comma = item.find(',', start);
            std::string f = item.substr(start, comma == std::string::npos ? std::string::npos
                                                                          : comma - start);
            start = comma == std::string::npos ? item.size() + 1 : comma + 1;
            if (f.empty()) continue;
            const char sign = f[0];
            if (sign != '+' && sign != '-')
                throw std::invalid_argument("--key '" + f + "': write +FIELD or -FIELD");
            const bool on = sign == '+';
            const std::string name = f.substr(1);
            if (name == "vlan") k.vlan = on;
            else if (name == "tos") k.tos = on;
            else if (name == "ports") k.ports = on;
            else
                throw std::invalid_argument("--key '" + f +
                                            "': unknown field (known: vlan, tos, ports)");
        }
    }
    return k;
}

Config parse_command_line(int argc, char** argv) {
    Config c;
    CLI::App app{"tapflow " TAPFLOW_VERSION
                 " - passive packet-to-flow probe: pcap file or interface in, NetFlow v5/v9, "
                 "IPFIX or JSON lines out"};
    app.set_version_flag("--version", TAPFLOW_VERSION);
    app.set_config("--config", "", "read options from FILE (TOML/INI, long option names as keys)");
    app.get_formatter()->column_width(34);

    auto* r = app.add_option("-r,--read", c.capture.file, "read packets from a pcap/pcapng FILE");
    auto* i = app.add_option("-i,--interface", c.capture.iface, "capture live on interface IFACE");
    r->excludes(i);
    app.add_option("-f,--filter", c.capture.bpf, "BPF filter applied before decoding");
    app.add_option("-e,--export", c.exports,
                   "export destination URI, repeatable: v5://HOST:PORT, v9://HOST:PORT, "
                   "ipfix://HOST:PORT (UDP), jsonl:PATH (jsonl:- = stdout)")
        ->required()
        ->take_all();
    app.add_option("--active-timeout", c.active_timeout_s,
                   "seconds: a flow longer than this is exported and restarted")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--inactive-timeout", c.inactive_timeout_s,
                   "seconds without a packet after which a flow ends")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--fin-timeout", c.fin_timeout_s,
                   "seconds a TCP flow that saw FIN/RST waits for late packets before it ends")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--max-flows", c.max_flows,
                   "flow cache size; when full the oldest flow is ended early (counted)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1u << 30));
    app.add_option("--key", c.key,
                   "change the flow key: +vlan, -tos, -ports (comma list or repeated)")
        ->take_all();
    app.add_option("--ifindex", c.ifindex,
                   "input ifIndex exported for the capture (default: the OS ifindex, 0 for files)")
        ->check(CLI::Range(int64_t{0}, int64_t{0xFFFFFFFF}));
    app.add_option("--mtu", c.mtu, "largest export datagram in bytes")
        ->capture_default_str()
        ->check(CLI::Range(512u, 65000u));
    app.add_option("--observation-domain", c.domain,
                   "IPFIX observation domain ID / NetFlow v9 source ID / v5 engine ID")
        ->capture_default_str();
    app.add_option("--template-refresh", c.template_refresh_s, "re-send templates every S seconds")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--template-packets", c.template_packets,
                   "re-send templates every N export packets")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1000000u));
    app.add_option("--snaplen", c.capture.snaplen, "live capture: bytes captured per packet")
        ->capture_default_str()
        ->check(CLI::Range(64, 262144));
    app.add_flag("!--no-promisc", c.capture.promisc, "live capture: do not enable promiscuous mode");
    app.add_option("--ring-size", c.ring_size, "records between worker and exporter thread")
        ->capture_default_str()
        ->check(CLI::Range(16u, 1u << 26));
    app.add_option("--stats", c.stats_file, "write counters as JSON to FILE at exit (- = stderr)");
    app.add_flag("-q,--quiet", c.quiet, "no summary on stderr at exit");

    try {
        app.parse(argc, argv);
        if (c.capture.file.empty() && c.capture.iface.empty())
            throw CLI::ValidationError("input", "give -r FILE or -i IFACE");
        c.key_fields = parse_key_fields(c.key);
    } catch (const CLI::CallForHelp&) {
        fmt::print("{}", app.help());
        std::exit(0);
    } catch (const CLI::CallForVersion&) {
        fmt::print("tapflow {}\n", TAPFLOW_VERSION);
        std::exit(0);
    } catch (const CLI::ParseError& e) {
        std::string msg = e.what();
        fmt::print(stderr, "tapflow: {} (see tapflow --help)\n", msg);
        std::exit(2);
    } catch (const std::invalid_argument& e) {
        fmt::print(stderr, "tapflow: {}\n", e.what());
        std::exit(2);
    }
    return c;
}

}  // namespace tapflow
