#include "train/ps_shm.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <random>

#include "core/logging.h"

namespace loom::train::shm {

// The segment's first bytes. Both processes map the same bytes; the atomics are lock-free, so
// they work across processes. The sequence words are futex words.
struct Header {
  uint64_t magic;
  uint32_t version;
  int32_t ps_pid;
  int64_t floats;               // each way
  uint64_t gradient_offset;     // from the segment's start
  uint64_t variable_offset;
  uint64_t bytes;               // the segment's size
  std::atomic<uint32_t> attached;  // 0: not yet, 1: the worker mapped it, 2: the worker left
  std::atomic<uint32_t> ps_left;   // 1: the ps's thread for this worker ended: no more answers
  int32_t worker_pid;

  alignas(64) std::atomic<uint32_t> request_seq;  // bumped by the worker: a request is ready
  int32_t replica;
  int64_t step;

  alignas(64) std::atomic<uint32_t> reply_seq;    // set by the ps to the request it answered
  int32_t code;                 // a loom StatusCode; 0: ok
  uint8_t done;
  uint8_t applied;
  int64_t global_step;
  char message[512];
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

namespace {

constexpr uint64_t kMagic = 0x314d48534d4f4f4cull;  // "LOOMSHM1"
constexpr uint32_t kVersion = 1;
constexpr size_t kAlign = 64;
constexpr double kPollSecs = 0.1;  // a waiting side checks its peer is alive this often
constexpr int kSpins = 64;         // polls of a sequence word before sleeping on it

size_t RoundUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Where a segment of `floats` each way keeps its regions: the header, the gradients, then the
// variables, each 64-byte aligned.
struct Layout {
  size_t gradient_offset, variable_offset, bytes;
};
Layout LayoutOf(int64_t floats) {
  const size_t region = RoundUp(static_cast<size_t>(floats) * sizeof(float));
  const size_t gradients = RoundUp(sizeof(Header));
  return {gradients, gradients + region, gradients + 2 * region};
}

uint32_t* Word(std::atomic<uint32_t>* a) { return reinterpret_cast<uint32_t*>(a); }

// Sleeps while *word == expected, at most `secs`. Shared (not FUTEX_PRIVATE): the word is in a
// mapping of another process too.
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, double secs) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(secs);
  ts.tv_nsec = static_cast<long>((secs - static_cast<double>(ts.tv_sec)) * 1e9);
  syscall(SYS_futex, Word(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void FutexWake(std::atomic<uint32_t>* word) { syscall(SYS_futex, Word(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0); }

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins a little, then sleeps until *word != value or kPollSecs passed. Returns the word's value.
uint32_t WaitChange(std::atomic<uint32_t>* word, uint32_t value) {
  for (int i = 0; i < kSpins; ++i) {
    const uint32_t now = word->load(std::memory_order_acquire);
    if (now != value) return now;
    CpuRelax();
  }
  FutexWait(word, value, kPollSecs);
  return word->load(std::memory_order_acquire);
}

// A pidfd for `pid` (readable once the process has ended, zombie or not, and immune to the pid
// being reused), or -1 where the kernel has none: then kill(pid, 0) is the check.
int OpenPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

bool Alive(pid_t pid, int pidfd) {
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    return poll(&p, 1, 0) == 0;
  }
  return kill(pid, 0) == 0 || errno == EPERM;
}

std::string RandomName() {
  std::random_device device;
  std::mt19937_64 random((static_cast<uint64_t>(device()) << 32) ^ device());
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "/loom-ps-%d-%016llx", static_cast<int>(getpid()),
                static_cast<unsigned long long>(random()));
  return buffer;
}

// Copies `size` bytes from `src` into the pieces, in order.
void Scatter(const float* src, const std::vector<wire::Chunk>& pieces) {
  const char* from = reinterpret_cast<const char*>(src);
  for (const wire::Chunk& c : pieces) {
    if (c.data != from) std::memcpy(const_cast<char*>(c.data), from, c.size);  // else in place already
    from += c.size;
  }
}

size_t PiecesBytes(const std::vector<wire::Chunk>& pieces) {
  size_t n = 0;
  for (const wire::Chunk& c : pieces) n += c.size;
  return n;
}

}  // namespace

bool IsLoopbackAddress(const std::string& address) {
  std::string host = address;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string::npos) return false;
    host = host.substr(1, close - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos &&
                                                   host.find(':') == colon) {
    host = host.substr(0, colon);  // host:port (one colon; more is a bare IPv6 address)
  }
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

std::string FollowAffinityOf(pid_t pid) {
  cpu_set_t theirs, ours;
  CPU_ZERO(&theirs);
  CPU_ZERO(&ours);
  if (sched_getaffinity(pid, sizeof(theirs), &theirs) != 0) return "";
  if (pthread_getaffinity_np(pthread_self(), sizeof(ours), &ours) != 0) return "";
  if (CPU_COUNT(&theirs) == 0 || CPU_COUNT(&theirs) >= CPU_COUNT(&ours)) return "";
  if (pthread_setaffinity_np(pthread_self(), sizeof(theirs), &theirs) != 0) return "";
  std::string cpus;  // as taskset -c prints them: ranges joined by commas
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &theirs)) continue;
    int last = c;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &theirs)) ++last;
    if (!cpus.empty()) cpus += ',';
    cpus += std::to_string(c);
    if (last > c) cpus += "-" + std::to_string(last);
    c = last;
  }
  return cpus;
}

size_t SegmentBytes(int64_t floats) { return LayoutOf(floats).bytes; }

Segment::~Segment() {
  if (base_) munmap(base_, bytes_);
}

float* Segment::gradients() const {
  return reinterpret_cast<float*>(static_cast<char*>(base_) + header_->gradient_offset);
}
float* Segment::variables() const {
  return reinterpret_cast<float*>(static_cast<char*>(base_) + header_->variable_offset);
}

// ---------------------------------------------------------------------------------------------
// The ps's side.

int RemoveSegmentsOfDeadPs() {
  DIR* dir = opendir("/dev/shm");
  if (dir == nullptr) return 0;
  int removed = 0;
  while (const dirent* entry = readdir(dir)) {
    int pid = 0, used = 0;
    unsigned long long suffix = 0;
    if (std::sscanf(entry->d_name, "loom-ps-%d-%16llx%n", &pid, &suffix, &used) != 2 ||
        entry->d_name[used] != '\0' || pid <= 0)
      continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;
    const std::string name = std::string("/") + entry->d_name;
    if (shm_unlink(name.c_str()) != 0) continue;
    ++removed;
    LOOM_LOG(INFO) << "removed /dev/shm" << name << ", left by ps process " << pid << " (gone)";
  }
  closedir(dir);
  return removed;
}

StatusOr<std::shared_ptr<ShmPsEnd>> ShmPsEnd::Create(int64_t floats, pid_t worker_pid) {
  if (floats < 0) return InvalidArgument("shm segment: negative size");
  if (worker_pid <= 0) return InvalidArgument("shm segment: worker pid " + std::to_string(worker_pid) + " is not a pid");
  std::shared_ptr<ShmPsEnd> end(new ShmPsEnd());
  // The pid is how the ps sees the worker die: it must name a live process in this pid
  // namespace (a worker in another one shares the network but not the pids: gRPC for it).
  end->worker_pid_ = worker_pid;
  end->worker_pidfd_ = OpenPidfd(worker_pid);
  if (!Alive(worker_pid, end->worker_pidfd_))
    return FailedPrecondition("shm segment: the worker's pid " + std::to_string(worker_pid) +
                              " is no live process here (another pid namespace?)");
  static std::once_flag swept;
  std::call_once(swept, [] { RemoveSegmentsOfDeadPs(); });
  end->segment_.reset(new Segment());
  end->unlinked_ = true;  // until a name is ours
  Segment& s = *end->segment_;
  s.bytes_ = SegmentBytes(floats);
  s.floats_ = floats;
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    s.name_ = RandomName();
    fd = shm_open(s.name_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 && errno != EEXIST) return ErrnoStatus("/dev/shm" + s.name_, "shm_open", errno);
  }
  if (fd < 0) return AlreadyExists("shm segment: no free random name in /dev/shm");
  end->unlinked_ = false;  // the destructor unlinks it from here on
  if (ftruncate(fd, static_cast<off_t>(s.bytes_)) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus("/dev/shm" + s.name_, "ftruncate to " + std::to_string(s.bytes_) + " bytes", err);
  }
  void* base = mmap(nullptr, s.bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  const int err = errno;
  close(fd);
  if (base == MAP_FAILED) return ErrnoStatus("/dev/shm" + s.name_, "mmap", err);
  s.base_ = base;
  s.header_ = new (base) Header();  // the pages are zeros; this starts the atomics' lifetimes
  Header* h = s.header_;
  h->magic = kMagic;
  h->version = kVersion;
  h->ps_pid = static_cast<int32_t>(getpid());
  h->floats = floats;
  const Layout layout = LayoutOf(floats);
  h->gradient_offset = layout.gradient_offset;
  h->variable_offset = layout.variable_offset;
  h->bytes = s.bytes_;
  return end;
}

ShmPsEnd::~ShmPsEnd() {
  if (!unlinked_ && segment_) shm_unlink(segment_->name().c_str());
  if (worker_pidfd_ >= 0) close(worker_pidfd_);
}

ShmPsEnd::Event ShmPsEnd::WaitRequest(const std::atomic<bool>& stop, double attach_secs, Request* request) {
  Header* h = segment_->header();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                              std::chrono::duration<double>(attach_secs));
  auto unlink = [&] {
    if (!unlinked_) shm_unlink(segment_->name().c_str());
    unlinked_ = true;
  };
  uint32_t seq = h->request_seq.load(std::memory_order_acquire);
  for (;;) {
    if (seq != last_seq_) {
      last_seq_ = seq;
      request->seq = seq;
      request->replica = h->replica;
      request->step = h->step;
      request->gradients = segment_->gradients();
      return Event::kRequest;
    }
    const uint32_t attached = h->attached.load(std::memory_order_acquire);
    if (attached != 0) unlink();
    if (attached == 2) return Event::kGone;
    if (stop.load()) return Event::kStopped;
    if (attached == 0 && std::chrono::steady_clock::now() >= give_up) {
      unlink();
      return Event::kGone;
    }
    const uint32_t now = WaitChange(&h->request_seq, seq);
    if (now == seq && !Alive(worker_pid_, worker_pidfd_)) {
      unlink();
      return Event::kGone;
    }
    seq = now;
  }
}

void ShmPsEnd::Reply(uint32_t seq, const shm::Reply& reply, const float* variables) {
  Header* h = segment_->header();
  std::memcpy(segment_->variables(), variables, static_cast<size_t>(segment_->floats()) * sizeof(float));
  h->code = 0;
  h->global_step = reply.global_step;
  h->done = reply.done;
  h->applied = reply.applied;
  h->reply_seq.store(seq, std::memory_order_release);
  FutexWake(&h->reply_seq);
}

void ShmPsEnd::ReplyError(uint32_t seq, const Status& status) {
  Header* h = segment_->header();
  h->code = static_cast<int32_t>(status.ok() ? StatusCode::kInternal : status.code());
  const size_t n = std::min(status.message().size(), sizeof(h->message) - 1);
  std::memcpy(h->message, status.message().data(), n);
  h->message[n] = '\0';
  h->reply_seq.store(seq, std::memory_order_release);
  FutexWake(&h->reply_seq);
}

void ShmPsEnd::Wake() { FutexWake(&segment_->header()->request_seq); }

void ShmPsEnd::Close() {
  Header* h = segment_->header();
  h->ps_left.store(1, std::memory_order_release);
  FutexWake(&h->reply_seq);
}

// ---------------------------------------------------------------------------------------------
// The worker's side.

StatusOr<std::unique_ptr<ShmWorkerEnd>> ShmWorkerEnd::Open(const std::string& name, size_t bytes, int64_t floats) {
  const std::string where = "shm segment \"" + name + "\"";
  if (name.size() < 2 || name.size() > 200 || name[0] != '/' || name.find('/', 1) != std::string::npos)
    return InvalidArgument(where + ": not a segment name (\"/name\", no other slash)");
  if (floats < 0 || bytes != SegmentBytes(floats))
    return InvalidArgument(where + ": " + std::to_string(bytes) + " bytes is not the size of a segment of " +
                           std::to_string(floats) + " floats (" + std::to_string(SegmentBytes(floats)) + ")");
  const int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) return ErrnoStatus("/dev/shm" + name, "shm_open", errno);
  shm_unlink(name.c_str());  // mapped below or failed: either way, no name left behind
  struct stat st{};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus("/dev/shm" + name, "fstat", err);
  }
  if (static_cast<size_t>(st.st_size) != bytes) {
    close(fd);
    return DataLoss(where + ": holds " + std::to_string(st.st_size) + " bytes, the ps said " + std::to_string(bytes));
  }
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  const int err = errno;
  close(fd);
  if (base == MAP_FAILED) return ErrnoStatus("/dev/shm" + name, "mmap", err);
  std::unique_ptr<ShmWorkerEnd> end(new ShmWorkerEnd());
  end->segment_ = std::shared_ptr<Segment>(new Segment());
  Segment& s = *end->segment_;
  s.name_ = name;
  s.bytes_ = bytes;
  s.floats_ = floats;
  s.base_ = base;
  s.header_ = static_cast<Header*>(base);
  Header* h = s.header_;
  if (h->magic != kMagic || h->version != kVersion)
    return DataLoss(where + ": no Loom ps segment (magic/version)");
  const Layout layout = LayoutOf(floats);
  if (h->floats != floats || h->bytes != bytes || h->gradient_offset != layout.gradient_offset ||
      h->variable_offset != layout.variable_offset)
    return DataLoss(where + ": its header describes " + std::to_string(h->floats) + " floats, expected " +
                    std::to_string(floats));
  end->ps_pid_ = h->ps_pid;
  end->ps_pidfd_ = OpenPidfd(end->ps_pid_);
  if (!end->PsAlive())
    return FailedPrecondition(where + ": the ps's pid " + std::to_string(end->ps_pid_) +
                              " is no live process here (another pid namespace?)");
  end->seq_ = h->request_seq.load(std::memory_order_acquire);
  h->worker_pid = static_cast<int32_t>(getpid());
  h->attached.store(1, std::memory_order_release);
  return end;
}

ShmWorkerEnd::~ShmWorkerEnd() {
  if (segment_ && segment_->header()) {
    segment_->header()->attached.store(2, std::memory_order_release);
    FutexWake(&segment_->header()->request_seq);
  }
  if (ps_pidfd_ >= 0) close(ps_pidfd_);
}

bool ShmWorkerEnd::PsAlive() const { return Alive(ps_pid_, ps_pidfd_); }

uint32_t ShmWorkerEnd::Send(int replica, int64_t step, const std::vector<wire::Chunk>& gradients) {
  Header* h = segment_->header();
  char* to = reinterpret_cast<char*>(segment_->gradients());
  const size_t limit = static_cast<size_t>(segment_->floats()) * sizeof(float);
  size_t at = 0;
  for (const wire::Chunk& c : gradients) {
    const size_t n = std::min(c.size, limit - at);
    if (c.data != to + at) std::memcpy(to + at, c.data, n);  // else in place already (zero copy)
    at += n;
  }
  h->replica = replica;
  h->step = step;
  h->request_seq.store(++seq_, std::memory_order_release);
  FutexWake(&h->request_seq);
  return seq_;
}

StatusOr<Reply> ShmWorkerEnd::Receive(const std::vector<wire::Chunk>& values, double timeout_secs) {
  Header* h = segment_->header();
  const std::string where = "shm segment of ps pid " + std::to_string(ps_pid_);
  if (PiecesBytes(values) != static_cast<size_t>(segment_->floats()) * sizeof(float))
    return InvalidArgument(where + ": the variables' pieces do not cover the shard");
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                              std::chrono::duration<double>(timeout_secs));
  uint32_t seen = h->reply_seq.load(std::memory_order_acquire);
  while (seen != seq_) {
    if (h->ps_left.load(std::memory_order_acquire) != 0) {
      seen = h->reply_seq.load(std::memory_order_acquire);
      if (seen == seq_) break;
      return Unavailable(where + ": the ps stopped serving this segment");
    }
    const uint32_t now = WaitChange(&h->reply_seq, seen);
    if (now == seen) {
      if (!PsAlive()) return Unavailable(where + ": the ps process is gone");
      if (std::chrono::steady_clock::now() >= give_up)
        return Status(StatusCode::kDeadlineExceeded,
                where + ": no answer in " + std::to_string(static_cast<int>(timeout_secs)) +
                    " s while the ps process is alive");
    }
    seen = now;
  }
  if (h->code != 0) return Status(static_cast<StatusCode>(h->code), h->message);
  Scatter(segment_->variables(), values);
  Reply reply;
  reply.global_step = h->global_step;
  reply.done = h->done != 0;
  reply.applied = h->applied != 0;
  return reply;
}

}  // namespace loom::train::shm
