// NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages: header, template set when due, data sets.
#include <algorithm>
#include <cstring>

#include "exporter/encoder.hpp"

namespace tapflow {

namespace {
constexpr uint16_t kTemplateV4 = 256;
constexpr uint16_t kTemplateV6 = 257;

class TemplateEncoder final : public Encoder {
public:
    TemplateEncoder(bool ipfix, const EncoderOptions& o, MessageSink sink)
        : Encoder(o.boot_ns), ipfix_(ipfix), opt_(o), sink_(std::move(sink)),
          header_(ipfix ? 16 : 20) {
        if (ipfix_) {
            layouts_[0] = kIpfixV4;
            layouts_[1] = kIpfixV6;
        } else {
            layouts_[0] = kV9V4;
            layouts_[1] = kV9V6;
        }
        buf_.reserve(opt_.mtu + 64);
    }

    bool add(const FlowRecord& r, uint64_t now_ns) override {
        const int t = r.key.is_v6() ? 1 : 0;
        const size_t reclen = record_length(layouts_[t]);
        if (!ipfix_ && !uptime_fits(r, now_ns)) {
            flush(msg_now_ns_);
            rebase_uptime(r);
        }
        msg_now_ns_ = std::max(msg_now_ns_, now_ns);
        if (buf_.empty()) begin(now_ns);
        // Room for this record, a new set header if the template changes, and v9 padding.
        size_t need = reclen + (set_open_ == t ? 0 : 4) + (ipfix_ ? 0 : 3);
        if (buf_.size() + need > opt_.mtu && records_ > 0) {
            flush(now_ns);
            begin(now_ns);
            need = reclen + 4;
        }
        if (set_open_ != t) {
            close_set();
            set_start_ = buf_.size();
            set_open_ = t;
            push16(t == 0 ? kTemplateV4 : kTemplateV6);
            push16(0);  // length, filled by close_set
        }
        const size_t at = buf_.size();
        buf_.resize(at + reclen);
        uint8_t* p = buf_.data() + at;
        for (Ie ie : layouts_[t]) p = put_field(p, ie, r, boot_ms_);
        ++records_;
        return true;
    }

    void flush(uint64_t now_ns) override {
        if (buf_.empty()) return;
        if (records_ == 0) {
            // Only templates so far: nothing worth sending yet; keep them for the next message.
            return;
        }
        close_set();
        const uint64_t secs = export_seconds(now_ns);
        uint8_t* p = buf_.data();
        if (ipfix_) {
            p = put16(p, 10);
            p = put16(p, buf_.size());
            p = put32(p, secs);
            p = put32(p, sequence_ & 0xFFFFFFFFu);  // data records sent before this message
            put32(p, opt_.domain);
            sequence_ += records_;
        } else {
            p = put16(p, 9);
            p = put16(p, records_ + template_records_);  // every record, templates included
            p = put32(p, (secs * 1000 - std::min(secs * 1000, boot_ms_)) & 0xFFFFFFFFu);
            p = put32(p, secs);
            p = put32(p, sequence_ & 0xFFFFFFFFu);  // export packets sent before this one
            put32(p, opt_.domain);
            sequence_ += 1;
        }
        sink_({buf_.data(), buf_.size()}, records_);
        ++messages_since_templates_;
        buf_.clear();
        records_ = 0;
        template_records_ = 0;
        set_open_ = -1;
    }

private:
    void push16(uint16_t v) {
        buf_.push_back(static_cast<uint8_t>(v >> 8));
        buf_.push_back(static_cast<uint8_t>(v));
    }

    void begin(uint64_t now_ns) {
        buf_.assign(header_, 0);
        records_ = 0;
        template_records_ = 0;
        set_open_ = -1;
        const bool due = !templates_ever_ || messages_since_templates_ >= opt_.template_packets ||
                         now_ns - last_templates_ns_ >= opt_.template_interval_ns;
        if (!due) return;
        // One template set with both layouts (template ID 256 = IPv4, 257 = IPv6).
        const size_t start = buf_.size();
        push16(ipfix_ ? 2 : 0);
        push16(0);
        for (int t = 0; t < 2; ++t) {
            push16(t == 0 ? kTemplateV4 : kTemplateV6);
            push16(static_cast<uint16_t>(layouts_[t].size()));
            for (Ie ie : layouts_[t]) {
                const InfoElement& e = info(ie);
                push16(e.pen ? (e.id | 0x8000) : e.id);
                push16(e.length);
                if (e.pen) {
                    push16(static_cast<uint16_t>(e.pen >> 16));
                    push16(static_cast<uint16_t>(e.pen));
                }
            }
            ++template_records_;
            ++templates_sent_;
        }
        put16(buf_.data() + start + 2, buf_.size() - start);
        templates_ever_ = true;
        messages_since_templates_ = 0;
        last_templates_ns_ = now_ns;
    }

    void close_set() {
        if (set_open_ < 0) return;
        if (!ipfix_) {
            // RFC 3954 §5.3: pad the FlowSet to a 32-bit boundary.
            while ((buf_.size() - set_start_) % 4) buf_.push_back(0);
        }
        put16(buf_.data() + set_start_ + 2, buf_.size() - set_start_);
        set_open_ = -1;
    }

    bool ipfix_;
    EncoderOptions opt_;
    MessageSink sink_;
    size_t header_;
    std::span<const Ie> layouts_[2];
    std::vector<uint8_t> buf_;
    size_t set_start_ = 0;
    int set_open_ = -1;
    uint32_t records_ = 0;
    uint64_t msg_now_ns_ = 0;
    uint32_t template_records_ = 0;
    uint64_t sequence_ = 0;
    bool templates_ever_ = false;
    uint32_t messages_since_templates_ = 0;
    uint64_t last_templates_ns_ = 0;
};
}  // namespace

std::unique_ptr<Encoder> make_template_encoder(bool ipfix, const EncoderOptions& o,
                                               MessageSink sink) {
    return std::make_unique<TemplateEncoder>(ipfix, o, std::move(sink));
}

}  // namespace tapflow
