// Encoders are pure (STYLE.md): flow records in, finished export messages out through a
// callback; no sockets, no files. Transports (exporter/transport) own the I/O.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/ie.hpp"
#include "probe/flow_record.hpp"

namespace tapflow {

enum class ExportFormat : uint8_t { v5, v9, ipfix, jsonl };

// What the option records describe (v9 / IPFIX); the same for every destination.
struct InterfaceInfo {
    uint32_t ifindex = 0;
    std::string name;         // interfaceName (82)
    std::string description;  // interfaceDescription (83); nfdump shows this one as the name
};
struct SamplerInfo {
    uint32_t interval = 1;  // 1 packet in `interval`; 1 = not sampled
    bool random = false;    // random n-out-of-N instead of systematic count-based (every Nth)
};

// Running totals for the statistics option record (IE 160, 40-42, 164, 166).
struct ExportStats {
    uint64_t messages = 0;           // export messages sent by this destination
    uint64_t octets = 0;             // bytes of those messages
    uint64_t records = 0;            // flow records sent
    uint64_t ignored_packets = 0;    // capture drops + frames that were not metered
    uint64_t not_sent_records = 0;   // records lost (ring full, transport drops)
};

enum class V9Time : uint8_t { uptime, absolute };

struct EncoderOptions {
    size_t mtu = 1400;                 // largest message (UDP payload) in bytes
    uint32_t domain = 0;               // v9 source ID / IPFIX observation domain ID
    uint64_t template_interval_ns = 600ull * 1'000'000'000;
    uint32_t template_packets = 20;    // re-send templates after this many messages
    uint16_t v9_string_length = 128;   // v9 has no variable-length fields: strings are cut/padded
    L7Vocabulary l7_vocabulary = L7Vocabulary::cert;
    uint64_t boot_ns = 0;              // origin of v5/v9 sysUpTime (exporter "boot"), see set_boot_ns
    V9Time v9_time = V9Time::uptime;   // v9: flowStart/EndSysUpTime (21/22) or ...Milliseconds (152/153)
    // A session transport (IPFIX over TCP, IPFIX files) carries every template once per session
    // in the preamble, never in the stream; datagrams repeat them on the template timer.
    bool session = false;
    bool biflow = false;               // IPFIX records carry the reverse direction (RFC 5103)
    bool direction = false;            // records carry flowDirection (--local-net given)
    // Option records (v9/IPFIX): sent at start and on the template timer.
    SamplerInfo sampler;
    std::vector<InterfaceInfo> interfaces;
    bool applications = false;         // the application table (DPI on)
};

using MessageSink = std::function<void(std::span<const uint8_t> message, uint32_t records)>;

// Export header times: the message is stamped with the clock rounded UP to a whole second, and
// sysUpTime is derived from that same second, so a collector that computes
// boot = unix_secs*1000 - sysUpTime recovers the exact boot time and every flow time stays at
// or before the header's time (v9 has no sub-second header field).
inline uint64_t export_seconds(uint64_t now_ns) { return (now_ns + 999'999'999) / 1'000'000'000; }

class Encoder {
public:
    virtual ~Encoder() = default;
    // Adds one record; false when this format cannot carry it (IPv6 in NetFlow v5).
    virtual bool add(const FlowRecord& r, uint64_t now_ns) = 0;
    // Emits the message being built, if it holds any record.
    virtual void flush(uint64_t now_ns) = 0;
    // Sends the statistics option record (v9/IPFIX; others ignore it) in a message of its own.
    virtual void statistics(const ExportStats&, uint64_t /*now_ns*/) {}
    // First message of a session (Transport::Preamble): every template and the option records
    // that describe the data (sampler, interfaces, applications). Empty for sessionless formats.
    virtual std::vector<uint8_t> preamble(uint64_t /*now_ns*/, uint32_t /*sequence*/) { return {}; }
    uint64_t templates_sent() const { return templates_sent_; }
    uint64_t clamped() const { return clamped_; }
    // Origin of v5/v9 sysUpTime; set before the first record when it was not known at start.
    void set_boot_ns(uint64_t ns) { boot_ms_ = ns / 1'000'000; }

protected:
    explicit Encoder(uint64_t boot_ns) : boot_ms_(boot_ns / 1'000'000) {}

    // v5/v9 carry times as 32-bit ms since boot (sysUpTime). A capture that starts at time 0 or
    // jumps by years (concatenated files) cannot keep one boot time: when a record would fall
    // before boot, or the export would be 2^32 ms or more after it, the encoder ends the current
    // message and moves boot to the record's first second (as if the exporter had rebooted).
    // Call before adding r to the message being built (v5/v9 only).
    void keep_uptime_in_range(const FlowRecord& r, uint64_t now_ns) {
        const uint64_t first_ms = r.first_ns / 1'000'000;
        const uint64_t export_ms = export_seconds(now_ns) * 1000;
        if (first_ms < boot_ms_ || export_ms - boot_ms_ >= 0xFFFFFFFFull) {
            flush(message_time(now_ns));  // the message so far, stamped with its own latest time
            boot_ms_ = r.first_ns / 1'000'000'000 * 1000;
        }
    }
    // The same for a message without flow times (option records) sent at now_ns.
    void keep_export_in_range(uint64_t now_ns) {
        const uint64_t export_ms = export_seconds(now_ns) * 1000;
        if (export_ms < boot_ms_ || export_ms - boot_ms_ >= 0xFFFFFFFFull)
            boot_ms_ = now_ns / 1'000'000'000 * 1000;
    }
    // A data message is stamped with the latest clock of its own records, not with the clock of
    // whatever made it leave (a later record, a statistics timer): its header time stays close
    // to its flows, which keeps v5/v9 uptimes in range.
    void note_record_time(uint64_t now_ns) { msg_now_ns_ = std::max(msg_now_ns_, now_ns); }
    uint64_t message_time(uint64_t now_ns) const { return msg_now_ns_ ? msg_now_ns_ : now_ns; }
    // Header sysUpTime for a message stamped export_seconds(now_ns): 32-bit ms since boot.
    uint64_t header_uptime_ms(uint64_t now_ns) const {
        const uint64_t ms = export_seconds(now_ns) * 1000;
        return (ms - std::min(ms, boot_ms_)) & 0xFFFFFFFFu;
    }

    uint64_t boot_ms_;
    uint64_t msg_now_ns_ = 0;  // latest clock of the records in the message being built (0: none)
    uint64_t templates_sent_ = 0;
    uint64_t clamped_ = 0;
};

std::unique_ptr<Encoder> make_encoder(ExportFormat f, const EncoderOptions& o, MessageSink sink);

// For the docs (--list-fields): the templates a v9/IPFIX encoder with these options sends.
struct TemplateField {
    Ie ie;
    uint16_t length;  // on the wire (kVariableLength for IPFIX strings)
};
struct TemplateInfo {
    uint16_t id;
    bool options;                     // an options template: fields[0] is the scope
    std::vector<TemplateField> fields;
};
std::vector<TemplateInfo> describe_templates(bool ipfix, const EncoderOptions& o);

// Big-endian writers for the encoders.
inline uint8_t* put8(uint8_t* p, uint64_t v) { *p = static_cast<uint8_t>(v); return p + 1; }
inline uint8_t* put16(uint8_t* p, uint64_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
    return p + 2;
}
inline uint8_t* put32(uint8_t* p, uint64_t v) {
    for (int i = 3; i >= 0; --i) *p++ = static_cast<uint8_t>(v >> (8 * i));
    return p;
}
inline uint8_t* put64(uint8_t* p, uint64_t v) {
    for (int i = 7; i >= 0; --i) *p++ = static_cast<uint8_t>(v >> (8 * i));
    return p;
}

// Writes one IE of a record (info(ie).length bytes) and returns the end.
uint8_t* put_field(uint8_t* p, Ie ie, const FlowRecord& r, uint64_t boot_ms);

// Numeric value of an IE for a record (JSON and tests); addresses and strings are not numeric.
uint64_t field_value(Ie ie, const FlowRecord& r, uint64_t boot_ms);

// Which L7 layout a record uses (none when it has no exported application value).
L7Shape l7_shape(const FlowRecord& r);
// The string value of a string IE (empty when the record has none).
std::string_view string_value(Ie ie, const FlowRecord& r);

}  // namespace tapflow
