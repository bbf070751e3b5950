/*
 * The SIGBUS guard: a frontend that shrinks (ftruncate) a guest-memory file we
 * have mapped must cost at most its own connection, not the process.
 *
 * Touching a page of a MAP_SHARED file mapping that lies wholly beyond the end
 * of the file raises SIGBUS, whose default action kills the process, and with it
 * every agent served. A size check when the table is mapped cannot prevent it:
 * the file can shrink afterwards. Checking before every access would cost the
 * hot path a system call. So this handler turns the fault into a report:
 *
 *   - VhostUser registers each guest-memory mapping here (start, length, the
 *     connection's fault word and eventfd) and removes it before unmapping;
 *   - on SIGBUS raised by the kernel at an address inside a registered range,
 *     the handler maps private anonymous zero pages over every range of the
 *     same memory table (MAP_FIXED replaces the file pages atomically), records
 *     the address in the fault word, writes the eventfd, and returns. The access
 *     is retried, reads zeros, and nothing the backend writes from then on
 *     reaches the guest; the connection's control thread wakes on the eventfd
 *     and closes that connection;
 *   - any other SIGBUS goes to the handler that was installed before ours, or,
 *     if there was none, kills the process as it would have without us.
 *
 * Only async-signal-safe work happens in the handler: atomic loads and stores,
 * mmap, write, sigaction, raise; no locks, no allocation.
 *
 * The table of ranges is a fixed array of slots. Writers (register, remove: the
 * control threads, never the handler) serialise on a mutex; each slot is a
 * sequence lock, so the handler reads it without locking and skips a slot being
 * written. That skip is safe: the slot of the faulting range is never being
 * written, because the faulting thread is using that mapping, and its owner
 * removes it only once no thread uses it.
 */
#include "shim.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#define HUGETLBFS_MAGIC_NUMBER 0x958458f6UL

struct guard_slot {
    unsigned long sequence; /* odd while a writer changes the slot */
    uintptr_t start;
    uintptr_t length;       /* 0: the slot is free */
    uintptr_t *fault;
    int notifier;
};

/* A plain copy of a slot, read consistently. */
struct guard_range {
    uintptr_t start;
    uintptr_t length;
    uintptr_t *fault;
    int notifier;
};

static struct guard_slot slots[SHIM_SIGBUS_GUARD_CAPACITY];
static pthread_mutex_t writers = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t installed = PTHREAD_ONCE_INIT;
static int install_error;
static struct sigaction previous;

/* ---- the table ---------------------------------------------------------- */

static void write_slot(struct guard_slot *slot, uintptr_t start, uintptr_t length, uintptr_t *fault, int notifier) {
    unsigned long sequence = __atomic_load_n(&slot->sequence, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->sequence, sequence + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&slot->start, start, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->length, length, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->fault, fault, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->notifier, notifier, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->sequence, sequence + 2, __ATOMIC_RELEASE);
}

/* Copies a registered slot; 0 when it is free or being written. */
static int read_slot(const struct guard_slot *slot, struct guard_range *range) {
    unsigned long before = __atomic_load_n(&slot->sequence, __ATOMIC_ACQUIRE);
    if (before & 1UL) return 0;
    range->start = __atomic_load_n(&slot->start, __ATOMIC_RELAXED);
    range->length = __atomic_load_n(&slot->length, __ATOMIC_RELAXED);
    range->fault = __atomic_load_n(&slot->fault, __ATOMIC_RELAXED);
    range->notifier = __atomic_load_n(&slot->notifier, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&slot->sequence, __ATOMIC_RELAXED) != before) return 0;
    return range->length != 0;
}

int shim_sigbus_guard_add(void *start, size_t length, uintptr_t *fault, int notifier) {
    if (length == 0) return -1;
    int found = -1;
    pthread_mutex_lock(&writers);
    for (int index = 0; index < SHIM_SIGBUS_GUARD_CAPACITY; index++) {
        if (__atomic_load_n(&slots[index].length, __ATOMIC_RELAXED) == 0) {
            write_slot(&slots[index], (uintptr_t)start, (uintptr_t)length, fault, notifier);
            found = index;
            break;
        }
    }
    pthread_mutex_unlock(&writers);
    return found;
}

void shim_sigbus_guard_remove(int slot) {
    if (slot < 0 || slot >= SHIM_SIGBUS_GUARD_CAPACITY) return;
    pthread_mutex_lock(&writers);
    write_slot(&slots[slot], 0, 0, NULL, -1);
    pthread_mutex_unlock(&writers);
}

/* ---- the handler -------------------------------------------------------- */

/* Replaces the faulting table's mappings by zero pages and reports the fault;
 * 0 when `address` is in no registered range, or the kernel refused the
 * replacement mapping (then the fault is not ours to absorb). */
static int absorb(uintptr_t address) {
    struct guard_range hit;
    int found = 0;
    for (int index = 0; index < SHIM_SIGBUS_GUARD_CAPACITY && !found; index++) {
        found = read_slot(&slots[index], &hit) && address - hit.start < hit.length;
    }
    if (!found) return 0;

    /* Every range of that table, not just the faulting page: the connection is
     * closing, and this way none of its later writes (used entries computed from
     * zeros, say) lands in memory the guest still sees. Doing it again when
     * another thread already did is harmless. */
    for (int index = 0; index < SHIM_SIGBUS_GUARD_CAPACITY; index++) {
        struct guard_range range;
        if (!read_slot(&slots[index], &range) || range.fault != hit.fault) continue;
        void *zeros = mmap((void *)range.start, range.length, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
        if (zeros == MAP_FAILED) return 0;
    }
    uintptr_t none = 0;
    if (__atomic_compare_exchange_n(hit.fault, &none, address, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
        uint64_t one = 1;
        ssize_t written = write(hit.notifier, &one, sizeof one);
        (void)written;
    }
    return 1;
}

/* What would have happened without us. */
static void pass_on(int signal, siginfo_t *info, void *context) {
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction != NULL) {
            previous.sa_sigaction(signal, info, context);
            return;
        }
    } else if (previous.sa_handler == SIG_IGN) {
        if (info->si_code <= 0) return; /* sent by a process, and ignored before we came */
    } else if (previous.sa_handler != SIG_DFL) {
        previous.sa_handler(signal);
        return;
    }
    /* The default action. A fault comes back when the faulting instruction is
     * retried on return, and then kills with an accurate core; a signal sent by
     * a process has to be sent again. */
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    sigaction(signal, &fallback, NULL);
    if (info->si_code <= 0) raise(signal);
}

static void on_sigbus(int signal, siginfo_t *info, void *context) {
    int saved_errno = errno;
    /* si_code > 0: raised by the kernel for a memory access; si_addr is the address. */
    int absorbed = info->si_code > 0 && absorb((uintptr_t)info->si_addr);
    errno = saved_errno;
    if (!absorbed) pass_on(signal, info, context);
}

static void install(void) {
    if (sigaction(SIGBUS, NULL, &previous) != 0) {
        install_error = errno;
        return;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    /* SA_ONSTACK: on a thread that has an alternate signal stack, use it. */
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, NULL) != 0) install_error = errno;
}

int shim_sigbus_guard_install(void) {
    pthread_once(&installed, install);
    return install_error;
}

int shim_is_hugetlbfs(int fd) {
    struct statfs about;
    if (fstatfs(fd, &about) != 0) return -1;
    return (unsigned long)about.f_type == HUGETLBFS_MAGIC_NUMBER;
}
