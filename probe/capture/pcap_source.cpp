#include "probe/capture/pcap_source.hpp"

#include <net/if.h>
#include <pcap/pcap.h>

#include <chrono>

namespace tapflow {

namespace {
constexpr int kLiveTimeoutMs = 100;  // idle tick for timers when no packet arrives

uint64_t wall_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
}
}  // namespace

PcapSource::PcapSource(const CaptureOptions& o) {
    char err[PCAP_ERRBUF_SIZE] = {};
    if (!o.file.empty()) {
        // Files that are not regular files (a pipe, "-" for stdin) stream through libpcap.
        p_ = pcap_open_offline_with_tstamp_precision(o.file.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
        if (!p_) throw InputError(o.file + ": " + err);
    } else {
        live_ = true;
        p_ = pcap_create(o.iface.c_str(), err);
        if (!p_) throw InputError("interface " + o.iface + ": " + err);
        pcap_set_snaplen(p_, o.snaplen);
        pcap_set_promisc(p_, o.promisc ? 1 : 0);
        pcap_set_timeout(p_, kLiveTimeoutMs);
        pcap_set_buffer_size(p_, o.buffer_mib << 20);
        if (pcap_set_tstamp_precision(p_, PCAP_TSTAMP_PRECISION_NANO) != 0) {
            // Older kernels/drivers: microseconds, converted below.
        }
        int rc = pcap_activate(p_);
        if (rc < 0) {
            std::string msg = rc == PCAP_ERROR ? pcap_geterr(p_) : pcap_statustostr(rc);
            if (rc == PCAP_ERROR_PERM_DENIED)
                msg += " (run as root or give the binary cap_net_raw,cap_net_admin)";
            pcap_close(p_);
            p_ = nullptr;
            throw InputError("interface " + o.iface + ": " + msg);
        }
        ifindex_ = if_nametoindex(o.iface.c_str());
    }
    dlt_ = pcap_datalink(p_);
    if (!o.bpf.empty()) {
        bpf_program prog{};
        if (pcap_compile(p_, &prog, o.bpf.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
            std::string msg = pcap_geterr(p_);
            pcap_close(p_);
            p_ = nullptr;
            throw InputError("filter '" + o.bpf + "': " + msg);
        }
        int rc = pcap_setfilter(p_, &prog);
        pcap_freecode(&prog);
        if (rc != 0) {
            std::string msg = pcap_geterr(p_);
            pcap_close(p_);
            p_ = nullptr;
            throw InputError("filter '" + o.bpf + "': " + msg);
        }
    }
}

PcapSource::~PcapSource() {
    if (p_) pcap_close(p_);
}

namespace {
struct Ctx {
    Source::Handler* h;
    bool nano;
    int dlt;
};
void on_packet(u_char* user, const pcap_pkthdr* hdr, const u_char* data) {
    auto* c = reinterpret_cast<Ctx*>(user);
    const uint64_t frac = static_cast<uint64_t>(hdr->ts.tv_usec);
    const uint64_t ts = static_cast<uint64_t>(hdr->ts.tv_sec) * 1'000'000'000 +
                        (c->nano ? frac : frac * 1000);
    c->h->packet(Frame{data, hdr->caplen, c->dlt, ts});
}
}  // namespace

PcapSource::End PcapSource::run(Handler& h) {
    Ctx ctx{&h, pcap_get_tstamp_precision(p_) == PCAP_TSTAMP_PRECISION_NANO, dlt_};
    uint64_t next_stats_ns = 0;
    for (;;) {
        if (stop_.load(std::memory_order_relaxed)) return End::stopped;
        if (live_) {
            // Kernel drop counters for the statistics option record, about once a second.
            const uint64_t now = wall_ns();
            if (now >= next_stats_ns) {
                next_stats_ns = now + 1'000'000'000;
                pcap_stat ps{};
                if (pcap_stats(p_, &ps) == 0) h.capture_drops(uint64_t{ps.ps_drop} + ps.ps_ifdrop);
            }
        }
        int n = pcap_dispatch(p_, 256, on_packet, reinterpret_cast<u_char*>(&ctx));
        if (n == PCAP_ERROR_BREAK) return End::stopped;
        if (n == PCAP_ERROR) {
            error_ = pcap_geterr(p_);
            return End::error;
        }
        if (n == 0) {
            if (!live_) return End::eof;
            h.idle(wall_ns());
        }
    }
}

void PcapSource::stop() {
    stop_.store(true, std::memory_order_relaxed);
    if (p_) pcap_breakloop(p_);
}

CaptureStats PcapSource::stats() {
    CaptureStats s;
    if (!live_) return s;
    pcap_stat ps{};
    if (pcap_stats(p_, &ps) == 0) {
        s.received = ps.ps_recv;
        s.dropped = ps.ps_drop;
        s.if_dropped = ps.ps_ifdrop;
    }
    return s;
}

}  // namespace tapflow
