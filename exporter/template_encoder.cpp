// NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages: header, template sets when due, data sets.
// Templates: 256 (IPv4) and 257 (IPv6) for plain flows, announced together at the start and on
// every refresh; 258-267 for flows with application values (L7Shape × IP version), announced in
// the first message that needs them after each refresh.
// Options templates 270-274 (statistics, sampler, interfaces, applications): each one in a
// message of its own with its records, because collectors are fragile there (pmacct and nfdump
// read only the first options template of a set; pmacct needs the sampler before the flows).
// Over a session transport (TCP, files) every template goes once into the session's preamble.
#include <algorithm>
#include <cstring>
#include <vector>

#include "exporter/encoder.hpp"

namespace tapflow {

namespace {
constexpr uint16_t kFirstTemplate = 256;
constexpr int kTemplates = 2 * kL7Shapes;  // index = shape * 2 + (IPv6 ? 1 : 0)
constexpr uint16_t kStatsTemplate = 270;
constexpr uint16_t kSamplerRateTemplate = 271;
constexpr uint16_t kSamplerTemplate = 272;
constexpr uint16_t kInterfaceTemplate = 273;
constexpr uint16_t kApplicationTemplate = 274;
// Option strings are fixed-length and NUL-padded: nfdump reads no variable-length option field
// and always overwrites the last byte of one with a NUL.
constexpr uint16_t kNameLength = 32;
constexpr uint16_t kDescriptionLength = 64;

struct OptField {
    Ie ie;
    uint16_t length;
};
struct OptValue {
    OptValue(uint64_t n) : num(n) {}  // NOLINT: implicit, so tables read as plain values
    OptValue(std::string_view s) : str(s) {}  // NOLINT
    uint64_t num = 0;
    std::string str;
};
struct OptTemplate {
    uint16_t id;
    OptField scope;  // IPFIX scope; v9 always uses the System scope (type 1) = source ID
    std::vector<OptField> fields;
    std::vector<std::vector<OptValue>> rows;  // static records (scope value first); none for stats
};

// v9 fixed string lengths: methods are short tokens, every other string gets the option.
uint16_t v9_string_length(Ie ie, const EncoderOptions& o) {
    return ie == Ie::httpRequestMethod ? std::min<uint16_t>(16, o.v9_string_length)
                                       : o.v9_string_length;
}

// The data layout of template t (shape * 2 + v6).
std::vector<Ie> data_layout(bool ipfix, int t, const EncoderOptions& o) {
    const bool v6 = t & 1;
    auto base = ipfix ? (v6 ? std::span<const Ie>(kIpfixV6) : std::span<const Ie>(kIpfixV4))
                      : (v6 ? std::span<const Ie>(kV9V6) : std::span<const Ie>(kV9V4));
    std::vector<Ie> l(base.begin(), base.end());
    if (!ipfix && o.v9_time == V9Time::absolute)
        for (Ie& ie : l) {
            if (ie == Ie::flowStartSysUpTime) ie = Ie::flowStartMilliseconds;
            if (ie == Ie::flowEndSysUpTime) ie = Ie::flowEndMilliseconds;
        }
    if (o.direction) l.push_back(Ie::flowDirection);
    if (ipfix && o.biflow) l.insert(l.end(), std::begin(kReverse), std::end(kReverse));
    for (Ie ie : l7_fields(static_cast<L7Shape>(t / 2))) l.push_back(ie);
    return l;
}

std::vector<OptTemplate> option_templates(bool ipfix, const EncoderOptions& o) {
    std::vector<OptTemplate> v;
    const OptField domain{Ie::observationDomainId, 4};
    v.push_back({kStatsTemplate, domain,
                 {{Ie::systemInitTimeMilliseconds, 8}, {Ie::exportedOctetTotalCount, 8},
                  {Ie::exportedMessageTotalCount, 8}, {Ie::exportedFlowRecordTotalCount, 8},
                  {Ie::ignoredPacketTotalCount, 8}, {Ie::notSentFlowTotalCount, 8}},
                 {}});
    if (o.sampler.interval > 1) {
        const uint32_t n = o.sampler.interval;
        // The rate in the one form nfdump 1.7.1 and pmacct both read (nfdump ignores a sampler
        // template that also names the algorithm), then the full description.
        if (ipfix) {
            // Selector 0: what nfdump and pmacct apply to flow records that name no selector.
            const OptField sel{Ie::selectorId, 8};
            v.push_back({kSamplerRateTemplate, sel,
                         {{Ie::samplingPacketInterval, 4}, {Ie::samplingPacketSpace, 4}},
                         {{{0u}, {1u}, {n - 1}}}});
            if (o.sampler.random)
                v.push_back({kSamplerTemplate, sel,
                             {{Ie::selectorAlgorithm, 2}, {Ie::samplingSize, 4}, {Ie::samplingPopulation, 4}},
                             {{{0u}, {3u}, {1u}, {n}}}});
            else
                v.push_back({kSamplerTemplate, sel,
                             {{Ie::selectorAlgorithm, 2}, {Ie::samplingPacketInterval, 4},
                              {Ie::samplingPacketSpace, 4}},
                             {{{0u}, {1u}, {1u}, {n - 1}}}});
        } else {
            v.push_back({kSamplerRateTemplate, domain, {{Ie::samplingInterval, 4}}, {{{o.domain}, {n}}}});
            v.push_back({kSamplerTemplate, domain,
                         {{Ie::samplingInterval, 4}, {Ie::samplingAlgorithm, 1}},
                         {{{o.domain}, {n}, {o.sampler.random ? 2u : 1u}}}});
        }
    }
    if (!o.interfaces.empty()) {
        // nfdump wants ingressInterface as a plain field, not the scope, and shows 83 as the name.
        OptTemplate t{kInterfaceTemplate, domain,
                      {{Ie::ingressInterface, 4}, {Ie::interfaceName, kNameLength},
                       {Ie::interfaceDescription, kDescriptionLength}},
                      {}};
        for (const auto& i : o.interfaces)
            t.rows.push_back({{o.domain}, {i.ifindex}, {std::string_view(i.name)}, {std::string_view(i.description)}});
        v.push_back(std::move(t));
    }
    if (o.applications) {
        OptTemplate t{kApplicationTemplate, domain,
                      {{Ie::applicationId, 3}, {Ie::applicationName, kNameLength},
                       {Ie::applicationDescription, kDescriptionLength}},
                      {}};
        for (const auto& a : kApps)
            t.rows.push_back({{o.domain}, {a.id}, {a.name}, {a.description}});
        v.push_back(std::move(t));
    }
    return v;
}

class TemplateEncoder final : public Encoder {
public:
    TemplateEncoder(bool ipfix, const EncoderOptions& o, MessageSink sink)
        : Encoder(o.boot_ns), ipfix_(ipfix), opt_(o), sink_(std::move(sink)),
          header_(ipfix ? 16 : 20) {
        for (int t = 0; t < kTemplates; ++t) {
            layouts_[t] = data_layout(ipfix_, t, opt_);
            fixed_len_[t] = record_length(layouts_[t]);
        }
        options_ = option_templates(ipfix_, opt_);
        if (opt_.session) announced_ = (1u << kTemplates) - 1;  // the preamble carries them all
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
            template_records_ += write_template_set(buf_, t, t);
        }
        if (set_open_ != t) {
            close_set();
            set_start_ = open_set(buf_, static_cast<uint16_t>(kFirstTemplate + t));
            set_open_ = t;
        }
        note_record_time(now_ns);
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

    void statistics(const ExportStats& st, uint64_t now_ns) override {
        if (!ipfix_) keep_export_in_range(now_ns);
        const OptTemplate& t = options_[0];
        const std::vector<OptValue> row{{opt_.domain}, {boot_ms_}, {st.octets}, {st.messages},
                                        {st.records}, {st.ignored_packets}, {st.not_sent_records}};
        std::vector<uint8_t> b(header_, 0);
        uint32_t templates = 0;
        if (!opt_.session) {
            write_option_template(b, t);
            ++templates;
        }
        const size_t set = open_set(b, t.id);
        write_option_record(b, t, row);
        close_set(b, set);
        seal_and_send(b, 1, templates, now_ns, 0);
    }

    std::vector<uint8_t> preamble(uint64_t now_ns, uint32_t sequence) override {
        std::vector<uint8_t> b(header_, 0);
        write_template_set(b, 0, kTemplates - 1);
        uint32_t templates = kTemplates, records = 0;
        for (const OptTemplate& t : options_) {
            write_option_template(b, t);
            ++templates;
            if (t.rows.empty()) continue;
            write_option_rows(b, t, 0, t.rows.size());
            records += static_cast<uint32_t>(t.rows.size());
        }
        // Numbered so that its option records lead up to `sequence`; the stream's own count
        // is not touched.
        write_header(b, records + templates, sequence - records, now_ns);
        return b;
    }

private:
    void write_header(std::vector<uint8_t>& b, uint32_t all_records, uint64_t sequence,
                      uint64_t now_ns) const {
        const uint64_t secs = export_seconds(now_ns);
        uint8_t* p = b.data();
        if (ipfix_) {
            p = put16(p, 10);
            p = put16(p, b.size());
            p = put32(p, secs);
            p = put32(p, sequence & 0xFFFFFFFFu);  // data records sent before this message
            put32(p, opt_.domain);
        } else {
            p = put16(p, 9);
            p = put16(p, all_records);  // every record, templates included
            p = put32(p, header_uptime_ms(now_ns));
            p = put32(p, secs);
            p = put32(p, sequence & 0xFFFFFFFFu);  // export packets sent before this one
            put32(p, opt_.domain);
        }
    }

    // Header, sequence and hand-off of a finished message (b starts with header_ bytes).
    // data_records counts option records too (they are data records on the wire); the sink is
    // told only how many flow records the message carries.
    void seal_and_send(std::vector<uint8_t>& b, uint32_t data_records, uint32_t template_records,
                       uint64_t now_ns, uint32_t flow_records) {
        write_header(b, data_records + template_records, sequence_, now_ns);
        sequence_ += ipfix_ ? data_records : 1;
        sink_({b.data(), b.size()}, flow_records);
    }

    void send(uint64_t now_ns) {
        close_set();
        now_ns = message_time(now_ns);
        msg_now_ns_ = 0;
        seal_and_send(buf_, records_, template_records_, now_ns, records_);
        // A message of templates alone (they left no room for a record) is followed by data,
        // not by the same templates again.
        templates_just_sent_ = records_ == 0;
        ++messages_since_templates_;
        buf_.clear();
        records_ = 0;
        template_records_ = 0;
        set_open_ = -1;
    }

    static void push16(std::vector<uint8_t>& b, uint16_t v) {
        b.push_back(static_cast<uint8_t>(v >> 8));
        b.push_back(static_cast<uint8_t>(v));
    }

    uint16_t wire_length(Ie ie) const {
        const uint16_t l = info(ie).length;
        if (l != kVariableLength) return l;
        if (ipfix_) return kVariableLength;
        return v9_len(ie);
    }

    uint16_t v9_len(Ie ie) const { return v9_string_length(ie, opt_); }

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
            // Bytes the strings take with their length prefixes (1 byte below 255, else 3).
            auto need = [&] {
                size_t n = 0;
                for (size_t i = 0; i < nstr; ++i) n += lens[i] + (lens[i] < 255 ? 1 : 3);
                return n;
            };
            const size_t limit = budget > fixed_len_[t] ? budget - fixed_len_[t] : 0;
            if (need() > limit) {
                ++clamped_;
                for (size_t n = need(); n > limit && total > 0; n = need()) {
                    size_t* big = std::max_element(lens, lens + nstr);
                    const size_t cut = std::min(*big, n - limit);
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
        if (opt_.session || !due) return;
        // Static option records go first, each in a message of their own, so a collector knows
        // the sampler and the tables before the flows that need them.
        const bool options_due = !templates_ever_ || now_ns - last_options_ns_ >= opt_.template_interval_ns;
        if (options_due) {
            last_options_ns_ = now_ns;
            for (const OptTemplate& t : options_)
                if (!t.rows.empty()) send_option_table(t, now_ns);
        }
        announced_ = 0;
        template_records_ += write_template_set(buf_, 0, 1);  // 256 and 257 together, as collectors expect
        templates_ever_ = true;
        messages_since_templates_ = 0;
        last_templates_ns_ = now_ns;
    }

    // Template set with data templates first..last; returns the number of templates written.
    uint32_t write_template_set(std::vector<uint8_t>& b, int first, int last) {
        const size_t start = b.size();
        push16(b, ipfix_ ? 2 : 0);
        push16(b, 0);
        for (int t = first; t <= last; ++t) {
            push16(b, static_cast<uint16_t>(kFirstTemplate + t));
            push16(b, static_cast<uint16_t>(layouts_[t].size()));
            for (Ie ie : layouts_[t]) {
                const WireId e = on_wire(ie);
                push16(b, e.pen ? (e.id | 0x8000) : e.id);
                push16(b, wire_length(ie));
                if (e.pen) {
                    push16(b, static_cast<uint16_t>(e.pen >> 16));
                    push16(b, static_cast<uint16_t>(e.pen));
                }
            }
            announced_ |= 1u << t;
            ++templates_sent_;
        }
        put16(b.data() + start + 2, b.size() - start);
        return static_cast<uint32_t>(last - first + 1);
    }

    // One options template in a set of its own (RFC 3954 §6.1 / RFC 7011 §3.4.2.2).
    void write_option_template(std::vector<uint8_t>& b, const OptTemplate& t) {
        const size_t start = b.size();
        push16(b, ipfix_ ? 3 : 1);
        push16(b, 0);
        push16(b, t.id);
        if (ipfix_) {
            push16(b, static_cast<uint16_t>(t.fields.size() + 1));
            push16(b, 1);  // one scope field
            push16(b, info(t.scope.ie).id);
            push16(b, t.scope.length);
        } else {
            push16(b, 4);  // scope length in bytes: one System scope
            push16(b, static_cast<uint16_t>(4 * t.fields.size()));
            push16(b, 1);  // scope type System
            push16(b, 4);
        }
        for (const OptField& f : t.fields) {
            push16(b, info(f.ie).id);
            push16(b, f.length);
        }
        if (!ipfix_)
            while ((b.size() - start) % 4) b.push_back(0);
        put16(b.data() + start + 2, b.size() - start);
        ++templates_sent_;
    }

    void write_option_record(std::vector<uint8_t>& b, const OptTemplate& t,
                             const std::vector<OptValue>& row) {
        auto put = [&](const OptField& f, const OptValue& v) {
            const size_t at = b.size();
            b.resize(at + f.length, 0);
            if (info(f.ie).type == IeType::string) {
                std::memcpy(b.data() + at, v.str.data(), std::min<size_t>(v.str.size(), f.length - 1u));
                return;
            }
            uint8_t* p = b.data() + at;
            switch (f.length) {
                case 1: put8(p, v.num); break;
                case 2: put16(p, v.num); break;
                case 3: put8(put16(p, v.num >> 8), v.num); break;
                case 4: put32(p, v.num); break;
                default: put64(p, v.num); break;
            }
        };
        put(ipfix_ ? t.scope : OptField{Ie::observationDomainId, 4}, row[0]);
        for (size_t i = 0; i < t.fields.size(); ++i) put(t.fields[i], row[i + 1]);
    }

    // Rows [first, first+n) of a static table. IPFIX: one record per set, because nfdump 1.7.1
    // steps through an options data set without counting the scope and reads only the first
    // record of each set correctly. v9: one set.
    void write_option_rows(std::vector<uint8_t>& b, const OptTemplate& t, size_t first, size_t n) {
        size_t set = 0;
        for (size_t i = first; i < first + n; ++i) {
            if (ipfix_ || i == first) set = open_set(b, t.id);
            write_option_record(b, t, t.rows[i]);
            if (ipfix_ || i + 1 == first + n) close_set(b, set);
        }
    }

    size_t option_record_size(const OptTemplate& t) const {
        size_t n = ipfix_ ? t.scope.length : 4;
        for (const OptField& f : t.fields) n += f.length;
        return n;
    }

    // Template and records of a static table, as many messages as the MTU requires.
    void send_option_table(const OptTemplate& t, uint64_t now_ns) {
        size_t i = 0;
        while (i < t.rows.size()) {
            std::vector<uint8_t> b(header_, 0);
            write_option_template(b, t);
            size_t n = 1;
            while (i + n < t.rows.size() &&
                   b.size() + (n + 1) * (option_record_size(t) + 4 + 3) <= opt_.mtu)
                ++n;
            write_option_rows(b, t, i, n);
            i += n;
            seal_and_send(b, static_cast<uint32_t>(n), 1, now_ns, 0);
        }
    }

    size_t open_set(std::vector<uint8_t>& b, uint16_t id) {
        const size_t start = b.size();
        push16(b, id);
        push16(b, 0);
        return start;
    }

    void close_set(std::vector<uint8_t>& b, size_t start) {
        if (!ipfix_)
            while ((b.size() - start) % 4) b.push_back(0);  // RFC 3954 §5.3
        put16(b.data() + start + 2, b.size() - start);
    }

    void close_set() {
        if (set_open_ < 0) return;
        close_set(buf_, set_start_);
        set_open_ = -1;
    }

    bool ipfix_;
    EncoderOptions opt_;
    MessageSink sink_;
    size_t header_;
    std::vector<Ie> layouts_[kTemplates];
    std::vector<OptTemplate> options_;
    uint64_t last_options_ns_ = 0;
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

std::vector<TemplateInfo> describe_templates(bool ipfix, const EncoderOptions& o) {
    std::vector<TemplateInfo> v;
    for (int t = 0; t < kTemplates; ++t) {
        TemplateInfo ti{static_cast<uint16_t>(kFirstTemplate + t), false, {}};
        for (Ie ie : data_layout(ipfix, t, o)) {
            uint16_t len = info(ie).length;
            if (len == kVariableLength && !ipfix) len = v9_string_length(ie, o);
            ti.fields.push_back({ie, len});
        }
        v.push_back(std::move(ti));
    }
    for (const OptTemplate& ot : option_templates(ipfix, o)) {
        TemplateInfo ti{ot.id, true, {}};
        ti.fields.push_back(ipfix ? TemplateField{ot.scope.ie, ot.scope.length}
                                  : TemplateField{Ie::observationDomainId, 4});
        for (const OptField& f : ot.fields) ti.fields.push_back({f.ie, f.length});
        v.push_back(std::move(ti));
    }
    return v;
}

std::unique_ptr<Encoder> make_template_encoder(bool ipfix, const EncoderOptions& o,
                                               MessageSink sink) {
    return std::make_unique<TemplateEncoder>(ipfix, o, std::move(sink));
}

}  // namespace tapflow
