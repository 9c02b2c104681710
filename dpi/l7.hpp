// Application-layer values of one flow. Allocated only for flows that have some (DESIGN.md:
// L7 strings live outside the fixed-size flow entry); ownership travels with the flow record
// to the exporter thread, which frees it after encoding.
#pragma once

#include <cstdint>
#include <string>

namespace tapflow {

enum class AppId : uint8_t { none = 0, tls = 1, http = 2, dns = 3 };

struct L7Data {
    AppId app = AppId::none;
    // TLS (ClientHello on the client flow, ServerHello on the server flow)
    std::string sni;
    std::string alpn;             // ClientHello ALPN list, ';'-joined
    uint16_t tls_offered = 0;     // highest version offered (supported_versions, else legacy)
    uint16_t tls_negotiated = 0;  // ServerHello version (supported_versions, else legacy)
    // HTTP/1.x (request on the client flow, status on the server flow)
    std::string http_method;
    std::string http_target;
    std::string http_host;
    std::string http_ua;
    uint16_t http_status = 0;
    // DNS (question on both flows, rcode on the response flow)
    std::string dns_qname;
    uint16_t dns_qtype = 0;
    bool has_dns_qtype = false;
    uint8_t dns_rcode = 0;
    bool has_dns_rcode = false;

    bool empty() const {
        return sni.empty() && alpn.empty() && !tls_offered && !tls_negotiated &&
               http_method.empty() && http_target.empty() && http_host.empty() &&
               http_ua.empty() && !http_status && dns_qname.empty() && !has_dns_qtype &&
               !has_dns_rcode;
    }
};

}  // namespace tapflow
