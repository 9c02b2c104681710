#include "dpi/dpi.hpp"

#include <algorithm>
#include <cstring>

namespace tapflow {

namespace {
constexpr uint8_t kSyn = 0x02;
}

struct Dpi::Buffer {
    std::vector<uint8_t> data;
    std::vector<uint64_t> filled;  // one bit per byte of data
    explicit Buffer(uint32_t window) : data(window), filled((window + 63) / 64) {}
    void clear() { std::fill(filled.begin(), filled.end(), 0); }
};

Dpi::Dpi(const DpiConfig& cfg) : cfg_(cfg) {
    cfg_.window = std::max<uint32_t>(cfg_.window, 512);
    cfg_.max_packets = std::max<uint32_t>(cfg_.max_packets, 1);
    slots_.reserve(1024);
}

Dpi::~Dpi() {
    for (auto& s : slots_)
        if (s.buf) free_buffer(s.buf);
    for (Buffer* b : free_buffers_) delete b;
}

uint32_t Dpi::alloc_slot() {
    if (free_head_) {
        const uint32_t idx = free_head_ - 1;
        free_head_ = slots_[idx].next_free;
        slots_[idx] = Slot{};
        return idx;
    }
    slots_.emplace_back();
    return static_cast<uint32_t>(slots_.size() - 1);
}

void Dpi::free_slot(uint32_t idx) {
    Slot& s = slots_[idx];
    if (s.buf) free_buffer(s.buf);
    s.buf = nullptr;
    s.l7.reset();
    s.next_free = free_head_;
    free_head_ = idx + 1;
}

Dpi::Buffer* Dpi::alloc_buffer() {
    if (!free_buffers_.empty()) {
        Buffer* b = free_buffers_.back();
        free_buffers_.pop_back();
        b->clear();
        return b;
    }
    if (buffers_ >= cfg_.max_buffers) return nullptr;
    ++buffers_;
    return new Buffer(cfg_.window);
}

void Dpi::free_buffer(Buffer* b) { free_buffers_.push_back(b); }

bool Dpi::classify(std::span<const uint8_t> payload, const DpiConfig& cfg, Kind& kind) {
    if (cfg.tls && looks_tls(payload)) {
        kind = Kind::tls;
        return true;
    }
    if (cfg.http && looks_http_request(payload)) {
        kind = Kind::http_request;
        return true;
    }
    if (cfg.http && looks_http_response(payload)) {
        kind = Kind::http_response;
        return true;
    }
    return false;
}

void Dpi::finish(Slot& s, uint32_t& state) {
    if (s.buf) {
        free_buffer(s.buf);
        s.buf = nullptr;
    }
    s.finished = true;
    if (s.l7->empty()) {
        ++c_.dpi_gave_up;
        free_slot(state - 1);
        state = kDpiDone;
    }
}

Parse Dpi::parse_stream(Slot& s, std::span<const uint8_t> data) {
    L7Data& out = *s.l7;
    switch (s.kind) {
        case Kind::tls: return parse_tls(data, out, cfg_.max_string);
        case Kind::http_request: return parse_http_request(data, out, cfg_.max_string);
        case Kind::http_response: return parse_http_response(data, out);
        case Kind::dns_tcp: return parse_dns_tcp(data, out, cfg_.max_string);
        case Kind::dns_udp: return parse_dns(data, out, cfg_.max_string);
        case Kind::tcp_pending: {
            Kind k;
            if (data.size() < 6) return Parse::need_more;
            if (!classify(data, cfg_, k)) return Parse::not_mine;
            s.kind = k;
            return parse_stream(s, data);
        }
    }
    return Parse::not_mine;
}

void Dpi::feed_tcp(Slot& s, const PacketInfo& p, uint32_t& state) {
    const int32_t off = static_cast<int32_t>(p.tcp_seq - s.base);
    if (!s.buf) {
        if (off == 0 && s.kind != Kind::tcp_pending) {
            // Fast path: the message starts in this segment; most are complete in it.
            const Parse r = parse_stream(s, {p.payload, p.payload_len});
            if (r != Parse::need_more) return finish(s, state);
        } else if (off < 0) {
            return;  // bytes before the stream start we chose: cannot be placed
        }
        s.buf = alloc_buffer();
        if (!s.buf) {
            ++c_.dpi_no_buffer;
            return finish(s, state);
        }
        ++c_.dpi_reassembled;
    }
    // Place the segment in the window (retransmissions overwrite the same bytes, segments that
    // arrive early wait in place) and extend the contiguous prefix.
    if (off < 0) return;
    const uint32_t window = cfg_.window;
    if (static_cast<uint32_t>(off) >= window) return;
    const uint32_t start = static_cast<uint32_t>(off);
    const uint32_t end = std::min<uint32_t>(window, start + p.payload_len);
    std::memcpy(s.buf->data.data() + start, p.payload, end - start);
    for (uint32_t i = start; i < end; ++i) s.buf->filled[i >> 6] |= uint64_t{1} << (i & 63);
    const uint32_t before = s.have;
    while (s.have < window && (s.buf->filled[s.have >> 6] >> (s.have & 63) & 1)) ++s.have;
    if (s.have == before) return;
    const Parse r = parse_stream(s, {s.buf->data.data(), s.have});
    if (r != Parse::need_more) return finish(s, state);
    if (s.have == window) {
        ++c_.dpi_window_full;
        return finish(s, state);
    }
}

void Dpi::inspect(const PacketInfo& p, uint32_t& state, uint32_t& seq0, uint8_t& flags) {
    const uint8_t proto = p.key.proto;
    if (proto == 6 && (p.tcp_flags & kSyn) && !(flags & kDpiSeq0Known)) {
        seq0 = p.tcp_seq + 1;  // the SYN takes one sequence number
        flags |= kDpiSeq0Known;
    }
    if (p.payload_len == 0) return;
    // TCP keep-alive probes carry 0 or 1 garbage byte and no message starts with fewer than 6
    // bytes that tell TLS or HTTP apart: wait for a real segment before deciding.
    if (state == kDpiNone && proto == 6 && p.payload_len < 6 && !(flags & kDpiSeq0Known) &&
        p.key.sport != 53 && p.key.dport != 53)
        return;
    if (state == kDpiNone) {
        Kind kind;
        const bool dns_port = p.key.sport == 53 || p.key.dport == 53;
        const std::span<const uint8_t> payload{p.payload, p.payload_len};
        bool mine = false;
        if (proto == 17) {
            mine = cfg_.dns && dns_port;
            kind = Kind::dns_udp;
        } else if (proto == 6) {
            if (cfg_.dns && dns_port) {
                mine = true;
                kind = Kind::dns_tcp;
            } else if ((flags & kDpiSeq0Known) && (p.tcp_seq != seq0 || p.payload_len < 6)) {
                // The first bytes of the stream have not arrived yet (reordering), or too few to
                // tell TLS from HTTP: collect them and decide when there are enough.
                mine = cfg_.tls || cfg_.http;
                kind = Kind::tcp_pending;
            } else {
                mine = classify(payload, cfg_, kind);
            }
        }
        if (!mine) {
            ++c_.dpi_skipped;
            state = kDpiDone;
            return;
        }
        ++c_.dpi_flows;
        const uint32_t idx = alloc_slot();
        Slot& s = slots_[idx];
        s.l7 = std::make_unique<L7Data>();
        s.kind = kind;
        s.base = (flags & kDpiSeq0Known) ? seq0 : p.tcp_seq;
        state = idx + 1;
    }
    Slot& s = slots_[state - 1];
    if (s.finished) return;
    ++s.packets;
    if (s.kind == Kind::dns_udp) {
        if (parse_dns({p.payload, p.payload_len}, *s.l7, cfg_.max_string) == Parse::done &&
            !s.l7->empty())
            return finish(s, state);
    } else {
        feed_tcp(s, p, state);
        if (state == kDpiDone || slots_[state - 1].finished) return;
    }
    if (s.packets >= cfg_.max_packets) finish(s, state);
}

L7Data* Dpi::release(uint32_t state) {
    if (state == kDpiNone || state == kDpiDone) return nullptr;
    Slot& s = slots_[state - 1];
    L7Data* out = nullptr;
    if (s.l7 && !s.l7->empty()) {
        out = s.l7.release();
        switch (out->app) {
            case AppId::tls: ++c_.dpi_tls; break;
            case AppId::http: ++c_.dpi_http; break;
            case AppId::dns: ++c_.dpi_dns; break;
            case AppId::none: break;
        }
    }
    free_slot(state - 1);
    return out;
}

}  // namespace tapflow
