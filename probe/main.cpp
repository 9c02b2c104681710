// tapflow: capture → decode → flow cache (worker thread = main thread) → ring → exporter thread.
// Exit codes: 0 ok, 1 runtime failure, 2 bad usage or unreadable input (one line on stderr).
#include <fmt/core.h>
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <optional>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "exporter/exporter.hpp"
#include "probe/config.hpp"
#include "probe/worker.hpp"

#include <pcap/pcap.h>

using namespace tapflow;

namespace {

Source* g_source = nullptr;

extern "C" void on_signal(int) {
    if (g_source) g_source->stop();
}

std::string dlt_name(int dlt) {
    const char* n = pcap_datalink_val_to_name(dlt);
    return fmt::format("{} ({})", n ? n : "unknown", dlt);
}

uint64_t wall_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
}

uint64_t to_ns(double s) { return static_cast<uint64_t>(s * 1e9); }

std::string stats_json(const Worker& w, const CaptureStats& cs,
                       const std::vector<std::unique_ptr<Exporter>>& exps) {
    fmt::memory_buffer b;
    auto out = std::back_inserter(b);
    fmt::format_to(out, "{{\"decode\":{{");
    const char* sep = "";
#define TAPFLOW_JSON(name, desc) \
    fmt::format_to(out, "{}\"{}\":{}", sep, #name, src.name); sep = ",";
    {
        const auto& src = w.decoder().counters();
        TAPFLOW_DECODE_COUNTERS(TAPFLOW_JSON)
    }
    fmt::format_to(out, "}},\"cache\":{{");
    sep = "";
    {
        const auto& src = w.cache().counters();
        TAPFLOW_CACHE_COUNTERS(TAPFLOW_JSON)
    }
    fmt::format_to(out, ",\"flows_in_cache\":{}}},\"dpi\":{{", w.cache().size());
    sep = "";
    {
        const DpiCounters none{};
        const auto& src = w.dpi() ? w.dpi()->counters() : none;
        TAPFLOW_DPI_COUNTERS(TAPFLOW_JSON)
    }
    fmt::format_to(out, "}},\"capture\":{{\"received\":{},\"dropped\":{},"
                        "\"if_dropped\":{},\"filtered\":{}}},\"exporters\":[",
                   cs.received, cs.dropped, cs.if_dropped, cs.filtered);
    const char* esep = "";
    for (const auto& e : exps) {
        std::string uri;
        for (char ch : e->destination().uri) {
            if (ch == '"' || ch == '\\') uri += '\\';
            uri += ch;
        }
        fmt::format_to(out, "{}{{\"uri\":\"{}\"", esep, uri);
        sep = ",";
        const ExportCounters src = e->counters();
        TAPFLOW_EXPORT_COUNTERS(TAPFLOW_JSON)
        fmt::format_to(out, "}}");
        esep = ",";
    }
#undef TAPFLOW_JSON
    fmt::format_to(out, "]}}\n");
    return fmt::to_string(b);
}

}  // namespace

int main(int argc, char** argv) {
    Config cfg = parse_command_line(argc, argv);
    const std::string input = cfg.capture.file.empty() ? cfg.capture.iface : cfg.capture.file;

    std::unique_ptr<Source> source;
    std::vector<Destination> dests;
    LocalNets local_nets;
    try {
        for (const auto& u : cfg.exports) dests.push_back(parse_destination(u));
        for (const auto& n : cfg.local_nets) local_nets.add(n);
        source = open_source(cfg.capture);
        const int dlt = source->datalink();
        if (dlt >= 0 && !link_type_from_dlt(dlt))
            throw InputError(input + ": link type " + dlt_name(dlt) +
                             " is not supported (Ethernet, Linux SLL/SLL2, raw IP, BSD loopback)");
    } catch (const std::exception& e) {
        fmt::print(stderr, "tapflow: {}\n", e.what());
        return 2;
    }

    EncoderOptions eo;
    eo.mtu = cfg.mtu;
    eo.domain = cfg.domain;
    eo.template_interval_ns = to_ns(cfg.template_refresh_s);
    eo.template_packets = cfg.template_packets;
    eo.v9_string_length = static_cast<uint16_t>(cfg.v9_string_length);
    eo.l7_vocabulary = cfg.l7_ies == "ntop" ? L7Vocabulary::ntop : L7Vocabulary::cert;
    eo.v9_time = cfg.v9_time == "absolute" ? V9Time::absolute : V9Time::uptime;
    eo.sampler.interval = cfg.sample;
    eo.sampler.random = cfg.sample_mode == "random";
    eo.biflow = cfg.biflow;
    eo.direction = !local_nets.empty();
    eo.applications = cfg.dpi.any();
    const uint32_t ifindex = cfg.ifindex >= 0 ? static_cast<uint32_t>(cfg.ifindex)
                                              : (source->live() ? source->os_ifindex() : 0);
    {
        InterfaceInfo ii;
        ii.ifindex = ifindex;
        ii.name = !cfg.if_name.empty() ? cfg.if_name
                  : !cfg.capture.iface.empty() ? cfg.capture.iface
                  : cfg.capture.file.substr(cfg.capture.file.rfind('/') + 1);
        ii.description = cfg.if_description.empty() ? ii.name : cfg.if_description;
        eo.interfaces.push_back(std::move(ii));
    }

    // Open every destination before reading a packet, so a bad host or path fails at once.
    std::vector<std::unique_ptr<Exporter>> exporters;
    try {
        for (const auto& d : dests) exporters.push_back(std::make_unique<Exporter>(d, eo));
    } catch (const std::exception& e) {
        fmt::print(stderr, "tapflow: {}\n", e.what());
        return 2;
    }

    CacheConfig cc;
    cc.active_timeout_ns = to_ns(cfg.active_timeout_s);
    cc.inactive_timeout_ns = to_ns(cfg.inactive_timeout_s);
    cc.fin_timeout_ns = to_ns(cfg.fin_timeout_s);
    cc.max_flows = cfg.max_flows;
    cc.key = cfg.key_fields;
    cc.biflow = cfg.biflow;
    WorkerOptions wo;
    wo.sample = cfg.sample;
    wo.sample_random = cfg.sample_mode == "random";
    wo.stats_interval_ns = to_ns(cfg.options_interval_s);

    // Origin of v5/v9 sysUpTime: the start for a live capture; for a file, the first packet's
    // time, since header times then follow packet time.
    std::atomic<uint64_t> boot_ns{source->live() ? wall_ns() : 0};
    SpscRing<FlowRecord> ring(cfg.ring_size);
    std::unique_ptr<Worker> worker;
    try {
        worker = std::make_unique<Worker>(ifindex, cc, ring, !source->live(),
                                          source->live() ? nullptr : &boot_ns, &cfg.dpi, wo);
    } catch (const std::exception& e) {
        fmt::print(stderr, "tapflow: cannot allocate a flow cache of {} flows: {}\n", cfg.max_flows,
                   e.what());
        return 1;
    }
    ExportThread export_thread(exporters, ring, boot_ns, source->live(), &local_nets);
    export_thread.start();

    g_source = source.get();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    // A problem found while reading still ends with every flow read so far exported.
    Source::End end = Source::End::error;
    std::string run_error;
    int run_rc = 0;
    try {
        end = source->run(*worker);
    } catch (const InputError& e) {
        run_error = e.what();
        run_rc = 2;
    } catch (const std::exception& e) {
        run_error = e.what();
        run_rc = 1;
    }
    worker->finish();
    export_thread.finish();
    const CaptureStats cs = source->stats();
    g_source = nullptr;

    if (!cfg.stats_file.empty()) {
        const std::string js = stats_json(*worker, cs, exporters);
        if (cfg.stats_file == "-") {
            std::fputs(js.c_str(), stderr);
        } else if (FILE* f = std::fopen(cfg.stats_file.c_str(), "we")) {
            std::fputs(js.c_str(), f);
            std::fclose(f);
        } else {
            fmt::print(stderr, "tapflow: cannot write --stats file {}\n", cfg.stats_file);
        }
    }
    if (!cfg.quiet) {
        const auto& dc = worker->decoder().counters();
        const auto& cc2 = worker->cache().counters();
        fmt::print(stderr, "tapflow: {} frames, {} IP packets, {} flows", dc.frames, dc.ip_packets,
                   cc2.flows_created);
        if (cc2.expired_emergency) fmt::print(stderr, ", {} ended early (cache full)", cc2.expired_emergency);
        if (cc2.ring_drops) fmt::print(stderr, ", {} records dropped (exporter behind)", cc2.ring_drops);
        if (source->live()) fmt::print(stderr, ", kernel drops {}", cs.dropped + cs.if_dropped);
        fmt::print(stderr, "\n");
        for (const auto& e : exporters) {
            const ExportCounters x = e->counters();
            fmt::print(stderr, "tapflow: {}: {} records, {} messages", e->destination().uri, x.records,
                       x.messages);
            if (x.not_exportable) fmt::print(stderr, ", {} IPv6 records not exportable", x.not_exportable);
            if (x.send_errors)
                fmt::print(stderr, ", {} messages ({} records) not sent (last error: {})",
                           x.send_errors, x.records_dropped, e->last_error());
            fmt::print(stderr, "\n");
        }
    }
    if (const uint64_t n = worker->decoder().counters().unsupported_link)
        fmt::print(stderr, "tapflow: {}: {} frames on interfaces with an unsupported link type were skipped\n",
                   input, n);
    if (run_rc) {
        fmt::print(stderr, "tapflow: {} (flows read before it were exported)\n", run_error);
        return run_rc;
    }
    if (end == Source::End::error) {
        fmt::print(stderr, "tapflow: {}: read error after {} frames: {} (flows read before it were exported)\n",
                   input, worker->decoder().counters().frames, source->error());
        return source->live() ? 1 : 2;
    }
    return 0;
}
