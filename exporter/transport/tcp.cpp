// IPFIX over TCP (RFC 7011 §10.4): one connection to the collector, re-established with
// exponential backoff; whole messages queued (bounded) while it is away or slow. Every socket
// call is non-blocking so the exporter thread never waits on the collector, except in close().
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <thread>

#include "exporter/transport/transport.hpp"

namespace tapflow {

namespace {

using Clock = std::chrono::steady_clock;

// A connect() that neither succeeds nor fails (SYNs dropped by a firewall) would otherwise take
// the kernel's ~2 min, holding back the next address and every reconnect behind it.
constexpr auto kConnectTimeout = std::chrono::seconds(5);
// Messages handed to one sendmsg(): enough to fill a socket buffer in one call.
constexpr size_t kMaxIov = 64;

// IPFIX message header (RFC 7011 §3.1): the sequence number is bytes 8..11, big endian.
uint32_t ipfix_sequence(std::span<const uint8_t> msg) {
    if (msg.size() < 16) return 0;
    return uint32_t(msg[8]) << 24 | uint32_t(msg[9]) << 16 | uint32_t(msg[10]) << 8 | msg[11];
}

Clock::duration seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

struct Address {
    sockaddr_storage sa{};
    socklen_t len = 0;
    int family = 0;
};

struct Queued {
    std::vector<uint8_t> bytes;
    uint32_t records = 0;
    uint32_t sequence = 0;
};

class TcpTransport final : public Transport {
public:
    TcpTransport(const std::string& host, const std::string& port, const TcpOptions& o)
        : name_(host + ":" + port), o_(o), backoff_(seconds(o.backoff_min_s)) {
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_protocol = IPPROTO_TCP;
        addrinfo* res = nullptr;
        int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
        if (rc != 0) throw std::runtime_error("cannot resolve " + name_ + ": " + gai_strerror(rc));
        for (addrinfo* a = res; a; a = a->ai_next) {
            Address ad;
            std::memcpy(&ad.sa, a->ai_addr, a->ai_addrlen);
            ad.len = a->ai_addrlen;
            ad.family = a->ai_family;
            addrs_.push_back(ad);
        }
        freeaddrinfo(res);
        if (addrs_.empty()) throw std::runtime_error("cannot resolve " + name_ + ": no address");
        start_round(Clock::now());
    }
    ~TcpTransport() override { close(); }

    bool send(std::span<const uint8_t> msg, uint32_t records, uint64_t now_ns) override {
        now_ns_ = now_ns;
        uint32_t seq = ipfix_sequence(msg);
        // The sequence number the message after this one will carry (RFC 7011 §3.1: data
        // records sent before it), whether this one is queued or dropped.
        next_seq_ = seq + records;
        if (closed_ || queued_bytes_ + msg.size() > o_.buffer_bytes) {
            // The new message goes, not a queued one: the front one may be partly written.
            ++c_.messages_dropped;
            c_.records_dropped += records;
            return false;
        }
        queue_.push_back({std::vector<uint8_t>(msg.begin(), msg.end()), records, seq});
        queued_bytes_ += msg.size();
        pump(Clock::now());
        return true;
    }

    void tick(uint64_t now_ns) override {
        now_ns_ = now_ns;
        if (!closed_) pump(Clock::now());
    }

    // Waits at most linger_s for a connection and for the queue to drain; what is left is
    // counted as dropped. Bytes already in the kernel's socket buffer are sent by the kernel
    // after ::close() (no SO_LINGER), as with any TCP sender.
    void close() override {
        if (closed_) return;
        auto deadline = Clock::now() + seconds(o_.linger_s);
        if (state_ == State::idle && !queue_.empty()) next_attempt_ = Clock::now();
        for (;;) {
            auto now = Clock::now();
            pump(now);
            if (queue_.empty() && pre_off_ == preamble_buf_.size()) break;
            if (now >= deadline) break;
            wait_until(std::min(deadline, state_ == State::idle ? next_attempt_ : deadline));
        }
        disconnect();
        for (const Queued& q : queue_) {
            ++c_.messages_dropped;
            c_.records_dropped += q.records;
        }
        queue_.clear();
        queued_bytes_ = 0;
        closed_ = true;
    }

private:
    enum class State { idle, connecting, connected };

    // One step of everything that can make progress without waiting.
    void pump(Clock::time_point now) {
        if (state_ == State::idle && now >= next_attempt_) start_round(now);
        if (state_ == State::connecting) check_connect(now);
        if (state_ == State::connected) check_peer();
        if (state_ == State::connected) flush();
    }

    // A round tries every resolved address once; only a round that fails on all of them counts
    // as a connect failure and backs off (so "localhost" with a collector on 127.0.0.1 only does
    // not wait a backoff after ::1 refuses).
    void start_round(Clock::time_point now) {
        addr_idx_ = 0;
        try_address(now);
    }

    // Starts a non-blocking connect to addrs_[addr_idx_] or, when it fails at once, the next ones.
    void try_address(Clock::time_point now) {
        for (; addr_idx_ < addrs_.size(); ++addr_idx_) {
            const Address& a = addrs_[addr_idx_];
            fd_ = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
            if (fd_ < 0) {
                error_ = errno;
                continue;
            }
            // Messages are whole and already batched by the encoder: no reason to hold one back.
            int one = 1;
            setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (connect(fd_, reinterpret_cast<const sockaddr*>(&a.sa), a.len) == 0) {
                on_connected();
                return;
            }
            if (errno == EINPROGRESS) {
                state_ = State::connecting;
                connect_started_ = now;
                return;
            }
            error_ = errno;
            ::close(fd_);
            fd_ = -1;
        }
        round_failed(now);
    }

    void round_failed(Clock::time_point now) {
        state_ = State::idle;
        ++c_.connect_failures;
        last_error_ = "connect to " + name_ + ": " + std::strerror(error_);
        schedule_retry(now);
    }

    void schedule_retry(Clock::time_point now) {
        next_attempt_ = now + backoff_;
        backoff_ = std::min(backoff_ * 2, seconds(o_.backoff_max_s));
    }

    void check_connect(Clock::time_point now) {
        pollfd p{fd_, POLLOUT, 0};
        if (poll(&p, 1, 0) == 0) {
            if (now - connect_started_ < kConnectTimeout) return;
            error_ = ETIMEDOUT;
        } else {
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
            if (err == 0) {
                on_connected();
                return;
            }
            error_ = err;
        }
        ::close(fd_);
        fd_ = -1;
        ++addr_idx_;
        try_address(now);
    }

    // Resetting the backoff here means a collector that accepts and closes at once is retried
    // every backoff_min_s (lost() waits that long before reconnecting), never faster.
    void on_connected() {
        state_ = State::connected;
        ++c_.sessions;
        backoff_ = seconds(o_.backoff_min_s);
        need_preamble_ = true;
    }

    // A new session: the collector knows no template yet, so the preamble goes first, carrying
    // the sequence number of the first message behind it. Made at the first write rather than at
    // connect, which may complete in the constructor, before set_preamble().
    void make_preamble() {
        need_preamble_ = false;
        uint32_t seq = queue_.empty() ? next_seq_ : queue_.front().sequence;
        preamble_buf_ = preamble_ ? preamble_(now_ns_, seq) : std::vector<uint8_t>{};
        pre_off_ = 0;
    }

    // A collector sends nothing over IPFIX/TCP, so a readable socket means it closed (recv()
    // returns 0) or reset the connection. Finding out here, before writing, keeps new messages
    // out of a connection that is already gone.
    void check_peer() {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 0) <= 0) return;
        uint8_t junk[512];
        for (;;) {
            ssize_t n = recv(fd_, junk, sizeof junk, MSG_DONTWAIT);
            if (n > 0) continue;  // not IPFIX; nothing to do with it
            if (n == 0) return lost("closed by the collector");
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            return lost(std::strerror(errno));
        }
    }

    // Writes the preamble's rest, then queued messages, until the socket buffer is full.
    void flush() {
        if (need_preamble_) make_preamble();
        while (pre_off_ < preamble_buf_.size() || !queue_.empty()) {
            iovec iov[kMaxIov];
            size_t n_iov = 0;
            if (pre_off_ < preamble_buf_.size())
                iov[n_iov++] = {preamble_buf_.data() + pre_off_, preamble_buf_.size() - pre_off_};
            for (size_t i = 0; i < queue_.size() && n_iov < kMaxIov; ++i) {
                size_t off = i == 0 ? front_off_ : 0;
                iov[n_iov++] = {queue_[i].bytes.data() + off, queue_[i].bytes.size() - off};
            }
            msghdr mh{};
            mh.msg_iov = iov;
            mh.msg_iovlen = n_iov;
            // MSG_NOSIGNAL: a collector gone away must be an EPIPE here, not a SIGPIPE.
            ssize_t n = sendmsg(fd_, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return;
                return lost(std::strerror(errno));
            }
            consume(static_cast<size_t>(n));
        }
    }

    // Accounts for `n` bytes taken by the kernel. bytes_sent includes preamble bytes (they go
    // on the wire); messages_sent counts only messages handed to send().
    void consume(size_t n) {
        c_.bytes_sent += n;
        size_t pre = std::min(n, preamble_buf_.size() - pre_off_);
        pre_off_ += pre;
        n -= pre;
        while (n > 0) {
            Queued& q = queue_.front();
            size_t part = std::min(n, q.bytes.size() - front_off_);
            front_off_ += part;
            n -= part;
            if (front_off_ < q.bytes.size()) break;
            ++c_.messages_sent;
            queued_bytes_ -= q.bytes.size();
            queue_.pop_front();
            front_off_ = 0;
        }
    }

    // The connection broke. A message partly written stays queued and goes again whole after the
    // next preamble: the collector drops the partial one together with the old session.
    // Messages the kernel had already taken may still be lost if the collector closed before
    // reading them: TCP tells a sender what the peer's kernel acknowledged, not what the
    // collector read, and IPFIX has no acknowledgements of its own. Accepted: the gap shows in
    // the sequence numbers at the collector.
    void lost(const char* why) {
        last_error_ = "connection to " + name_ + ": " + why;
        disconnect();
        schedule_retry(Clock::now());
    }

    void disconnect() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        state_ = State::idle;
        front_off_ = 0;
        preamble_buf_.clear();
        pre_off_ = 0;
        need_preamble_ = false;
    }

    // Used by close() only: waits for the socket to make progress, or sleeps until `t`.
    void wait_until(Clock::time_point t) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now());
        int ms = static_cast<int>(std::clamp<int64_t>(left.count() + 1, 1, 1000));
        if (state_ == State::idle) {
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            return;
        }
        pollfd p{fd_, POLLOUT, 0};
        if (state_ == State::connected) p.events |= POLLIN;
        poll(&p, 1, ms);
    }

    const std::string name_;
    const TcpOptions o_;
    std::vector<Address> addrs_;
    size_t addr_idx_ = 0;
    int error_ = 0;  // errno of the last failed connect in this round
    int fd_ = -1;
    State state_ = State::idle;
    bool closed_ = false;
    Clock::time_point connect_started_{};
    Clock::time_point next_attempt_{};
    Clock::duration backoff_;
    std::deque<Queued> queue_;
    size_t queued_bytes_ = 0;  // bounded by o_.buffer_bytes
    size_t front_off_ = 0;     // bytes of queue_.front() already written
    std::vector<uint8_t> preamble_buf_;
    size_t pre_off_ = 0;
    bool need_preamble_ = false;
    uint32_t next_seq_ = 0;
    uint64_t now_ns_ = 0;  // export clock of the latest send()/tick(), for the preamble
};

}  // namespace

std::unique_ptr<Transport> make_tcp_transport(const std::string& host, const std::string& port,
                                              const TcpOptions& o) {
    return std::make_unique<TcpTransport>(host, port, o);
}

}  // namespace tapflow
