// HTTP/1.0 and 1.1 message heads (RFC 9112 §3, §4, §5): request line and the Host and
// User-Agent fields; status line of a response.
#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "dpi/parsers.hpp"
#include "dpi/text.hpp"

namespace tapflow {

namespace {
constexpr std::array<std::string_view, 14> kMethods = {
    "GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ",
    "PROPFIND ", "PROPPATCH ", "MKCOL ", "COPY ", "MOVE "};
constexpr size_t kMaxLine = 16384;  // a line longer than this is not HTTP we can use

std::string_view as_sv(std::span<const uint8_t> s) {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
        v.remove_suffix(1);
    return v;
}
}  // namespace

bool looks_http_request(std::span<const uint8_t> s) {
    const std::string_view v = as_sv(s);
    for (auto m : kMethods)
        if (v.size() >= m.size() ? v.starts_with(m) : m.starts_with(v)) return v.size() >= 4;
    return false;
}

bool looks_http_response(std::span<const uint8_t> s) {
    return as_sv(s).starts_with("HTTP/1.");
}

Parse parse_http_request(std::span<const uint8_t> s, L7Data& out, size_t max_string) {
    std::string_view v = as_sv(s);
    size_t eol = v.find('\n');
    if (eol == std::string_view::npos) return v.size() > kMaxLine ? Parse::not_mine : Parse::need_more;
    const std::string_view line = trim(v.substr(0, eol));
    const size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) return Parse::not_mine;
    const size_t sp2 = line.rfind(' ');
    std::string_view target = sp2 > sp1 ? line.substr(sp1 + 1, sp2 - sp1 - 1) : line.substr(sp1 + 1);
    const std::string_view version = sp2 > sp1 ? line.substr(sp2 + 1) : std::string_view();
    if (!version.starts_with("HTTP/")) return Parse::not_mine;
    out.app = AppId::http;
    out.http_method = clean_string(line.substr(0, sp1), std::min<size_t>(32, max_string));
    out.http_target = clean_string(trim(target), max_string);

    // Header fields until the empty line; a line starting with SP/HT continues the previous one.
    std::string host, ua;
    std::string* last = nullptr;
    bool got_host = false, got_ua = false;
    size_t pos = eol + 1;
    for (;;) {
        const size_t e = v.find('\n', pos);
        if (e == std::string_view::npos) {
            // Head not complete yet: keep what the complete lines gave.
            if (got_host) out.http_host = clean_string(trim(host), max_string);
            if (got_ua) out.http_ua = clean_string(trim(ua), max_string);
            return Parse::need_more;
        }
        std::string_view hl = v.substr(pos, e - pos);
        if (!hl.empty() && hl.back() == '\r') hl.remove_suffix(1);
        pos = e + 1;
        if (hl.empty()) break;
        if ((hl[0] == ' ' || hl[0] == '\t')) {  // obsolete line folding (RFC 9112 §5.2)
            if (last && last->size() < max_string) {
                *last += ' ';
                *last += trim(hl);
            }
            continue;
        }
        last = nullptr;
        const size_t colon = hl.find(':');
        if (colon == std::string_view::npos) continue;
        const std::string_view name = trim(hl.substr(0, colon));
        const std::string_view value = hl.substr(colon + 1);
        if (!got_host && ieq(name, "host")) {
            host.assign(value.substr(0, std::min(value.size(), max_string * 4)));
            got_host = true;
            last = &host;
        } else if (!got_ua && ieq(name, "user-agent")) {
            ua.assign(value.substr(0, std::min(value.size(), max_string * 4)));
            got_ua = true;
            last = &ua;
        }
    }
    if (got_host) out.http_host = clean_string(trim(host), max_string);
    if (got_ua) out.http_ua = clean_string(trim(ua), max_string);
    return Parse::done;
}

Parse parse_http_response(std::span<const uint8_t> s, L7Data& out) {
    const std::string_view v = as_sv(s);
    if (!looks_http_response(s)) return v.size() < 7 ? Parse::need_more : Parse::not_mine;
    // "HTTP/1.x SP 3DIGIT SP reason"
    if (v.size() < 12) return Parse::need_more;
    if (v[8] != ' ') return Parse::not_mine;
    uint16_t code = 0;
    for (size_t i = 9; i < 12; ++i) {
        if (v[i] < '0' || v[i] > '9') return Parse::not_mine;
        code = static_cast<uint16_t>(code * 10 + (v[i] - '0'));
    }
    out.app = AppId::http;
    out.http_status = code;
    return Parse::done;
}

}  // namespace tapflow
