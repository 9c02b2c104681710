// NetFlow v5 (Cisco's fixed format): 24-byte header, 48-byte records, at most 30 per packet.
#include <algorithm>
#include <cstring>

#include "exporter/encoder.hpp"

namespace tapflow {

namespace {
constexpr size_t kHeader = 24;
constexpr size_t kRecord = 48;
constexpr size_t kMaxRecords = 30;

class V5Encoder final : public Encoder {
public:
    V5Encoder(const EncoderOptions& o, MessageSink sink)
        : Encoder(o.boot_ns), opt_(o), sink_(std::move(sink)),
          max_records_(std::clamp<size_t>(o.mtu > kHeader ? (o.mtu - kHeader) / kRecord : 1, 1,
                                          kMaxRecords)) {
        buf_.resize(kHeader + kMaxRecords * kRecord);
    }

    bool add(const FlowRecord& r, uint64_t now_ns) override {
        if (r.key.is_v6()) return false;
        keep_uptime_in_range(r, now_ns);
        note_record_time(now_ns);
        uint8_t* p = buf_.data() + kHeader + count_ * kRecord;
        std::memcpy(p, r.key.src.data(), 4);
        std::memcpy(p + 4, r.key.dst.data(), 4);
        p = put32(p + 8, 0);                            // nexthop: unknown on a SPAN port
        p = put16(p, std::min<uint32_t>(r.key.ifindex, 0xFFFF));  // input
        p = put16(p, 0);                                // output
        if (r.packets > 0xFFFFFFFFu || r.bytes > 0xFFFFFFFFu) ++clamped_;
        p = put32(p, std::min<uint64_t>(r.packets, 0xFFFFFFFFu));
        p = put32(p, std::min<uint64_t>(r.bytes, 0xFFFFFFFFu));
        p = put32(p, field_value(Ie::flowStartSysUpTime, r, boot_ms_));
        p = put32(p, field_value(Ie::flowEndSysUpTime, r, boot_ms_));
        p = put16(p, r.key.sport);
        p = put16(p, r.key.dport);
        p = put8(p, 0);             // pad1
        p = put8(p, r.tcp_flags);
        p = put8(p, r.key.proto);
        p = put8(p, r.tos);
        p = put32(p, 0);            // src_as, dst_as
        p = put32(p, 0);            // src_mask, dst_mask, pad2
        if (++count_ == max_records_) flush(now_ns);
        return true;
    }

    void flush(uint64_t now_ns) override {
        if (count_ == 0) return;
        now_ns = message_time(now_ns);
        msg_now_ns_ = 0;
        const uint64_t secs = export_seconds(now_ns);
        uint8_t* p = buf_.data();
        p = put16(p, 5);
        p = put16(p, count_);
        p = put32(p, header_uptime_ms(now_ns));
        p = put32(p, secs);
        p = put32(p, 0);                               // unix_nsecs
        p = put32(p, sequence_ & 0xFFFFFFFFu);         // flows sent before this packet
        p = put8(p, 0);                                // engine_type
        p = put8(p, opt_.domain & 0xFF);               // engine_id
        put16(p, 0);                                   // sampling: none
        sink_({buf_.data(), kHeader + count_ * kRecord}, static_cast<uint32_t>(count_));
        sequence_ += count_;
        count_ = 0;
    }

private:
    EncoderOptions opt_;
    MessageSink sink_;
    size_t max_records_;
    std::vector<uint8_t> buf_;
    size_t count_ = 0;
    uint64_t sequence_ = 0;
};
}  // namespace

std::unique_ptr<Encoder> make_v5_encoder(const EncoderOptions& o, MessageSink sink) {
    return std::make_unique<V5Encoder>(o, std::move(sink));
}

}  // namespace tapflow
