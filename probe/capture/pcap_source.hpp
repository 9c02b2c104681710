// libpcap capture: live interfaces, and capture files that are not regular files (stdin, pipes).
#pragma once

#include <atomic>

#include "probe/capture/source.hpp"

struct pcap;

namespace tapflow {

class PcapSource final : public Source {
public:
    explicit PcapSource(const CaptureOptions& o);  // throws InputError
    ~PcapSource() override;
    PcapSource(const PcapSource&) = delete;
    PcapSource& operator=(const PcapSource&) = delete;

    End run(Handler& h) override;
    void stop() override;
    CaptureStats stats() override;
    bool live() const override { return live_; }
    uint32_t os_ifindex() const override { return ifindex_; }
    int datalink() const override { return dlt_; }

private:
    pcap* p_ = nullptr;
    bool live_ = false;
    int dlt_ = 0;
    uint32_t ifindex_ = 0;
    std::atomic<bool> stop_{false};
};

}  // namespace tapflow
