// Dissectors: pure functions over the bytes seen so far of one direction of a flow.
// Each may be called again with a longer prefix (TCP reassembly) and re-parses from the start;
// every length field is checked against the bytes present (ByteReader), nothing is trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dpi/l7.hpp"

namespace tapflow {

enum class Parse : uint8_t {
    done,       // the message is complete; values (if any) are in L7Data
    need_more,  // values so far are in L7Data; a longer prefix may add more
    not_mine,   // not this protocol
};

// First bytes of a TCP stream: a TLS handshake record (ClientHello or ServerHello)?
bool looks_tls(std::span<const uint8_t> s);
bool looks_http_request(std::span<const uint8_t> s);
bool looks_http_response(std::span<const uint8_t> s);

// TLS stream from its first byte: SNI, ALPN and offered version from a ClientHello; negotiated
// version from a ServerHello. Handshake messages may span several records.
Parse parse_tls(std::span<const uint8_t> s, L7Data& out, size_t max_string);
// HTTP/1.x request head: method, target, Host, User-Agent (case-insensitive names, folded
// lines joined, first occurrence wins).
Parse parse_http_request(std::span<const uint8_t> s, L7Data& out, size_t max_string);
// HTTP/1.x status line.
Parse parse_http_response(std::span<const uint8_t> s, L7Data& out);
// One DNS message (UDP payload, or a TCP message after its 2-byte length): first question's
// name and type; response code when QR=1. Compression pointers are followed with a jump limit.
Parse parse_dns(std::span<const uint8_t> msg, L7Data& out, size_t max_string);
// DNS over TCP: 2-byte length prefix, then parse_dns.
Parse parse_dns_tcp(std::span<const uint8_t> s, L7Data& out, size_t max_string);

}  // namespace tapflow
