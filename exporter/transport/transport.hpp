// Transports own the I/O of one export destination (STYLE.md: encoders are pure).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

namespace tapflow {

class Transport {
public:
    virtual ~Transport() = default;
    // false when the message could not be sent (counted by the caller; never retried for UDP).
    virtual bool send(std::span<const uint8_t> msg) = 0;
    virtual void close() {}
    const std::string& last_error() const { return last_error_; }

protected:
    std::string last_error_;
};

// Connected UDP socket to host:port (names resolved once at start-up). Throws on set-up errors.
std::unique_ptr<Transport> make_udp_transport(const std::string& host, const std::string& port);
// A file, or standard output for "-". Throws when the file cannot be opened.
std::unique_ptr<Transport> make_file_transport(const std::string& path);

}  // namespace tapflow
