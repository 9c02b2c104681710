// NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages: header, template sets when due, data sets.
// Templates: 256 (IPv4) and 257 (IPv6) for plain flows, announced together at the start and on
// every refresh; 258-267 for flows with application values (L7Shape × IP version), announced in
// the first message that needs them after each refresh.
#include <algorithm>
#include <cstring>
#include <vector>

#include "exporter/encoder.hpp"

namespace tapflow {

namespace {
constexpr uint16_t kFirstTemplate = 256;
constexpr int kTemplates = 2 * kL7Shapes;  // index = shape * 2 + (IPv6 ? 1 : 0)

class TemplateEncoder final : public Encoder {
public:
    TemplateEncoder(bool ipfix, const EncoderOptions& o, MessageSink sink)
        : Encoder(o.boot_ns), ipfix_(ipfix), opt_(o), sink_(std::move(sink)),
          header_(ipfix ? 16 : 20) {
        for (int s = 0; s < kL7Shapes; ++s) {
            for (int v6 = 0; v6 < 2; ++v6) {
                auto base = ipfix_ ? (v6 ? std::span<const Ie>(kIpfixV6) : std::span<const Ie>(kIpfixV4))
                                   : (v6 ? std::span<const Ie>(kV9V6) : std::span<const Ie>(kV9V4));
                auto& l = layouts_[s * 2 + v6];
                l.assign(base.begin(), base.end());
                for (Ie ie : l7_fields(static_cast<L7Shape>(s))) l.push_back(ie);
                fixed_len_[s * 2 + v6] = record_length(l);
            }
        }
        buf_.reserve(opt_.mtu + 64);
    }

    bool add(const FlowRecord& r, uint64_t now_ns) override {
        const int t = static_cast<int>(l7_shape(r)) * 2 + (r.key.is_v6() ? 1 : 0);
        if (!ipfix_) keep_uptime_in_range(r, now_ns);  // IPFIX times are absolute
        if (buf_.empty()) begin(now_ns);
        size_t reclen = record_size(t, r);
        auto room = [&] {
            size_t need = reclen + (set_open_ == t ? 0 : 4) + (ipfix_ ? 0 : 3);
            if (!(announced_ & (1u << t))) need += 4 + template_size(t);
            return buf_.size() + need <= opt_.mtu;
        };
        // Full, or (small --mtu) the templates leave no room: send what is there, templates
        // alone if need be, and start a new message (which may itself begin with templates).
        for (int i = 0; i < 2 && !room() && (records_ > 0 || template_records_ > 0); ++i) {
            send(now_ns);
            begin(now_ns);
        }
        if (!(announced_ & (1u << t))) {
            close_set();
            write_template_set(t, t);
        }
        if (set_open_ != t) {
            close_set();
            set_start_ = buf_.size();
            set_open_ = t;
            push16(static_cast<uint16_t>(kFirstTemplate + t));
            push16(0);  // length, filled by close_set
        }
        // A record with long strings must still fit one message: shorten them if needed.
        const size_t budget = opt_.mtu > buf_.size() ? opt_.mtu - buf_.size() - (ipfix_ ? 0 : 3) : 0;
        write_record(t, r, budget);
        ++records_;
        return true;
    }

    void flush(uint64_t now_ns) override {
        if (buf_.empty() || records_ == 0) return;  // templates alone wait for the next record
        send(now_ns);
    }

private:
    void send(uint64_t now_ns) {
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
            p = put32(p, header_uptime_ms(now_ns));
            p = put32(p, secs);
            p = put32(p, sequence_ & 0xFFFFFFFFu);  // export packets sent before this one
            put32(p, opt_.domain);
            sequence_ += 1;
        }
        sink_({buf_.data(), buf_.size()}, records_);
        // A message of templates alone (they left no room for a record) is followed by data,
        // not by the same templates again.
        templates_just_sent_ = records_ == 0;
        ++messages_since_templates_;
        buf_.clear();
        records_ = 0;
        template_records_ = 0;
        set_open_ = -1;
    }

    void push16(uint16_t v) {
        buf_.push_back(static_cast<uint8_t>(v >> 8));
        buf_.push_back(static_cast<uint8_t>(v));
    }

    uint16_t wire_length(Ie ie) const {
        const uint16_t l = info(ie).length;
        if (l != kVariableLength) return l;
        if (ipfix_) return kVariableLength;
        return v9_len(ie);
    }

    // v9 fixed string lengths: methods are short tokens, every other string gets the option.
    uint16_t v9_len(Ie ie) const {
        return ie == Ie::httpRequestMethod ? std::min<uint16_t>(16, opt_.v9_string_length)
                                           : opt_.v9_string_length;
    }

    // NetFlow v9 has no enterprise numbers: its vendor fields are plain type numbers. nProbe's
    // convention (type = 57472 + its PEN 35632 element id), which Wireshark and ntopng read, is
    // the only one in use, so v9 always numbers non-IANA fields that way.
    WireId on_wire(Ie ie) const {
        if (ipfix_) return wire_id(ie, opt_.l7_vocabulary);
        const WireId iana = wire_id(ie, L7Vocabulary::cert);
        if (!iana.pen && opt_.l7_vocabulary == L7Vocabulary::cert) return iana;
        const WireId w = wire_id(ie, L7Vocabulary::ntop);
        return w.pen ? WireId{static_cast<uint16_t>(57472 + w.id), 0} : w;
    }

    size_t template_size(int t) const {
        size_t n = 4;
        for (Ie ie : layouts_[t]) n += on_wire(ie).pen ? 8 : 4;
        return n;
    }

    // Bytes of one data record of template t for r (IPFIX: strings with their length prefix).
    size_t record_size(int t, const FlowRecord& r) const {
        size_t n = fixed_len_[t];
        for (Ie ie : layouts_[t]) {
            if (info(ie).length != kVariableLength) continue;
            if (!ipfix_) {
                n += v9_len(ie);
            } else {
                const size_t l = string_value(ie, r).size();
                n += l + (l < 255 ? 1 : 3);
            }
        }
        return n;
    }

    void write_record(int t, const FlowRecord& r, size_t budget) {
        // Strings longer than the message allows are cut, longest first (counted).
        size_t lens[8] = {};
        size_t nstr = 0, total = 0;
        for (Ie ie : layouts_[t]) {
            if (info(ie).length != kVariableLength) continue;
            lens[nstr] = ipfix_ ? string_value(ie, r).size() : 0;
            total += lens[nstr];
            ++nstr;
        }
        if (ipfix_ && nstr) {
            const size_t fixed = fixed_len_[t] + 3 * nstr;
            const size_t limit = budget > fixed ? budget - fixed : 0;
            if (total > limit) {
                ++clamped_;
                while (total > limit) {
                    size_t* big = std::max_element(lens, lens + nstr);
                    const size_t cut = std::min(*big, total - limit);
                    *big -= cut;
                    total -= cut;
                }
            }
        }
        const size_t at = buf_.size();
        buf_.resize(at + record_size(t, r) + 3 * nstr);  // upper bound; trimmed below
        uint8_t* p = buf_.data() + at;
        size_t si = 0;
        for (Ie ie : layouts_[t]) {
            if (info(ie).length != kVariableLength) {
                p = put_field(p, ie, r, boot_ms_);
                continue;
            }
            const std::string_view v = string_value(ie, r);
            if (ipfix_) {
                const size_t l = std::min(v.size(), lens[si]);
                if (l < 255) {
                    p = put8(p, l);
                } else {
                    p = put8(p, 255);
                    p = put16(p, l);
                }
                std::memcpy(p, v.data(), l);
                p += l;
            } else {
                const size_t n = v9_len(ie);
                const size_t l = std::min(v.size(), n);
                std::memcpy(p, v.data(), l);
                std::memset(p + l, 0, n - l);
                p += n;
            }
            ++si;
        }
        buf_.resize(static_cast<size_t>(p - buf_.data()));
    }

    void begin(uint64_t now_ns) {
        buf_.assign(header_, 0);
        records_ = 0;
        template_records_ = 0;
        set_open_ = -1;
        const bool due = !templates_just_sent_ &&
                         (!templates_ever_ || messages_since_templates_ >= opt_.template_packets ||
                          now_ns - last_templates_ns_ >= opt_.template_interval_ns);
        templates_just_sent_ = false;
        if (!due) return;
        announced_ = 0;
        write_template_set(0, 1);  // 256 and 257 together, as collectors expect at start
        templates_ever_ = true;
        messages_since_templates_ = 0;
        last_templates_ns_ = now_ns;
    }

    void write_template_set(int first, int last) {
        const size_t start = buf_.size();
        push16(ipfix_ ? 2 : 0);
        push16(0);
        for (int t = first; t <= last; ++t) {
            push16(static_cast<uint16_t>(kFirstTemplate + t));
            push16(static_cast<uint16_t>(layouts_[t].size()));
            for (Ie ie : layouts_[t]) {
                const WireId e = on_wire(ie);
                push16(e.pen ? (e.id | 0x8000) : e.id);
                push16(wire_length(ie));
                if (e.pen) {
                    push16(static_cast<uint16_t>(e.pen >> 16));
                    push16(static_cast<uint16_t>(e.pen));
                }
            }
            announced_ |= 1u << t;
            ++template_records_;
            ++templates_sent_;
        }
        put16(buf_.data() + start + 2, buf_.size() - start);
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
    std::vector<Ie> layouts_[kTemplates];
    size_t fixed_len_[kTemplates] = {};
    std::vector<uint8_t> buf_;
    size_t set_start_ = 0;
    int set_open_ = -1;
    uint32_t records_ = 0;
    uint32_t template_records_ = 0;
    uint64_t sequence_ = 0;
    bool templates_ever_ = false;
    bool templates_just_sent_ = false;
    uint32_t announced_ = 0;  // templates sent since the last refresh
    uint32_t messages_since_templates_ = 0;
    uint64_t last_templates_ns_ = 0;
};
}  // namespace

std::unique_ptr<Encoder> make_template_encoder(bool ipfix, const EncoderOptions& o,
                                               MessageSink sink) {
    return std::make_unique<TemplateEncoder>(ipfix, o, std::move(sink));
}

}  // namespace tapflow
