// Capture files read directly from a memory map: classic pcap (µs and ns, either byte order) and
// pcapng (several sections and interfaces, a link type and time resolution per interface,
// EPB/SPB/OPB). libpcap 1.10 refuses pcapng files whose interfaces differ in link type or
// snaplen; this reader takes them, and walks records without a copy or a syscall per packet.
// Every length is checked against the file before it is used.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "probe/capture/source.hpp"

struct bpf_program;

namespace tapflow {

class FileSource final : public Source {
public:
    FileSource(const std::string& path, const std::string& bpf);  // throws InputError
    ~FileSource() override;
    FileSource(const FileSource&) = delete;
    FileSource& operator=(const FileSource&) = delete;

    End run(Handler& h) override;
    void stop() override { stop_.store(true, std::memory_order_relaxed); }
    CaptureStats stats() override { return stats_; }
    bool live() const override { return false; }
    int datalink() const override { return pcapng_ ? -1 : ifaces_[0].dlt; }

    // Largest frame accepted (as libpcap's MAXIMUM_SNAPLEN); a bigger length means a damaged file.
    static constexpr uint32_t kMaxCaplen = 262144;

private:
    struct Interface {
        int dlt;
        uint64_t units_per_s;  // if_tsresol
        int64_t offset_s;      // if_tsoffset
        uint32_t snaplen;      // 0 = unlimited
    };
    void check_header();
    End run_pcap(Handler& h);
    End run_pcapng(Handler& h);
    bool pass_filter(int dlt, const uint8_t* data, uint32_t caplen, uint32_t wirelen);
    bool parse_idb(const uint8_t* body, size_t len, bool swap);

    std::string path_;
    std::string bpf_;
    const uint8_t* map_ = nullptr;
    size_t size_ = 0;
    bool pcapng_ = false;
    std::vector<Interface> ifaces_;
    std::map<int, bpf_program*> filters_;
    std::atomic<bool> stop_{false};
    CaptureStats stats_;
    uint64_t records_ = 0;
};

}  // namespace tapflow
