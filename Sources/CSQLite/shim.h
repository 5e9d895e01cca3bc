#ifndef BATON_CSQLITE_SHIM_H
#define BATON_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro over a function-pointer cast that Swift cannot import.
static const sqlite3_destructor_type baton_sqlite_transient = SQLITE_TRANSIENT;

// An empty text or blob, bound with SQLITE_STATIC: bound as SQLITE_TRANSIENT, even an empty value is
// copied into an allocation, and a zero-length zeroblob is expanded into one when the row is built.
static inline const char *baton_sqlite_empty(void) {
    static const char empty[1] = {0};
    return empty;
}

// sqlite3_config is variadic, which Swift cannot call. Turning memory statistics off spares every
// allocation SQLite makes a global mutex; it must run before SQLite initializes, and is refused
// (SQLITE_MISUSE, harmlessly) after.
static inline int baton_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

// A VFS over the default one that gathers a write-ahead log's writes. SQLite writes each frame of a
// commit as two writes (its 24-octet header, then its page), each a system call: some 150 a commit of a
// loaded shard. This VFS keeps consecutive writes to a log in a buffer and writes them with one call for
// each 124 KiB, before anything that must see them: a sync, a read, a truncation, a size, a file
// control, a write elsewhere, or the close.
//
// That is safe only where three things hold, and a connection must use this VFS only then:
//  - every commit syncs its log (synchronous=FULL or EXTRA): the sync, which writes the buffer out, comes
//    before the WAL index makes the commit's frames visible to other connections. Under NORMAL they
//    would become visible while still in the buffer;
//  - the database's file overwrites a sector without harm (SQLITE_IOCAP_POWERSAFE_OVERWRITE, SQLite's
//    default; ``baton_sqlite_overwrites_safely``): otherwise SQLite pads each commit to a sector boundary
//    and syncs half-way through the last frame, whose tail would be made visible unwritten;
//  - the connection is its file's only writer: the frames of a transaction rolled back may stay in the
//    buffer (``baton_sqlite_drop_log_writes`` drops them), and written later they could land over
//    another writer's.
// A write that fails leaves the log failed: every later write, sync and read of it fails, so that no
// transaction commits over frames that were lost, until the connection closes.
#include <string.h>

typedef struct baton_log_file {
    sqlite3_file base;
    sqlite3_file *real;
    char *buffer;
    sqlite3_int64 start;
    int length;
    /// Whether a write failed: the log is then failed until it closes.
    int failed;
} baton_log_file;

// Under 128 KiB: the unix VFS masks a write's length to its low 17 bits (it never writes more at once),
// so that a write of exactly 128 KiB left would write nothing and fail as a full disk.
enum { baton_log_buffer_size = 124 << 10 };


static inline int baton_log_flush(baton_log_file *f) {
    if (f->failed) return SQLITE_IOERR_WRITE;
    if (f->length == 0) return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buffer, f->length, f->start);
    f->length = 0;
    if (rc != SQLITE_OK) {
        f->failed = 1;
        return SQLITE_IOERR_WRITE;
    }
    return SQLITE_OK;
}
static int baton_log_close(sqlite3_file *file) {
    baton_log_file *f = (baton_log_file *)file;
    // What is left is a transaction's that did not commit (a commit syncs): written as SQLite would have.
    int flushed = f->failed ? SQLITE_OK : baton_log_flush(f);
    int rc = f->real->pMethods->xClose(f->real);
    sqlite3_free(f->buffer);
    f->buffer = 0;
    return flushed != SQLITE_OK ? flushed : rc;
}
static int baton_log_read(sqlite3_file *file, void *out, int amount, sqlite3_int64 offset) {
    baton_log_file *f = (baton_log_file *)file;
    int rc = baton_log_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amount, offset);
}
static int baton_log_write(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset) {
    baton_log_file *f = (baton_log_file *)file;
    if (f->failed) return SQLITE_IOERR_WRITE;
    if (f->length > 0 && offset == f->start + f->length && f->length + amount <= baton_log_buffer_size) {
        memcpy(f->buffer + f->length, data, amount);
        f->length += amount;
        return SQLITE_OK;
    }
    int rc = baton_log_flush(f);
    if (rc != SQLITE_OK) return rc;
    if (amount >= baton_log_buffer_size / 2) return f->real->pMethods->xWrite(f->real, data, amount, offset);
    memcpy(f->buffer, data, amount);
    f->start = offset;
    f->length = amount;
    return SQLITE_OK;
}
static int baton_log_truncate(sqlite3_file *file, sqlite3_int64 size) {
    baton_log_file *f = (baton_log_file *)file;
    int rc = baton_log_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}
static int baton_log_sync(sqlite3_file *file, int flags) {
    baton_log_file *f = (baton_log_file *)file;
    int rc = baton_log_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}
static int baton_log_file_size(sqlite3_file *file, sqlite3_int64 *size) {
    baton_log_file *f = (baton_log_file *)file;
    int rc = baton_log_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}
static int baton_log_lock(sqlite3_file *file, int level) {
    baton_log_file *f = (baton_log_file *)file;
    return f->real->pMethods->xLock(f->real, level);
}
static int baton_log_unlock(sqlite3_file *file, int level) {
    baton_log_file *f = (baton_log_file *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}
static int baton_log_check_reserved(sqlite3_file *file, int *out) {
    baton_log_file *f = (baton_log_file *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}
static int baton_log_file_control(sqlite3_file *file, int op, void *argument) {
    baton_log_file *f = (baton_log_file *)file;
    int rc = baton_log_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, argument);
}
static int baton_log_sector_size(sqlite3_file *file) {
    baton_log_file *f = (baton_log_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}
static int baton_log_device(sqlite3_file *file) {
    baton_log_file *f = (baton_log_file *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}
static int baton_log_shm_map(sqlite3_file *file, int region, int size, int extend, void volatile **out) {
    baton_log_file *f = (baton_log_file *)file;
    return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}
static int baton_log_shm_lock(sqlite3_file *file, int offset, int n, int flags) {
    baton_log_file *f = (baton_log_file *)file;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}
static void baton_log_shm_barrier(sqlite3_file *file) {
    baton_log_file *f = (baton_log_file *)file;
    f->real->pMethods->xShmBarrier(f->real);
}
static int baton_log_shm_unmap(sqlite3_file *file, int delete) {
    baton_log_file *f = (baton_log_file *)file;
    return f->real->pMethods->xShmUnmap(f->real, delete);
}
static int baton_log_fetch(sqlite3_file *file, sqlite3_int64 offset, int amount, void **out) {
    baton_log_file *f = (baton_log_file *)file;
    int rc = baton_log_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, offset, amount, out);
}
static int baton_log_unfetch(sqlite3_file *file, sqlite3_int64 offset, void *page) {
    baton_log_file *f = (baton_log_file *)file;
    return f->real->pMethods->xUnfetch(f->real, offset, page);
}

static const sqlite3_io_methods baton_log_methods = {
    3, baton_log_close, baton_log_read, baton_log_write, baton_log_truncate, baton_log_sync,
    baton_log_file_size, baton_log_lock, baton_log_unlock, baton_log_check_reserved, baton_log_file_control,
    baton_log_sector_size, baton_log_device, baton_log_shm_map, baton_log_shm_lock, baton_log_shm_barrier,
    baton_log_shm_unmap, baton_log_fetch, baton_log_unfetch,
};

static int baton_log_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *file, int flags, int *out) {
    sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData;
    if (!(flags & SQLITE_OPEN_WAL)) return inner->xOpen(inner, name, file, flags, out);
    baton_log_file *f = (baton_log_file *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    f->buffer = sqlite3_malloc(baton_log_buffer_size);
    if (!f->buffer) return SQLITE_NOMEM;
    int rc = inner->xOpen(inner, name, f->real, flags, out);
    if (rc != SQLITE_OK || f->real->pMethods == 0) {
        if (f->real->pMethods) f->real->pMethods->xClose(f->real);
        sqlite3_free(f->buffer);
        f->buffer = 0;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    if (f->real->pMethods->iVersion < 3) {
        // Not the default VFS this was written over: refused rather than guessed at.
        f->real->pMethods->xClose(f->real);
        sqlite3_free(f->buffer);
        return SQLITE_CANTOPEN;
    }
    f->base.pMethods = &baton_log_methods;
    return SQLITE_OK;
}

// Whether a connection's database file overwrites a sector without harm, as SQLite's WAL reads it (the
// main file's SQLITE_IOCAP_POWERSAFE_OVERWRITE, SQLite's default, `psow=0` in a URI turns it off): only
// then may the connection gather its log's writes.
static inline int baton_sqlite_overwrites_safely(sqlite3 *db) {
    sqlite3_file *file = 0;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || !file || !file->pMethods) return 0;
    return (file->pMethods->xDeviceCharacteristics(file) & SQLITE_IOCAP_POWERSAFE_OVERWRITE) != 0;
}

// Drops the log writes a connection of this VFS gathered and has not written: after a rollback, those of
// the transaction rolled back, which no one may read.
static inline void baton_sqlite_drop_log_writes(sqlite3 *db) {
    sqlite3_file *file = 0;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &file) != SQLITE_OK || file == 0) return;
    if (file->pMethods != &baton_log_methods) return;
    ((baton_log_file *)file)->length = 0;
}
static int baton_log_delete(sqlite3_vfs *v, const char *name, int sync) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; return inner->xDelete(inner, name, sync); }
static int baton_log_access(sqlite3_vfs *v, const char *name, int flags, int *out) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; return inner->xAccess(inner, name, flags, out); }
static int baton_log_full_path(sqlite3_vfs *v, const char *name, int n, char *out) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; return inner->xFullPathname(inner, name, n, out); }
static void *baton_log_dl_open(sqlite3_vfs *v, const char *name) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; return inner->xDlOpen(inner, name); }
static void baton_log_dl_error(sqlite3_vfs *v, int n, char *out) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; inner->xDlError(inner, n, out); }
static void (*baton_log_dl_sym(sqlite3_vfs *v, void *h, const char *name))(void) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; return inner->xDlSym(inner, h, name); }
static void baton_log_dl_close(sqlite3_vfs *v, void *h) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; inner->xDlClose(inner, h); }
static int baton_log_randomness(sqlite3_vfs *v, int n, char *out) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; return inner->xRandomness(inner, n, out); }
static int baton_log_sleep(sqlite3_vfs *v, int micro) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; return inner->xSleep(inner, micro); }
static int baton_log_current_time(sqlite3_vfs *v, double *out) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; return inner->xCurrentTime(inner, out); }
static int baton_log_last_error(sqlite3_vfs *v, int n, char *out) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; return inner->xGetLastError(inner, n, out); }
static int baton_log_current_time64(sqlite3_vfs *v, sqlite3_int64 *out) { sqlite3_vfs *inner = (sqlite3_vfs *)v->pAppData; return inner->xCurrentTimeInt64(inner, out); }

// Registers the VFS "baton-log" (not as the default) once; SQLITE_OK if it is there.
static inline int baton_sqlite_register_log_vfs(void) {
    static sqlite3_vfs vfs;
    if (sqlite3_vfs_find("baton-log")) return SQLITE_OK;
    sqlite3_vfs *inner = sqlite3_vfs_find(0);
    if (!inner || inner->iVersion < 2) return SQLITE_ERROR;
    vfs = (sqlite3_vfs){
        .iVersion = 2, .szOsFile = (int)sizeof(baton_log_file) + inner->szOsFile, .mxPathname = inner->mxPathname,
        .pAppData = inner, .zName = "baton-log", .xOpen = baton_log_open, .xDelete = baton_log_delete,
        .xAccess = baton_log_access, .xFullPathname = baton_log_full_path, .xDlOpen = baton_log_dl_open,
        .xDlError = baton_log_dl_error, .xDlSym = baton_log_dl_sym, .xDlClose = baton_log_dl_close,
        .xRandomness = baton_log_randomness, .xSleep = baton_log_sleep, .xCurrentTime = baton_log_current_time,
        .xGetLastError = baton_log_last_error, .xCurrentTimeInt64 = baton_log_current_time64,
    };
    return sqlite3_vfs_register(&vfs, 0);
}
#endif
