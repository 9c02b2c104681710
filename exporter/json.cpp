// JSON lines: one object per flow, IPFIX IE names as keys (same table as the templates),
// times both as ms since the epoch (flowStart/EndMilliseconds) and ISO 8601 UTC (flowStart/End).
#include <fmt/format.h>

#include <ctime>

#include "dpi/l7.hpp"
#include "exporter/encoder.hpp"
#include "probe/net/flow_key.hpp"

namespace tapflow {

namespace {
constexpr size_t kFlushBytes = 64 * 1024;

void iso8601(fmt::memory_buffer& out, uint64_t ns) {
    const time_t secs = static_cast<time_t>(ns / 1'000'000'000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    fmt::format_to(std::back_inserter(out), "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (ns / 1'000'000) % 1000);
}

class JsonEncoder final : public Encoder {
public:
    explicit JsonEncoder(MessageSink sink) : Encoder(0), sink_(std::move(sink)) {}

    bool add(const FlowRecord& r, uint64_t now_ns) override {
        auto out = std::back_inserter(buf_);
        const bool v6 = r.key.is_v6();
        buf_.push_back('{');
        bool first = true;
        for (Ie ie : v6 ? std::span<const Ie>(kIpfixV6) : std::span<const Ie>(kIpfixV4)) {
            const InfoElement& e = info(ie);
            if (!first) buf_.push_back(',');
            first = false;
            fmt::format_to(out, "\"{}\":", e.name);
            switch (e.type) {
                case IeType::ipv4Address:
                case IeType::ipv6Address:
                    fmt::format_to(out, "\"{}\"",
                                   format_ip(ie == Ie::sourceIPv4Address || ie == Ie::sourceIPv6Address
                                                 ? r.key.src
                                                 : r.key.dst,
                                             v6));
                    break;
                default: fmt::format_to(out, "{}", field_value(ie, r, 0)); break;
            }
        }
        if (r.direction != FlowRecord::kDirectionUnknown)
            fmt::format_to(out, ",\"{}\":{}", info(Ie::flowDirection).name, r.direction);
        if (r.l7) add_l7(*r.l7);
        fmt::format_to(out, ",\"ipVersion\":{},\"flowStart\":", r.key.ip_version);
        iso8601(buf_, r.first_ns);
        fmt::format_to(out, ",\"flowEnd\":");
        iso8601(buf_, r.last_ns);
        buf_.append(std::string_view("}\n"));
        ++records_;
        if (buf_.size() >= kFlushBytes) flush(now_ns);
        return true;
    }

    void flush(uint64_t) override {
        if (records_ == 0) return;
        sink_({reinterpret_cast<const uint8_t*>(buf_.data()), buf_.size()}, records_);
        buf_.clear();
        records_ = 0;
    }

private:
    // Strings were cleaned by the DPI step (printable ASCII, '\\' escaped); JSON still needs '"'.
    void str(std::string_view name, std::string_view v) {
        if (v.empty()) return;
        fmt::format_to(std::back_inserter(buf_), ",\"{}\":\"", name);
        for (char c : v) {
            if (c == '"' || c == '\\') buf_.push_back('\\');
            buf_.push_back(c);
        }
        buf_.push_back('"');
    }

    void add_l7(const L7Data& l) {
        auto out = std::back_inserter(buf_);
        str(info(Ie::sslServerName).name, l.sni);
        str("tlsAlpn", l.alpn);
        if (l.tls_offered) fmt::format_to(out, ",\"tlsVersionOffered\":{}", l.tls_offered);
        if (l.tls_negotiated) fmt::format_to(out, ",\"tlsVersionNegotiated\":{}", l.tls_negotiated);
        str(info(Ie::httpRequestMethod).name, l.http_method);
        str(info(Ie::httpRequestHost).name, l.http_host);
        str(info(Ie::httpRequestTarget).name, l.http_target);
        str(info(Ie::httpUserAgent).name, l.http_ua);
        if (l.http_status) fmt::format_to(out, ",\"{}\":{}", info(Ie::httpStatusCode).name, l.http_status);
        str(info(Ie::dnsQName).name, l.dns_qname);
        if (l.has_dns_qtype) fmt::format_to(out, ",\"{}\":{}", info(Ie::dnsQRType).name, l.dns_qtype);
        if (l.has_dns_rcode)
            fmt::format_to(out, ",\"{}\":{}", info(Ie::dnsResponseCode).name, l.dns_rcode);
    }

    MessageSink sink_;
    fmt::memory_buffer buf_;
    uint32_t records_ = 0;
};
}  // namespace

std::unique_ptr<Encoder> make_v5_encoder(const EncoderOptions& o, MessageSink sink);
std::unique_ptr<Encoder> make_template_encoder(bool ipfix, const EncoderOptions& o, MessageSink sink);

std::unique_ptr<Encoder> make_encoder(ExportFormat f, const EncoderOptions& o, MessageSink sink) {
    switch (f) {
        case ExportFormat::v5: return make_v5_encoder(o, std::move(sink));
        case ExportFormat::v9: return make_template_encoder(false, o, std::move(sink));
        case ExportFormat::ipfix: return make_template_encoder(true, o, std::move(sink));
        case ExportFormat::jsonl: return std::make_unique<JsonEncoder>(std::move(sink));
    }
    return nullptr;
}

}  // namespace tapflow
