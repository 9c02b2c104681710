#include "exporter/exporter.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <chrono>
#include <stdexcept>

#include "dpi/l7.hpp"

namespace tapflow {

namespace {
const char* const kForms =
    "v5://HOST:PORT, v9://HOST:PORT, ipfix://HOST:PORT, ipfix+tcp://HOST:PORT, ipfix-file:PATH "
    "or jsonl:PATH, optionally followed by ?key=value&...";

// "1500", "4K", "8M", "1G" (powers of 1024).
uint64_t parse_size(std::string_view v) {
    uint64_t mult = 1;
    if (!v.empty()) {
        switch (v.back()) {
            case 'K': case 'k': mult = 1ull << 10; break;
            case 'M': case 'm': mult = 1ull << 20; break;
            case 'G': case 'g': mult = 1ull << 30; break;
            default: break;
        }
        if (mult != 1) v.remove_suffix(1);
    }
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || v.empty() || n > (1ull << 50) / mult)
        throw std::invalid_argument("not a size (up to 1024T)");
    return n * mult;
}

// "30", "30s", "5m", "1h", "1d", "0.5" (seconds).
double parse_seconds(std::string_view v) {
    double mult = 1;
    if (!v.empty()) {
        switch (v.back()) {
            case 's': mult = 1; v.remove_suffix(1); break;
            case 'm': mult = 60; v.remove_suffix(1); break;
            case 'h': mult = 3600; v.remove_suffix(1); break;
            case 'd': mult = 86400; v.remove_suffix(1); break;
            default: break;
        }
    }
    double x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    // Finite and at most ten years: a value that does not fit the clocks is a mistake.
    if (ec != std::errc() || p != v.data() + v.size() || v.empty() || !(x >= 0) ||
        x * mult > 10 * 365 * 86400.0)
        throw std::invalid_argument("not a duration (seconds, or with s/m/h/d, up to 10 years)");
    return x * mult;
}

void apply_option(Destination& d, std::string_view key, std::string_view val) {
    auto require = [&](bool ok, const char* what) {
        if (!ok) throw std::invalid_argument(std::string(key) + " applies to " + what + " only");
    };
    const bool templated = d.format == ExportFormat::v9 || d.format == ExportFormat::ipfix;
    if (key == "mtu") {
        const uint64_t m = parse_size(val);
        if (m < 512 || m > 65000) throw std::invalid_argument("mtu must be 512-65000");
        d.mtu = m;
    } else if (key == "template-refresh") {
        require(templated, "v9 and IPFIX");
        d.template_refresh_s = parse_seconds(val);
        if (*d.template_refresh_s <= 0) throw std::invalid_argument("template-refresh must be > 0");
    } else if (key == "template-packets") {
        require(templated, "v9 and IPFIX");
        const uint64_t n = parse_size(val);
        if (n < 1 || n > 1000000) throw std::invalid_argument("template-packets must be 1-1000000");
        d.template_packets = static_cast<uint32_t>(n);
    } else if (key == "v9-time") {
        require(d.format == ExportFormat::v9, "v9");
        if (val == "uptime") d.v9_time = V9Time::uptime;
        else if (val == "absolute") d.v9_time = V9Time::absolute;
        else throw std::invalid_argument("v9-time is uptime or absolute");
    } else if (key == "l7-ies") {
        require(templated, "v9 and IPFIX");
        if (val == "cert") d.l7_vocabulary = L7Vocabulary::cert;
        else if (val == "ntop") d.l7_vocabulary = L7Vocabulary::ntop;
        else throw std::invalid_argument("l7-ies is cert or ntop");
    } else if (key == "buffer") {
        require(d.transport == TransportKind::tcp, "ipfix+tcp");
        d.tcp.buffer_bytes = parse_size(val);
        if (d.tcp.buffer_bytes < 65536) throw std::invalid_argument("buffer must be at least 64K");
    } else if (key == "backoff-max") {
        require(d.transport == TransportKind::tcp, "ipfix+tcp");
        d.tcp.backoff_max_s = std::max(parse_seconds(val), d.tcp.backoff_min_s);
    } else if (key == "linger") {
        require(d.transport == TransportKind::tcp, "ipfix+tcp");
        d.tcp.linger_s = parse_seconds(val);
    } else if (key == "rotate") {
        require(d.transport == TransportKind::ipfix_file, "ipfix-file");
        d.rotation.seconds = parse_seconds(val);
    } else if (key == "rotate-size") {
        require(d.transport == TransportKind::ipfix_file, "ipfix-file");
        d.rotation.bytes = parse_size(val);
        if (d.rotation.bytes < 65536) throw std::invalid_argument("rotate-size must be at least 64K");
    } else {
        throw std::invalid_argument("unknown setting '" + std::string(key) +
                                    "' (mtu, template-refresh, template-packets, v9-time, l7-ies, "
                                    "buffer, backoff-max, linger, rotate, rotate-size)");
    }
}

void parse_host_port(Destination& d, std::string_view rest) {
    std::string_view host, port;
    if (rest.starts_with('[')) {  // [IPv6]:port
        const auto close = rest.find(']');
        if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
            throw std::invalid_argument("bad [IPv6]:PORT");
        host = rest.substr(1, close - 1);
        port = rest.substr(close + 2);
    } else {
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) throw std::invalid_argument("missing :PORT");
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (host.empty()) throw std::invalid_argument("missing host");
    if (ec != std::errc() || ptr != port.data() + port.size() || p == 0 || p > 65535)
        throw std::invalid_argument("port must be 1-65535");
    d.host = std::string(host);
    d.port = std::string(port);
}
}  // namespace

Destination parse_destination(std::string_view uri) {
    Destination d;
    d.uri = std::string(uri);
    try {
        std::string_view query;
        if (const auto q = uri.find('?'); q != std::string_view::npos) {
            query = uri.substr(q + 1);
            uri = uri.substr(0, q);
        }
        if (uri.starts_with("jsonl:") || uri.starts_with("ipfix-file:")) {
            const bool json = uri.starts_with("jsonl:");
            d.format = json ? ExportFormat::jsonl : ExportFormat::ipfix;
            d.transport = json ? TransportKind::text_file : TransportKind::ipfix_file;
            d.path = std::string(uri.substr(uri.find(':') + 1));
            if (d.path.empty()) throw std::invalid_argument("empty path");
            if (!json && d.path == "-") throw std::invalid_argument("ipfix-file needs a file name");
        } else {
            const auto sep = uri.find("://");
            if (sep == std::string_view::npos) throw std::invalid_argument("unknown form");
            const std::string_view scheme = uri.substr(0, sep);
            if (scheme == "v5") d.format = ExportFormat::v5;
            else if (scheme == "v9") d.format = ExportFormat::v9;
            else if (scheme == "ipfix") d.format = ExportFormat::ipfix;
            else if (scheme == "ipfix+tcp") {
                d.format = ExportFormat::ipfix;
                d.transport = TransportKind::tcp;
            } else throw std::invalid_argument("unknown scheme '" + std::string(scheme) + "'");
            parse_host_port(d, uri.substr(sep + 3));
        }
        while (!query.empty()) {
            const auto amp = query.find('&');
            const std::string_view kv = query.substr(0, amp);
            query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
            const auto eq = kv.find('=');
            if (eq == std::string_view::npos || eq == 0)
                throw std::invalid_argument("'" + std::string(kv) + "' is not key=value");
            try {
                apply_option(d, kv.substr(0, eq), kv.substr(eq + 1));
            } catch (const std::invalid_argument& e) {
                throw std::invalid_argument("'" + std::string(kv) + "': " + e.what());
            }
        }
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("export '" + d.uri + "': " + e.what() + " (expected " + kForms + ")");
    }
    return d;
}

EncoderOptions destination_options(const Destination& d, EncoderOptions o) {
    if (d.mtu) o.mtu = *d.mtu;
    if (d.template_refresh_s) o.template_interval_ns = static_cast<uint64_t>(*d.template_refresh_s * 1e9);
    if (d.template_packets) o.template_packets = *d.template_packets;
    if (d.v9_time) o.v9_time = *d.v9_time;
    if (d.l7_vocabulary) o.l7_vocabulary = *d.l7_vocabulary;
    o.session = d.transport == TransportKind::tcp || d.transport == TransportKind::ipfix_file;
    // A file has no datagram limit, but messages stay bounded (and readable by every tool).
    return o;
}

Exporter::Exporter(const Destination& d, const EncoderOptions& o)
    : dest_(d), split_biflows_(d.format != ExportFormat::ipfix) {
    switch (d.transport) {
        case TransportKind::udp: transport_ = make_udp_transport(d.host, d.port); break;
        case TransportKind::tcp: transport_ = make_tcp_transport(d.host, d.port, d.tcp); break;
        case TransportKind::ipfix_file: transport_ = make_ipfix_file_transport(d.path, d.rotation); break;
        case TransportKind::text_file: transport_ = make_file_transport(d.path); break;
    }
    encoder_ = make_encoder(d.format, destination_options(d, o),
                            [this](std::span<const uint8_t> msg, uint32_t records) {
                                ++c_.messages;
                                if (!transport_->send(msg, records, now_ns_)) ++c_.send_errors;
                            });
    transport_->set_preamble([this](uint64_t now_ns, uint32_t seq) {
        return encoder_->preamble(now_ns, seq);
    });
}

void Exporter::add_one(const FlowRecord& r, uint64_t now_ns) {
    if (!encoder_->add(r, now_ns)) {
        ++c_.not_exportable;
        c_.not_exportable_packets += r.packets;
        return;
    }
    ++c_.records;
    c_.packets += r.packets;
    c_.octets += r.bytes;
}

void Exporter::add(const FlowRecord& r, uint64_t now_ns) {
    now_ns_ = now_ns;
    if (!split_biflows_ || r.rev_packets == 0) {
        add_one(r, now_ns);
        return;
    }
    // NetFlow v5/v9 and JSON have no reverse fields: the initiator's and the responder's
    // directions go as two records.
    FlowRecord fwd = r;
    fwd.rev_packets = fwd.rev_bytes = fwd.rev_first_ns = fwd.rev_last_ns = 0;
    fwd.rev_tcp_flags = fwd.rev_min_ttl = fwd.rev_max_ttl = 0;
    if (fwd.packets) add_one(fwd, now_ns);
    FlowRecord rev = fwd;
    std::swap(rev.key.src, rev.key.dst);
    std::swap(rev.key.sport, rev.key.dport);
    rev.packets = r.rev_packets;
    rev.bytes = r.rev_bytes;
    rev.first_ns = r.rev_first_ns;
    rev.last_ns = r.rev_last_ns;
    rev.tcp_flags = r.rev_tcp_flags;
    rev.min_ttl = r.rev_min_ttl;
    rev.max_ttl = r.rev_max_ttl;
    rev.l7 = nullptr;  // application values stay with the initiator's record
    if (r.direction != FlowRecord::kDirectionUnknown)
        rev.direction = r.direction == FlowRecord::kEgress ? FlowRecord::kIngress : FlowRecord::kEgress;
    add_one(rev, now_ns);
}

void Exporter::flush(uint64_t now_ns) {
    now_ns_ = std::max(now_ns_, now_ns);
    encoder_->flush(now_ns);
}

void Exporter::tick(uint64_t now_ns) { transport_->tick(now_ns); }

void Exporter::statistics(const ExportStats& global, uint64_t now_ns) {
    now_ns_ = std::max(now_ns_, now_ns);
    encoder_->flush(now_ns);  // so the counts below cover every record encoded so far
    const TransportCounters& t = transport_->counters();
    ExportStats s = global;
    s.messages = t.messages_sent;
    s.octets = t.bytes_sent;
    s.records = c_.records - std::min(c_.records, t.records_dropped);
    s.not_sent_records += t.records_dropped + c_.not_exportable;
    encoder_->statistics(s, now_ns);
}

ExportCounters Exporter::counters() const {
    ExportCounters c = c_;
    c.templates = encoder_->templates_sent();
    c.counter_clamped = encoder_->clamped();
    const TransportCounters& t = transport_->counters();
    c.records_dropped = t.records_dropped;
    c.send_errors = t.messages_dropped;
    c.sessions = t.sessions;
    c.connect_failures = t.connect_failures;
    return c;
}

void Exporter::close(uint64_t now_ns) {
    flush(now_ns);
    transport_->close();
}

void LocalNets::add(std::string_view prefix) {
    const std::string text(prefix);
    const auto slash = prefix.find('/');
    const std::string addr(prefix.substr(0, slash));
    Net n{};
    if (inet_pton(AF_INET, addr.c_str(), n.addr.data()) == 1) n.version = 4;
    else if (inet_pton(AF_INET6, addr.c_str(), n.addr.data()) == 1) n.version = 6;
    else throw std::invalid_argument("--local-net '" + text + "': not an IPv4/IPv6 prefix");
    const unsigned max = n.version == 4 ? 32 : 128;
    unsigned bits = max;
    if (slash != std::string_view::npos) {
        const std::string_view b = prefix.substr(slash + 1);
        auto [p, ec] = std::from_chars(b.data(), b.data() + b.size(), bits);
        if (ec != std::errc() || p != b.data() + b.size() || b.empty() || bits > max)
            throw std::invalid_argument("--local-net '" + text + "': bad prefix length");
    }
    n.bits = static_cast<uint8_t>(bits);
    nets_.push_back(n);
}

bool LocalNets::contains(const FlowKey& k, bool src) const {
    const auto& a = src ? k.src : k.dst;
    for (const Net& n : nets_) {
        if (n.version != k.ip_version) continue;
        unsigned full = n.bits / 8, rest = n.bits % 8;
        if (std::memcmp(a.data(), n.addr.data(), full) != 0) continue;
        if (rest && ((a[full] ^ n.addr[full]) & (0xFF00 >> rest) & 0xFF)) continue;
        return true;
    }
    return false;
}

uint8_t LocalNets::direction(const FlowKey& k) const {
    return contains(k, true) && !contains(k, false) ? FlowRecord::kEgress : FlowRecord::kIngress;
}

ExportThread::ExportThread(std::vector<std::unique_ptr<Exporter>>& exporters,
                           SpscRing<FlowRecord>& ring, const std::atomic<uint64_t>& boot_ns,
                           bool flush_when_quiet, const LocalNets* local_nets)
    : exporters_(exporters), ring_(ring), boot_ns_(boot_ns), flush_when_quiet_(flush_when_quiet),
      local_nets_(local_nets && !local_nets->empty() ? local_nets : nullptr) {}

ExportThread::~ExportThread() {
    if (thread_.joinable()) finish();
}

void ExportThread::start() { thread_ = std::thread([this] { run(); }); }

void ExportThread::finish() {
    done_.store(true, std::memory_order_release);
    if (thread_.joinable()) thread_.join();
}

size_t ExportThread::drain() {
    FlowRecord batch[256];
    size_t total = 0;
    for (;;) {
        const size_t n = ring_.pop(batch, std::size(batch));
        if (n == 0) break;
        if (!boot_set_) {
            // Whole seconds, so that v5/v9 collectors recover it exactly from the header.
            const uint64_t boot = boot_ns_.load(std::memory_order_acquire) / 1'000'000'000 * 1'000'000'000;
            for (auto& e : exporters_) e->set_boot_ns(boot);
            boot_set_ = true;
        }
        for (size_t i = 0; i < n; ++i) {
            FlowRecord& r = batch[i];
            if (r.export_ns > clock_ns_) clock_ns_ = r.export_ns;
            if (r.key.ip_version == 0) {  // statistics marker
                ExportStats s;
                s.ignored_packets = r.packets;
                s.not_sent_records = r.bytes;
                for (auto& e : exporters_) e->statistics(s, clock_ns_);
                continue;
            }
            if (local_nets_) r.direction = local_nets_->direction(r.key);
            for (auto& e : exporters_) e->add(r, clock_ns_);
            delete r.l7;  // the record owned its application values
        }
        total += n;
    }
    return total;
}

void ExportThread::run() {
    using Clock = std::chrono::steady_clock;
    bool pending = false;
    int idle = 0;
    Clock::time_point quiet_since = Clock::now();
    Clock::time_point last_tick{};
    for (;;) {
        const bool done = done_.load(std::memory_order_acquire);
        const size_t n = drain();
        // Transports reconnect and write what they buffered a few times a second at most.
        const Clock::time_point now = Clock::now();
        if (now - last_tick >= std::chrono::milliseconds(5)) {
            for (auto& e : exporters_) e->tick(clock_ns_);
            last_tick = now;
        }
        if (n > 0) {
            pending = true;
            idle = 0;
            quiet_since = now;
            continue;
        }
        if (done) break;  // the worker pushed its last record before setting done_
        // Send a partly filled message once the ring has been quiet for 1 ms, so a collector
        // sees flows promptly without tiny messages while records are still streaming in.
        if (pending && flush_when_quiet_ && now - quiet_since >= std::chrono::milliseconds(1)) {
            for (auto& e : exporters_) e->flush(clock_ns_);
            pending = false;
        }
        if (++idle > 64) std::this_thread::sleep_for(std::chrono::microseconds(200));
        else std::this_thread::yield();
    }
    for (auto& e : exporters_) e->close(clock_ns_);
}

}  // namespace tapflow
