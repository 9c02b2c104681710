// Where packets come from: a capture file read directly (file_source.cpp, mmap, classic pcap and
// pcapng) or libpcap (pcap_source.cpp: live interfaces, and files given as a pipe or stdin).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace tapflow {

// A problem with the input or its options: reported on one line, exit code 2.
struct InputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct CaptureOptions {
    std::string file;   // -r (a regular file, or "-"/a pipe read through libpcap)
    std::string iface;  // -i
    std::string bpf;    // -f
    int snaplen = 65535;
    bool promisc = true;
    int buffer_mib = 64;
};

struct CaptureStats {
    uint64_t received = 0;    // ps_recv
    uint64_t dropped = 0;     // ps_drop: no room in the kernel buffer
    uint64_t if_dropped = 0;  // ps_ifdrop: dropped by the interface or driver
    uint64_t filtered = 0;    // files: frames rejected by the -f filter
};

struct Frame {
    const uint8_t* data;
    uint32_t caplen;
    int dlt;  // pcap link type of this frame (pcapng interfaces may differ)
    uint64_t ts_ns;
};

class Source {
public:
    struct Handler {
        virtual void packet(const Frame& f) = 0;
        virtual void idle(uint64_t wall_ns) = 0;  // live capture: no packet for a while
        // Live capture: packets the kernel or the interface dropped so far (about once a second).
        virtual void capture_drops(uint64_t /*total*/) {}
    protected:
        ~Handler() = default;
    };
    enum class End { eof, stopped, error };

    virtual ~Source() = default;
    // Reads until end of file, stop() or a read error (then error() says what).
    virtual End run(Handler& h) = 0;
    // Async-signal-safe: ends run() soon.
    virtual void stop() = 0;
    virtual CaptureStats stats() = 0;
    virtual bool live() const = 0;
    virtual uint32_t os_ifindex() const { return 0; }
    // The link type of every frame, or -1 when it varies per interface (pcapng).
    virtual int datalink() const = 0;
    const std::string& error() const { return error_; }

protected:
    std::string error_;
};

// Opens -r FILE or -i IFACE; throws InputError with a one-line message.
std::unique_ptr<Source> open_source(const CaptureOptions& o);

}  // namespace tapflow
