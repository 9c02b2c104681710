// IPFIX over TCP (exporter/transport/tcp.cpp) against real sockets on 127.0.0.1, and IPFIX files
// (exporter/transport/ipfix_file.cpp) in a temporary directory. The messages are fake IPFIX:
// a 16-byte header (version 10, length, export time, sequence, domain) and filler bytes, enough
// for the transports, which only read the sequence number.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "exporter/transport/transport.hpp"

using namespace tapflow;
using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kNow = 1'700'000'000 * kSec;  // 2023-11-14 22:13:20 UTC
constexpr uint32_t kPreambleDomain = 0x50524541;  // "PREA": tells the preamble from data

void put32(Bytes& b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = uint8_t(v >> (24 - 8 * i));
}
uint32_t get32(const Bytes& b, size_t at) {
    return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3];
}
uint32_t sequence(const Bytes& m) { return get32(m, 8); }
uint32_t domain(const Bytes& m) { return get32(m, 12); }

Bytes ipfix(uint32_t seq, uint32_t domain, size_t size, uint8_t fill, uint64_t now_ns = kNow) {
    Bytes b(size, fill);
    b[0] = 0;
    b[1] = 10;
    b[2] = uint8_t(size >> 8);
    b[3] = uint8_t(size);
    put32(b, 4, uint32_t(now_ns / kSec));
    put32(b, 8, seq);
    put32(b, 12, domain);
    return b;
}
Bytes data_msg(uint32_t seq, size_t size, uint8_t fill) { return ipfix(seq, 1, size, fill); }

Transport::Preamble test_preamble() {
    return [](uint64_t now_ns, uint32_t seq) { return ipfix(seq, kPreambleDomain, 40, 'P', now_ns); };
}

// Cuts a byte stream into IPFIX messages by their length fields; bytes of an incomplete last
// message are left out.
std::vector<Bytes> split(const Bytes& stream) {
    std::vector<Bytes> out;
    size_t at = 0;
    while (stream.size() - at >= 16) {
        size_t len = size_t(stream[at + 2]) << 8 | stream[at + 3];
        REQUIRE(stream[at + 1] == 10);
        REQUIRE(len >= 16);
        if (stream.size() - at < len) break;
        out.emplace_back(stream.begin() + at, stream.begin() + at + len);
        at += len;
    }
    return out;
}

// Ticks the transport (the exporter thread's job) until `done()`, for at most `timeout_s`.
template <typename F>
bool tick_until(Transport& t, F done, double timeout_s = 5) {
    auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (!done()) {
        if (Clock::now() > end) return false;
        t.tick(kNow);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

class Listener {
public:
    // port 0: any free port. rcvbuf > 0: small receive buffers for the accepted sockets.
    explicit Listener(uint16_t port = 0, int rcvbuf = 0) {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        int one = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
        REQUIRE(listen(fd_, 8) == 0);
    }
    ~Listener() { close(); }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    uint16_t port() const { return port_; }
    std::string port_str() const { return std::to_string(port_); }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    // Accepts one connection, ticking the transport meanwhile.
    int accept(Transport& t) {
        pollfd p{fd_, POLLIN, 0};
        REQUIRE(tick_until(t, [&] { return poll(&p, 1, 0) > 0; }));
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        REQUIRE(c >= 0);
        return c;
    }

private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

// A port nothing listens on (bound once to get it, then released).
std::string free_port() { return Listener().port_str(); }

// Reads from a collector's socket, ticking the transport, until `n` whole messages came.
std::vector<Bytes> read_messages(int fd, Transport& t, size_t n) {
    Bytes stream;
    std::vector<Bytes> msgs;
    bool ok = tick_until(t, [&] {
        uint8_t buf[65536];
        ssize_t got;
        while ((got = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
            stream.insert(stream.end(), buf, buf + got);
        msgs = split(stream);
        return msgs.size() >= n;
    });
    INFO("messages read: " << msgs.size());
    REQUIRE(ok);
    return msgs;
}

struct Sent {
    std::vector<Bytes> msgs;
    uint32_t next_seq = 1000;
    uint64_t bytes = 0;
};

// Sends `n` messages of `size` bytes with 1..5 records each, numbered like an encoder would.
void send_some(Transport& t, Sent& s, int n, size_t size = 100) {
    for (int i = 0; i < n; ++i) {
        uint32_t records = 1 + s.msgs.size() % 5;
        Bytes m = data_msg(s.next_seq, size, uint8_t(s.msgs.size()));
        REQUIRE(t.send(m, records, kNow));
        s.next_seq += records;
        s.bytes += m.size();
        s.msgs.push_back(std::move(m));
    }
}

TcpOptions fast_options() {
    TcpOptions o;
    o.backoff_min_s = 0.01;
    o.backoff_max_s = 0.05;
    o.linger_s = 1;
    return o;
}

// Checks one session: a preamble carrying the sequence of the first message after it, then
// exactly `expected`.
void check_session(const std::vector<Bytes>& got, const std::vector<Bytes>& expected) {
    REQUIRE(!expected.empty());
    REQUIRE(got.size() == expected.size() + 1);
    CHECK(domain(got[0]) == kPreambleDomain);
    CHECK(get32(got[0], 4) == kNow / kSec);
    CHECK(sequence(got[0]) == sequence(expected.front()));
    for (size_t i = 0; i < expected.size(); ++i) {
        INFO("message " << i);
        CHECK(got[i + 1] == expected[i]);
    }
}

}  // namespace

TEST_CASE("TCP: preamble, then every message in order, byte for byte", "[transport]") {
    Listener l;
    auto t = make_tcp_transport("127.0.0.1", l.port_str(), fast_options());
    t->set_preamble(test_preamble());
    Sent s;
    send_some(*t, s, 100);
    int c = l.accept(*t);
    check_session(read_messages(c, *t, 101), s.msgs);

    const TransportCounters& k = t->counters();
    CHECK(k.messages_sent == 100);
    CHECK(k.bytes_sent == s.bytes + 40);  // preamble bytes count, the preamble message does not
    CHECK(k.messages_dropped == 0);
    CHECK(k.records_dropped == 0);
    CHECK(k.sessions == 1);
    CHECK(k.connect_failures == 0);
    t->close();
    CHECK(t->counters().messages_dropped == 0);
    ::close(c);
}

TEST_CASE("TCP: resolving fails at construction, with the name in the message", "[transport]") {
    REQUIRE_THROWS_WITH(make_tcp_transport("127.0.0.1", "no-such-service", fast_options()),
                        Catch::StartsWith("cannot resolve 127.0.0.1:no-such-service: "));
}

TEST_CASE("TCP: collector down at start, messages queued until it comes up", "[transport]") {
    std::string port = free_port();
    auto t = make_tcp_transport("127.0.0.1", port, fast_options());
    t->set_preamble(test_preamble());
    Sent s;
    s.next_seq = 5;
    send_some(*t, s, 10);
    REQUIRE(tick_until(*t, [&] { return t->counters().connect_failures >= 2; }));
    CHECK(t->last_error() == "connect to 127.0.0.1:" + port + ": Connection refused");
    CHECK(t->counters().messages_sent == 0);

    Listener l(uint16_t(std::stoi(port)));
    int c = l.accept(*t);
    check_session(read_messages(c, *t, 11), s.msgs);
    CHECK(sequence(s.msgs.front()) == 5);
    CHECK(t->counters().messages_sent == 10);
    CHECK(t->counters().sessions == 1);
    ::close(c);
}

TEST_CASE("TCP: collector restart, new session starts with the first queued sequence",
          "[transport]") {
    auto l = std::make_unique<Listener>();
    uint16_t port = l->port();
    auto t = make_tcp_transport("127.0.0.1", l->port_str(), fast_options());
    t->set_preamble(test_preamble());
    Sent first;
    send_some(*t, first, 20);
    int c = l->accept(*t);
    // Everything sent while the collector was up reached it.
    check_session(read_messages(c, *t, 21), first.msgs);

    ::close(c);
    l.reset();
    // The transport sees the close on a tick (a collector never sends, so readable = closed).
    REQUIRE(tick_until(*t, [&] { return t->last_error().find("closed") != std::string::npos; }));
    CHECK(t->last_error() == "connection to 127.0.0.1:" + std::to_string(port) +
                                 ": closed by the collector");
    Sent second;
    second.next_seq = first.next_seq;
    send_some(*t, second, 15);
    REQUIRE(tick_until(*t, [&] { return t->counters().connect_failures >= 1; }));

    Listener l2(port);
    int c2 = l2.accept(*t);
    auto got = read_messages(c2, *t, 16);
    check_session(got, second.msgs);
    CHECK(sequence(got[0]) == first.next_seq);
    CHECK(t->counters().sessions == 2);
    CHECK(t->counters().messages_sent == 35);
    CHECK(t->counters().messages_dropped == 0);
    ::close(c2);
}

TEST_CASE("TCP: the queue is bounded; the new message is dropped and counted", "[transport]") {
    std::string port = free_port();
    TcpOptions o = fast_options();
    o.buffer_bytes = 10 * 1000 + 500;
    auto t = make_tcp_transport("127.0.0.1", port, o);
    t->set_preamble(test_preamble());

    std::vector<Bytes> queued;
    uint64_t dropped = 0, dropped_records = 0;
    uint32_t seq = 0;
    auto offer = [&](size_t size, uint32_t records) {
        Bytes m = data_msg(seq, size, uint8_t(seq));
        seq += records;
        bool ok = t->send(m, records, kNow);
        if (ok) {
            queued.push_back(m);
        } else {
            ++dropped;
            dropped_records += records;
        }
        return ok;
    };
    for (uint32_t i = 0; i < 25; ++i) CHECK(offer(1000, i + 1) == (i < 10));
    CHECK(offer(400, 7));    // 10400 of 10500: still fits
    CHECK(!offer(200, 3));   // 10600: does not
    CHECK(t->counters().messages_dropped == dropped);
    CHECK(t->counters().records_dropped == dropped_records);
    CHECK(dropped == 16);
    CHECK(dropped_records == (11 + 25) * 15 / 2 + 3);

    Listener l(uint16_t(std::stoi(port)));
    int c = l.accept(*t);
    check_session(read_messages(c, *t, queued.size() + 1), queued);
    CHECK(t->counters().messages_sent == 11);
    ::close(c);
}

TEST_CASE("TCP: a collector that never reads cannot block the exporter", "[transport]") {
    // Small receive buffers, so the kernel's buffers fill after some 100 KiB, not megabytes.
    auto l = std::make_unique<Listener>(0, 4096);
    uint16_t port = l->port();
    TcpOptions o = fast_options();
    o.buffer_bytes = 64 * 1024;
    auto t = make_tcp_transport("127.0.0.1", l->port_str(), o);
    t->set_preamble(test_preamble());
    int c = l->accept(*t);

    std::vector<Bytes> accepted;
    uint64_t dropped = 0, dropped_records = 0;
    uint32_t seq = 0;
    auto start = Clock::now();
    auto slowest = Clock::duration::zero();
    for (int i = 0; i < 4000 && dropped < 100; ++i) {
        Bytes m = data_msg(seq, 1024, uint8_t(i));
        uint32_t records = 1 + i % 3;
        seq += records;
        auto t0 = Clock::now();
        bool ok = t->send(m, records, kNow);
        slowest = std::max(slowest, Clock::now() - t0);
        if (ok) {
            accepted.push_back(std::move(m));
        } else {
            ++dropped;
            dropped_records += records;
        }
    }
    auto total = Clock::now() - start;
    CHECK(total < std::chrono::seconds(1));
    CHECK(slowest < std::chrono::milliseconds(20));
    REQUIRE(dropped == 100);
    CHECK(t->counters().messages_dropped == dropped);
    CHECK(t->counters().records_dropped == dropped_records);
    // In the kernel or written, plus the 64 KiB queued: more than the bound was accepted.
    CHECK(accepted.size() * 1024 > o.buffer_bytes);
    uint64_t sent_before = t->counters().messages_sent;
    CHECK(sent_before < accepted.size());

    // The collector goes away with data unread (a reset) and comes back: the new session starts
    // with the preamble and whole messages (the one cut by the reset is sent again whole), and
    // carries every message still queued.
    ::close(c);
    l.reset();
    REQUIRE(tick_until(*t, [&] { return !t->last_error().empty(); }));
    Listener l2(port);
    int c2 = l2.accept(*t);
    size_t queued = accepted.size() - sent_before;
    auto got = read_messages(c2, *t, 1 + queued);
    REQUIRE(got.size() == 1 + queued);
    CHECK(domain(got[0]) == kPreambleDomain);
    CHECK(sequence(got[0]) == sequence(got[1]));
    std::vector<Bytes> tail(accepted.end() - queued, accepted.end());
    for (size_t i = 0; i < queued; ++i) {
        INFO("message " << i);
        CHECK(got[i + 1] == tail[i]);
    }
    CHECK(t->counters().messages_sent == accepted.size());
    CHECK(t->counters().sessions == 2);
    ::close(c2);
}

TEST_CASE("TCP: a message cut by a broken connection goes again whole in the next session",
          "[transport]") {
    auto l = std::make_unique<Listener>(0, 4096);
    uint16_t port = l->port();
    TcpOptions o = fast_options();
    o.buffer_bytes = 1 << 20;
    auto t = make_tcp_transport("127.0.0.1", l->port_str(), o);
    t->set_preamble(test_preamble());
    int c = l->accept(*t);

    // Large messages into a collector that does not read, until the kernel has taken only part
    // of one: bytes_sent then counts more than the preamble and the whole messages.
    constexpr size_t kSize = 60000;
    Sent s;
    auto cut_bytes = [&] {
        const TransportCounters& k = t->counters();
        uint64_t whole = k.messages_sent * kSize + (k.bytes_sent > 0 ? 40 : 0);
        return k.bytes_sent - whole;
    };
    while (cut_bytes() == 0 && s.msgs.size() < 500) send_some(*t, s, 1, kSize);
    REQUIRE(cut_bytes() > 0);
    size_t cut = t->counters().messages_sent;  // index of the message written in part
    INFO("cut message " << cut << " after " << cut_bytes() << " bytes");

    ::close(c);
    l.reset();
    REQUIRE(tick_until(*t, [&] { return !t->last_error().empty(); }));
    Listener l2(port);
    int c2 = l2.accept(*t);
    std::vector<Bytes> rest(s.msgs.begin() + cut, s.msgs.end());
    check_session(read_messages(c2, *t, rest.size() + 1), rest);
    CHECK(t->counters().messages_sent == s.msgs.size());
    CHECK(t->counters().messages_dropped == 0);
    ::close(c2);
}

TEST_CASE("TCP: reconnects back off exponentially, timed by the monotonic clock",
          "[transport]") {
    TcpOptions o = fast_options();
    o.backoff_min_s = 0.02;
    o.backoff_max_s = 0.16;
    auto t = make_tcp_transport("127.0.0.1", free_port(), o);
    // Attempts at 0, 0.02, 0.06, 0.14, 0.30, 0.46 s: six in half a second (25 without the
    // doubling). The export clock given to tick() jumps around and must not matter.
    auto end = Clock::now() + std::chrono::milliseconds(500);
    for (uint64_t i = 0; Clock::now() < end; ++i) {
        t->tick(i % 2 ? kNow + i * 3600 * kSec : 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK(t->counters().connect_failures >= 4);
    CHECK(t->counters().connect_failures <= 8);
    CHECK(t->counters().sessions == 0);
}

TEST_CASE("TCP: close() with the collector down waits linger_s, then counts the queue dropped",
          "[transport]") {
    TcpOptions o = fast_options();
    o.linger_s = 0.2;
    auto t = make_tcp_transport("127.0.0.1", free_port(), o);
    Sent s;
    send_some(*t, s, 5);  // records 1..5
    auto start = Clock::now();
    t->close();
    auto took = Clock::now() - start;
    CHECK(took >= std::chrono::milliseconds(150));
    CHECK(took < std::chrono::milliseconds(500));
    CHECK(t->counters().messages_sent == 0);
    CHECK(t->counters().messages_dropped == 5);
    CHECK(t->counters().records_dropped == 15);
    CHECK(t->counters().connect_failures >= 1);
}

TEST_CASE("TCP: close() connects and delivers what was queued while the collector was down",
          "[transport]") {
    std::string port = free_port();
    TcpOptions o = fast_options();
    o.backoff_min_s = o.backoff_max_s = 10;  // no retry before close()
    o.linger_s = 2;
    auto t = make_tcp_transport("127.0.0.1", port, o);
    t->set_preamble(test_preamble());
    Sent s;
    send_some(*t, s, 5);
    CHECK(t->counters().connect_failures == 1);

    Listener l(uint16_t(std::stoi(port)));  // the kernel completes the handshake: no accept needed
    auto start = Clock::now();
    t->close();
    CHECK(Clock::now() - start < std::chrono::milliseconds(500));
    CHECK(t->counters().messages_sent == 5);
    CHECK(t->counters().messages_dropped == 0);
    int c = l.accept(*t);
    check_session(read_messages(c, *t, 6), s.msgs);
    ::close(c);
}

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/tapflow-transport-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

Bytes read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

// Reads one IPFIX file back: the preamble, then data messages; returns the data messages.
std::vector<Bytes> read_ipfix_file(const fs::path& p) {
    INFO(p);
    Bytes bytes = read_file(p);
    auto msgs = split(bytes);
    size_t total = 0;
    for (const Bytes& m : msgs) total += m.size();
    CHECK(total == bytes.size());  // whole messages only
    REQUIRE(msgs.size() >= 2);
    CHECK(domain(msgs[0]) == kPreambleDomain);
    CHECK(sequence(msgs[0]) == sequence(msgs[1]));
    for (size_t i = 1; i < msgs.size(); ++i) CHECK(domain(msgs[i]) != kPreambleDomain);
    return {msgs.begin() + 1, msgs.end()};
}

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace

TEST_CASE("IPFIX file: rotation by size, strftime names, no overwrite within a second",
          "[transport]") {
    TempDir d;
    FileRotation r;
    r.bytes = 1000;  // preamble (40) + 3 messages of 300 bytes fit, a fourth does not
    auto t = make_ipfix_file_transport((d.path / "size-%Y%m%d-%H%M%S.ipfix").string(), r);
    t->set_preamble(test_preamble());
    CHECK(names_in(d.path).empty());  // files open with their first message
    Sent s;
    send_some(*t, s, 10, 300);
    t->close();

    std::string base = "size-20231114-221320.ipfix";
    REQUIRE(names_in(d.path) ==
            std::vector<std::string>{base, base + ".1", base + ".2", base + ".3"});
    std::vector<Bytes> all;
    for (const std::string& name : names_in(d.path)) {
        auto msgs = read_ipfix_file(d.path / name);
        CHECK(msgs.size() == (name == base + ".3" ? 1u : 3u));
        CHECK(fs::file_size(d.path / name) <= 1000);
        all.insert(all.end(), msgs.begin(), msgs.end());
    }
    CHECK(all == s.msgs);
    CHECK(t->counters().sessions == 4);
    CHECK(t->counters().messages_sent == 10);
    CHECK(t->counters().bytes_sent == 10 * 300 + 4 * 40);
    CHECK(t->counters().messages_dropped == 0);
}

TEST_CASE("IPFIX file: rotation by export time; a timestamp is appended to a plain name",
          "[transport]") {
    TempDir d;
    FileRotation r;
    r.seconds = 60;
    auto t = make_ipfix_file_transport((d.path / "flows.ipfix").string(), r);
    t->set_preamble(test_preamble());
    std::vector<Bytes> sent;
    uint32_t seq = 0;
    // Export times (s after 22:13:20): a new file at +60 and at +200, and none for a step back.
    for (double at : {0.0, 30.0, 59.9, 60.0, 61.0, 10.0, 200.0}) {
        uint64_t now = kNow + uint64_t(at * kSec);
        Bytes m = ipfix(seq, 1, 64, uint8_t(seq), now);
        REQUIRE(t->send(m, 2, now));
        seq += 2;
        sent.push_back(m);
    }
    t->close();
    REQUIRE(names_in(d.path) == std::vector<std::string>{"flows.ipfix.20231114221320",
                                                         "flows.ipfix.20231114221420",
                                                         "flows.ipfix.20231114221640"});
    std::vector<Bytes> all;
    std::vector<size_t> sizes;
    for (const auto& name : names_in(d.path)) {
        auto msgs = read_ipfix_file(d.path / name);
        sizes.push_back(msgs.size());
        all.insert(all.end(), msgs.begin(), msgs.end());
    }
    CHECK(sizes == std::vector<size_t>{3, 3, 1});
    CHECK(all == sent);
    CHECK(t->counters().sessions == 3);
}

TEST_CASE("IPFIX file: a fixed name opens at once; a failed open drops one message",
          "[transport]") {
    TempDir d;
    fs::path fixed = d.path / "one.ipfix";
    auto t = make_ipfix_file_transport(fixed.string(), FileRotation{});
    CHECK(fs::exists(fixed));
    CHECK(t->counters().sessions == 1);
    t->set_preamble(test_preamble());
    Sent s;
    send_some(*t, s, 3);
    t->close();
    CHECK(read_ipfix_file(fixed) == s.msgs);

    // The conversion is in a directory that does not exist yet: the open fails, the message is
    // counted as dropped, and the next message tries again.
    auto u = make_ipfix_file_transport((d.path / "day-%Y%m%d" / "f.ipfix").string(), {});
    u->set_preamble(test_preamble());
    Bytes m = data_msg(0, 100, 1);
    CHECK(!u->send(m, 4, kNow));
    CHECK(u->counters().messages_dropped == 1);
    CHECK(u->counters().records_dropped == 4);
    CHECK(u->last_error().find("cannot open " + (d.path / "day-20231114").string()) == 0);
    fs::create_directory(d.path / "day-20231114");
    CHECK(u->send(m, 4, kNow));
    u->close();
    CHECK(read_ipfix_file(d.path / "day-20231114" / "f.ipfix") == std::vector<Bytes>{m});
}

TEST_CASE("IPFIX file: a directory that cannot be written is an error at construction",
          "[transport]") {
    TempDir d;
    std::string missing = (d.path / "missing").string();
    REQUIRE_THROWS_WITH(make_ipfix_file_transport(missing + "/flows-%H.ipfix", {}),
                        Catch::StartsWith("cannot write to " + missing + ": No such file"));
    REQUIRE_THROWS_WITH(make_ipfix_file_transport(missing + "/flows.ipfix", {}),
                        Catch::StartsWith("cannot write to " + missing + ": "));
    std::ofstream(d.path / "file").put('x');
    std::string file = (d.path / "file").string();
    REQUIRE_THROWS_WITH(make_ipfix_file_transport(file + "/flows.ipfix", FileRotation{60, 0}),
                        Catch::StartsWith("cannot write to " + file + ": Not a directory"));
    if (geteuid() != 0) {  // root may write anywhere
        fs::create_directory(d.path / "ro");
        fs::permissions(d.path / "ro", fs::perms::owner_read | fs::perms::owner_exec);
        REQUIRE_THROWS_WITH(make_ipfix_file_transport((d.path / "ro" / "f").string(), {}),
                            Catch::Contains("Permission denied"));
    }
}
