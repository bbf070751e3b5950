/*
 * The few Linux interfaces Swift's Glibc module does not expose, as tiny inline
 * functions: eventfd and memfd (not declared without _GNU_SOURCE), the CMSG_*
 * macros of SCM_RIGHTS fd passing (macros are invisible to Swift), and atomic
 * 16-bit loads and stores on shared ring memory (Swift's Atomic cannot be laid
 * over a raw pointer into guest memory, but the virtio ring indexes must be read
 * and written as single atomic accesses with acquire/release ordering).
 *
 * glibc's malloc_trim (in <malloc.h>, which the Glibc module leaves out) gives a
 * long-running process's freed heap back to the kernel.
 *
 * One part is real C code, in sigbus_guard.c: the SIGBUS handler that keeps a
 * frontend shrinking its guest-memory file from killing the process. A signal
 * handler may only do async-signal-safe things, which Swift code cannot promise.
 */
#ifndef SCMI_DT_CLINUXSHIM_H
#define SCMI_DT_CLINUXSHIM_H

#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- eventfd / memfd ---------------------------------------------------- */

/* glibc declares memfd_create only under _GNU_SOURCE, and defining that here
 * would make this module's view of system structs differ from Swift's Glibc
 * module; so declare it (glibc >= 2.27) and its flag ourselves. */
extern int memfd_create(const char *name, unsigned int flags);
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif

static inline int shim_eventfd(unsigned int initial, int nonblocking) {
    return eventfd(initial, EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0));
}

static inline int shim_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}

/* accept4 is declared only under _GNU_SOURCE as well. */
extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

/* Accepts a connection with close-on-exec set atomically. */
static inline int shim_accept_cloexec(int listening) {
    return accept4(listening, NULL, NULL, SOCK_CLOEXEC);
}

/* Returns the heap's free memory to the kernel; 1 when some was released. */
static inline int shim_malloc_trim(void) {
    return malloc_trim(0);
}

/* Tells the CPU this is a spin-wait (x86 PAUSE, arm64 YIELD): cheaper for the
 * sibling hyperthread and for the power budget than a bare reload loop. */
static inline void shim_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* RUSAGE_THREAD is also _GNU_SOURCE-only (Linux's value). */
#ifndef RUSAGE_THREAD
#define RUSAGE_THREAD 1
#endif

/* Context switches of the calling thread so far, voluntary and involuntary: a
 * spinning thread that sees this grow knew another task wanted its CPU. */
static inline long shim_thread_context_switches(void) {
    struct rusage usage;
    if (getrusage(RUSAGE_THREAD, &usage) != 0) return 0;
    return usage.ru_nvcsw + usage.ru_nivcsw;
}

/* Names the calling thread (first 15 bytes), for ps/top/gdb. */
static inline void shim_set_thread_name(const char *name) {
    (void)prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

/* ---- SCM_RIGHTS ancillary data ------------------------------------------ */

/* Bytes of control buffer needed to carry `count` file descriptors. */
static inline size_t shim_cmsg_space_for_fds(size_t count) {
    return CMSG_SPACE(count * sizeof(int));
}

/* Fill `control` (at least shim_cmsg_space_for_fds(count) bytes, zeroed by the
 * caller) with one SCM_RIGHTS message; returns the msg_controllen to use. */
static inline size_t shim_cmsg_put_fds(void *control, const int *fds, size_t count) {
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(count * sizeof(int));
    memcpy(CMSG_DATA(cmsg), fds, count * sizeof(int));
    return msg.msg_controllen;
}

/* Collect every fd of every SCM_RIGHTS message of a received msghdr into `fds`
 * (capacity `capacity`). Returns how many were found; fds beyond `capacity` are
 * closed here and counted in *dropped. */
static inline size_t shim_cmsg_take_fds(struct msghdr *msg, int *fds, size_t capacity, size_t *dropped) {
    size_t found = 0;
    *dropped = 0;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL; cmsg = CMSG_NXTHDR(msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        if (cmsg->cmsg_len < CMSG_LEN(0)) continue;
        size_t n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(cmsg);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof fd);
            if (found < capacity) {
                fds[found++] = fd;
            } else {
                close(fd);
                (*dropped)++;
            }
        }
    }
    return found;
}

/* ---- atomics on shared ring memory ------------------------------------- */

static inline uint16_t shim_load_acquire_u16(const void *address) {
    return __atomic_load_n((const uint16_t *)address, __ATOMIC_ACQUIRE);
}

static inline uint16_t shim_load_relaxed_u16(const void *address) {
    return __atomic_load_n((const uint16_t *)address, __ATOMIC_RELAXED);
}

static inline void shim_store_release_u16(void *address, uint16_t value) {
    __atomic_store_n((uint16_t *)address, value, __ATOMIC_RELEASE);
}

static inline void shim_store_relaxed_u16(void *address, uint16_t value) {
    __atomic_store_n((uint16_t *)address, value, __ATOMIC_RELAXED);
}

/* Full barrier: orders an earlier store before a later load (store-load), which
 * acquire/release alone never does. Needed around the event-index handshakes. */
static inline void shim_full_barrier(void) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* ---- SIGBUS guard over mapped guest memory (sigbus_guard.c) ------------ */

/* How many mapped ranges can be watched at once, process-wide. */
#define SHIM_SIGBUS_GUARD_CAPACITY 1024

/* Installs the process-wide SIGBUS handler; the first call does it, later calls
 * return the first call's result. 0, or the errno of sigaction. A SIGBUS outside
 * every watched range goes on to the handler installed before (or kills the
 * process, as without this handler). */
int shim_sigbus_guard_install(void);

/* Watches [start, start + length), a MAP_SHARED mapping of a file the peer
 * controls. When the kernel raises SIGBUS for an address inside it (the file
 * shrank under the mapping), the handler replaces every range watched with the
 * same `fault` word by private anonymous zero pages (MAP_FIXED), stores the
 * faulting address in *fault unless a fault was stored before, adds 1 to the
 * eventfd `notifier`, and returns: the faulting access is retried and reads
 * zeros. Returns the slot to pass to shim_sigbus_guard_remove, or -1 when all
 * SHIM_SIGBUS_GUARD_CAPACITY slots are taken. `fault` and `notifier` must stay
 * valid until the range is removed. */
int shim_sigbus_guard_add(void *start, size_t length, uintptr_t *fault, int notifier);

/* Stops watching a slot. Call it before unmapping the range. */
void shim_sigbus_guard_remove(int slot);

/* 1 when `fd` is on hugetlbfs (its mappings are made of huge pages), 0 when
 * not, -1 with errno when fstatfs fails. */
int shim_is_hugetlbfs(int fd);

/* The fault word of shim_sigbus_guard_add, read from another thread. */
static inline uintptr_t shim_load_relaxed_uptr(const uintptr_t *address) {
    return __atomic_load_n(address, __ATOMIC_RELAXED);
}

static inline uintptr_t shim_load_acquire_uptr(const uintptr_t *address) {
    return __atomic_load_n(address, __ATOMIC_ACQUIRE);
}


/* ---- child processes (serve --host-hook) ---------------------------------- */

/* posix_spawn's "close every descriptor from `low` up in the child" (glibc >=
 * 2.34), declared only under _GNU_SOURCE; see memfd_create above. A hook
 * program must inherit nothing of serve's but its standard streams. */
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int low);

static inline int shim_spawn_close_from(posix_spawn_file_actions_t *actions, int low) {
    return posix_spawn_file_actions_addclosefrom_np(actions, low);
}

/* A descriptor that becomes readable when process `pid` exits (Linux >= 5.3),
 * close-on-exec: lets one poll wait for a child's output and its end with a
 * deadline. -1 with errno on failure. `syscall` is variadic, so not callable
 * from Swift. */
/* pipe2 (declared only under _GNU_SOURCE): a pipe with both ends
 * close-on-exec from the start (flags O_CLOEXEC), so that no child another
 * thread spawns meanwhile inherits it. */
extern int pipe2(int fds[2], int flags);

static inline int shim_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

static inline int shim_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

#endif
