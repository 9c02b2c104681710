// Transports own the I/O of one export destination (STYLE.md: encoders are pure).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace tapflow {

// What a transport did with the messages it was given. A message (or the records in it) is
// either sent or counted as dropped: nothing disappears without a count.
struct TransportCounters {
    uint64_t messages_sent = 0;
    uint64_t bytes_sent = 0;
    uint64_t messages_dropped = 0;  // could not be sent (error, buffer full, collector away)
    uint64_t records_dropped = 0;   // flow records in the dropped messages
    uint64_t sessions = 0;          // TCP connections established / files opened
    uint64_t connect_failures = 0;  // TCP connection attempts that failed
};

class Transport {
public:
    // A message that starts a new session (IPFIX over TCP after every (re)connect, every new
    // IPFIX file): templates and option records, so the collector can read what follows.
    // `sequence` is the IPFIX sequence number of the message that will follow it (the first one
    // queued behind it); the preamble numbers itself so that its own option records lead up to
    // it, and the collector sees no gap. Supplied by the encoder.
    using Preamble = std::function<std::vector<uint8_t>(uint64_t now_ns, uint32_t sequence)>;

    virtual ~Transport() = default;
    // Hands over one finished message holding `records` flow records; `now_ns` is the export
    // clock (packet time for files, wall time live). Never blocks for long: a transport that
    // cannot send now buffers (bounded) or drops and counts.
    // Returns false when the message was dropped.
    virtual bool send(std::span<const uint8_t> msg, uint32_t records, uint64_t now_ns) = 0;
    // Called often (every few ms) by the exporter thread, also when there is nothing to send:
    // reconnects, writes buffered data, rotates files.
    virtual void tick(uint64_t /*now_ns*/) {}
    // Delivers what is buffered (waiting at most the transport's linger time), then closes.
    virtual void close() {}
    void set_preamble(Preamble p) { preamble_ = std::move(p); }
    const TransportCounters& counters() const { return c_; }
    const std::string& last_error() const { return last_error_; }

protected:
    Preamble preamble_;
    TransportCounters c_;
    std::string last_error_;
};

// Connected UDP socket to host:port (names resolved once at start-up). Throws on set-up errors.
std::unique_ptr<Transport> make_udp_transport(const std::string& host, const std::string& port);
// A file, or standard output for "-". Throws when the file cannot be opened.
std::unique_ptr<Transport> make_file_transport(const std::string& path);

// IPFIX over TCP (RFC 7011 §10.4).
struct TcpOptions {
    size_t buffer_bytes = 8u << 20;   // messages queued while the collector is away or slow
    double backoff_min_s = 0.5;       // first reconnect delay, doubled after each failure...
    double backoff_max_s = 30;        // ...up to this
    double linger_s = 5;              // at close, how long to try to deliver what is queued
};
// Resolves host:port at once (throws when it cannot); connects in the background, so a collector
// that is down at start-up is not an error.
std::unique_ptr<Transport> make_tcp_transport(const std::string& host, const std::string& port,
                                              const TcpOptions& o);

// IPFIX files (RFC 5655): messages written back to back; every file starts with the preamble.
struct FileRotation {
    double seconds = 0;       // start a new file every N seconds of export time (0: never)
    uint64_t bytes = 0;       // or when the file would exceed N bytes (0: no limit)
};
// `path` may hold strftime(3) conversions, expanded (UTC) with the export time of the file's
// first message; with rotation and no conversion in the path, ".YYYYmmddHHMMSS" is appended.
// Throws when the directory cannot be written (files themselves open with their first message).
std::unique_ptr<Transport> make_ipfix_file_transport(const std::string& path, const FileRotation& r);

}  // namespace tapflow
