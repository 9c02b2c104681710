#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "exporter/transport/transport.hpp"

namespace tapflow {

namespace {
class UdpTransport final : public Transport {
public:
    UdpTransport(const std::string& host, const std::string& port) {
        addrinfo hints{};
        hints.ai_socktype = SOCK_DGRAM;
        hints.ai_protocol = IPPROTO_UDP;
        addrinfo* res = nullptr;
        int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
        if (rc != 0)
            throw std::runtime_error("cannot resolve " + host + ":" + port + ": " + gai_strerror(rc));
        std::string err;
        for (addrinfo* a = res; a; a = a->ai_next) {
            fd_ = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
            if (fd_ < 0) {
                err = std::strerror(errno);
                continue;
            }
            if (connect(fd_, a->ai_addr, a->ai_addrlen) == 0) break;
            err = std::strerror(errno);
            ::close(fd_);
            fd_ = -1;
        }
        freeaddrinfo(res);
        if (fd_ >= 0) ++c_.sessions;
        if (fd_ < 0) throw std::runtime_error("cannot open UDP socket to " + host + ":" + port + ": " + err);
        int sndbuf = 4 << 20;
        setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    ~UdpTransport() override { close(); }

    bool send(std::span<const uint8_t> msg, uint32_t records, uint64_t) override {
        for (int attempt = 0; attempt < 3; ++attempt) {
            ssize_t n = ::send(fd_, msg.data(), msg.size(), 0);
            if (n == static_cast<ssize_t>(msg.size())) {
                ++c_.messages_sent;
                c_.bytes_sent += msg.size();
                return true;
            }
            if (n < 0 && errno == EINTR) continue;
            // ECONNREFUSED: an ICMP port unreachable from an earlier datagram (the collector is
            // down); it says nothing about this one, so try again: the collector may be back.
            last_error_ = n < 0 ? std::strerror(errno) : "short send";
            if (n < 0 && errno == ECONNREFUSED) continue;
            break;
        }
        ++c_.messages_dropped;
        c_.records_dropped += records;
        return false;
    }

    void close() override {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

class FileTransport final : public Transport {
public:
    explicit FileTransport(const std::string& path) {
        if (path == "-") {
            f_ = stdout;
        } else {
            f_ = std::fopen(path.c_str(), "we");
            if (!f_) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
            own_ = true;
        }
    }
    ~FileTransport() override { close(); }

    bool send(std::span<const uint8_t> msg, uint32_t records, uint64_t) override {
        if (f_ && std::fwrite(msg.data(), 1, msg.size(), f_) == msg.size()) {
            ++c_.messages_sent;
            c_.bytes_sent += msg.size();
            return true;
        }
        last_error_ = f_ ? std::strerror(errno) : "file closed";
        ++c_.messages_dropped;
        c_.records_dropped += records;
        return false;
    }

    void close() override {
        if (!f_) return;
        std::fflush(f_);
        if (own_) std::fclose(f_);
        f_ = nullptr;
    }

private:
    FILE* f_ = nullptr;
    bool own_ = false;
};
}  // namespace

std::unique_ptr<Transport> make_udp_transport(const std::string& host, const std::string& port) {
    return std::make_unique<UdpTransport>(host, port);
}

std::unique_ptr<Transport> make_file_transport(const std::string& path) {
    return std::make_unique<FileTransport>(path);
}

}  // namespace tapflow
