// One export destination (-e URI): an encoder feeding a transport, with its counters; and the
// exporter thread that drains the workers' rings into every destination.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "exporter/encoder.hpp"
#include "exporter/transport/transport.hpp"
#include "probe/counters.hpp"
#include "probe/spsc_ring.hpp"

namespace tapflow {

struct Destination {
    ExportFormat format = ExportFormat::ipfix;
    std::string host;  // UDP formats
    std::string port;
    std::string path;  // jsonl
    std::string uri;
};

// Parses v5://HOST:PORT, v9://HOST:PORT, ipfix://HOST:PORT, jsonl:PATH (jsonl:- = stdout).
// Throws std::invalid_argument with a message naming the URI.
Destination parse_destination(std::string_view uri);

class Exporter {
public:
    Exporter(const Destination& d, const EncoderOptions& o);
    void add(const FlowRecord& r, uint64_t now_ns);
    void flush(uint64_t now_ns);
    void close(uint64_t now_ns);
    void set_boot_ns(uint64_t ns) { encoder_->set_boot_ns(ns); }

    const Destination& destination() const { return dest_; }
    const ExportCounters& counters() const { return c_; }
    const std::string& last_error() const { return transport_->last_error(); }

private:
    Destination dest_;
    ExportCounters c_;
    std::unique_ptr<Transport> transport_;
    std::unique_ptr<Encoder> encoder_;
};

class ExportThread {
public:
    // boot_ns: set by the worker (first packet time, or start time when live) before it pushes
    // its first record; read once, with the first record, as the exporters' sysUpTime origin.
    // flush_when_quiet: send a partly filled message once the ring has been empty for 1 ms
    // (live capture, so collectors see flows promptly). Off for files: messages then depend only
    // on the records, so the same file gives byte-identical exports.
    ExportThread(std::vector<std::unique_ptr<Exporter>>& exporters, SpscRing<FlowRecord>& ring,
                 const std::atomic<uint64_t>& boot_ns, bool flush_when_quiet);
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
    std::atomic<bool> done_{false};
    std::thread thread_;
    uint64_t clock_ns_ = 0;
};

}  // namespace tapflow
