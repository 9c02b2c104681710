#include "exporter/exporter.hpp"

#include <charconv>
#include <chrono>
#include <stdexcept>

#include "dpi/l7.hpp"

namespace tapflow {

Destination parse_destination(std::string_view uri) {
    Destination d;
    d.uri = std::string(uri);
    auto bad = [&](const std::string& why) {
        return std::invalid_argument("export '" + d.uri + "': " + why +
                                     " (expected v5://HOST:PORT, v9://HOST:PORT, ipfix://HOST:PORT "
                                     "or jsonl:PATH)");
    };
    if (uri.starts_with("jsonl:")) {
        d.format = ExportFormat::jsonl;
        d.path = std::string(uri.substr(6));
        if (d.path.empty()) throw bad("empty path");
        return d;
    }
    const auto sep = uri.find("://");
    if (sep == std::string_view::npos) throw bad("unknown form");
    const std::string_view scheme = uri.substr(0, sep);
    if (scheme == "v5") d.format = ExportFormat::v5;
    else if (scheme == "v9") d.format = ExportFormat::v9;
    else if (scheme == "ipfix") d.format = ExportFormat::ipfix;
    else throw bad("unknown scheme '" + std::string(scheme) + "'");
    std::string_view rest = uri.substr(sep + 3);
    std::string_view host, port;
    if (rest.starts_with('[')) {  // [IPv6]:port
        const auto close = rest.find(']');
        if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
            throw bad("bad [IPv6]:PORT");
        host = rest.substr(1, close - 1);
        port = rest.substr(close + 2);
    } else {
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) throw bad("missing :PORT");
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (host.empty()) throw bad("missing host");
    if (ec != std::errc() || ptr != port.data() + port.size() || p == 0 || p > 65535)
        throw bad("port must be 1-65535");
    d.host = std::string(host);
    d.port = std::string(port);
    return d;
}

Exporter::Exporter(const Destination& d, const EncoderOptions& o) : dest_(d) {
    transport_ = d.format == ExportFormat::jsonl ? make_file_transport(d.path)
                                                 : make_udp_transport(d.host, d.port);
    encoder_ = make_encoder(d.format, o, [this](std::span<const uint8_t> msg, uint32_t) {
        ++c_.messages;
        if (!transport_->send(msg)) ++c_.send_errors;
    });
}

void Exporter::add(const FlowRecord& r, uint64_t now_ns) {
    if (!encoder_->add(r, now_ns)) {
        ++c_.not_exportable;
        c_.not_exportable_packets += r.packets;
        return;
    }
    ++c_.records;
    c_.packets += r.packets;
    c_.octets += r.bytes;
}

void Exporter::flush(uint64_t now_ns) {
    encoder_->flush(now_ns);
    c_.templates = encoder_->templates_sent();
    c_.counter_clamped = encoder_->clamped();
}

void Exporter::close(uint64_t now_ns) {
    flush(now_ns);
    transport_->close();
}

ExportThread::ExportThread(std::vector<std::unique_ptr<Exporter>>& exporters,
                           SpscRing<FlowRecord>& ring, const std::atomic<uint64_t>& boot_ns,
                           bool flush_when_quiet)
    : exporters_(exporters), ring_(ring), boot_ns_(boot_ns), flush_when_quiet_(flush_when_quiet) {}

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
            if (batch[i].export_ns > clock_ns_) clock_ns_ = batch[i].export_ns;
            for (auto& e : exporters_) e->add(batch[i], clock_ns_);
            delete batch[i].l7;  // the record owned its application values
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
    for (;;) {
        const bool done = done_.load(std::memory_order_acquire);
        if (drain() > 0) {
            pending = true;
            idle = 0;
            quiet_since = Clock::now();
            continue;
        }
        if (done) break;  // the worker pushed its last record before setting done_
        // Send a partly filled message once the ring has been quiet for 1 ms, so a collector
        // sees flows promptly without tiny messages while records are still streaming in.
        if (pending && flush_when_quiet_ &&
            Clock::now() - quiet_since >= std::chrono::milliseconds(1)) {
            for (auto& e : exporters_) e->flush(clock_ns_);
            pending = false;
        }
        if (++idle > 64) std::this_thread::sleep_for(std::chrono::microseconds(200));
        else std::this_thread::yield();
    }
    for (auto& e : exporters_) e->close(clock_ns_);
}

}  // namespace tapflow
