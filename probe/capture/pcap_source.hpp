// libpcap capture: a file (pcap µs/ns, pcapng) or a live interface, with an optional BPF filter.
// The only place that includes <pcap.h> besides the DLT list in probe/net.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

struct pcap;

namespace tapflow {

// A problem with the input or its options: reported on one line, exit code 2.
struct InputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct CaptureOptions {
    std::string file;   // -r
    std::string iface;  // -i
    std::string bpf;    // -f
    int snaplen = 65535;
    bool promisc = true;
    int buffer_mib = 64;
};

struct CaptureStats {
    uint64_t received = 0;   // ps_recv
    uint64_t dropped = 0;    // ps_drop: no room in the kernel buffer
    uint64_t if_dropped = 0; // ps_ifdrop: dropped by the interface or driver
};

class PcapSource {
public:
    explicit PcapSource(const CaptureOptions& o);  // throws InputError
    ~PcapSource();
    PcapSource(const PcapSource&) = delete;
    PcapSource& operator=(const PcapSource&) = delete;

    bool live() const { return live_; }
    int datalink() const { return dlt_; }
    std::string datalink_name() const;
    uint32_t os_ifindex() const { return ifindex_; }

    struct Handler {
        virtual void packet(const uint8_t* data, uint32_t caplen, uint64_t ts_ns) = 0;
        virtual void idle(uint64_t wall_ns) = 0;  // live capture: no packet for a while
    protected:
        ~Handler() = default;
    };

    enum class End { eof, stopped, error };
    // Reads until end of file, stop() or a read error (then error() says what).
    End run(Handler& h);
    // Async-signal-safe: ends run() soon.
    void stop();
    const std::string& error() const { return error_; }
    CaptureStats stats();

private:
    pcap* p_ = nullptr;
    bool live_ = false;
    int dlt_ = 0;
    uint32_t ifindex_ = 0;
    std::atomic<bool> stop_{false};
    std::string error_;
};

}  // namespace tapflow
