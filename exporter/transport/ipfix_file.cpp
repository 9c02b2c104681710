// IPFIX files (RFC 5655): messages written back to back, each file starting with the preamble
// (templates) so it can be read on its own; optional rotation by export time or by size.
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "exporter/transport/transport.hpp"

namespace tapflow {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kNsPerS = 1'000'000'000;
// Few large writes instead of one per message; flushed at least this often by tick() so a
// reader following a slow live export is never far behind.
constexpr size_t kBufferBytes = 1u << 20;
constexpr auto kFlushEvery = std::chrono::seconds(1);

// IPFIX message header (RFC 7011 §3.1): the sequence number is bytes 8..11, big endian.
uint32_t ipfix_sequence(std::span<const uint8_t> msg) {
    if (msg.size() < 16) return 0;
    return uint32_t(msg[8]) << 24 | uint32_t(msg[9]) << 16 | uint32_t(msg[10]) << 8 | msg[11];
}

// The directory files are created in; with conversions in it, the part before the first one
// (the rest only exists once expanded).
std::string directory_of(const std::string& path) {
    std::string fixed = path.substr(0, path.find('%'));
    size_t slash = fixed.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return fixed.substr(0, slash);
}

std::string expand(const std::string& pattern, uint64_t now_ns) {
    time_t t = static_cast<time_t>(now_ns / kNsPerS);
    tm utc{};
    gmtime_r(&t, &utc);
    // strftime() returns 0 both for "did not fit" and for an empty result: grow a few times.
    for (size_t size = pattern.size() * 4 + 64; size <= 65536; size *= 4) {
        std::string out(size, '\0');
        size_t n = std::strftime(out.data(), out.size(), pattern.c_str(), &utc);
        if (n > 0) {
            out.resize(n);
            return out;
        }
    }
    return pattern;
}

class IpfixFileTransport final : public Transport {
public:
    IpfixFileTransport(const std::string& path, const FileRotation& r)
        : pattern_(path), r_(r), rotating_(r.seconds > 0 || r.bytes > 0),
          expanded_(path.find('%') != std::string::npos) {
        check_directory(directory_of(path));
        if (rotating_ && !expanded_) {
            pattern_ += ".%Y%m%d%H%M%S";
            expanded_ = true;
        }
        // One fixed file: open it now, so a bad path is an error at start-up, not a drop later.
        if (!expanded_ && !open(path)) throw std::runtime_error(last_error_);
    }
    ~IpfixFileTransport() override { close(); }

    bool send(std::span<const uint8_t> msg, uint32_t records, uint64_t now_ns) override {
        if (closed_) return drop(records);
        if (expanded_ && (!f_ || rotation_due(msg.size(), now_ns))) {
            close_file();
            if (!open_next(now_ns)) return drop(records);
        }
        if (!f_) return drop(records);
        if (!preamble_written_) {
            file_start_ns_ = now_ns;
            preamble_written_ = true;
            if (preamble_ && !write(preamble_(now_ns, ipfix_sequence(msg)))) return drop(records);
        }
        if (!write(msg)) return drop(records);
        ++c_.messages_sent;
        ++file_messages_;
        return true;
    }

    void tick(uint64_t /*now_ns*/) override {
        if (f_ && Clock::now() - last_flush_ >= kFlushEvery) flush();
    }

    void close() override {
        close_file();
        closed_ = true;
    }

private:
    static void check_directory(const std::string& dir) {
        struct stat st {};
        int err = 0;
        if (stat(dir.c_str(), &st) != 0)
            err = errno;
        else if (!S_ISDIR(st.st_mode))
            err = ENOTDIR;  // access() would say EACCES, which sends the user the wrong way
        else if (access(dir.c_str(), W_OK | X_OK) != 0)
            err = errno;
        if (err) throw std::runtime_error("cannot write to " + dir + ": " + std::strerror(err));
    }

    bool rotation_due(size_t msg_bytes, uint64_t now_ns) const {
        // Export time can go backwards (several input files); only forward time rotates.
        if (r_.seconds > 0 && now_ns >= file_start_ns_ &&
            double(now_ns - file_start_ns_) >= r_.seconds * double(kNsPerS))
            return true;
        // A message larger than the limit still gets a file of its own.
        return r_.bytes > 0 && file_messages_ > 0 && file_bytes_ + msg_bytes > r_.bytes;
    }

    // Consecutive files starting in the same second would get the same name: ".1", ".2"...
    // keep the second from overwriting the first.
    bool open_next(uint64_t now_ns) {
        std::string base = expand(pattern_, now_ns);
        bool again = base == last_base_;
        if (!open(again ? base + "." + std::to_string(same_base_ + 1) : base)) return false;
        same_base_ = again ? same_base_ + 1 : 0;
        last_base_ = base;
        return true;
    }

    bool open(const std::string& name) {
        f_ = std::fopen(name.c_str(), "wbe");
        if (!f_) {
            last_error_ = "cannot open " + name + ": " + std::strerror(errno);
            return false;
        }
        std::setvbuf(f_, nullptr, _IOFBF, kBufferBytes);
        name_ = name;
        ++c_.sessions;
        file_bytes_ = 0;
        file_messages_ = 0;
        preamble_written_ = false;
        last_flush_ = Clock::now();
        return true;
    }

    // A failed write leaves a partial message at the end of the file, after which a reader
    // can find no message boundary: the file is closed and the next message starts a new one
    // (with a time-dependent name; a fixed name cannot be reopened without truncating it, so
    // there every later message is dropped and counted).
    bool write(std::span<const uint8_t> bytes) {
        if (std::fwrite(bytes.data(), 1, bytes.size(), f_) == bytes.size()) {
            file_bytes_ += bytes.size();
            c_.bytes_sent += bytes.size();
            return true;
        }
        last_error_ = "write to " + name_ + ": " + std::strerror(errno);
        close_file();
        return false;
    }

    void flush() {
        if (std::fflush(f_) != 0) last_error_ = "write to " + name_ + ": " + std::strerror(errno);
        last_flush_ = Clock::now();
    }

    // Messages are counted as sent when stdio takes them; an error that only shows when the
    // buffer is flushed here is reported in last_error_, without knowing which messages it hit.
    void close_file() {
        if (!f_) return;
        if (std::fclose(f_) != 0) last_error_ = "write to " + name_ + ": " + std::strerror(errno);
        f_ = nullptr;
    }

    bool drop(uint32_t records) {
        ++c_.messages_dropped;
        c_.records_dropped += records;
        return false;
    }

    std::string pattern_;
    const FileRotation r_;
    const bool rotating_;
    bool expanded_;  // the name depends on the time: files open with their first message
    bool closed_ = false;
    FILE* f_ = nullptr;
    std::string name_;
    std::string last_base_;
    unsigned same_base_ = 0;
    uint64_t file_start_ns_ = 0;
    uint64_t file_bytes_ = 0;
    uint64_t file_messages_ = 0;
    bool preamble_written_ = false;
    Clock::time_point last_flush_{};
};

}  // namespace

std::unique_ptr<Transport> make_ipfix_file_transport(const std::string& path,
                                                     const FileRotation& r) {
    return std::make_unique<IpfixFileTransport>(path, r);
}

}  // namespace tapflow
