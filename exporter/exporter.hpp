// One export destination (-e URI): an encoder feeding a transport, with its counters; and the
// exporter thread that drains the workers' rings into every destination.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "exporter/encoder.hpp"
#include "exporter/transport/transport.hpp"
#include "probe/counters.hpp"
#include "probe/flow_record.hpp"
#include "probe/spsc_ring.hpp"

namespace tapflow {

enum class TransportKind : uint8_t { udp, tcp, ipfix_file, text_file };

struct Destination {
    ExportFormat format = ExportFormat::ipfix;
    TransportKind transport = TransportKind::udp;
    std::string host;  // udp, tcp
    std::string port;
    std::string path;  // files
    std::string uri;
    // Per-destination settings from the URI's ?key=value&... (override the global options).
    std::optional<size_t> mtu;
    std::optional<double> template_refresh_s;
    std::optional<uint32_t> template_packets;
    std::optional<V9Time> v9_time;
    std::optional<L7Vocabulary> l7_vocabulary;
    TcpOptions tcp;
    FileRotation rotation;
};

// Parses v5://HOST:PORT, v9://HOST:PORT, ipfix://HOST:PORT (UDP), ipfix+tcp://HOST:PORT,
// ipfix-file:PATH, jsonl:PATH (jsonl:- = stdout), each optionally followed by
// ?key=value&... (docs/exporting.md). Throws std::invalid_argument naming the URI.
Destination parse_destination(std::string_view uri);

// The encoder options of one destination: the global ones with the URI's overrides applied.
EncoderOptions destination_options(const Destination& d, EncoderOptions global);

class Exporter {
public:
    // o: the global encoder options; the destination's own settings are applied on top.
    Exporter(const Destination& d, const EncoderOptions& o);
    void add(const FlowRecord& r, uint64_t now_ns);
    void flush(uint64_t now_ns);
    void tick(uint64_t now_ns);
    // Statistics option record; `global` holds the probe-wide counts (ignored packets, records
    // lost before the exporters), this destination adds its own.
    void statistics(const ExportStats& global, uint64_t now_ns);
    void close(uint64_t now_ns);
    void set_boot_ns(uint64_t ns) { encoder_->set_boot_ns(ns); }

    const Destination& destination() const { return dest_; }
    // Exporter and transport counters together.
    ExportCounters counters() const;
    const std::string& last_error() const { return transport_->last_error(); }

private:
    void add_one(const FlowRecord& r, uint64_t now_ns);

    Destination dest_;
    uint64_t now_ns_ = 0;  // export clock of the call in progress (for the transport)
    bool split_biflows_;  // v5/v9/JSON: a biflow becomes two uniflow records
    ExportCounters c_;
    std::unique_ptr<Transport> transport_;
    std::unique_ptr<Encoder> encoder_;
};

// --local-net: which side of a flow is "ours", for flowDirection (IE 61).
class LocalNets {
public:
    // "10.0.0.0/8", "2001:db8::/32", "192.0.2.1" (a host); throws std::invalid_argument.
    void add(std::string_view prefix);
    bool empty() const { return nets_.empty(); }
    bool contains(const FlowKey& k, bool src) const;
    // egress (1) when the source is local and the destination is not; ingress (0) otherwise
    // (into the local networks, between local hosts, or transit).
    uint8_t direction(const FlowKey& k) const;

private:
    struct Net {
        uint8_t version;
        uint8_t bits;
        std::array<uint8_t, 16> addr;
    };
    std::vector<Net> nets_;
};

class ExportThread {
public:
    // boot_ns: set by the worker (first packet time, or start time when live) before it pushes
    // its first record; read once, with the first record, as the exporters' sysUpTime origin.
    // flush_when_quiet: send a partly filled message once the ring has been empty for 1 ms
    // (live capture, so collectors see flows promptly). Off for files: messages then depend only
    // on the records, so the same file gives byte-identical exports.
    // Records whose key has ip_version 0 are statistics markers from the worker (see
    // Worker::push_stats): packets = ignored packets, bytes = records lost before the ring.
    ExportThread(std::vector<std::unique_ptr<Exporter>>& exporters, SpscRing<FlowRecord>& ring,
                 const std::atomic<uint64_t>& boot_ns, bool flush_when_quiet,
                 const LocalNets* local_nets = nullptr);
    ~ExportThread();
    void start();
    // Call after the worker pushed its last record: drains the ring, flushes, closes, joins.
    void finish();

private:
    void run();
    size_t drain();

    std::vector<std::unique_ptr<Exporter>>& exporters_;
    SpscRing<FlowRecord>& ring_;
    const std::atomic<uint64_t>& boot_ns_;
    bool boot_set_ = false;
    bool flush_when_quiet_;
    const LocalNets* local_nets_;
    std::atomic<bool> done_{false};
    std::thread thread_;
    uint64_t clock_ns_ = 0;
};

}  // namespace tapflow
