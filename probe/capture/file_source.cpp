#include "probe/capture/file_source.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "probe/capture/pcap_source.hpp"

namespace tapflow {

namespace {
constexpr uint32_t kPcapMagicUs = 0xA1B2C3D4;
constexpr uint32_t kPcapMagicNs = 0xA1B23C4D;
constexpr uint32_t kPcapngShb = 0x0A0D0D0A;
constexpr uint32_t kPcapngBom = 0x1A2B3C4D;
constexpr uint32_t kBlockIdb = 1;
constexpr uint32_t kBlockOpb = 2;  // obsolete packet block
constexpr uint32_t kBlockSpb = 3;
constexpr uint32_t kBlockEpb = 6;

inline uint32_t rd32(const uint8_t* p, bool swap) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}
inline uint16_t rd16(const uint8_t* p, bool swap) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return swap ? __builtin_bswap16(v) : v;
}

// t / units seconds → ns, without overflow for any resolution.
inline uint64_t scale_ns(uint64_t t, uint64_t units) {
    if (units == 1'000'000'000) return t;
    if (units == 1'000'000) return t * 1000;
    return static_cast<uint64_t>(static_cast<unsigned __int128>(t) * 1'000'000'000 / units);
}
}  // namespace

std::unique_ptr<Source> open_source(const CaptureOptions& o) {
    if (!o.file.empty()) {
        struct stat st {};
        if (o.file != "-") {
            if (stat(o.file.c_str(), &st) != 0) throw InputError(o.file + ": " + std::strerror(errno));
            if (S_ISREG(st.st_mode)) return std::make_unique<FileSource>(o.file, o.bpf);
        }
    }
    return std::make_unique<PcapSource>(o);
}

FileSource::FileSource(const std::string& path, const std::string& bpf) : path_(path), bpf_(bpf) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError(path + ": " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        throw InputError(path + ": " + std::strerror(e));
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ < 4) {
        close(fd);
        throw InputError(path + ": too short to be a pcap or pcapng file (" + std::to_string(size_) +
                         " bytes)");
    }
    void* m = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) throw InputError(path + ": cannot map file: " + std::strerror(e));
    map_ = static_cast<const uint8_t*>(m);
    madvise(m, size_, MADV_SEQUENTIAL);

    try {
        check_header();
    } catch (...) {
        munmap(const_cast<uint8_t*>(map_), size_);
        map_ = nullptr;
        throw;
    }
}

void FileSource::check_header() {
    const std::string& path = path_;
    const uint32_t magic = rd32(map_, false);
    if (magic == kPcapngShb) {
        pcapng_ = true;
    } else if (magic == kPcapMagicUs || magic == kPcapMagicNs ||
               __builtin_bswap32(magic) == kPcapMagicUs || __builtin_bswap32(magic) == kPcapMagicNs) {
        if (size_ < 24) throw InputError(path + ": pcap file header cut short");
    } else {
        throw InputError(path + ": not a pcap or pcapng file (unknown magic number)");
    }
    if (!pcapng_) {
        const bool swap = rd32(map_, false) != kPcapMagicUs && rd32(map_, false) != kPcapMagicNs;
        // Low 16 bits: link type; above them the FCS length and reserved bits (pcap spec §3).
        const int dlt = static_cast<int>(rd32(map_ + 20, swap) & 0xFFFF);
        ifaces_.push_back(Interface{dlt, 0, 0, rd32(map_ + 16, swap)});
        if (!bpf_.empty()) pass_filter(dlt, nullptr, 0, 0);  // compile now: a bad filter is a usage error
    }
}

FileSource::~FileSource() {
    for (auto& [dlt, prog] : filters_) {
        if (prog) {
            pcap_freecode(prog);
            delete prog;
        }
    }
    if (map_) munmap(const_cast<uint8_t*>(map_), size_);
}

bool FileSource::pass_filter(int dlt, const uint8_t* data, uint32_t caplen, uint32_t wirelen) {
    if (bpf_.empty()) return true;
    auto it = filters_.find(dlt);
    if (it == filters_.end()) {
        // Files store LINKTYPE_ values; libpcap compiles for DLT_ values. They differ for raw IP
        // (LINKTYPE_RAW 101 = DLT_RAW) and ATM RFC 1483 (100 = DLT_ATM_RFC1483).
        const int dead_dlt = dlt == 101 ? DLT_RAW : dlt == 100 ? DLT_ATM_RFC1483 : dlt;
        pcap_t* dead = pcap_open_dead(dead_dlt, kMaxCaplen);
        auto* prog = new bpf_program{};
        if (!dead || pcap_compile(dead, prog, bpf_.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
            std::string msg = dead ? pcap_geterr(dead) : "cannot compile";
            if (dead) pcap_close(dead);
            delete prog;
            throw InputError("filter '" + bpf_ + "': " + msg);
        }
        pcap_close(dead);
        it = filters_.emplace(dlt, prog).first;
    }
    if (!data) return true;
    pcap_pkthdr hdr{};
    hdr.caplen = caplen;
    hdr.len = wirelen;
    return pcap_offline_filter(it->second, &hdr, data) != 0;
}

Source::End FileSource::run(Handler& h) { return pcapng_ ? run_pcapng(h) : run_pcap(h); }

Source::End FileSource::run_pcap(Handler& h) {
    const uint32_t magic = rd32(map_, false);
    const bool swap = magic != kPcapMagicUs && magic != kPcapMagicNs;
    const uint32_t m = swap ? __builtin_bswap32(magic) : magic;
    const uint64_t frac_ns = m == kPcapMagicNs ? 1 : 1000;
    const int dlt = ifaces_[0].dlt;
    size_t off = 24;
    while (off < size_) {
        if (stop_.load(std::memory_order_relaxed)) return End::stopped;
        if (size_ - off < 16) {
            error_ = "truncated file: record header cut short at offset " + std::to_string(off);
            return End::error;
        }
        const uint8_t* rh = map_ + off;
        const uint32_t sec = rd32(rh, swap);
        const uint32_t frac = rd32(rh + 4, swap);
        const uint32_t caplen = rd32(rh + 8, swap);
        const uint32_t wirelen = rd32(rh + 12, swap);
        if (caplen > kMaxCaplen) {
            error_ = "damaged file: record " + std::to_string(records_ + 1) + " has capture length " +
                     std::to_string(caplen) + " (more than " + std::to_string(kMaxCaplen) + ")";
            return End::error;
        }
        if (size_ - off - 16 < caplen) {
            error_ = "truncated file: record " + std::to_string(records_ + 1) + " cut short";
            return End::error;
        }
        ++records_;
        const uint8_t* data = rh + 16;
        off += 16 + caplen;
        if (!pass_filter(dlt, data, caplen, wirelen)) {
            ++stats_.filtered;
            continue;
        }
        h.packet(Frame{data, caplen, dlt, uint64_t(sec) * 1'000'000'000 + uint64_t(frac) * frac_ns});
    }
    return End::eof;
}

bool FileSource::parse_idb(const uint8_t* body, size_t len, bool swap) {
    if (len < 8) return false;
    Interface ifc{rd16(body, swap), 1'000'000, 0, rd32(body + 4, swap)};
    size_t o = 8;
    while (o + 4 <= len) {
        const uint16_t code = rd16(body + o, swap);
        const uint16_t olen = rd16(body + o + 2, swap);
        if (code == 0) break;  // opt_endofopt
        if (o + 4 + olen > len) break;
        const uint8_t* v = body + o + 4;
        if (code == 9 && olen >= 1) {  // if_tsresol
            const uint8_t r = v[0];
            const unsigned exp = r & 0x7F;
            if (r & 0x80) {
                ifc.units_per_s = exp < 64 ? (uint64_t{1} << exp) : 0;
            } else {
                uint64_t u = 1;
                for (unsigned i = 0; i < exp && u <= UINT64_MAX / 10; ++i) u *= 10;
                ifc.units_per_s = exp <= 19 ? u : 0;
            }
            if (ifc.units_per_s == 0) ifc.units_per_s = 1'000'000;  // absurd value: default
        } else if (code == 14 && olen >= 8) {  // if_tsoffset, seconds
            uint64_t raw;
            std::memcpy(&raw, v, 8);
            ifc.offset_s = static_cast<int64_t>(swap ? __builtin_bswap64(raw) : raw);
        }
        o += 4 + ((olen + 3u) & ~3u);
    }
    ifaces_.push_back(ifc);
    return true;
}

Source::End FileSource::run_pcapng(Handler& h) {
    size_t off = 0;
    bool swap = false;
    while (off < size_) {
        if (stop_.load(std::memory_order_relaxed)) return End::stopped;
        if (size_ - off < 12) {
            error_ = "truncated file: pcapng block header cut short at offset " + std::to_string(off);
            return End::error;
        }
        const uint8_t* b = map_ + off;
        const uint32_t raw_type = rd32(b, false);
        if (raw_type == kPcapngShb) {
            // Section header: the byte-order magic decides how to read this section.
            const uint32_t bom = rd32(b + 8, false);
            if (bom == kPcapngBom) swap = false;
            else if (__builtin_bswap32(bom) == kPcapngBom) swap = true;
            else {
                error_ = "damaged file: bad pcapng byte-order magic at offset " + std::to_string(off);
                return End::error;
            }
            ifaces_.clear();
        }
        const uint32_t type = rd32(b, swap);
        const uint32_t blen = rd32(b + 4, swap);
        if (blen < 12 || blen % 4 != 0 || blen > size_ - off) {
            error_ = (blen > size_ - off ? "truncated file" : "damaged file") +
                     std::string(": pcapng block at offset ") + std::to_string(off) + " has length " +
                     std::to_string(blen);
            return End::error;
        }
        const uint8_t* body = b + 8;
        const size_t body_len = blen - 12;
        off += blen;
        if (type == kBlockIdb) {
            if (!parse_idb(body, body_len, swap)) {
                error_ = "damaged file: pcapng interface block too short";
                return End::error;
            }
            continue;
        }
        uint32_t if_id = 0, caplen = 0, wirelen = 0;
        uint64_t ts = 0;
        const uint8_t* data = nullptr;
        bool has_ts = true;
        if (type == kBlockEpb) {
            if (body_len < 20) continue;
            if_id = rd32(body, swap);
            ts = (uint64_t(rd32(body + 4, swap)) << 32) | rd32(body + 8, swap);
            caplen = rd32(body + 12, swap);
            wirelen = rd32(body + 16, swap);
            if (caplen > body_len - 20) {
                error_ = "damaged file: pcapng packet block " + std::to_string(records_ + 1) +
                         " claims more bytes than the block holds";
                return End::error;
            }
            data = body + 20;
        } else if (type == kBlockSpb) {
            if (body_len < 4) continue;
            wirelen = rd32(body, swap);
            caplen = static_cast<uint32_t>(std::min<size_t>(wirelen, body_len - 4));
            // The block may be padded: the interface's snaplen also bounds the packet.
            if (!ifaces_.empty() && ifaces_[0].snaplen && caplen > ifaces_[0].snaplen)
                caplen = ifaces_[0].snaplen;
            data = body + 4;
            has_ts = false;  // simple packet blocks carry no time
        } else if (type == kBlockOpb) {
            if (body_len < 20) continue;
            if_id = rd16(body, swap);
            ts = (uint64_t(rd32(body + 4, swap)) << 32) | rd32(body + 8, swap);
            caplen = rd32(body + 12, swap);
            wirelen = rd32(body + 16, swap);
            if (caplen > body_len - 20) {
                error_ = "damaged file: pcapng packet block claims more bytes than the block holds";
                return End::error;
            }
            data = body + 20;
        } else {
            continue;  // name resolution, statistics, decryption secrets, custom blocks
        }
        ++records_;
        if (caplen > kMaxCaplen) {
            error_ = "damaged file: packet " + std::to_string(records_) + " has capture length " +
                     std::to_string(caplen);
            return End::error;
        }
        if (if_id >= ifaces_.size()) {
            error_ = "damaged file: packet " + std::to_string(records_) +
                     " refers to an undeclared interface " + std::to_string(if_id);
            return End::error;
        }
        const Interface& ifc = ifaces_[if_id];
        uint64_t ts_ns = 0;
        if (has_ts) {
            const uint64_t secs = ts / ifc.units_per_s;
            const uint64_t rem = ts % ifc.units_per_s;
            ts_ns = (secs + static_cast<uint64_t>(ifc.offset_s)) * 1'000'000'000 +
                    scale_ns(rem, ifc.units_per_s);
        }
        if (!pass_filter(ifc.dlt, data, caplen, wirelen)) {
            ++stats_.filtered;
            continue;
        }
        h.packet(Frame{data, caplen, ifc.dlt, ts_ns});
    }
    return End::eof;
}

}  // namespace tapflow
