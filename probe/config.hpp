// Command line and config file (CLI11; the config file uses the long option names).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dpi/dpi.hpp"
#include "probe/capture/source.hpp"
#include "probe/net/flow_key.hpp"

namespace tapflow {

struct Config {
    CaptureOptions capture;
    std::vector<std::string> exports;
    double active_timeout_s = 1800;
    double inactive_timeout_s = 15;
    double fin_timeout_s = 1;
    uint32_t max_flows = 1'000'000;
    std::vector<std::string> key;  // +vlan,-tos,...
    KeyFields key_fields;
    int64_t ifindex = -1;          // -1: OS ifindex for -i, 0 for -r
    uint32_t mtu = 1400;
    uint32_t domain = 0;
    double template_refresh_s = 600;
    uint32_t template_packets = 20;
    uint32_t ring_size = 1u << 16;
    std::vector<std::string> dpi_list{"tls", "http", "dns"};
    bool no_dpi = false;
    DpiConfig dpi;
    uint32_t v9_string_length = 128;
    std::string l7_ies = "cert";
    std::string v9_time = "uptime";
    uint32_t sample = 1;
    std::string sample_mode = "deterministic";
    double options_interval_s = 60;
    std::string if_name;
    std::string if_description;
    bool biflow = false;
    std::vector<std::string> local_nets;
    std::string stats_file;
    bool quiet = false;
};

// Parses argv. On --help/--version prints and exits 0; on a usage error prints one line to stderr
// and exits 2.
Config parse_command_line(int argc, char** argv);

// Applies "+vlan", "-tos", "+ports"... to the key; throws std::invalid_argument on an unknown field.
KeyFields parse_key_fields(const std::vector<std::string>& changes);

}  // namespace tapflow
